"""`mlrig diff` output: text for a terminal, Markdown for the pull-request comment, JSON for tools.

JSON shape (`DiffReport.as_dict`):

    {"base": "REF", "head": "REF or null (working tree)", "program": "mlrig <version>",
     "notes": ["..."],
     "dangerous": [{"stack", "action", "urn", "type", "reasons"}],
     "stacks": [{"stack", "kind", "environment", "status", "summary",
                 "counts": {"create", "update", "replace", "delete"},
                 "dangerous": ["urn"], "notes": ["..."],
                 "cost": {"before", "after", "delta", "currency", "unpriced"} | null,
                 "resources": [{"action", "urn", "type", "name", "stateful", "protected",
                                "reasons": ["..."], "previousUrn"?: "...",
                                "changes": [{"path", "before", "after", "replaces"}]}]}]}

`status` is `changed`, `unchanged`, `created` or `deleted`; secret values read `[secret]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .compare import ResourceChange, StackDiff, format_delta

SYMBOLS = {"create": "+", "delete": "-", "replace": "±", "update": "~"}
MAX_VALUE = 120
MARKDOWN_LINES_PER_STACK = 150


@dataclass
class DiffReport:
    base: str
    head: str | None
    program: str
    stacks: list[StackDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def dangerous(self) -> list[tuple[StackDiff, ResourceChange]]:
        return [(stack, r) for stack in self.stacks for r in stack.dangerous]

    def refused(self) -> list[tuple[StackDiff, ResourceChange]]:
        return [(stack, r) for stack in self.stacks for r in stack.refused]

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "program": self.program,
            "notes": list(self.notes),
            "dangerous": [
                {"stack": s.stack, "action": r.action, "urn": r.urn, "type": r.type, "reasons": list(r.reasons)}
                for s, r in self.dangerous()
            ],
            "refused": [
                {"stack": s.stack, "urn": r.urn, "type": r.type, "reason": r.refused} for s, r in self.refused()
            ],
            "stacks": [s.as_dict() for s in self.stacks],
        }


def value_text(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False) if not isinstance(value, str) else value
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _danger_line(stack: StackDiff, resource: ResourceChange) -> str:
    why = "; ".join(resource.reasons) or ("the stack is left without a bundle" if stack.status == "deleted" else "")
    marks = ", ".join(m for m, on in (("protected", resource.protected), ("stateful", resource.stateful)) if on)
    return f"{resource.action.upper()} {resource.type} {resource.name} in {stack.stack} ({marks}){': ' + why if why else ''}"


def _refused_line(stack: StackDiff, resource: ResourceChange) -> str:
    return f"{resource.type} {resource.name} in {stack.stack}: {resource.refused}"


def pair_text(before: Any, after: Any) -> tuple[str, str]:
    """Both values; two long strings are shown around where they first differ."""
    if isinstance(before, str) and isinstance(after, str) and max(len(before), len(after)) > MAX_VALUE:
        start = next(
            (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), min(len(before), len(after))
        )
        start = max(0, start - 20)
        prefix = "…" if start else ""
        return value_text(prefix + before[start:]), value_text(prefix + after[start:])
    return value_text(before), value_text(after)


def _change_lines(resource: ResourceChange) -> list[str]:
    lines = []
    for change in resource.changes:
        flag = "  (forces replacement)" if change.replaces else ""
        before, after = pair_text(change.before, change.after)
        lines.append(f"      {change.path}: {before} → {after}{flag}")
    return lines


def render_text(report: DiffReport) -> str:
    lines = [f"mlrig diff {report.base}..{report.head or '(working tree)'}, planned offline with {report.program}"]
    lines += [f"note: {n}" for n in report.notes]
    refused = report.refused()
    if refused:
        lines += ["", f"!! {len(refused)} change(s) pulumi up will refuse: applying this change fails:"]
        lines += [f"!!   {_refused_line(s, r)}" for s, r in refused]
    danger = report.dangerous()
    if danger:
        lines += ["", f"!! {len(danger)} stateful or protected resource(s) replaced or deleted:"]
        lines += [f"!!   {_danger_line(s, r)}" for s, r in danger]
    if not report.stacks:
        lines += ["", "No stack is affected by this change."]
    for stack in report.stacks:
        lines += ["", f"{stack.stack} ({stack.kind}, {stack.environment}): {stack.summary()}"]
        lines += [f"  note: {n}" for n in stack.notes]
        if stack.cost:
            lines.append(f"  cost: {_cost_text(stack.cost)}")
        if stack.status == "deleted":
            lines += [f"  - {r.type} {r.name}" for r in stack.resources if r.dangerous]
            continue
        for resource in stack.resources:
            lines.append(f"  {SYMBOLS[resource.action]} {resource.type} {resource.name}")
            lines += [f"      because {reason}" for reason in resource.reasons]
            if resource.refused:
                lines.append(f"      refused: {resource.refused}")
            if resource.action in ("update", "replace"):
                lines += _change_lines(resource)
    return "\n".join(lines) + "\n"


def _cost_text(cost: dict[str, Any]) -> str:
    before = "—" if cost.get("before") is None else f"${cost['before']:,.2f}"
    after = "—" if cost.get("after") is None else f"${cost['after']:,.2f}"
    text = f"{before} → {after} per month ({format_delta(cost['delta'])})"
    if cost.get("unpriced"):
        text += f"; not priced: {', '.join(cost['unpriced'])}"
    return text


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render_markdown(report: DiffReport) -> str:
    lines = ["## mlrig diff: what this change does to each affected stack", ""]
    lines.append(
        f"Both revisions planned offline (no credentials) with {report.program}: `{_md(report.base)}` → "
        f"`{_md(report.head or 'working tree')}`. Not a diff against what is deployed."
    )
    lines.append("")
    lines += [f"> {_md(n)}" for n in report.notes]
    if report.notes:
        lines.append("")
    refused = report.refused()
    if refused:
        lines += [
            "> [!CAUTION]",
            f"> **{len(refused)} change(s) pulumi up will refuse: applying this change fails:**",
            *(f"> - {_md(_refused_line(s, r))}" for s, r in refused),
            "",
        ]
    danger = report.dangerous()
    if danger:
        lines += [
            "> [!CAUTION]",
            f"> **{len(danger)} stateful or protected resource(s) replaced or deleted:**",
            *(f"> - {_md(_danger_line(s, r))}" for s, r in danger),
            "",
        ]
    if not report.stacks:
        return "\n".join([*lines, "No stack is affected by this change.", ""])
    lines += ["| stack | summary | cost / month |", "|---|---|---:|"]
    for stack in report.stacks:
        cost = format_delta(stack.cost["delta"]) if stack.cost and stack.cost.get("delta") is not None else "—"
        lines.append(f"| `{stack.stack}` | {_md(stack.summary())} | {cost} |")
    lines.append("")
    for stack in report.stacks:
        if stack.status == "unchanged":
            continue
        lines += [f"<details><summary><code>{stack.stack}</code>: {_md(stack.summary())}</summary>", ""]
        lines += [f"- {_md(n)}" for n in stack.notes]
        if stack.cost:
            lines.append(f"- cost: {_md(_cost_text(stack.cost))}")
        block: list[str] = []
        for resource in stack.resources:
            block.append(
                f"{'-' if resource.action == 'delete' else '+' if resource.action == 'create' else '!'} "
                f"{resource.action} {resource.type} {resource.name}"
            )
            block += [f"#   because {reason}" for reason in resource.reasons]
            if resource.refused:
                block.append(f"#   refused: {resource.refused}")
            if resource.action in ("update", "replace"):
                block += [line.replace("      ", "    ", 1) for line in _change_lines(resource)]
        if len(block) > MARKDOWN_LINES_PER_STACK:  # a comment holds 65,536 characters
            hidden = len(block) - MARKDOWN_LINES_PER_STACK
            block = [*block[:MARKDOWN_LINES_PER_STACK], f"# … {hidden} more line(s): run mlrig diff locally"]
        lines += ["", "```diff", *block, "```", "", "</details>", ""]
    return "\n".join(lines).replace("```diff\n```", "```diff\n(no resource changes)\n```")


def render_json(report: DiffReport) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"
