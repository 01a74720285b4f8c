"""Names are unique, DNS-compatible, and short enough for every name derived from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ... import naming
from ..resolved import Platform
from . import BundleSetView, Finding, ProjectView, platform_rule, project_rule, set_rule


@set_rule
def bundle_names_unique(view: BundleSetView) -> Iterator[tuple[str, Finding]]:
    for label, bundles in (("Platform", view.platforms), ("Project", view.projects)):
        counts = Counter(bundle.metadata.name for _, bundle in bundles)
        first: dict[str, str] = {}
        for file, bundle in bundles:
            name = bundle.metadata.name
            if counts[name] > 1:
                if name in first:
                    yield (
                        file,
                        Finding(
                            ("metadata", "name"),
                            f"{label} name '{name}' is already used by {first[name]}; names must be unique",
                        ),
                    )
                else:
                    first[name] = file
    platform_names = {bundle.metadata.name for _, bundle in view.platforms}
    for file, bundle in view.projects:
        if bundle.metadata.name in platform_names:
            yield (
                file,
                Finding(
                    ("metadata", "name"), f"'{bundle.metadata.name}' is also a platform's name; stack names would clash"
                ),
            )


@project_rule
def list_item_names_unique(view: ProjectView) -> Iterator[Finding]:
    groups: list[tuple[tuple[str | int, ...], list[str]]] = [
        (("spec", "compute", "pools"), [p.name for p in view.spec.compute.pools]),
        (("spec", "serving", "endpoints"), [e.name for e in view.spec.serving.endpoints]),
        (("spec", "monitoring", "quality"), [q.name for q in view.spec.monitoring.quality]),
    ]
    for path, names in groups:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                yield Finding((*path, i, "name"), f"'{name}' is declared twice; names must be unique")
            seen.add(name)
    seen_registries: set[str] = set()
    for i, registry in enumerate(view.spec.registries):
        if registry in seen_registries:
            yield Finding(("spec", "registries", i), f"registry '{registry}' is declared twice")
        seen_registries.add(registry)


@project_rule
def derived_names_fit(view: ProjectView) -> Iterator[Finding]:
    """Every AWS name derived from the project, environment and item names fits its limit."""
    if view.platform is None:
        environments = [view.environment or "staging"]
        isolation = "cluster"
    else:
        # Names depend on the environment, so check against every environment of the platform.
        environments = [view.environment] if view.environment else list(view.platform.environments)
        isolation = view.platform.isolation
    vdb = view.spec.llm.vector_database
    for env in environments:
        names = naming.ProjectNames(view.bundle.metadata.name, env, naming.PLACEHOLDER_ACCOUNT, "us-east-1", isolation)
        derived = names.derived_names(
            pipelines=list(view.spec.pipelines),
            registries=view.spec.registries,
            opensearch=vdb is not None and vdb.engine == "opensearch",
        )
        for limit_key, name in derived:
            limit = naming.LIMITS[limit_key]
            if len(name) > limit:
                yield Finding(
                    ("metadata", "name"),
                    f"derived {limit_key} name '{name}' is {len(name)} characters, over the limit of "
                    f"{limit}; shorten the project name, the environment name or the item name",
                )


@project_rule
def pipeline_names_not_reserved(view: ProjectView) -> Iterator[Finding]:
    for name in view.spec.pipelines:
        if name in naming.RESERVED_WORKLOADS:
            yield Finding(
                ("spec", "pipelines", name),
                f"pipeline name '{name}' is reserved for a built-in workload ({', '.join(naming.RESERVED_WORKLOADS)}); rename it",
                key=True,
            )


def _platform_derived_names(platform: Platform, environment: str) -> list[tuple[str, str]]:
    """(limit key, name) of the AWS names a platform environment derives."""
    name = platform.name
    cluster = naming.cluster_name(name, environment, platform.isolation)
    names = [
        ("eks-cluster", cluster),
        ("eks-node-group", naming.system_node_group(cluster)),
        ("iam-role", naming.platform_deployer_role(name, environment)),
        ("iam-role", naming.flow_log_role(name, environment)),
        ("iam-role", naming.cluster_role(cluster)),
        ("iam-role", naming.system_node_role(cluster)),
        ("iam-role", naming.karpenter_node_role(cluster)),
        ("iam-role", naming.karpenter_controller_role(cluster)),
        ("sqs-queue", naming.karpenter_interruption_queue(cluster)),
    ]
    if not platform.bundle.spec.state.backend:
        names.append(("s3-bucket", naming.state_bucket(name)))
    return names


@platform_rule
def platform_derived_names_fit(platform: Platform) -> Iterator[Finding]:
    """Every AWS name derived from the platform and environment names fits its limit."""
    for environment in platform.environments:
        for limit_key, name in _platform_derived_names(platform, environment):
            limit = naming.LIMITS[limit_key]
            if len(name) > limit:
                yield Finding(
                    ("spec", "environments", environment),
                    f"derived {limit_key} name '{name}' is {len(name)} characters, over the limit of {limit}; "
                    "shorten the platform name or this environment's name",
                    key=True,
                )
