"""`mlrig cost` output. JSON shape (`CostReport.as_dict`):

    {"currency": "USD", "snapshot": "YYYY-MM-DD", "spotDiscount": 0.65,
     "total": 1234.5,
     "stacks": [{"stack", "kind", "bundle", "environment", "region",
                 "monthly": {"fixed", "scheduled", "total"},
                 "lines": [{"part": "fixed|scheduled|usage", "what", "resource", "monthly": number|null, "note"}],
                 "unpriced": ["ec2 x.large in eu-west-1", ...], "assumptions": ["..."]}]}

`monthly: null` means not priced (listed in `unpriced`) or usage-based; totals count priced lines.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .estimate import StackCost


@dataclass
class CostReport:
    currency: str
    snapshot: str
    spot_discount: float
    stacks: list[StackCost] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(s.total for s in self.stacks), 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "snapshot": self.snapshot,
            "spotDiscount": self.spot_discount,
            "total": self.total,
            "stacks": [s.as_dict() for s in self.stacks],
        }


def money(amount: float | None) -> str:
    return "not priced" if amount is None else f"${amount:,.2f}"


def at_least(amount: float, unpriced: bool) -> str:
    """A total that leaves out prices the snapshot lacks is a lower bound, never the cost: a
    stack in a region without prices would read `$0.00` otherwise."""
    return f"at least {money(amount)}" if unpriced else money(amount)


def _incomplete(report: CostReport) -> list[StackCost]:
    return [s for s in report.stacks if s.unpriced]


def _grouped(stack: StackCost) -> list[tuple[str, str, float | None, int, list[str]]]:
    """Lines of the same part and kind summed: (part, what, monthly, count, notes)."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for line in stack.lines:
        groups[(line.part, line.what)].append(line)
    rows = []
    for (part, what), lines in groups.items():
        priced = [line.monthly for line in lines if line.monthly is not None]
        monthly = round(sum(priced), 2) if priced else None
        notes = sorted({line.note for line in lines if line.note})
        rows.append((part, what, monthly, len(lines), notes))
    return sorted(rows, key=lambda row: (row[0] != "fixed", -(row[2] or 0)))


def render_text(report: CostReport, *, detail: bool = False) -> str:
    lines = [f"Monthly estimate from the offline plan ({report.currency}, prices of {report.snapshot})"]
    for stack in report.stacks:
        lines.append("")
        lines.append(
            f"{stack.stack} ({stack.kind}, {stack.region}): {at_least(stack.total, bool(stack.unpriced))}/month "
            f"(fixed {money(stack.part('fixed'))}, scheduled {money(stack.part('scheduled'))})"
        )
        if detail:
            for line in stack.lines:
                lines.append(
                    f"  {line.part:9} {money(line.monthly):>12}  {line.what}: {line.resource} {line.note}".rstrip()
                )
        else:
            for part, what, monthly, count, _notes in _grouped(stack):
                times = f" × {count}" if count > 1 else ""
                shown = "usage-based" if part == "usage" and monthly is None else money(monthly)
                lines.append(f"  {part:9} {shown:>12}  {what}{times}")
        for missing in sorted(set(stack.unpriced)):
            lines.append(f"  ! not priced: {missing}")
    lines.append("")
    total = f"Total: {at_least(report.total, bool(_incomplete(report)))}/month for {len(report.stacks)} stack(s)"
    if _incomplete(report):
        total += f" ({len(_incomplete(report))} with prices the snapshot lacks: see `! not priced`)"
    lines.append(total)
    if report.stacks:
        lines += [f"Assumes {a}" for a in report.stacks[0].assumptions]
    return "\n".join(lines) + "\n"


def render_markdown(report: CostReport) -> str:
    lines = [
        "## mlrig cost: monthly estimate of the affected stacks",
        "",
        f"From the offline plan, {report.currency} list prices of {report.snapshot}; spot at "
        f"{report.spot_discount:.0%} below on-demand. Usage (data transfer, storage, requests) is not estimated.",
        "",
        "| stack | fixed | scheduled | total / month | not priced |",
        "|---|---:|---:|---:|---|",
    ]
    for s in report.stacks:
        missing = ", ".join(sorted(set(s.unpriced))) or "—"
        lines.append(
            f"| `{s.stack}` | {money(s.part('fixed'))} | {money(s.part('scheduled'))} "
            f"| {at_least(s.total, bool(s.unpriced))} | {missing} |"
        )
    lines += ["", f"**Total: {at_least(report.total, bool(_incomplete(report)))} / month**", ""]
    return "\n".join(lines)


def render_json(report: CostReport) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"
