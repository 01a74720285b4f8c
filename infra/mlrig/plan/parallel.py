"""`mlrig plan --jobs N`: independent stacks planned (and checked) in worker processes.

Each worker imports the Pulumi SDKs and mlrig's programs once and plans many stacks, one after
another, exactly as a serial run does in its one process; the parent only validates, hands out
stacks in the serial order and collects the results in that order. So the plan JSON, the text,
the check findings, the first error reported and the exit code are those of `--jobs 1`.

A project stack reads its platform environment's outputs. Each worker plans that platform
environment itself the first time one of its stacks needs it and keeps it for the others (the
plan is deterministic, so every worker's copy is the serial one). That costs at most one extra
platform plan per environment per worker, about a fifth of a second each, and needs no waiting
between workers: shipping the platform plans from one worker to the others would serialise the
start of every project on the slowest platform.

Start method: `forkserver` (where the platform has it, else `spawn`), never a plain `fork` of
the command. The SDK keeps global runtime state (settings, the root resource, config) and each
plan runs its own asyncio loop; grpc (which the SDK imports) is unsafe to fork once it has
started threads, and the parent may be drawing a progress bar from a thread. The fork server is
a fresh, single-threaded process that imports the SDKs and the programs once (`PRELOAD`) and
then forks every worker from that state: no worker imports them again, none inherits the
parent's threads, locks or loops.

Memory: the fork server holds the imports (about 90 MB); each worker starts as a copy of it and
grows to about 200 MB while it plans example-sized projects (measured on 30 of them), more for
large ones (the SDK needs 0.3-0.5 MB per resource of the stack being planned), plus the platform
plans it keeps. So `--jobs N` needs roughly N x 200-300 MB on top of the command itself, which
holds every finished plan as a serial run does. `--jobs 1` plans in the command's own process.

Stopping: workers ignore SIGINT (Ctrl-C in a terminal reaches the whole process group; the
parent alone answers it, with exit code 130 and one line) and exit as soon as the parent's end
of a pipe closes, whether the parent stopped early on an error, was interrupted (`interrupt.py`
ends it with `os._exit`) or was killed. No worker writes anything to disk.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from pathlib import Path

from ..bundle.resolved import Project
from ..checks import Finding
from ..checks.runner import check_stack
from ..program import Target
from .engine import PlanError, StackPlan
from .runner import Planner

# What the fork server imports before it forks the first worker: the SDKs (through the programs)
# and the checks, so that no worker pays for them again.
PRELOAD = [
    "mlrig.plan.parallel",
    "mlrig.platform.stack",
    "mlrig.project.stack",
    "mlrig.checks.runner",
]


def usable_cores() -> int:
    """The CPUs this process may use: those it may run on (its affinity mask, as `taskset` or a
    cpuset sets it), fewer when its cgroup has a CPU quota (a container's `--cpus`, a Kubernetes
    runner pod's CPU limit), which the affinity mask does not show: a runner pod limited to 2 CPUs
    on a 64-core node would otherwise start 64 workers, each 200-300 MB, and be killed for memory."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counted is not None:
        cores = int(counted() or 1)
    elif hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0)) or 1
    else:
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, math.ceil(quota))) if quota is not None else cores


CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> float | None:
    """The CPUs per period this process's cgroup and its ancestors allow (the tightest quota), or
    None where none is set or none can be read (not Linux, no cgroup file system). cgroup v2:
    `cpu.max` ("<quota> <period>" or "max <period>"); v1: `cpu.cfs_quota_us` (-1 for none) over
    `cpu.cfs_period_us`, under the `cpu` controller's mount. Inside a container the file system
    shows the container's own cgroup at the mount's root, whatever path `/proc/self/cgroup` names."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        relative = Path(path.lstrip("/"))
        if controllers == "":  # v2, the unified hierarchy
            for directory in _ancestors(root, relative):
                quotas += _v2_quota(directory / "cpu.max")
        elif "cpu" in controllers.split(","):
            for mount in (root / controllers, root / "cpu"):
                for directory in _ancestors(mount, relative):
                    quotas += _v1_quota(directory)
    return min(quotas) if quotas else None


def _ancestors(mount: Path, relative: Path) -> list[Path]:
    """`mount/relative` and every directory above it up to `mount` itself."""
    return [mount / relative, *(mount / parent for parent in relative.parents)]


def _v2_quota(cpu_max: Path) -> list[float]:
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return [] if quota == "max" else [int(quota) / int(period)]
    except (OSError, ValueError, ZeroDivisionError):
        return []


def _v1_quota(directory: Path) -> list[float]:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
        return [] if quota <= 0 or period <= 0 else [quota / period]
    except (OSError, ValueError):
        return []


def worker_count(jobs: int | None, stacks: int) -> int:
    """Workers for `stacks` stacks: `jobs` (default: the usable cores), never more than the stacks.
    1 means no pool at all: the stacks are planned in the command's own process."""
    wanted = usable_cores() if jobs is None else jobs
    if wanted < 1:
        raise ValueError(f"jobs must be at least 1, not {wanted}")
    return max(1, min(wanted, stacks))


