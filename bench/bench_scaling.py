"""Does plan cost grow linearly? Per-resource time and memory of project environments of about
300, 1,100 and 3,300 resources, measured in the same run.

Each plan is of the project environment (`dev`, the same code path as `mlrig plan`), in a
process that first plans the example platform and a small generated project of the same shape,
so imports and first-use caches are paid before the measurement:

- CPU seconds, per resource: one process plans the sizes in turn, `--repeat` rounds of (~300
  five times, ~1,100 twice, ~3,300 once), and keeps the best of each size. On a shared machine
  other jobs stretch even CPU time (they share caches and cores), and more so a long plan; in
  turn, every size sees the same load, so the ratio between sizes stays put while the load
  comes and goes;
- memory: the growth of the peak resident set over its size before the plan, per resource, in a
  fresh process per size (first plan only).

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


def child(directories: list[Path], repeat: int, stock: bool, memory: bool) -> dict[str, dict[str, float]]:
    """Plan each size (a directory made by `prepare`) `repeat` rounds, in turn, for the best CPU
    time of each; or, with `memory`, once (give one size per process for that)."""
    from mlrig.outputs import platform_stack_reference
    from mlrig.plan.engine import plan_stack
    from mlrig.plan.runner import Planner, stack_config
    from mlrig.program import load_target, stack_program

    if stock:
        from contextlib import nullcontext

        import mlrig.plan.runtime

        mlrig.plan.runtime.installed = nullcontext  # type: ignore[assignment]

    planner = Planner()
    planner.project(load_target(directories[0] / "warm-up.yaml"), "dev")  # imports, platform, caches
    targets = {}
    for directory in directories:
        size = json.loads((directory / "size.json").read_text())
        target = load_target(directory / "big.yaml")
        if size["copies"] > 1:
            target = beyond_the_caps(target, size["copies"])
        targets[size["name"]] = target
    results: dict[str, dict[str, float]] = {}
    for _ in range(1 if memory else repeat):
        for size, target in targets.items():
            references = {
                platform_stack_reference(target.platform.name, "dev"): planner.platform(target.platform, "dev").outputs
            }
            for _ in range(1 if memory else ATTEMPTS[size]):
                before = resident_kb()
                start = time.process_time()
                plan = plan_stack(  # what Planner.project does, once the platform is planned
                    stack_program(target, "dev"),
                    stack=target.environments["dev"].stack,
                    config=stack_config(target, "dev"),
                    stack_outputs=references,
                )
                cpu = time.process_time() - start
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                result = results.setdefault(size, {"resources": len(plan.resources), "cpu": cpu})
                result["cpu"] = min(result["cpu"], cpu)
                if memory:
                    result["memory_kb"] = max(peak - before, 0)
                del plan
    return results


def prepare(size: str, workdir: Path) -> Path:
    pipelines, endpoints, pools, registries, copies = SIZES[size]
    directory = workdir / size.strip("~").replace(",", "")
    project_directory(directory, "big", pipelines=pipelines, endpoints=endpoints, pools=pools, registries=registries)
    project_directory(directory, "warm-up", pipelines=WARM_UP[0], endpoints=WARM_UP[1])
    (directory / "size.json").write_text(json.dumps({"name": size, "copies": copies}))
    return directory


def measure(
    directories: list[Path], repeat: int, stock: bool = False, memory: bool = False
) -> dict[str, dict[str, float]]:
    command = [sys.executable, __file__, "--repeat", str(repeat), *(["--stock"] if stock else [])]
    command += ["--memory"] if memory else []
    command += [arg for directory in directories for arg in ("--child", str(directory))]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, action="append", help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat, args.stock, args.memory)))
        return 0
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-") as tmp:
        directories = {size: prepare(size, Path(tmp)) for size in SIZES}
        # CPU: all sizes in turn in one process (the small plans are cheap: more attempts give
        # their best time the same footing); memory: each size's first plan in its own process
        results = measure(list(directories.values()), args.repeat)
        for size, directory in directories.items():
            results[size]["memory_kb"] = measure([directory], 1, memory=True)[size]["memory_kb"]
        baseline = measure([directories["~300"], directories["~1,100"]], args.repeat, stock=True)
        for size in baseline:
            baseline[size]["memory_kb"] = measure([directories[size]], 1, stock=True, memory=True)[size]["memory_kb"]
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
