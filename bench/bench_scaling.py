"""Does plan cost grow linearly? Per-resource time and memory of project environments of about
300, 1,100 and 3,300 resources, measured in the same run.

Each size is planned in a fresh process (`--child`) that first plans the example platform and a
small generated project of the same shape, so imports and first-use caches are paid before the
measurement. It then plans the project environment (`dev`, the same code path as `mlrig plan`)
and reports:

- CPU seconds of that plan (best of `--repeat` attempts, more for the smaller ones; the machine
  is shared, and CPU time is steadier than wall time), per resource;
- memory: the growth of the process's peak resident set over its size before that plan, per
  resource (first plan only).

Sizes:
- ~300: a valid project (26 pipelines, 13 canary endpoints);
- ~1,100: the largest valid project environment (the schema's caps: 100 pipelines, 50 pools,
  50 registries; 48 endpoints);
- ~3,300: the largest valid project with four times its pipelines and endpoints: beyond what
  validation admits, built by copying the validated model, to show the engine stays linear past
  the caps (the 0.1.0 review's hostile project of 3,072 resources is no longer valid).

Baseline in the same run: the ~300 and ~1,100 sizes again with the SDK's stock dependency
bookkeeping (`rpc._add_dependency`, `rpc.contains_unknowns`) instead of `mlrig.plan.runtime`'s,
everything else equal: what mlrig 0.1.0 did.

Targets: per-resource time at the largest size within 1.2x of that at ~300; memory at most
100 KB per resource.

    .venv/bin/python bench/bench_scaling.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from generated import project_directory

# pipelines, endpoints, extra pools, extra registries, copies of pipelines and endpoints past the caps
SIZES = {"~300": (26, 13, 0, 0, 1), "~1,100": (100, 48, 48, 48, 1), "~3,300": (100, 48, 48, 48, 4)}
ATTEMPTS = {"~300": 5, "~1,100": 2, "~3,300": 1}  # attempts per --repeat
WARM_UP = (4, 2)
TIME_TARGET = 1.2
MEMORY_TARGET_KB = 100


def resident_kb() -> int:
    """The current resident set (Linux), in KB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def beyond_the_caps(target: Any, copies: int) -> Any:
    """`target` with each pipeline and endpoint of its `dev` environment `copies` times, under new
    names: a project larger than validation admits, for the engine alone."""
    environment = target.environments["dev"]
    spec = environment.spec
    pipelines = {f"{name}-{n}": p for n in range(copies) for name, p in spec.pipelines.items()}
    endpoints = [e.model_copy(update={"name": f"{e.name}-{n}"}) for n in range(copies) for e in spec.serving.endpoints]
    spec = spec.model_copy(
        update={"pipelines": pipelines, "serving": spec.serving.model_copy(update={"endpoints": endpoints})}
    )
    environments = {**target.environments, "dev": dataclasses.replace(environment, spec=spec)}
    return dataclasses.replace(target, environments=environments)


def child(directory: Path, repeat: int, copies: int, stock: bool) -> dict[str, float]:
    from mlrig.outputs import platform_stack_reference
    from mlrig.plan.engine import plan_stack
    from mlrig.plan.runner import Planner, stack_config
    from mlrig.program import load_target, stack_program

    if stock:
        from contextlib import nullcontext

        import mlrig.plan.runtime

        mlrig.plan.runtime.installed = nullcontext  # type: ignore[assignment]

    warm_up = load_target(directory / "warm-up.yaml")
    target = load_target(directory / "big.yaml")
    if copies > 1:
        target = beyond_the_caps(target, copies)
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


def measure(size: str, repeat: int, workdir: Path, stock: bool = False) -> dict[str, float]:
    pipelines, endpoints, pools, registries, copies = SIZES[size]
    directory = workdir / size.strip("~").replace(",", "")
    project_directory(directory, "big", pipelines=pipelines, endpoints=endpoints, pools=pools, registries=registries)
    project_directory(directory, "warm-up", pipelines=WARM_UP[0], endpoints=WARM_UP[1])
    command = [sys.executable, __file__, "--child", str(directory), "--repeat", str(repeat), "--copies", str(copies)]
    command += ["--stock"] if stock else []
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--copies", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat, args.copies, args.stock)))
        return 0
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-") as tmp:
        # the small plans are cheap: more attempts give their best time the same footing
        results = {size: measure(size, args.repeat * ATTEMPTS[size], Path(tmp)) for size in SIZES}
        baseline = {size: measure(size, args.repeat, Path(tmp), stock=True) for size in ("~300", "~1,100")}
    print(f"{'project environment':26} {'resources':>9} {'cpu s':>8} {'ms/resource':>12} {'KB/resource':>12}")
    for size, result in results.items():
        per_resource = result["cpu"] / result["resources"] * 1000
        memory = result["memory_kb"] / result["resources"]
        print(f"{size:26} {result['resources']:9d} {result['cpu']:8.2f} {per_resource:12.2f} {memory:12.1f}")
    for size, result in baseline.items():
        per_resource = result["cpu"] / result["resources"] * 1000
        memory = result["memory_kb"] / result["resources"]
        label = f"{size} (SDK bookkeeping)"
        print(f"{label:26} {result['resources']:9d} {result['cpu']:8.2f} {per_resource:12.2f} {memory:12.1f}")
    small = results["~300"]
    for size in ("~1,100", "~3,300"):
        large = results[size]
        ratio = (large["cpu"] / large["resources"]) / (small["cpu"] / small["resources"])
        print(
            f"per-resource time, {size} / ~300: {ratio:.2f}x (target <= {TIME_TARGET}x): "
            f"{'OK' if ratio <= TIME_TARGET else 'OVER TARGET'}"
        )
    worst_memory = max(r["memory_kb"] / r["resources"] for r in results.values())
    print(
        f"memory per resource, worst: {worst_memory:.0f} KB (target <= {MEMORY_TARGET_KB} KB): "
        f"{'OK' if worst_memory <= MEMORY_TARGET_KB else 'OVER TARGET'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
