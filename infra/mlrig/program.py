"""The Pulumi program: one stack per bundle and environment, named `<bundle name>.<environment>`.

`pulumi up` runs `main()` (a platform repository's two-line `__main__.py` calls it), which reads
the stack's `mlrig:bundle` and `mlrig:environment` config once; `mlrig plan` calls
`stack_program()` with the same bundle and environment. Both end in `deploy()`, so the plan runs
exactly the code `pulumi up` runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pulumi

from .bundle.diagnostics import Diagnostic
from .bundle.resolved import Platform, Project
from .bundle.root import bundles_root
from .bundle.validate import UsageError, ValidationResult, validate_paths
from .settings import DeploySettings

Target = Platform | Project


class ProgramError(Exception):
    """The stack's bundle or environment cannot be deployed; the message says why."""


def load_target(bundle: str | Path) -> Target:
    """Validate `bundle` with the other bundles of its bundles root (its platform may sit in a
    parent directory) and return its resolved Platform or Project; ProgramError lists every
    diagnostic when it is invalid."""
    try:
        result = validate_paths([bundle])
    except UsageError as error:
        raise ProgramError(str(error)) from None
    return target_of(result, bundle)


def target_of(result: ValidationResult, bundle: str | Path) -> Target:
    wanted = Path(bundle).resolve()
    own = [r for r in result.reports if not r.context and Path(r.file).resolve() == wanted]
    if own and not own[0].valid:
        raise ProgramError(f"bundle {bundle} is invalid:\n" + _diagnostics(own[0].diagnostics))
    candidates: list[Target] = [*result.platforms.values(), *result.projects.values()]
    for target in candidates:
        if Path(target.file).resolve() == wanted:
            return target
    context_errors = [d for r in result.reports if r.context for d in r.diagnostics]
    detail = ("\n" + _diagnostics(context_errors)) if context_errors else ""
    root = bundles_root(bundle)
    raise ProgramError(
        f"bundle {bundle} could not be resolved (is its platform bundle in {root} or below, and valid?){detail}"
    )


def _diagnostics(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(f"  {d.text()}" for d in sorted(diagnostics))


def check_environment(target: Target, environment: str) -> None:
    if environment not in target.environments:
        known = ", ".join(target.environments) or "(none)"
        raise ProgramError(
            f"{target.bundle.kind} {target.name} has no environment '{environment}'; its environments: {known}"
        )


def stack_name(target: Target, environment: str) -> str:
    check_environment(target, environment)
    return target.environments[environment].stack


def deploy(target: Target, environment: str, settings: DeploySettings | None = None) -> None:
    """Register every resource of the stack `<target>.<environment>`: dispatch on the kind."""
    check_environment(target, environment)
    settings = settings or DeploySettings()
    if isinstance(target, Platform):
        from .platform.stack import deploy_platform

        deploy_platform(target, target.environments[environment], settings)
    else:
        from .project.stack import deploy_project

        deploy_project(target, target.environments[environment], settings)


def stack_program(target: Target, environment: str) -> Callable[[], None]:
    """The zero-argument program `mlrig plan` runs for one stack."""
    check_environment(target, environment)
    return lambda: deploy(target, environment)


def bundle_path(configured: str, project_root: str | None) -> Path:
    """`mlrig:bundle` is relative to the repository root (where Pulumi.yaml is), whatever the
    working directory Pulumi gives the program (`main:` may point into a sub-directory)."""
    path = Path(configured)
    if path.is_absolute() or path.is_file():
        return path
    for base in (project_root, *_pulumi_project_dirs()):
        if base and (Path(base) / path).is_file():
            return Path(base) / path
    return path


def _pulumi_project_dirs() -> list[str]:
    here = Path.cwd().resolve()
    return [str(d) for d in (here, *here.parents) if (d / "Pulumi.yaml").is_file()][:1]


def main() -> None:
    """Entry point under `pulumi up` / `pulumi preview`."""
    config = pulumi.Config("mlrig")
    bundle = str(bundle_path(config.require("bundle"), pulumi.get_root_directory()))
    environment = config.require("environment")
    settings = DeploySettings.read(os.environ, config.get("imageTag"))
    try:
        target = load_target(bundle)
        expected = stack_name(target, environment)
    except ProgramError as error:
        raise pulumi.RunError(str(error)) from None
    if pulumi.get_stack() != expected:
        pulumi.log.warn(f"stack '{pulumi.get_stack()}' deploys {bundle} ({environment}); mlrig names it '{expected}'")
    deploy(target, environment, settings)
