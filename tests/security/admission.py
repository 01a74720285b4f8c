"""Kubernetes objects of a plan, and a ValidatingAdmissionPolicy's rules evaluated by an
independent CEL implementation (celpy), for the namespace admission policies' tests."""

from __future__ import annotations

from typing import Any

import celpy


def objects(plan: Any, kind: str) -> list[dict[str, Any]]:
    return [
        r["inputs"] for r in plan.resources if r["type"].startswith("kubernetes:") and r["inputs"].get("kind") == kind
    ]


def named(plan: Any, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects(plan, kind) if o["metadata"]["name"] == name]
    return found


def passes(
    policy: dict[str, Any],
    obj: dict[str, Any] | None,
    operation: str = "CREATE",
    *,
    username: str = "arn:aws:sts::111111111111:assumed-role/acme-ml-dev-platform-deployer/pulumi",
    groups: tuple[str, ...] = ("system:authenticated",),
    old_object: dict[str, Any] | None = None,
) -> bool:
    """Whether the API server would admit `obj` (None on a DELETE, which carries only
    `old_object`) on `operation` by `username` in `groups`: every validation holds. The default
    requester is the platform's deployer."""
    environment = celpy.Environment()
    request = {
        "operation": operation,
        "kind": {"kind": (obj or {}).get("kind", "")},
        "userInfo": {"username": username, "groups": list(groups)},
    }
    activation = {
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old_object),
        "request": celpy.json_to_cel(request),
    }
    return all(
        bool(environment.program(environment.compile(rule["expression"])).evaluate(activation))
        for rule in policy["spec"]["validations"]
    )
