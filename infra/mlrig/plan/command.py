"""`mlrig plan BUNDLE... [--env E]... [--format text|json] [--detail] [--out FILE] [--jobs N]`.

Validates first, then runs the real Pulumi program offline for every requested bundle and
environment (platforms before projects), and prints a summary per stack (the whole tree with
`--detail`) or the JSON plan. `--out` is written atomically, and only when every stack planned;
`--out -` puts the JSON plan on stdout and everything a person reads on stderr, so that it pipes.
With `--jobs N` above 1 and several stacks, worker processes plan and check the stacks
(`parallel.py`); the output is the serial run's, byte for byte.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import interrupt
from ..bundle.diagnostics import did_you_mean
from ..bundle.resolved import Platform
from ..bundle.validate import UsageError, ValidationResult, validate_paths
from ..checks import Finding
from ..checks.runner import UnknownCheck, check_stack, principal_owners, print_findings, validate_skips
from ..checks.runner import summary as checks_summary
from ..console import print_diagnostics
from ..program import Target
from . import parallel
from .engine import PlanError, StackPlan
from .provenance import provenance
from .render import render_tree, summary_lines
from .runner import Planner


@dataclass
class BundlePlan:
    target: Target
    environments: dict[str, StackPlan] = field(default_factory=dict)
    findings: dict[str, list[Finding]] | None = None  # by environment, when the checks ran

    def as_dict(self) -> dict[str, Any]:
        environments = {env: plan.as_dict() for env, plan in self.environments.items()}
        if self.findings is not None:
            for env, payload in environments.items():
                payload["checks"] = [f.as_dict() for f in self.findings.get(env, [])]
        return {
            "bundle": {"name": self.target.name, "kind": self.target.bundle.kind, "file": self.target.file},
            "provenance": provenance(self.target),  # what `mlrig diff --head-plans` checks before reuse
            "environments": environments,
        }


# `--out -`: the JSON plan to stdout (the Unix convention), never a file named `-`.
STDOUT = "-"


class CommandError(Exception):
    def __init__(self, message: str, code: int = 1):
        self.code = code
        super().__init__(message)


def run_plan_command(
    bundles: list[str],
    envs: list[str],
    fmt: str,
    out: str | None,
    *,
    stdout: Console,
    stderr: Console,
    planner: Planner | None = None,
    checks: bool = True,
    skip_checks: Sequence[str] = (),
    detail: bool = False,
    jobs: int | None = 1,
) -> int:
    """`planner` lets tests share plans already made; the CLI always starts afresh. `checks` runs
    the deployability and security checks on every planned stack (mandatory findings exit 1).
    `jobs` worker processes plan the stacks (None: one per usable core); with 1, or a single
    stack, they are planned in this process with `planner`."""
    planner = planner or Planner()
    try:
        out_file = Path(out) if out and out != STDOUT else None
        if out_file is not None:
            check_out_directory(out_file)
        skipped = known_checks(skip_checks) if checks else []
        targets = requested_targets(bundles, stderr)
        selection = select_environments(targets, envs)
        workers = worker_count(jobs, sum(len(envs) for _, envs in selection))
        if workers > 1:
            request = parallel.CheckRequest(principal_owners(targets), tuple(skipped)) if checks else None
            plans = plan_in_workers(selection, stderr, workers, request)
        else:
            plans = plan_all(selection, stderr, planner)
            if checks:
                run_plan_checks(plans, planner, skipped)
        payload = contract(plans)
        if out_file is not None:
            write_atomically(out_file, json.dumps(payload, indent=2) + "\n")
    except CommandError as error:
        if str(error):
            stderr.print(f"[red]error:[/] {escape(str(error))}", markup=True, highlight=False)
        return error.code
    findings = [f for plan in plans for found in (plan.findings or {}).values() for f in found]
    # stdout carries the JSON plan when it is asked for there (`--format json` without a file, or
    # `--out -`); then what a person reads goes to stderr, so the JSON stays parseable.
    json_to_stdout = out == STDOUT or (fmt == "json" and out_file is None)
    human = stderr if json_to_stdout or fmt == "json" else stdout
    if json_to_stdout:
        stdout.file.write(json.dumps(payload, indent=2) + "\n")  # plain text, no rich rendering
    if fmt == "text":
        print_text(plans, human, detail=detail)
        human.print(summary_line(plans), highlight=False)
    if checks:
        print_findings(human, findings)
        human.print(checks_summary(findings), highlight=False)
    if out_file is not None:
        human.print(f"wrote {out_file}", highlight=False)
    return 1 if any(f.enforcement == "mandatory" for f in findings) else 0


# Piped output (CI logs, grep) is never wrapped: a type or resource name stays on one line.
UNWRAPPED_WIDTH = 100_000


def print_text(plans: list[BundlePlan], stdout: Console, *, detail: bool) -> None:
    for plan in plans:
        if detail:
            tree = render_tree(plan.target, plan.environments)
            if stdout.is_terminal:
                stdout.print(tree, soft_wrap=False)
            else:
                wide = Console(file=stdout.file, width=UNWRAPPED_WIDTH, color_system=None, highlight=False, emoji=False)
                wide.print(tree, soft_wrap=False, crop=False)
        else:
            for line in summary_lines(plan.target, plan.environments):
                stdout.print(line, markup=False, highlight=False, soft_wrap=True)


# --- steps ---------------------------------------------------------------------------------------


def requested_targets(bundles: Sequence[str], stderr: Console) -> list[Target]:
    """The valid Platform and Project bundles named by `bundles` (files or directories)."""
    try:
        result = validate_paths(list(bundles))
    except UsageError as error:
        raise CommandError(str(error), code=2) from None
    if not result.valid:
        print_diagnostics(stderr, result.diagnostics)
        if result.diagnostics:
            raise CommandError(f"{len(result.diagnostics)} error(s) in the bundles; nothing planned")
        platforms = sorted({str(r.blocked_by) for r in result.blocked})
        raise CommandError(
            f"nothing planned: the platform bundle {', '.join(platforms)} is invalid; "
            f"see `mlrig validate {' '.join(platforms)}`"
        )
    targets = own_targets(result)
    if not targets:
        raise CommandError("no bundles to plan in " + ", ".join(bundles))
    return targets


def own_targets(result: ValidationResult) -> list[Target]:
    """Platforms first (project stacks read their outputs), each group in file order."""
    files = [Path(r.file).resolve() for r in result.reports if not r.context]
    order = {f: i for i, f in enumerate(files)}
    platforms = [p for p in result.platforms.values() if Path(p.file).resolve() in order]
    projects = [p for p in result.projects.values() if Path(p.file).resolve() in order]
    key = lambda t: order[Path(t.file).resolve()]  # noqa: E731
    return [*sorted(platforms, key=key), *sorted(projects, key=key)]


def select_environments(targets: list[Target], envs: Sequence[str]) -> list[tuple[Target, list[str]]]:
    selection = []
    for target in targets:
        known = list(target.environments)
        unknown = [e for e in envs if e not in target.environments]
        if unknown:
            raise CommandError(
                f"{target.bundle.kind} {target.name} ({target.file}) has no environment "
                f"{', '.join(repr(e) for e in unknown)}; its environments: {', '.join(known)}"
                f"{did_you_mean(unknown[0], known)}"
            )
        selection.append((target, [e for e in known if not envs or e in envs]))
    return selection


def worker_count(jobs: int | None, stacks: int) -> int:
    try:
        return parallel.worker_count(jobs, stacks)
    except ValueError as error:
        raise CommandError(str(error), code=2) from None


def known_checks(skip: Sequence[str]) -> list[str]:
    try:
        return validate_skips(skip)
    except UnknownCheck as error:
        raise CommandError(str(error), code=2) from None


def run_plan_checks(plans: list[BundlePlan], planner: Planner, skip: Sequence[str]) -> None:
    """The check catalogue over every planned stack; a project's graph includes its platform's."""
    owners = principal_owners([plan.target for plan in plans])
    for plan in plans:
        plan.findings = {env: check_stack(plan.target, env, planner, owners, skip) for env in plan.environments}


def plan_all(selection: list[tuple[Target, list[str]]], stderr: Console, planner: Planner) -> list[BundlePlan]:
    plans: list[BundlePlan] = []
    total = sum(len(envs) for _, envs in selection)
    with progress_display(stderr, total) as advance:
        for target, envs in selection:
            bundle_plan = BundlePlan(target)
            for env in envs:
                stack = target.environments[env].stack
                advance(stack, done=False)
                try:
                    bundle_plan.environments[env] = planner.plan(target, env)
                except PlanError as error:
                    raise CommandError(failure_message(target, env, error)) from None
                advance(stack, done=True)
            plans.append(bundle_plan)
    return plans


def plan_in_workers(
    selection: list[tuple[Target, list[str]]], stderr: Console, workers: int, checks: parallel.CheckRequest | None
) -> list[BundlePlan]:
    """`plan_all` and `run_plan_checks` in `workers` processes: every stack is handed out at once,
    in the serial order, and its result taken in that order, so the first failure reported is the
    one a serial run reports: a stack whose program fails first, else the first check that crashed
    (the serial run checks once every stack is planned)."""
    stacks = parallel.stacks_of(selection)
    check_crash: Exception | None = None
    with progress_display(stderr, len(stacks)) as advance, parallel.worker_pool(workers) as pool:
        pending = []
        for target, env in stacks:
            future = pool.submit(parallel.plan_one, target, env, checks)
            future.add_done_callback(progress_callback(advance, target.environments[env].stack))
            pending.append(future)
        results = iter(pending)
        plans: list[BundlePlan] = []
        for target, envs in selection:
            bundle_plan = BundlePlan(target, findings={} if checks else None)
            for env in envs:
                outcome = worker_result(next(results))
                error = outcome.error()
                if error is not None:
                    raise CommandError(failure_message(target, env, error))
                assert outcome.plan is not None
                bundle_plan.environments[env] = outcome.plan
                check_crash = check_crash or outcome.check_crash
                if bundle_plan.findings is not None:
                    bundle_plan.findings[env] = outcome.findings or []
            plans.append(bundle_plan)
    if check_crash is not None:
        raise check_crash
    return plans


def worker_result(future: Future[parallel.StackOutcome]) -> parallel.StackOutcome:
    try:
        return future.result()
    except BrokenProcessPool:
        raise CommandError(
            "a worker process planning the stacks ended unexpectedly (out of memory?); "
            "--jobs 1 plans them in this process, with less memory"
        ) from None


def progress_callback(advance: Any, stack: str) -> Any:
    """Called in the pool's thread as each stack is done; the display is thread-safe."""

    def done(future: Future[parallel.StackOutcome]) -> None:
        if not future.cancelled() and future.exception() is None:
            advance(stack, done=True)

    return done


