"""How fast is `mlrig plan` as a user runs it? Whole processes, against the bare-SDK floor.

Two cases, each timed in the same run as its floor:

- platform: `mlrig plan platform.yaml --jobs 1` of the example platform (all three environments);
- project:  `mlrig plan big.yaml --env dev --jobs 1` of a generated project environment of about 1,000
            resources (which also plans the platform's `dev` stack it reads outputs from).

The floor of a case (`bench/floor.py`) is a process that imports the same SDK modules the plan
imported (every `pulumi*` module, recorded from an in-process run of the same command) and
registers the same number of bare `pulumi.CustomResource`s, stack by stack, each with the inputs
of the resource it stands for (taken from the plan's JSON), under the SDK's stock mock runtime.
It imports nothing of mlrig: mlrig's own imports, validation, checks and output are part of what
the ratio charges to mlrig.

Each command runs `--repeat` times (taking turns, `process_timing.best_of`) and the best is kept:
wall seconds, and CPU seconds of the child process (user + system), which a busy machine
disturbs less; each command first runs once, untimed, with bytecode caches allowed
(`process_timing.bytecode_cached`). Target: mlrig / floor <= 1.5 for both cases.

    .venv/bin/python bench/bench_plan_process.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from generated import platform_admitting, project_directory
from process_timing import best_of, bytecode_cached, load_average

BENCH = Path(__file__).resolve().parent
MLRIG = Path(sys.executable).with_name("mlrig")
TARGET = 1.5
# the ~1,000-resource project environment: pipelines, endpoints, extra pools, extra registries
PROJECT = {"pipelines": 100, "endpoints": 36, "pools": 30, "registries": 30}
SDK_PACKAGES = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random", "pulumi_github", "pulumi_tls")

RECORD_MODULES = """\
import json, sys
from mlrig.entry import main
arguments, prefixes, out = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2])), sys.argv[3]
sys.argv = ["mlrig", "plan", *arguments]
try:
    main()
except SystemExit:
    pass
with open(out, "w") as file:
    json.dump(sorted(m for m in list(sys.modules) if m.split(".")[0] in prefixes), file)
"""


def plan_json(arguments: list[str]) -> list[dict[str, object]]:
    """The stacks `mlrig plan ARGUMENTS --format json` prints (one document per bundle)."""
    done = subprocess.run(
        [str(MLRIG), "plan", *arguments, "--format", "json"], check=True, capture_output=True, text=True
    )
    decoder, text, position, documents = json.JSONDecoder(), done.stdout, 0, []
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text) or text[position] not in "[{":
            break
        document, position = decoder.raw_decode(text, position)
        documents.extend(document if isinstance(document, list) else [document])
    return [environment for document in documents for environment in document["environments"].values()]


def floor_file(workdir: Path, name: str, arguments: list[str], extra: list[list[str]]) -> tuple[Path, int]:
    """FLOOR.json for the plan `mlrig plan ARGUMENTS` (plus the stacks of the `extra` plans it
    makes along the way), and its resource count."""
    modules_file = workdir / f"{name}-modules.json"
    subprocess.run(
        [sys.executable, "-c", RECORD_MODULES, json.dumps(arguments), json.dumps(SDK_PACKAGES), str(modules_file)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stacks = [stack for plan in [arguments, *extra] for stack in plan_json(plan)]
    floor = {
        "modules": json.loads(modules_file.read_text()),
        "stacks": [{"stack": s["stack"], "inputs": [r["inputs"] for r in s["resources"]]} for s in stacks],  # type: ignore[index]
    }
    path = workdir / f"{name}-floor.json"
    path.write_text(json.dumps(floor))
    return path, sum(len(s["inputs"]) for s in floor["stacks"])


def compare(arguments: list[str], floor: Path, repeat: int) -> None:
    commands = {
        "floor": [sys.executable, str(BENCH / "floor.py"), str(floor)],
        "mlrig": [str(MLRIG), "plan", *arguments],
    }
    # Each command runs once first, untimed, with bytecode caches allowed: an installed mlrig has
    # its caches (pip compiles on install), and shells that set PYTHONDONTWRITEBYTECODE would
    # otherwise charge compiling every changed mlrig module to mlrig (the floor's SDK has them).
    with bytecode_cached(list(commands.values())):
        best = best_of(repeat, commands)
    label = "mlrig plan " + " ".join(Path(a).name for a in arguments)
    print(f"  {'floor: same SDK imports, bare resources':44} {best['floor'].wall:8.2f} {best['floor'].cpu:8.2f}")
    print(f"  {label:44} {best['mlrig'].wall:8.2f} {best['mlrig'].cpu:8.2f}")
    cpu, wall = best["mlrig"].cpu / best["floor"].cpu, best["mlrig"].wall / best["floor"].wall
    verdict = "OK" if cpu <= TARGET else "OVER TARGET"
    print(f"  ratio: {cpu:.2f}x cpu, {wall:.2f}x wall (target <= {TARGET}x): {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-") as tmp:
        workdir = Path(tmp)
        platform_dir, project_dir = workdir / "platform", workdir / "project"
        platform = platform_admitting(platform_dir, [])
        big = project_directory(project_dir, "big", **PROJECT)
        # --jobs 1: the floor is one process, and so is the plan compared with it (`--jobs` spreads
        # several stacks over worker processes: bench_jobs.py)
        cases = {
            "platform": ([str(platform), "--jobs", "1"], []),
            "project": (
                [str(big), "--env", "dev", "--jobs", "1"],
                [[str(project_dir / platform.name), "--env", "dev"]],
            ),
        }
        for name, (arguments, extra) in cases.items():
            floor, resources = floor_file(workdir, name, arguments, extra)
            print(f"{name}: {resources} resources registered           {'wall s':>8} {'cpu s':>8}")
            compare(arguments, floor, args.repeat)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
