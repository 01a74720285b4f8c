"""Does plan cost grow linearly? Per-resource time and memory of a ~300- and a ~3,000-resource
project environment, measured in the same run.

Each size is planned in a fresh process (`--child`) that first plans the example platform and a
small generated project of the same shape, so imports and first-use caches are paid before the
measurement. It then plans the project environment (`dev`, the same code path as `mlrig plan`)
and reports:

- CPU seconds of that plan (best of `--repeat` attempts, five times as many for the small one;
  the machine is shared, and CPU time is steadier than wall time), per resource;
- memory: the growth of the process's peak resident set over its size before that plan, per
  resource (first plan only).

The ~3,000-resource project is the hostile-but-valid one (400 pipelines, 200 endpoints). Targets:
per-resource time at ~3,000 within 1.2x of that at ~300; memory at most 100 KB per resource.

    .venv/bin/python bench/bench_scaling.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generated import project_directory

SIZES = {"~300": (26, 13), "~3,000": (400, 200)}
WARM_UP = (4, 2)
SMALL_ATTEMPTS = 5  # attempts at ~300 per attempt at ~3,000
TIME_TARGET = 1.2
MEMORY_TARGET_KB = 100


def resident_kb() -> int:
    """The current resident set (Linux), in KB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def child(directory: Path, repeat: int) -> dict[str, float]:
    from mlrig.outputs import platform_stack_reference
    from mlrig.plan.engine import plan_stack
    from mlrig.plan.runner import Planner, stack_config
    from mlrig.program import load_target, stack_program

    warm_up = load_target(directory / "warm-up.yaml")
    target = load_target(directory / "big.yaml")
    planner = Planner()
    planner.project(warm_up, "dev")  # imports, the platform plan, first-use caches
    references = {
        platform_stack_reference(target.platform.name, "dev"): planner.platform(target.platform, "dev").outputs
    }
    cpu_times: list[float] = []
    before = peak = resources = 0
    for attempt in range(repeat):
        if attempt == 0:
            before = resident_kb()
        start = time.process_time()
        plan = plan_stack(  # what Planner.project does, once the platform is planned
            stack_program(target, "dev"),
            stack=target.environments["dev"].stack,
            config=stack_config(target, "dev"),
            stack_outputs=references,
        )
        cpu_times.append(time.process_time() - start)
        if attempt == 0:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        resources = len(plan.resources)
        del plan
    return {"resources": resources, "cpu": min(cpu_times), "memory_kb": max(peak - before, 0)}


def measure(size: str, repeat: int, workdir: Path) -> dict[str, float]:
    pipelines, endpoints = SIZES[size]
    directory = workdir / size.strip("~").replace(",", "")
    project_directory(directory, "big", pipelines=pipelines, endpoints=endpoints)
    project_directory(directory, "warm-up", pipelines=WARM_UP[0], endpoints=WARM_UP[1])
    command = [sys.executable, __file__, "--child", str(directory), "--repeat", str(repeat)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat)))
        return 0
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-") as tmp:
        # the small plan is cheap: more attempts give its best time the same footing
        results = {
            size: measure(size, args.repeat * SMALL_ATTEMPTS if size == "~300" else args.repeat, Path(tmp))
            for size in SIZES
        }
    print(f"{'project environment':22} {'resources':>9} {'cpu s':>8} {'ms/resource':>12} {'KB/resource':>12}")
    for size, result in results.items():
        per_resource = result["cpu"] / result["resources"] * 1000
        memory = result["memory_kb"] / result["resources"]
        print(f"{size:22} {result['resources']:9d} {result['cpu']:8.2f} {per_resource:12.2f} {memory:12.1f}")
    small, large = results["~300"], results["~3,000"]
    ratio = (large["cpu"] / large["resources"]) / (small["cpu"] / small["resources"])
    worst_memory = max(r["memory_kb"] / r["resources"] for r in results.values())
    print(
        f"per-resource time, ~3,000 / ~300: {ratio:.2f}x (target <= {TIME_TARGET}x): "
        f"{'OK' if ratio <= TIME_TARGET else 'OVER TARGET'}"
    )
    print(
        f"memory per resource, worst: {worst_memory:.0f} KB (target <= {MEMORY_TARGET_KB} KB): "
        f"{'OK' if worst_memory <= MEMORY_TARGET_KB else 'OVER TARGET'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
