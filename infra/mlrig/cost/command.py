"""`mlrig cost [BUNDLE…] [--env E] [--format text|json|markdown]` and `mlrig cost refresh-prices`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from ..bundle.diagnostics import did_you_mean
from ..plan.command import CommandError, plan_all, requested_targets, select_environments
from ..plan.runner import Planner
from ..program import Target
from .estimate import stack_cost
from .prices import price_book
from .render import CostReport, render_json, render_markdown, render_text


def cost_report(
    targets_envs: list[tuple[Target, list[str]]], planner: Planner, spot_discount: float, stderr: Console
) -> CostReport:
    book = price_book()
    report = CostReport(book.currency, book.snapshot, spot_discount)
    for bundle_plan in plan_all(targets_envs, stderr, planner):
        for env, plan in bundle_plan.environments.items():
            report.stacks.append(stack_cost(bundle_plan.target, env, plan, book=book, spot_discount=spot_discount))
    return report


def run_cost_command(
    bundles: Sequence[str],
    envs: Sequence[str],
    fmt: str,
    *,
    spot_discount: float,
    detail: bool,
    stdout: Console,
    stderr: Console,
) -> int:
    try:
        targets = requested_targets(list(bundles), stderr)
        selection = select_environments(targets, list(envs))
        report = cost_report(selection, Planner(), spot_discount, stderr)
    except CommandError as error:
        if str(error):
            stderr.print(f"error: {error}", markup=False, highlight=False)
        return error.code
    if fmt == "json":
        stdout.file.write(render_json(report))
    elif fmt == "markdown":
        stdout.file.write(render_markdown(report))
    else:
        stdout.file.write(render_text(report, detail=detail))
    return 0


def region_problem(regions: Sequence[str], priced: Sequence[str]) -> str | None:
    """Why `--region` cannot be refreshed, or None. A refresh asks for the prices the snapshot
    holds: a region it does not hold would be written empty (every estimate there unpriced)
    under a new date, as if it had been refreshed."""
    from ..aws_catalog import REGIONS

    for region in regions:
        if region not in REGIONS:
            return f"--region {region}: unknown AWS region{did_you_mean(region, REGIONS)}"
        if region not in priced:
            return (
                f"--region {region}: the price snapshot holds no prices for {region} (it prices "
                f"{', '.join(priced)}), and a refresh only updates the prices it holds, since the per-unit ones "
                f"are checked by hand: refresh {', '.join(priced)}, or leave out --region"
            )
    return None


def run_refresh_command(
    out: str | None, regions: Sequence[str], *, stdout: Console, stderr: Console, client: Any = None
) -> int:
    from ..plan.command import write_atomically
    from .prices import snapshot_path
    from .refresh import PRICING_REGION, changes, refresh

    source = snapshot_path()
    old = json.loads(source.read_text(encoding="utf-8"))
    problem = region_problem(regions, sorted(old.get("regions", {})))
    if problem:
        stderr.print(f"error: {problem}; nothing was written", markup=False)
        return 2
    if client is None:
        try:
            import boto3
        except ImportError:
            stderr.print("error: mlrig cost refresh-prices needs boto3: pip install boto3", markup=False)
            return 2
        client = boto3.client("pricing", region_name=PRICING_REGION)
    try:
        new, kept = refresh(old, client, list(regions) or None)
    except Exception as error:  # botocore: no network, no credentials, throttling
        stderr.print(f"error: the Price List API could not be asked: {type(error).__name__}: {error}", markup=False)
        return 1
    target = Path(out) if out else source
    try:
        write_atomically(target, json.dumps(new, indent=1) + "\n")
    except CommandError as error:
        stderr.print(f"error: {error}", markup=False)
        return error.code
    for line in changes(old, new):
        stdout.print(line, markup=False, highlight=False)
    for key in kept:
        stderr.print(f"note: no answer for {key}; kept the old price", markup=False, highlight=False)
    stdout.print(f"wrote {target} (snapshot {new['snapshot']})", markup=False, highlight=False)
    return 0
