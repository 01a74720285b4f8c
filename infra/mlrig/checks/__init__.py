"""mlrig's deployability and security checks: a catalogue of small functions over a planned stack.

Each check lives in the module of its concern and is one function over a `StackGraph` that yields
`Violation`s, registered with the `check` decorator: a stable id (`MLRIG-DEP-001`), a name a
reviewer understands, a rationale that says what breaks in the real system without it, the resource
types it looks at, and an enforcement level. The same functions run

- in `mlrig plan`, on the recorded resources of every planned stack (mandatory violations exit 1);
- in the Pulumi CrossGuard policy pack (`mlrig policy-pack path`), on `pulumi preview`/`up`;
- in the tests, over the example plans and generated bundles.

A check must not report what it cannot see: unknown values (None) are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .graph import Resource, StackGraph

Enforcement = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class Violation:
    resource: Resource
    message: str
    hint: str = ""


@dataclass(frozen=True)
class Check:
    id: str
    name: str
    rationale: str
    enforcement: Enforcement
    resource_types: tuple[str, ...]  # () = the whole stack graph
    run: Callable[[StackGraph], Iterable[Violation]]

    @property
    def module(self) -> str:
        return self.run.__module__.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Finding:
    check: str
    name: str
    enforcement: Enforcement
    stack: str
    urn: str
    resource: str
    type: str
    message: str
    hint: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.check,
            "name": self.name,
            "enforcement": self.enforcement,
            "urn": self.urn,
            "resource": self.resource,
            "type": self.type,
            "message": self.message,
            "hint": self.hint,
        }


CHECKS: list[Check] = []


def check(
    id: str,
    name: str,
    rationale: str,
    *,
    enforcement: Enforcement = "mandatory",
    applies_to: tuple[str, ...] = (),
) -> Callable[[Callable[[StackGraph], Iterable[Violation]]], Callable[[StackGraph], Iterable[Violation]]]:
    def register(fn: Callable[[StackGraph], Iterable[Violation]]) -> Callable[[StackGraph], Iterable[Violation]]:
        if any(c.id == id for c in CHECKS):
            raise ValueError(f"check id {id} is registered twice")
        CHECKS.append(Check(id, name, rationale, enforcement, applies_to, fn))
        return fn

    return register


def load_all() -> list[Check]:
    """Import every check module (registration happens on import); the catalogue in id order."""
    from . import (  # noqa: F401
        addon_wiring,
        alert_routes,
        alerting,
        argo_wiring,
        baseline,
        config_rollout,
        database_access,
        field_writers,
        iam_limits,
        identity_wiring,
        karpenter_parity,
        lifecycle,
        network_perimeter,
        network_policy,
        object_names,
        opensearch_access,
        principals,
        reconcile,
        scheduling,
        scraping,
        secrets_lifecycle,
        service_wiring,
        workflow_metrics,
    )

    return sorted(CHECKS, key=lambda c: c.id)


def catalogue() -> dict[str, Check]:
    return {c.id: c for c in load_all()}


def run_check(item: Check, graph: StackGraph) -> list[Finding]:
    own = {r.urn for r in graph.resources}
    findings = []
    for violation in item.run(graph):
        if violation.resource.urn not in own:
            continue  # the platform's resources are reported when the platform is checked
        findings.append(
            Finding(
                check=item.id,
                name=item.name,
                enforcement=item.enforcement,
                stack=graph.stack,
                urn=violation.resource.urn,
                resource=violation.resource.name,
                type=violation.resource.type,
                message=violation.message,
                hint=violation.hint,
            )
        )
    return findings


def run_checks(graph: StackGraph, skip: Iterable[str] = ()) -> list[Finding]:
    """Every check of the catalogue (less `skip`) over one stack; findings sorted for stable output."""
    skipped = set(skip)
    findings = [f for item in load_all() if item.id not in skipped for f in run_check(item, graph)]
    return sorted(findings, key=lambda f: (f.check, f.urn, f.message))


__all__ = [
    "CHECKS",
    "Check",
    "Enforcement",
    "Finding",
    "Resource",
    "StackGraph",
    "Violation",
    "catalogue",
    "check",
    "load_all",
    "run_check",
    "run_checks",
]
