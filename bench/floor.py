"""The bare-SDK floor of a plan, as a process of its own: import the same SDK modules `mlrig plan`
imports, then register the same number of bare resources, each with the inputs of the resource
it stands for, under the SDK's stock mock runtime (`pulumi.runtime.set_mocks`, its MockMonitor,
mocks that echo inputs). Nothing of mlrig is imported.

    python bench/floor.py FLOOR.json

FLOOR.json: {"modules": [module names], "stacks": [{"stack": name, "inputs": [inputs, ...]}]}
(bench_plan_process.py writes it from the plan of the command it compares with).
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        floor = json.load(file)
    for module in floor["modules"]:
        importlib.import_module(module)

    import pulumi
    from pulumi.runtime import Mocks, set_mocks
    from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs
    from pulumi.runtime.settings import SETTINGS, set_root_resource
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class EchoMocks(Mocks):
        """The cheapest mocks there are: every resource's outputs are its inputs."""

        created = 0

        def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[Any, Any]]:
            EchoMocks.created += 1
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], None]:
            return {}, None

    registered = 0
    for stack in floor["stacks"]:

        def program(inputs: list[dict[str, Any]] = stack["inputs"]) -> None:
            for index, resource_inputs in enumerate(inputs):
                pulumi.CustomResource("bench:index:Bare", f"bare-{index}", dict(resource_inputs))

        # as `pulumi.runtime.test` runs a program: a fresh root stack resource, then the program
        # and every RPC it started, awaited on the SDK's own loop
        set_root_resource(None)  # type: ignore[arg-type]
        set_mocks(EchoMocks(), project="mlrig", stack=stack["stack"], preview=False)
        SETTINGS.rpc_manager.clear()
        _sync_await(run_pulumi_func(program))
        registered += len(stack["inputs"])
    # the mocks saw every registration: the floor did the work it stands for
    assert EchoMocks.created == registered, (EchoMocks.created, registered)
    print(f"registered {registered} bare resources in {len(floor['stacks'])} stack(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
