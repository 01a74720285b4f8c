"""`mlrig diff --head-plans DIR`: the head side of the diff taken from plans already made.

The pull-request job plans each affected bundle once (`mlrig plan … --format json --out
plans/N.json`) before it diffs; planning the head again would double the job's longest work. A
plan file is used for a stack only when its `provenance` (`mlrig.plan.provenance`) is exactly
the one the head revision's bundle would give with the mlrig running the diff: a plan of another
revision, of edited bundles, or of another mlrig is refused with an error, never diffed. A head
stack with no plan in the directory is planned here, as without the option.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plan.engine import StackPlan
from ..plan.provenance import provenance
from ..program import Target


class PlansUnusable(Exception):
    """A plan file cannot be read as `mlrig plan --format json`, or does not belong to the head."""


@dataclass(frozen=True)
class RecordedPlan:
    file: Path
    provenance: Any
    plan: StackPlan


@dataclass
class HeadPlans:
    directory: Path
    by_stack: dict[str, list[RecordedPlan]] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)  # head stacks taken from the directory
    missing: list[str] = field(default_factory=list)  # head stacks it had no plan of (planned)

    @classmethod
    def load(cls, directory: Path) -> HeadPlans:
        """Every `*.json` of `directory`, each one bundle's plan or a list of them."""
        plans = cls(directory)
        for file in sorted(directory.glob("*.json")):
            for document in _documents(file):
                for stack, plan in _stack_plans(file, document):
                    plans.by_stack.setdefault(stack, []).append(RecordedPlan(file, document.get("provenance"), plan))
        return plans

    def take(self, target: Target, environment: str) -> StackPlan | None:
        """The recorded plan of `target`'s stack in `environment`, or None when there is none.
        PlansUnusable when any recorded plan of that stack was made from other inputs."""
        stack = target.environments[environment].stack
        recorded = self.by_stack.get(stack)
        if not recorded:
            return None
        expected = provenance(target)
        for entry in recorded:
            if entry.provenance != expected:
                raise PlansUnusable(stale_message(entry, stack, expected))
        self.reused.append(stack)
        return recorded[0].plan


def stale_message(entry: RecordedPlan, stack: str, expected: dict[str, str]) -> str:
    found = entry.provenance if isinstance(entry.provenance, dict) else {}
    if not found:
        why = "it records no provenance (made by an older mlrig?)"
    elif found.get("program") != expected["program"]:
        why = f"it was made by {found.get('program')}, this is {expected['program']}"
    else:
        why = "it was planned from other bundles than the head revision's (another commit, or edited files)"
    return (
        f"{entry.file}: the plan of {stack} cannot stand for the head: {why}. Plan the head again "
        "(`mlrig plan BUNDLE --format json --out FILE`) or leave out --head-plans"
    )


def _documents(file: Path) -> list[dict[str, Any]]:
    try:
        contract = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlansUnusable(f"{file}: not a plan of `mlrig plan --format json` ({error})") from None
    documents = contract if isinstance(contract, list) else [contract]
    if not all(isinstance(d, dict) and isinstance(d.get("environments"), dict) for d in documents):
        raise PlansUnusable(f"{file}: not a plan of `mlrig plan --format json` (no `environments`)")
    return documents


def _stack_plans(file: Path, document: dict[str, Any]) -> list[tuple[str, StackPlan]]:
    found = []
    for payload in document["environments"].values():
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("stack"), str)
            and isinstance(payload.get("resources"), list)
            and isinstance(payload.get("outputs"), dict)
        ):
            raise PlansUnusable(f"{file}: not a plan of `mlrig plan --format json` (an environment without stack)")
        found.append((payload["stack"], StackPlan(payload["stack"], payload["resources"], payload["outputs"])))
    return found