@dataclass(frozen=True)
class CheckRequest:
    """Run the checks on each planned stack, as the serial command does after planning."""

    owners: dict[str, str]
    skip: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackOutcome:
    """What a worker sends back for one stack: its plan and findings, or why it failed."""

    plan: StackPlan | None = None
    findings: list[Finding] | None = None
    failed_stack: str | None = None  # the stack whose program failed (the project's platform, maybe)
    failure: str | None = None
    # A check that crashed (a bug in mlrig) on a planned stack. The serial command checks only after
    # every stack is planned, so the parent raises it only when no later stack's program fails.
    check_crash: Exception | None = None

    def error(self) -> PlanError | None:
        if self.failure is None:
            return None
        return PlanError(self.failed_stack or "", self.failure)


# --- the parent's side ---------------------------------------------------------------------------


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` processes. Leaving the block normally waits for them to finish; leaving
    it on an error or an interrupt ends them at once (their results are not needed any more)."""
    context = multiprocessing.get_context(start_method())
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(PRELOAD)
    start_quiet_resource_tracker()
    parent_alive, parent_end = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=start_worker, initargs=(parent_alive,)
    )
    try:
        yield pool
    except BaseException:
        parent_end.close()  # every worker exits now, mid-plan or idle
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
        parent_end.close()
    finally:
        parent_alive.close()


def start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def start_quiet_resource_tracker() -> None:
    """The pool's queues use named semaphores, which multiprocessing's resource tracker (a helper
    process) removes when the command ends without its exit handlers: an interrupt ends it with
    `os._exit`. The tracker would then warn about each on stderr, after `interrupted`; started
    here (it is started once per process), it removes them without a word. Children take their
    warning filters from `sys.warnoptions`; this process's own filters are not changed."""
    quiet = "ignore:resource_tracker:UserWarning"
    sys.warnoptions.append(quiet)
    try:
        resource_tracker.ensure_running()
    finally:
        sys.warnoptions.remove(quiet)


# --- the worker's side ---------------------------------------------------------------------------

# One Planner per worker: the platform plans it makes are reused by every project it plans.
_planner: Planner | None = None


def start_worker(parent_alive: Connection) -> None:
    """Ctrl-C is the parent's to answer; the worker ends when the parent closes its pipe end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch = threading.Thread(target=_exit_with_parent, args=(parent_alive,), name="mlrig-parent", daemon=True)
    watch.start()


def _exit_with_parent(parent_alive: Connection) -> None:
    wait([parent_alive])  # readable only once the parent's end is closed: EOF
    os._exit(1)


def plan_one(target: Target, environment: str, checks: CheckRequest | None) -> StackOutcome:
    """Plan one stack (and check it) in this worker, as the serial command would."""
    global _planner
    planner = _planner = _planner or Planner()
    try:
        try:
            plan = planner.plan(target, environment)
        except PlanError as error:
            return StackOutcome(failed_stack=error.stack, failure=error.message)
        except Exception as error:
            raise _sendable(error) from None
        try:
            findings = check_stack(target, environment, planner, checks.owners, checks.skip) if checks else None
        except Exception as error:
            return StackOutcome(plan=plan, check_crash=_sendable(error))
    finally:
        if isinstance(target, Project):
            planner.forget(target, environment)  # only platform plans are needed again
    return StackOutcome(plan=plan, findings=findings)


def _sendable(error: Exception) -> Exception:
    """The error itself when it survives the trip to the parent, else its type and message (an
    exception that cannot be unpickled there would otherwise look like a crashed worker)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def stacks_of(selection: Sequence[tuple[Target, Sequence[str]]]) -> list[tuple[Target, str]]:
    """Every (bundle, environment) of a selection, in the serial order."""
    return [(target, env) for target, envs in selection for env in envs]
