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


def passes(policy: dict[str, Any], obj: dict[str, Any], operation: str = "CREATE") -> bool:
    """Whether the API server would admit `obj` on `operation`: every validation holds."""
    environment = celpy.Environment()
    request = {"operation": operation, "kind": {"kind": obj.get("kind", "")}}
    activation = {"object": celpy.json_to_cel(obj), "request": celpy.json_to_cel(request)}
    return all(
        bool(environment.program(environment.compile(rule["expression"])).evaluate(activation))
        for rule in policy["spec"]["validations"]
    )
