"""What a check sees: the planned resources of one stack, and the read-only resources of the stacks it
depends on (its platform), when they are known.

A `Resource` is one plan record (the shape `mlrig plan --format json` prints: type, name, inputs,
outputs, options, parent). Values that are unknown at plan or preview time are None; a check never
reports on a value it cannot see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

STACK_REFERENCE = "pulumi:pulumi:StackReference"
AWS_PROVIDER = "pulumi:providers:aws"


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    parent: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Resource:
        return cls(
            urn=record["urn"],
            type=record["type"],
            name=record["name"],
            inputs=record.get("inputs") or {},
            outputs=record.get("outputs") or {},
            options=record.get("options") or {},
            parent=record.get("parent"),
        )

    def get(self, *path: str | int) -> Any:
        """The input at `path` (the value Pulumi sends), else the output (computed by the provider)."""
        found = dig(self.inputs, *path)
        return found if found is not None else dig(self.outputs, *path)

    # --- Kubernetes objects ---------------------------------------------------------------------

    @property
    def is_kubernetes(self) -> bool:
        return self.type.startswith("kubernetes:")

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def k8s_name(self) -> str:
        return str(dig(self.inputs, "metadata", "name") or self.name)

    @property
    def namespace(self) -> str | None:
        value = dig(self.inputs, "metadata", "namespace")
        return str(value) if value else None

    @property
    def labels(self) -> dict[str, str]:
        return dict(dig(self.inputs, "metadata", "labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict(dig(self.inputs, "metadata", "annotations") or {})

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.inputs.get("spec") or {})

    @property
    def workflow_spec(self) -> dict[str, Any]:
        """The Workflow spec an Argo object runs: a CronWorkflow's `workflowSpec`, else its spec."""
        spec = self.spec
        return dict(spec.get("workflowSpec") or {}) if self.kind == "CronWorkflow" else spec

    @property
    def provider_urn(self) -> str | None:
        return self.options.get("provider")


@dataclass(frozen=True)
class StackGraph:
    """The resources of one stack. `context` holds resources of the stacks this one reads (its
    platform stack), which checks may consult but never report on. `tier` is the environment's tier
    (dev, staging, prod) when known."""

    stack: str
    resources: tuple[Resource, ...]
    context: tuple[Resource, ...] = ()
    tier: str | None = None
    # Role-name prefixes of the IAM principals other stacks create (`fraud-detection-dev-` → the stack
    # `fraud-detection.dev`), when known: `mlrig plan` derives them from the bundles.
    principal_owners: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        stack: str,
        records: Iterable[Mapping[str, Any]],
        *,
        context: Iterable[Mapping[str, Any]] = (),
        tier: str | None = None,
        principal_owners: Mapping[str, str] | None = None,
    ) -> StackGraph:
        return cls(
            stack,
            tuple(Resource.from_record(r) for r in records),
            tuple(Resource.from_record(r) for r in context),
            tier,
            dict(principal_owners or {}),
        )

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def everywhere(self, *types: str) -> list[Resource]:
        """Resources of these types in this stack and in the stacks it reads."""
        return [r for r in (*self.resources, *self.context) if r.type in types]

    def kubernetes(self, *kinds: str, everywhere: bool = False) -> list[Resource]:
        pool = (*self.resources, *self.context) if everywhere else self.resources
        return [r for r in pool if r.is_kubernetes and r.kind in kinds]

    def by_urn(self, urn: str | None) -> Resource | None:
        if urn is None:
            return None
        return next((r for r in (*self.resources, *self.context) if r.urn == urn), None)

    def provider_of(self, resource: Resource) -> Resource | None:
        return self.by_urn(resource.provider_urn)

    def reference_outputs(self) -> dict[str, Any]:
        """Outputs of the stacks this one reads through StackReferences (merged)."""
        merged: dict[str, Any] = {}
        for reference in self.of_type(STACK_REFERENCE):
            merged.update(reference.outputs.get("outputs") or {})
        return merged

    def dependencies(self) -> set[str]:
        """Stacks this stack declares it reads (`<org>/<project>/<stack>` StackReferences)."""
        return {str(r.inputs.get("name") or r.name).rsplit("/", 1)[-1] for r in self.of_type(STACK_REFERENCE)}

    def ancestors(self, resource: Resource) -> Iterator[Resource]:
        parent = self.by_urn(resource.parent)
        while parent is not None:
            yield parent
            parent = self.by_urn(parent.parent)


def waiting_for(graph: StackGraph, target: str) -> set[str]:
    """URNs whose wait reaches `target`, as the engine reads `dependsOn`: a component in the list
    stands for every resource under it, and what each of those waits for counts too. One walk
    backwards from `target` over the whole stack (a walk forwards from every resource grows with
    the square of the stack)."""
    waited_on_by: dict[str, list[str]] = {}
    for item in graph.resources:
        for urn in item.options.get("dependsOn") or []:
            waited_on_by.setdefault(urn, []).append(item.urn)
        if item.parent:
            waited_on_by.setdefault(item.urn, []).append(item.parent)
    reached = {target}
    queue = [target]
    while queue:
        for urn in waited_on_by.get(queue.pop(), []):
            if urn not in reached:
                reached.add(urn)
                queue.append(urn)
    return reached


def dig(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(value, Mapping):
            value = value.get(key)  # type: ignore[call-overload]
        elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def json_value(value: Any) -> Any:
    """A JSON document given as a string (IAM policies, add-on configuration) as data; None when
    absent, unknown or not JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere in a nested structure of mappings and lists."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def mapping_items(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (key, value) of every mapping anywhere in a nested structure of mappings and lists,
    outer ones first."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield key, item
            yield from mapping_items(item)
    elif isinstance(value, list):
        for item in value:
            yield from mapping_items(item)
