"""Helpers for the Kubernetes side of project plans: objects by kind, and plans of small
variations of the example bundles written to tmp_path."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrig import examples
from mlrig.bundle.validate import validate_paths
from mlrig.outputs import platform_stack_reference
from mlrig.plan.engine import StackPlan, plan_stack
from mlrig.plan.runner import Planner, stack_config
from mlrig.program import stack_program

BUNDLES = examples.DIRECTORY

Edit = Callable[[dict[str, Any]], None]


def objects(plan: StackPlan, kind: str) -> list[dict[str, Any]]:
    """Kubernetes objects (inputs: apiVersion, kind, metadata, spec…) of one kind."""
    return [
        r["inputs"] for r in plan.resources if r["type"].startswith("kubernetes:") and r["inputs"].get("kind") == kind
    ]


def named(plan: StackPlan, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(plan, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r}, found {len(found)}"
    return found[0]


def templates_of(workflow_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in workflow_template["spec"]["templates"]}


class Graph:
    """A plan's dependency graph: Pulumi creates a resource after everything it depends on
    (its `dependencies` and its parent) and deletes it before them."""

    def __init__(self, plan: Any) -> None:
        self.by_urn = {r["urn"]: r for r in plan.resources}
        self.edges = {
            r["urn"]: set(r["options"].get("dependencies") or ()) | ({r["parent"]} if r.get("parent") else set())
            for r in plan.resources
        }

    @cache  # noqa: B019 (one graph per test)
    def depends_on(self, urn: str) -> frozenset[str]:
        """Everything `urn` depends on, transitively: all of it is deleted after `urn`."""
        seen: set[str] = set()
        stack = list(self.edges.get(urn, ()))
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.edges.get(current, ()))
        return frozenset(seen)

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [
            r for r in self.by_urn.values() if r["type"].startswith("kubernetes:") and r["type"].endswith(f":{kind}")
        ]

    def deleted_before(self, first: dict[str, Any], then: dict[str, Any]) -> bool:
        return then["urn"] in self.depends_on(first["urn"])


def load_bundle(name: str) -> dict[str, Any]:
    return yaml.safe_load((BUNDLES / name).read_text())


@pytest.fixture(scope="session")
def variant_planner() -> Planner:
    return Planner()


@pytest.fixture
def plan_variant(tmp_path: Path, variant_planner: Planner) -> Callable[..., StackPlan]:
    """`plan_variant("fraud-detection", edit, "dev", platform_edit=None)`: plan the example project
    after `edit(project_document)` (and `platform_edit(platform_document)`), written to tmp_path."""

    def plan(project: str, edit: Edit | None, environment: str, *, platform_edit: Edit | None = None) -> StackPlan:
        document = copy.deepcopy(load_bundle(f"{project}.yaml"))
        if edit:
            edit(document)
        (tmp_path / f"{project}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        platform = load_bundle("platform.yaml")
        if platform_edit:
            platform_edit(platform)
            (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform, sort_keys=False))
        else:
            shutil.copy(BUNDLES / "platform.yaml", tmp_path / "platform.yaml")
        result = validate_paths([tmp_path])
        assert result.valid, "\n".join(d.text() for d in result.diagnostics)
        target = result.projects[project]
        # Platform plans are shared when the platform is unchanged; project plans never are.
        planner = variant_planner if platform_edit is None else Planner()
        platform_outputs = planner.platform(target.platform, environment).outputs
        return plan_stack(
            stack_program(target, environment),
            stack=target.environments[environment].stack,
            config=stack_config(target, environment),
            stack_outputs={platform_stack_reference(target.platform.name, environment): platform_outputs},
        )

    return plan
