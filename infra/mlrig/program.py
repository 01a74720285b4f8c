"""The Pulumi program: one stack per bundle and environment (DESIGN §4).

`pulumi up` runs `main()` (through `infra/__main__.py`), which reads the stack's `mlrig:bundle`
and `mlrig:environment` config once; `mlrig plan` calls `stack_program()` with the same bundle
and environment. Both end in `deploy()`, so the plan runs exactly the code `pulumi up` runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pulumi

from .bundle.diagnostics import Diagnostic
from .bundle.resolved import Platform, Project
from .bundle.validate import UsageError, ValidationResult, validate_paths
from .settings import DeploySettings

Target = Platform | Project


class ProgramError(Exception):
    """The stack's bundle or environment cannot be deployed; the message says why."""


def load_target(bundle: str | Path) -> Target:
    """Validate `bundle` (its directory supplies the context bundles) and return its resolved
    Platform or Project; ProgramError lists every diagnostic when it is invalid."""
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
    raise ProgramError(f"bundle {bundle} could not be resolved (is its platform bundle beside it and valid?){detail}")


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


def main() -> None:
    """Entry point under `pulumi up` / `pulumi preview`."""
    config = pulumi.Config("mlrig")
    bundle = config.require("bundle")
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
