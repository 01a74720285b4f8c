"""`mlrig diff --base REF [--head REF] [--format text|markdown|json] [--head-plans DIR] [--jobs N]`.

Plans both revisions of every affected stack offline and compares them. The bundles of each side
come from git (`ci.affected.bundles_at`); the program that plans both sides is the mlrig running
this command, so a change to mlrig's own code (`infra/`, `ci/`) in this repository is not
diffed, only noted. Stacks left without a bundle are listed as wholly deleted, with the commands
that destroy them (nothing is ever destroyed by an apply).

With `--head-plans DIR` the head's plans come from `mlrig plan --out` files already made (the
pull-request job's), each checked to be this revision's (`head_plans.py`); the plans still to
make are made in `--jobs` worker processes (`planning.py`). Either way the report is the same.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ..bundle.resolved import Platform, Project
from ..bundle.validate import UsageError
from ..ci.affected import (
    BundleSet,
    DeletedBundle,
    GitError,
    InvalidBundles,
    UnsafeTreePath,
    _is_bundle,
    _is_shared,
    bundles_at,
    changed_paths,
    compute_affected,
    git,
    orphan_note,
    orphaned_stacks,
    verify_ref,
)
from ..console import print_diagnostics
from ..plan.engine import PlanError, StackPlan
from ..plan.provenance import program_version
from ..plan.runner import Planner
from .compare import diff_stack
from .head_plans import HeadPlans, PlansUnusable
from .planning import StackRequest, WorkersFailed, plan_requests
from .render import DiffReport, render_json, render_markdown, render_text


def _target(bundles: BundleSet, name: str) -> Platform | Project | None:
    candidates: list[Platform | Project] = [*bundles.platforms.values(), *bundles.projects.values()]
    for bundle in candidates:
        if bundle.name == name:
            return bundle
    return None


def _planned(bundles: BundleSet, name: str, environment: str) -> Platform | Project | None:
    """The bundle whose stack `name.environment` one side plans, or None when it has none."""
    target = _target(bundles, name)
    if target is None or environment not in target.environments:
        return None
    return target


class DiffFailed(Exception):
    pass


@dataclass(frozen=True)
class StackEntry:
    """One stack of the report and the bundle of each side that plans it (None: no stack there)."""

    stack: str
    kind: str
    environment: str
    name: str
    base: Platform | Project | None
    head: Platform | Project | None
    orphan: DeletedBundle | None = None


def build_report(
    root: Path,
    base: str,
    head: str | None,
    *,
    estimate_cost: bool = True,
    head_plans: HeadPlans | None = None,
    jobs: int | None = 1,
) -> DiffReport:
    """Raises GitError, UsageError, UnsafeTreePath, InvalidBundles, PlansUnusable or DiffFailed.
    `head_plans`: plans already made that stand for the head, each checked before use (see
    `head_plans.py`); `jobs`: worker processes for the plans still to make."""
    try:
        git(root, "rev-parse", "--git-dir")
    except GitError:
        raise GitError(
            f"{root.resolve()} is not in a git repository; run mlrig diff in the platform repository"
        ) from None
    verify_ref(root, base)
    if head is not None:
        verify_ref(root, head)
    paths = changed_paths(root, base, head)
    report = DiffReport(base, head, program_version())
    with tempfile.TemporaryDirectory(prefix="mlrig-diff-") as scratch:
        new_dir, old_dir = Path(scratch) / "head", Path(scratch) / "base"
        new_result = bundles_at(root, head, new_dir)
        if new_result is not None and not new_result.valid:
            raise InvalidBundles(new_result)
        old_result = bundles_at(root, base, old_dir)
        new = BundleSet.of(new_result, root if head is None else new_dir)
        old = BundleSet.of(old_result, old_dir)
        if old_result is not None and not old_result.valid:
            report.notes.append(
                f"some bundles at {base} do not validate with {report.program} (an older bundle format? "
                "`mlrig migrate` updates them); their stacks are shown as new"
            )
        if any(_is_shared(p) for p in paths):
            shared = ", ".join(sorted({p for p in paths if _is_shared(p)})[:5])
            report.notes.append(
                f"both revisions are planned with the installed {report.program}; this change also touches the "
                f"program, its pin or CI code ({shared}), which is not diffed here"
            )
        entries = report_entries(paths, old, new)
        plans = plan_entries(entries, head_plans, jobs)
        for entry in entries:
            base_plan, head_plan = plans.get(("base", entry.stack)), plans.get(("head", entry.stack))
            diff = diff_stack(
                entry.stack,
                entry.kind,
                entry.environment,
                base_plan.resources if base_plan else None,
                head_plan.resources if head_plan else None,
            )
            if entry.orphan is not None:
                diff.notes.append(orphan_note(entry.orphan))
            if estimate_cost:  # for an orphan: what destroying it saves
                diff.cost = _cost_delta(old, new, entry.name, entry.environment, base_plan, head_plan)
            report.stacks.append(diff)
    return report


def report_entries(paths: list[str], old: BundleSet, new: BundleSet) -> list[StackEntry]:
    """The affected stacks, then the stacks of bundles the change deletes, in report order."""
    entries = []
    for stack in compute_affected(paths, old, new).stacks:
        name = stack.stack.rsplit(".", 1)[0]
        env = stack.environment
        entries.append(
            StackEntry(stack.stack, stack.kind, env, name, _planned(old, name, env), _planned(new, name, env))
        )
    gone = orphaned_stacks(old, new) if any(_is_bundle(p) for p in paths) else []
    for orphan in gone:
        target = _target(old, orphan.name)
        if target is None:
            continue
        for env_name in [e for e, env in target.environments.items() if env.stack in orphan.stacks]:
            stack_name = target.environments[env_name].stack
            entries.append(StackEntry(stack_name, target.bundle.kind, env_name, orphan.name, target, None, orphan))
    return entries


def plan_entries(
    entries: list[StackEntry], recorded: HeadPlans | None, jobs: int | None
) -> dict[tuple[str, str], StackPlan]:
    """(side, stack) → plan, for every side that has the stack: the head from `recorded` where
    it holds the stack, everything else planned (head before base, stack by stack)."""
    plans: dict[tuple[str, str], StackPlan] = {}
    requests: list[StackRequest] = []
    for entry in entries:
        reused = recorded.take(entry.head, entry.environment) if recorded and entry.head else None
        if reused is not None:
            plans["head", entry.stack] = reused
        elif entry.head is not None:
            requests.append(StackRequest("head", entry.head, entry.environment))
            if recorded is not None:
                recorded.missing.append(entry.stack)
        if entry.base is not None:
            requests.append(StackRequest("base", entry.base, entry.environment))
    try:
        made = plan_requests(requests, jobs, {"base": Planner(), "head": Planner()})
    except PlanError as error:
        raise DiffFailed(f"offline plan of {error.stack} failed: {error.message}") from None
    except WorkersFailed as error:
        raise DiffFailed(str(error)) from None
    for request, plan in zip(requests, made, strict=True):
        plans[request.side, request.target.environments[request.environment].stack] = plan
    return plans


def _cost_delta(
    old: BundleSet,
    new: BundleSet,
    name: str,
    environment: str,
    base_plan: StackPlan | None,
    head_plan: StackPlan | None,
) -> dict[str, Any]:
    """The monthly estimate of each side and their difference (None when cost cannot load)."""
    from ..cost.estimate import stack_cost

    def total(bundles: BundleSet, plan: StackPlan | None) -> tuple[float | None, list[str]]:
        target = _target(bundles, name)
        if plan is None or target is None:
            return None, []
        estimate = stack_cost(target, environment, plan)
        return estimate.total, estimate.unpriced

    before, unpriced_before = total(old, base_plan)
    after, unpriced_after = total(new, head_plan)
    return {
        "before": before,
        "after": after,
        "delta": round((after or 0.0) - (before or 0.0), 2),
        "currency": "USD",
        "unpriced": sorted(set(unpriced_before) | set(unpriced_after)),
    }


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def run_diff_command(
    root: str,
    base: str,
    head: str | None,
    fmt: str,
    *,
    stdout: Console,
    stderr: Console,
    head_plans: str | None = None,
    jobs: int | None = 1,
) -> int:
    """`jobs` None: workers where they pay off (`planning.worker_count`)."""
    base_dir = Path(root)
    recorded: HeadPlans | None = None
    try:
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {jobs}")
        recorded = load_head_plans(Path(head_plans)) if head_plans is not None else None
        report = build_report(base_dir, base, head, head_plans=recorded, jobs=jobs)
    except (GitError, UsageError) as error:
        stderr.print(f"error: {error}", markup=False, highlight=False)
        return 2
    except UnsafeTreePath as error:
        stderr.print(f"error: {error}", markup=False, highlight=False)
        return 1
    except InvalidBundles as invalid:
        print_diagnostics(stderr, invalid.result.diagnostics)
        stderr.print("error: the bundles are invalid; nothing to diff", markup=False, highlight=False)
        return 1
    except (DiffFailed, PlansUnusable) as error:
        stderr.print(f"error: {error}", markup=False, highlight=False)
        return 1
    if recorded is not None and recorded.missing:
        stderr.print(
            f"note: {len(recorded.missing)} head stack(s) had no plan in {head_plans} and were planned here: "
            + ", ".join(recorded.missing),
            markup=False,
            highlight=False,
        )
    stdout.file.write(RENDERERS[fmt](report))
    return 0


def load_head_plans(directory: Path) -> HeadPlans:
    if not directory.is_dir():
        raise UsageError(f"--head-plans {directory}: no such directory")
    return HeadPlans.load(directory)
