"""`mlrig diff --base REF [--head REF] [--format text|markdown|json]`.

Plans both revisions of every affected stack offline and compares them. The bundles of each side
come from git (`ci.affected.bundles_at`); the program that plans both sides is the mlrig running
this command, so a change to mlrig's own code (`infra/`, `ci/`) in this repository is not
diffed, only noted. Stacks left without a bundle are listed as wholly deleted, with the commands
that destroy them (nothing is ever destroyed by an apply).
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console

from ..bundle.resolved import Platform, Project
from ..bundle.validate import UsageError
from ..ci.affected import (
    BundleSet,
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
from ..plan.runner import Planner
from .compare import diff_stack
from .render import DiffReport, render_json, render_markdown, render_text


def program_version() -> str:
    try:
        return f"mlrig {metadata.version('mlrig')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "mlrig (unversioned)"


def _target(bundles: BundleSet, name: str) -> Platform | Project | None:
    candidates: list[Platform | Project] = [*bundles.platforms.values(), *bundles.projects.values()]
    for bundle in candidates:
        if bundle.name == name:
            return bundle
    return None


def _plan(planner: Planner, bundles: BundleSet, name: str, environment: str) -> StackPlan | None:
    target = _target(bundles, name)
    if target is None or environment not in target.environments:
        return None
    return planner.plan(target, environment)


class DiffFailed(Exception):
    pass


def build_report(root: Path, base: str, head: str | None, *, estimate_cost: bool = True) -> DiffReport:
    """Raises GitError, UsageError, UnsafeTreePath, InvalidBundles or DiffFailed."""
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
        affected = compute_affected(paths, old, new)
        before, after = Planner(), Planner()
        try:
            for stack in affected.stacks:
                name = stack.stack.rsplit(".", 1)[0]
                head_plan = _plan(after, new, name, stack.environment)
                base_plan = _plan(before, old, name, stack.environment)
                diff = diff_stack(
                    stack.stack,
                    stack.kind,
                    stack.environment,
                    base_plan.resources if base_plan else None,
                    head_plan.resources if head_plan else None,
                )
                if estimate_cost:
                    diff.cost = _cost_delta(old, new, name, stack.environment, base_plan, head_plan)
                report.stacks.append(diff)
            gone = orphaned_stacks(old, new) if any(_is_bundle(p) for p in paths) else []
            for orphan in gone:
                target = _target(old, orphan.name)
                if target is None:
                    continue
                for env_name in [e for e, env in target.environments.items() if env.stack in orphan.stacks]:
                    stack_name = target.environments[env_name].stack
                    base_plan = before.plan(target, env_name)
                    diff = diff_stack(stack_name, target.bundle.kind, env_name, base_plan.resources, None)
                    diff.notes.append(orphan_note(orphan))
                    if estimate_cost:  # what destroying it saves
                        diff.cost = _cost_delta(old, new, orphan.name, env_name, base_plan, None)
                    report.stacks.append(diff)
        except PlanError as error:
            raise DiffFailed(f"offline plan of {error.stack} failed: {error.message}") from None
    return report


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


def run_diff_command(root: str, base: str, head: str | None, fmt: str, *, stdout: Console, stderr: Console) -> int:
    base_dir = Path(root)
    try:
        report = build_report(base_dir, base, head)
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
    except DiffFailed as error:
        stderr.print(f"error: {error}", markup=False, highlight=False)
        return 1
    stdout.file.write(RENDERERS[fmt](report))
    return 0
