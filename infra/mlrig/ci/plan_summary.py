"""The offline-plan section of the pull-request report: a readable summary per affected stack.

    python -m mlrig.ci.plan_summary affected.json plans/ > pr-report/10-plan.md

`affected.json` is `mlrig affected --format json`; `plans/` holds `mlrig plan BUNDLE --env ENV…
--format json --out` of each affected bundle (its affected environments). The summary counts
what the program declares, by component (the boxes of the architecture) and by resource type; it
is not a diff against what is deployed (the pull request holds no credentials to look). Sections that compare with the base
branch or estimate cost are further `PR_REPORTS` entries (`mlrig.ci.render`).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TITLE = "## mlrig: offline plan of the affected stacks"


def _short_type(token: str) -> str:
    """`mlrig:project:Storage` → `Storage`; `aws:s3/bucket:Bucket` → `Bucket`."""
    return token.rsplit(":", 1)[-1]


def _stack_plan(contract: Mapping[str, Any], stack: str) -> Mapping[str, Any] | None:
    for plan in contract.get("environments", {}).values():
        if plan.get("stack") == stack:
            return plan  # type: ignore[no-any-return]
    return None


def by_component(resources: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Custom resources counted under their top-level component (the boxes of the architecture).
    A stack whose program wraps everything in one component (a project) is counted one level
    below that wrapper."""
    by_urn = {r["urn"]: r for r in resources}

    def chain(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        ancestors = []
        parent = by_urn.get(resource.get("parent") or "")
        while parent is not None:
            ancestors.append(parent)
            parent = by_urn.get(parent.get("parent") or "")
        return ancestors[::-1]  # top-most first

    roots = [r for r in resources if not r.get("custom") and by_urn.get(r.get("parent") or "") is None]
    depth = 1 if len(roots) == 1 else 0
    counts: Counter[str] = Counter()
    for resource in resources:
        if resource.get("custom"):
            ancestors = chain(resource)
            top = ancestors[depth] if len(ancestors) > depth else None
            counts[f"{_short_type(top['type'])} `{top['name']}`" if top else "(directly in the stack)"] += 1
    return counts


def stack_section(stack: Mapping[str, Any], plan: Mapping[str, Any] | None) -> list[str]:
    heading = f"### `{stack['stack']}` · {stack['kind']} · environment `{stack['environment']}`"
    if plan is None:
        return [heading, "", "No plan was produced for this stack (see the job log).", ""]
    resources = plan.get("resources", [])
    custom = [r for r in resources if r.get("custom")]
    protected = sum(1 for r in custom if r.get("options", {}).get("protect"))
    components = by_component(resources)
    types = Counter(r["type"] for r in custom)
    lines = [
        heading,
        "",
        f"**{len(custom)} resources** ({protected} protected) in {len(components)} component(s).",
        "",
        "| component | resources |",
        "|---|---:|",
        *(f"| {label} | {count} |" for label, count in sorted(components.items())),
        "",
        "<details><summary>Resources by type</summary>",
        "",
        "| type | count |",
        "|---|---:|",
        *(f"| `{token}` | {count} |" for token, count in sorted(types.items())),
        "",
        "</details>",
        "",
    ]
    return lines


def summarise(affected: Mapping[str, Any], plans: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown for `affected` (the JSON of `mlrig affected`) and `plans` (stack → plan JSON)."""
    stacks = affected.get("include", [])
    lines = [
        TITLE,
        "",
        "Planned offline, without cloud credentials (Pulumi's mock runtime): what the program would "
        "declare for each stack this change affects, not a diff against what is deployed.",
        "",
    ]
    if not stacks:
        lines += ["No stack is affected by this change.", ""]
    else:
        lines += ["| stack | kind | environment | resources | protected |", "|---|---|---|---:|---:|"]
        sections: list[str] = []
        for stack in stacks:
            plan = _stack_plan(plans.get(stack["stack"], {}), stack["stack"])
            custom = [r for r in (plan or {}).get("resources", []) if r.get("custom")]
            protected = sum(1 for r in custom if r.get("options", {}).get("protect"))
            count = str(len(custom)) if plan else "not planned"
            lines.append(f"| `{stack['stack']}` | {stack['kind']} | {stack['environment']} | {count} | {protected} |")
            sections += stack_section(stack, plan)
        lines += ["", *sections]
    for gone in affected.get("deleted", []):
        stacks_text = ", ".join(f"`{s}`" for s in gone.get("stacks", []))
        lines += [
            f"**Deleted:** `{gone['bundle']}`. Its stacks ({stacks_text}) are neither planned nor applied: "
            "destroy them deliberately with `pulumi destroy`.",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def load_plans(directory: Path) -> dict[str, dict[str, Any]]:
    """The plan JSON files in `directory` (`mlrig plan … --format json --out`, one or several
    bundles each, any of their environments) → stack → the plan contract that holds it."""
    if not directory.is_dir():
        return {}
    plans: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        contract = json.loads(path.read_text())
        for document in contract if isinstance(contract, list) else [contract]:
            for environment in document.get("environments", {}).values():
                plans[environment["stack"]] = document
    return plans


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mlrig.ci.plan_summary AFFECTED_JSON PLANS_DIR", file=sys.stderr)
        return 2
    affected = json.loads(Path(argv[0]).read_text())
    sys.stdout.write(summarise(affected, load_plans(Path(argv[1]))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
