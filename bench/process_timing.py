"""Timing whole processes, as a user runs them: best of N, wall seconds and CPU seconds.

CPU seconds are the child's user + system time (`resource.getrusage(RUSAGE_CHILDREN)` before and
after each run): other jobs on a shared machine stretch wall time far more than CPU time.

`bytecode_cached` runs each command once, untimed, with Python allowed to write its bytecode
caches: an installed mlrig has them (pip compiles on install), but a shell that sets
`PYTHONDONTWRITEBYTECODE` makes every run of a source checkout whose caches are stale compile
those modules again, which is no part of what is measured.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timing:
    cpu: float
    wall: float


def run_once(command: Sequence[str], cwd: Path | None = None) -> Timing:
    """Run `command` to completion (output discarded); it must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(cpu, wall)


def best_of(repeat: int, commands: dict[str, Sequence[str]], cwd: Path | None = None) -> dict[str, Timing]:
    """Best CPU and best wall seconds of each command over `repeat` rounds. The commands take
    turns within each round, so a burst of load from other jobs hits them alike."""
    runs: dict[str, list[Timing]] = {label: [] for label in commands}
    for _ in range(repeat):
        for label, command in commands.items():
            runs[label].append(run_once(command, cwd))
    return {label: Timing(min(t.cpu for t in ts), min(t.wall for t in ts)) for label, ts in runs.items()}


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as file:
            return " ".join(file.read().split()[:3])
    except OSError:
        return "unknown"


@contextmanager
def bytecode_cached(commands: Sequence[Sequence[str]], cwd: Path | None = None) -> Iterator[None]:
    """Children may write their bytecode caches, and have: each command has run once."""
    forbidden = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        for command in commands:
            run_once(command, cwd)
        yield
    finally:
        if forbidden is not None:
            os.environ["PYTHONDONTWRITEBYTECODE"] = forbidden
