"""The checks inside `mlrig plan`: one StackGraph per planned stack (a project's graph also holds its
platform environment's resources, read-only), findings printed with the resource and a fix hint,
and added to the JSON plan under each environment's `checks`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from .. import naming
from ..bundle.resolved import Platform, Project
from . import Finding, catalogue, run_checks
from .graph import StackGraph

if TYPE_CHECKING:
    from ..plan.runner import Planner
    from ..program import Target


class UnknownCheck(ValueError):
    pass


def validate_skips(skip: Iterable[str]) -> list[str]:
    known = catalogue()
    unknown = [s for s in skip if s not in known]
    if unknown:
        raise UnknownCheck(f"unknown check id {', '.join(unknown)}; known: {', '.join(known)}")
    return list(skip)


def principal_owners(targets: Sequence[Target]) -> dict[str, str]:
    """Role-name prefixes of the stacks mlrig plans, as `naming` derives role names:
    `<project>--<env>--` for a project's roles and `<platform>-<env>-` for a platform's."""
    owners: dict[str, str] = {}
    platforms = {t.name: t for t in targets if isinstance(t, Platform)}
    for target in targets:
        if isinstance(target, Project):
            platforms.setdefault(target.platform.name, target.platform)
            for project_env in target.environments.values():
                owners[naming.join(target.name, project_env.name, "")] = project_env.stack
    for platform in platforms.values():
        for platform_env in platform.environments.values():
            owners[naming.platform_resource(platform.name, platform_env.name, "")] = platform_env.stack
    return owners


def platform_context(platform: Platform, environment: str, planner: Planner, *, own: bool) -> list[dict[str, Any]]:
    """The platform resources a stack of `environment` runs on: its platform environment's plan
    (unless `own`: a platform stack is its own), and under `namespace` isolation the shared
    owner's, which holds the one cluster, its node pools and add-ons."""
    from ..platform.stack import platform_dependencies

    context: list[dict[str, Any]] = [] if own else list(planner.platform(platform, environment).resources)
    for dependency in platform_dependencies(platform, platform.environments[environment]):
        context += planner.platform(platform, dependency).resources
    return context


def stack_graph(target: Target, environment: str, planner: Planner, owners: dict[str, str]) -> StackGraph:
    """The graph of one planned stack; a project's also holds its platform's resources it runs on."""
    plan = planner.plan(target, environment)
    platform = target if isinstance(target, Platform) else target.platform
    context = platform_context(platform, environment, planner, own=isinstance(target, Platform))
    tier = target.environments[environment].tier
    return StackGraph.of(plan.stack, plan.resources, context=context, tier=tier, principal_owners=owners)


def check_stack(
    target: Target, environment: str, planner: Planner, owners: dict[str, str], skip: Sequence[str] = ()
) -> list[Finding]:
    return run_checks(stack_graph(target, environment, planner, owners), skip)


def print_findings(console: Console, findings: Sequence[Finding]) -> None:
    for finding in findings:
        mark = "[red]✗[/]" if finding.enforcement == "mandatory" else "[yellow]![/]"
        console.print(
            f"{mark} [bold]{finding.check}[/] {escape('[' + finding.enforcement + ']')} {escape(finding.stack)} "
            f"[cyan]{escape(finding.resource)}[/] ({escape(finding.type)}): {escape(finding.message)}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        if finding.hint:
            console.print(f"    fix: {escape(finding.hint)}", markup=True, highlight=False, soft_wrap=True)
        console.print(f"    urn: {escape(finding.urn)}", markup=True, highlight=False, soft_wrap=True)


def summary(findings: Sequence[Finding]) -> str:
    mandatory = sum(f.enforcement == "mandatory" for f in findings)
    if not findings:
        return "Checks: every stack passes every check"
    return f"Checks: {len(findings)} finding(s), {mandatory} mandatory, {len(findings) - mandatory} advisory"
