"""Reconcile: a second plan of the same bundle, with the first plan's outputs as state, changes nothing.

What the offline engine can prove, and how:

- The program is deterministic: planning the same stack again (another process, another hash seed,
  the first plan's outputs as the platform state) registers the same resources with the same inputs.
  `plan_differences` compares two plans resource by resource; the tests run it over the examples
  and generated bundles. Pulumi diffs new inputs against the inputs it stored, so equal inputs
  mean no update from the program's side.
- No input carries a value that changes by itself: a timestamp, a random UUID, or a name with
  today's date (`MLRIG-REC-001` below) — the perpetual-diff class a plan can see.

What it cannot see: how a provider normalises what it reads back on `pulumi refresh` (AWS reorders
JSON policies, lower-cases some values; the AWS provider suppresses equivalent policy JSON), and
server-side defaults Kubernetes adds. Those show only against a real account.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from . import Violation, check
from .graph import StackGraph

# An ISO-8601 date-time with a time part, or a version-4 UUID: values that differ on every run.
_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")
_UUID4 = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b")


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


@check(
    "MLRIG-REC-001",
    "No input changes by itself between two runs",
    "An input holding a timestamp or a random UUID differs on every `pulumi up`, so the stack never "
    "converges: every run updates (or replaces) the resource.",
)
def inputs_are_stable(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.resources:
        for path, text in _strings(resource.inputs):
            if _TIMESTAMP.search(text) or _UUID4.search(text):
                yield Violation(
                    resource,
                    f"input {path} of {resource.name} holds a run-dependent value: {text[:80]!r}",
                    "derive it from the bundle (or keep it in state with a random provider resource)",
                )
                break


def plan_differences(first: list[Mapping[str, Any]], second: list[Mapping[str, Any]]) -> list[str]:
    """What Pulumi would change when `second` is applied over the state `first` left: resources
    added or removed, and inputs that differ (by property path)."""
    before = {r["urn"]: r for r in first}
    after = {r["urn"]: r for r in second}
    changes = [f"+ {urn}" for urn in sorted(after.keys() - before.keys())]
    changes += [f"- {urn}" for urn in sorted(before.keys() - after.keys())]
    for urn in sorted(before.keys() & after.keys()):
        old, new = dict(_strings_and_values(before[urn]["inputs"])), dict(_strings_and_values(after[urn]["inputs"]))
        for path in sorted(old.keys() | new.keys()):
            if old.get(path) != new.get(path):
                changes.append(f"~ {urn} {path}: {old.get(path)!r} → {new.get(path)!r}")
    return changes


def _strings_and_values(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings_and_values(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings_and_values(item, f"{path}[{index}]")
    else:
        yield path, value
