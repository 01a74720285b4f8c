"""How fast is `mlrig plan`? The example platform, all environments, as a ratio to the SDK's floor.

Times, in the same run and the same process, after a warm-up (imports, caches):

- mlrig:    planning every environment of the example platform (`mlrig.examples`) as `mlrig plan` does —
            the real program (components, applies, invokes, providers) under mlrig's mocks, the
            recording monitor capturing every registration and its options;
- floor:    the SDK's own floor — the same number of bare `pulumi.CustomResource`s per stack,
            each with the inputs of the resource it stands for (same serialised sizes), under
            the SDK's stock mock runtime (its `MockMonitor`, mocks that echo inputs);
- floor, mlrig runtime: the same bare resources through mlrig's runtime (inline monitor calls,
            GC paused, outputs settled) with a monitor that does nothing but echo. Not the
            target; it shows what is left once the runtime is equal: the program's own shape.

Each is run `--repeat` times and the best is kept. Times are CPU seconds of this process
(`time.process_time`), which a busy machine disturbs less than wall time; wall time is shown too.
Target: mlrig / floor ≤ 1.5.

    .venv/bin/python bench/bench_plan.py [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import Mocks
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.proto import resource_pb2

from mlrig import examples
from mlrig.bundle.resolved import Platform
from mlrig.plan.engine import StackPlan, run_program
from mlrig.plan.runner import Planner
from mlrig.program import load_target

TARGET = 1.5


class EchoMocks(Mocks):
    """The cheapest mocks there are: every resource's outputs are its inputs."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[Any, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], None]:
        return {}, None


class EchoMonitor(MockMonitor):
    """A monitor that answers every registration with its own inputs, untouched."""

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=f"{request.name}-id", object=request.object)


def bare_program(resources: list[dict[str, Any]]) -> Callable[[], None]:
    def program() -> None:
        for index, resource in enumerate(resources):
            pulumi.CustomResource("bench:index:Bare", f"bare-{index}", dict(resource["inputs"]))

    return program


def plan_platform(platform: Platform) -> list[StackPlan]:
    planner = Planner()
    return [planner.platform(platform, env) for env in platform.environments]


def sdk_floor(plans: list[StackPlan]) -> None:
    for plan in plans:
        run_program(bare_program(plan.resources), MockMonitor(EchoMocks()), stack=plan.stack, fast=False)


def mlrig_runtime_floor(plans: list[StackPlan]) -> None:
    for plan in plans:
        run_program(bare_program(plan.resources), EchoMonitor(EchoMocks()), stack=plan.stack, fast=True)


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(best CPU seconds, best wall seconds) of `repeat` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu), min(wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the 25 costliest functions of one mlrig plan")
    args = parser.parse_args()

    platform = load_target(examples.path(examples.PLATFORM))
    assert isinstance(platform, Platform)
    plans = plan_platform(platform)  # warm-up
    sdk_floor(plans)
    mlrig_runtime_floor(plans)
    resources = sum(len(p.resources) for p in plans)

    mlrig = best_of(args.repeat, lambda: plan_platform(platform))
    floor = best_of(args.repeat, lambda: sdk_floor(plans))
    same_runtime = best_of(args.repeat, lambda: mlrig_runtime_floor(plans))
    ratio = mlrig[0] / floor[0]
    print(f"stacks: {len(plans)} ({', '.join(p.stack for p in plans)}), resources: {resources}")
    print(f"{'':40} {'cpu s':>8} {'wall s':>8}")
    print(f"{'floor: bare resources, SDK mock runtime':40} {floor[0]:8.3f} {floor[1]:8.3f}")
    print(f"{'floor: bare resources, mlrig runtime':40} {same_runtime[0]:8.3f} {same_runtime[1]:8.3f}")
    print(f"{'mlrig plan, all environments':40} {mlrig[0]:8.3f} {mlrig[1]:8.3f}")
    print(
        f"ratio mlrig / SDK floor: {ratio:.2f}x cpu, {mlrig[1] / floor[1]:.2f}x wall (target <= {TARGET}x): {'OK' if ratio <= TARGET else 'OVER TARGET'}"
    )
    print(f"ratio mlrig / bare resources on mlrig's runtime: {mlrig[0] / same_runtime[0]:.2f}x cpu")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(plan_platform, platform)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
