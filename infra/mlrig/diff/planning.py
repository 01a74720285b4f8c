"""The offline plans a diff needs, made in this process or in `--jobs` worker processes.

Each side of the diff (base, head) has its own Planner: a Planner remembers plans by bundle name
and environment, and both revisions use the same names. In workers (the pool of `mlrig plan
--jobs`, `mlrig.plan.parallel`) each worker keeps one Planner per side, so a platform plan is
made at most once per side and worker. Results are taken in the order requested, so the first
failure reported is the one a serial run reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..bundle.resolved import Project
from ..plan import parallel
from ..plan.engine import PlanError, StackPlan
from ..plan.runner import Planner
from ..program import Target

SIDES = ("base", "head")
# By default a pool is started only when each worker gets this many stacks: starting it (the fork
# server imports the SDKs before the first plan) costs about as much as planning two stacks. Measured
# with bench/bench_pr.py's repository on 2 cores: 3 stacks plan faster in this process, 9 in 2 workers.
STACKS_PER_WORKER = 3


@dataclass(frozen=True)
class StackRequest:
    side: str  # "base" or "head"
    target: Target
    environment: str


class WorkersFailed(Exception):
    """A worker process ended unexpectedly (out of memory?)."""


def worker_count(jobs: int | None, stacks: int) -> int:
    """`jobs` workers (never more than the stacks); None: one per usable core, as long as each
    worker gets STACKS_PER_WORKER stacks. 1: no pool, the stacks are planned in this process."""
    if jobs is None:
        return max(1, min(parallel.usable_cores(), stacks // STACKS_PER_WORKER))
    return parallel.worker_count(jobs, stacks)


def plan_requests(
    requests: Sequence[StackRequest], jobs: int | None, planners: Mapping[str, Planner]
) -> list[StackPlan]:
    """The plan of every request, in order; PlanError of the first that fails. With more than one
    worker (`worker_count`) they are planned in a pool, else in `planners` (one per side)."""
    workers = worker_count(jobs, len(requests))
    if workers == 1:
        return [planners[r.side].plan(r.target, r.environment) for r in requests]
    plans = []
    with parallel.worker_pool(workers) as pool:
        pending = [pool.submit(plan_in_worker, r.side, r.target, r.environment) for r in requests]
        for future in pending:
            try:
                outcome = future.result()
            except BrokenProcessPool:
                raise WorkersFailed(
                    "a worker process planning the stacks ended unexpectedly (out of memory?); "
                    "--jobs 1 plans them in this process, with less memory"
                ) from None
            error = outcome.error()
            if error is not None:
                raise error
            assert outcome.plan is not None
            plans.append(outcome.plan)
    return plans


# --- the worker's side ---------------------------------------------------------------------------

_planners: dict[str, Planner] = {}


def plan_in_worker(side: str, target: Target, environment: str) -> parallel.StackOutcome:
    planner = _planners.setdefault(side, Planner())
    try:
        return parallel.StackOutcome(plan=planner.plan(target, environment))
    except PlanError as error:
        return parallel.StackOutcome(failed_stack=error.stack, failure=error.message)
    except Exception as error:
        raise parallel._sendable(error) from None
    finally:
        if isinstance(target, Project):
            planner.forget(target, environment)  # only platform plans are needed again
