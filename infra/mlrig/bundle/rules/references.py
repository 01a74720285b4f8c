"""References between bundles and inside a bundle resolve."""

from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import did_you_mean
from . import BundleSetView, Finding, ProjectView, project_rule, set_rule


@set_rule
def project_platform_exists(view: BundleSetView) -> Iterator[tuple[str, Finding]]:
    names = [bundle.metadata.name for _, bundle in view.platforms]
    for file, project in view.projects:
        if project.spec.platform not in names and project.spec.platform not in view.broken_platforms:
            known = (
                f"known platforms: {', '.join(sorted(names))}"
                if names
                else "no Platform bundle was found in its bundles directory"
            )
            yield (
                file,
                Finding(
                    ("spec", "platform"),
                    f"platform '{project.spec.platform}' is not defined by any bundle ({known})"
                    f"{did_you_mean(project.spec.platform, names)}",
                ),
            )


@project_rule
def override_environments_exist(view: ProjectView) -> Iterator[Finding]:
    if view.platform is None:
        return
    known = list(view.platform.environments)
    for name in view.bundle.spec.environments:
        if name not in known:
            yield Finding(
                ("spec", "environments", name),
                f"environment '{name}' is not an environment of platform '{view.platform.name}' "
                f"(its environments: {', '.join(known)}){did_you_mean(name, known)}",
                key=True,
            )


def _registry_ref(view: ProjectView, path: tuple[str | int, ...], name: str | None, what: str) -> Iterator[Finding]:
    registries = view.spec.registries
    if name is None:
        yield Finding(path[:-1], f"{what} needs an image but the project declares no `registries`; add one")
    elif name not in registries:
        yield Finding(
            path,
            f"image '{name}' is not a declared registry (registries: {', '.join(registries) or 'none'})"
            f"{did_you_mean(name, registries)}",
        )


def _pool_ref(view: ProjectView, path: tuple[str | int, ...], name: str | None) -> Iterator[Finding]:
    pools = [p.name for p in view.spec.compute.pools]
    if len(set(pools)) < len(pools):
        return  # a pool named twice is the error (usually a renamed copy): reported once, there
    if name is not None and name not in pools:
        yield Finding(
            path,
            f"pool '{name}' is not a declared compute pool (pools: {', '.join(pools) or 'none'})"
            f"{did_you_mean(name, pools)}",
        )


@project_rule
def pipeline_references_resolve(view: ProjectView) -> Iterator[Finding]:
    for name, pipeline in view.spec.pipelines.items():
        base = ("spec", "pipelines", name)
        yield from _registry_ref(view, (*base, "image"), pipeline.image, f"pipeline '{name}'")
        yield from _pool_ref(view, (*base, "pool"), pipeline.pool)


@project_rule
def endpoint_references_resolve(view: ProjectView) -> Iterator[Finding]:
    for i, endpoint in enumerate(view.spec.serving.endpoints):
        base = ("spec", "serving", "endpoints", i)
        if endpoint.runtime == "custom" or endpoint.image is not None:
            yield from _registry_ref(view, (*base, "image"), endpoint.image, f"endpoint '{endpoint.name}'")
        yield from _pool_ref(view, (*base, "pool"), endpoint.pool)


@project_rule
def gateway_limits_name_providers(view: ProjectView) -> Iterator[Finding]:
    gateway = view.spec.llm.gateway
    if gateway is None:
        return
    for provider in gateway.limits:
        if provider not in gateway.providers:
            yield Finding(
                ("spec", "llm", "gateway", "limits", provider),
                f"limits for '{provider}', which is not in `providers` ({', '.join(gateway.providers) or 'none'}); add it there",
                key=True,
            )


@project_rule
def fine_tuning_base_model_known(view: ProjectView) -> Iterator[Finding]:
    for name, pipeline in view.spec.pipelines.items():
        path = ("spec", "pipelines", name)
        if pipeline.type == "fine-tuning" and not pipeline.base_model:
            yield Finding(path, f"fine-tuning pipeline '{name}' needs `baseModel` (the model in the model hub to tune)")
        if pipeline.type != "fine-tuning" and pipeline.base_model:
            yield Finding(
                (*path, "baseModel"), "`baseModel` only applies to fine-tuning pipelines; remove it", key=True
            )