def failure_message(target: Target, env: str, error: PlanError) -> str:
    kind = "platform" if isinstance(target, Platform) else "project"
    own_stack = target.environments[env].stack
    where = "" if error.stack == own_stack else f" (while planning its platform stack {error.stack})"
    return f"plan of {kind} {target.name} ({target.file}), environment {env}, failed{where}: {error.message}"


@contextmanager
def progress_display(stderr: Console, total: int) -> Iterator[Any]:
    """A progress bar on stderr while stacks are planned, only on a terminal."""
    if not stderr.is_terminal:
        yield lambda stack, done: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("planning [bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task("", total=total)

        def advance(stack: str, done: bool) -> None:
            progress.update(task, description=stack, advance=1 if done else 0)

        yield advance


def contract(plans: list[BundlePlan]) -> Any:
    """One bundle gives the plan object; several give a list of them."""
    if len(plans) == 1:
        return plans[0].as_dict()
    return [p.as_dict() for p in plans]


def summary_line(plans: list[BundlePlan]) -> str:
    stacks = [plan for bundle in plans for plan in bundle.environments.values()]
    resources = sum(1 for p in stacks for r in p.resources if r["custom"])
    components = sum(1 for p in stacks for r in p.resources if not r["custom"])
    protected = sum(1 for p in stacks for r in p.resources if r["options"]["protect"] and r["custom"])
    return (
        f"Planned {len(stacks)} stack(s) of {len(plans)} bundle(s): {resources} resources "
        f"(+{components} components, as the JSON lists them too), {protected} protected"
    )


def check_out_directory(path: Path) -> None:
    """Fail before planning, not after, when --out cannot be written."""
    directory = path.parent if str(path.parent) else Path(".")
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"cannot write {path}: {directory} is a file, not a directory", code=2)
    if not directory.is_dir():
        raise CommandError(f"cannot write {path}: directory {directory} does not exist", code=2)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write {path}: directory {directory} is not writable", code=2)


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see a partial file."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}", code=2) from None
    with interrupt.removed_if_interrupted(temp):
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temp, 0o644)  # mkstemp makes it private; a plan is an ordinary file
            os.replace(temp, path)
        except OSError as error:
            Path(temp).unlink(missing_ok=True)
            raise CommandError(f"cannot write {path}: {error.strerror or error}", code=2) from None
