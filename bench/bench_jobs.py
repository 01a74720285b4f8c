"""How much faster is `mlrig plan --jobs 2` than `--jobs 1` on an organisation of many projects?

Generates an organisation in a temporary directory: the example platform (`mlrig.examples`, all
three environments) admitting `--projects` projects (default 30), each a copy of an example
project (`fraud-detection` and `rag-assistant` in turn) under its own name and repository. Then
times the whole `mlrig plan` process, as a user runs it (validation, planning, checks, text
output), with `--jobs 1` (serial, in one process) and `--jobs N` (default 2), alternating the two
so they see the same machine load, `--repeat` times each (default 3), and keeps the best wall
time of each: the point of `--jobs` is wall time, so that is the figure compared. The outputs of
the two are compared byte for byte on every run.

CPU seconds of the whole process tree (the command, its fork server and workers) are shown too:
their ratio is the price of parallelism (the workers' own imports, platform plans each worker
repeats, results sent back). On Linux the bench makes itself a child subreaper so that it can
count the CPU time of the workers, which are not its direct children. The load average before
each run says how busy the machine was. Target: serial / parallel >= 1.7 on 2 cores.

    .venv/bin/python bench/bench_jobs.py [--projects 30] [--jobs 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from process_timing import bytecode_cached

from mlrig import examples

TARGET = 1.7
MLRIG = Path(sys.executable).parent / "mlrig"
PR_SET_CHILD_SUBREAPER = 36


def write_organisation(directory: Path, projects: int) -> Path:
    """The example platform admitting `projects` copies of the example projects, renamed."""
    directory.mkdir(parents=True, exist_ok=True)
    platform = examples.path(examples.PLATFORM).read_text()
    admitted = []
    for index in range(projects):
        source = examples.PROJECTS[index % len(examples.PROJECTS)]
        base = source.removesuffix(".yaml")
        name = f"{base}-{index:02d}"
        text = examples.path(source).read_text()
        text = text.replace(f"name: {base}", f"name: {name}").replace(f"acme/{base}", f"acme/{name}")
        (directory / f"{name}.yaml").write_text(text)
        admitted.append(tenancy_entry(platform, base).replace(base, name))
    platform = platform.replace("    projects:\n", "    projects:\n" + "".join(admitted), 1)
    (directory / examples.PLATFORM).write_text(platform)
    return directory


def tenancy_entry(platform: str, project: str) -> str:
    """The example platform's `spec.tenancy.projects.<project>` block, as text."""
    lines = platform.splitlines(keepends=True)
    start = lines.index(f"      {project}:\n")
    end = start + 1
    while lines[end].startswith("        "):
        end += 1
    return "".join(lines[start:end])


@dataclass
class Runs:
    jobs: int
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)


def become_subreaper() -> bool:
    """Orphaned descendants (the fork server, its workers) become our children, so their CPU
    time reaches RUSAGE_CHILDREN once reaped. Linux only; elsewhere CPU is not shown."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def reap_all() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_plan(directory: Path, jobs: int, runs: Runs, output: Path) -> bytes:
    runs.loads.append(os.getloadavg()[0])
    cpu = children_cpu()
    start = time.perf_counter()
    with output.open("wb") as out:
        done = subprocess.run(
            [str(MLRIG), "plan", directory.name, "--jobs", str(jobs)], cwd=directory.parent, stdout=out
        )
    runs.walls.append(time.perf_counter() - start)
    reap_all()
    runs.cpus.append(children_cpu() - cpu)
    if done.returncode not in (0, 1):  # 1: a mandatory check finding, still a complete plan
        sys.exit(f"mlrig plan --jobs {jobs} exited {done.returncode}")
    return output.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    counted = become_subreaper()
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-jobs-") as temp:
        directory = write_organisation(Path(temp) / "bundles", args.projects)
        serial, parallel = Runs(1), Runs(args.jobs)
        print(f"{args.projects} projects x 3 environments + the platform; load before: {os.getloadavg()}")
        # One untimed plan first, with bytecode caches allowed (as an installed mlrig has them).
        with bytecode_cached([[str(MLRIG), "plan", directory.name, "--jobs", str(args.jobs)]], cwd=directory.parent):
            pass
        reap_all()  # its fork server and workers, not to be charged to the first timed run
        for attempt in range(args.repeat):
            one = run_plan(directory, 1, serial, Path(temp) / "serial.txt")
            many = run_plan(directory, args.jobs, parallel, Path(temp) / "parallel.txt")
            if one != many:
                sys.exit(f"the outputs of --jobs 1 and --jobs {args.jobs} differ")
            print(
                f"  run {attempt + 1}: --jobs 1 {serial.walls[-1]:.1f} s, --jobs {args.jobs} "
                f"{parallel.walls[-1]:.1f} s (load {serial.loads[-1]:.2f} / {parallel.loads[-1]:.2f}); same output"
            )
    print()
    print("| run | best wall s | all wall s | CPU s of the process tree (best run) | load average before |")
    print("|---|---|---|---|---|")
    for runs in (serial, parallel):
        best = runs.walls.index(min(runs.walls))
        cpu = f"{runs.cpus[best]:.1f}" if counted else "n/a"
        walls = ", ".join(f"{w:.1f}" for w in runs.walls)
        loads = ", ".join(f"{load:.2f}" for load in runs.loads)
        print(f"| `mlrig plan --jobs {runs.jobs}` | {min(runs.walls):.1f} | {walls} | {cpu} | {loads} |")
    ratio = min(serial.walls) / min(parallel.walls)
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"\nRatio (best wall): {ratio:.2f}x faster with --jobs {args.jobs}. Target >= {TARGET}x: {verdict}.")


if __name__ == "__main__":
    main()
