"""The cost section of the pull-request report, from the plans the PR job already made:

    python -m mlrig.cost.pr_section affected.json plans/ > pr-report/30-cost.md

`affected.json` is `mlrig affected --format json`; `plans/` holds the `mlrig plan --format json`
of each affected bundle (`ci.plan_summary.load_plans`). The bundles (for regions and pipelines' expected run times) are read
from the repository's `bundles/`. Nothing is planned again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..bundle.resolved import Platform, Project
from ..bundle.validate import validate_paths
from ..ci.plan_summary import _stack_plan, load_plans
from .estimate import stack_cost
from .prices import DEFAULT_SPOT_DISCOUNT, price_book
from .render import CostReport, render_markdown


def section(affected: Mapping[str, Any], plans: Mapping[str, Any], bundles_dir: str = "bundles") -> str:
    book = price_book()
    report = CostReport(book.currency, book.snapshot, DEFAULT_SPOT_DISCOUNT)
    stacks = affected.get("include", [])
    if not stacks:
        return ""
    result = validate_paths([bundles_dir])
    targets: dict[str, Platform | Project] = {p.name: p for p in result.platforms.values()}
    targets.update({p.name: p for p in result.projects.values()})
    for stack in stacks:
        name = stack["stack"].rsplit(".", 1)[0]
        plan = _stack_plan(plans.get(stack["stack"], {}), stack["stack"])
        target = targets.get(name)
        if plan is None or target is None:
            continue
        report.stacks.append(stack_cost(target, stack["environment"], plan, book=book))
    return render_markdown(report)


def main(argv: Sequence[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m mlrig.cost.pr_section AFFECTED_JSON PLANS_DIR [BUNDLES_DIR]", file=sys.stderr)
        return 2
    affected = json.loads(Path(argv[0]).read_text())
    sys.stdout.write(section(affected, load_plans(Path(argv[1])), argv[2] if len(argv) == 3 else "bundles"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
