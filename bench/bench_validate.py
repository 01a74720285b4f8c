"""How fast is `mlrig validate`? Validating 1,000 bundle files, as a ratio to merely parsing them.

Generates 1,000 varied bundle files in a temporary directory: 10 platforms and 990 projects, each
one of the example bundles shipped in the package (`mlrig.examples`, never a repository's live
`bundles/`) under a new name, with its own principals, reservations, schedules, sizes, rollout
and retention, and some pipelines left out. Then times, in the same run and on the same files:

- process (the target): the whole `mlrig validate DIR` as a user runs it (`.venv/bin/mlrig`,
  interpreter start and imports included), against a `python -c` script that imports PyYAML and
  loads every file with `yaml.load(text, Loader=yaml.CSafeLoader)`. Wall seconds and CPU seconds
  of the child (user + system, from `getrusage(RUSAGE_CHILDREN)`).
- in-process (for reference): `validate_paths([DIR])` against the same C-loader parse, in this
  process after a warm-up, CPU seconds (`time.process_time`).

Each is run `--repeat` times (default 5) and the best time is kept. CPU seconds are the steadier
figure on a shared machine. Target: whole-process ratio ≤ 2.0.

Every timed command runs once untimed first, with Python allowed to write its bytecode caches
(`PYTHONDONTWRITEBYTECODE` is removed from the children's environment): an installed mlrig has
them, as PyYAML of the baseline has, while a shell that forbids writing them makes every run of a
source checkout compile all of mlrig again (a tenth of a second that is no part of validation).

`--before PATH` times another build as well, in the same rounds (e.g. a script running the
mainline's export with this interpreter), and reports its ratio and after / before.

    .venv/bin/python bench/bench_validate.py [--files 1000] [--repeat 5] [--mode both|process|in-process]
                                             [--mlrig PATH]   # the whole-process mlrig: another install's
                                             [--before PATH]  # a second mlrig, timed in the same rounds
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from mlrig import examples
from mlrig.bundle.validate import validate_paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_timing import Timing, best_of, bytecode_cached, load_average

PLATFORMS = 10
TARGET = 2.0
EXAMPLE_PLATFORM = "acme-ml"
# Per example project: its name and the IAM roles its platform admits for it (made unique per
# generated project, as each team has its own).
EXAMPLE_PROJECTS = {
    "fraud-detection.yaml": (
        "fraud-detection",
        ("AWSReservedSSO_DataScientist_0123456789abcdef", "AWSReservedSSO_MLEngineer_0123456789abcdef"),
    ),
    "rag-assistant.yaml": ("rag-assistant", ("genai-scientists", "genai-engineers")),
}
EXAMPLE_RESERVATION = "cr-0a1b2c3d4e5f60718"
# Pipelines a generated project may leave out (nothing else refers to them).
OPTIONAL_PIPELINES = {"fraud-detection": ("features", "score-batch", "monitor")}

PARSE_SCRIPT = """\
import sys, pathlib, yaml
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
"""


def example_text(file: str) -> str:
    return examples.path(file).read_text(encoding="utf-8")


def block(text: str, header: str) -> tuple[int, int]:
    """Start and end offsets of the YAML block whose first line is `header` (its indented body
    and any comments inside it included)."""
    start = text.index(header)
    indent = len(header) - len(header.lstrip(" "))
    end = text.index("\n", start) + 1
    for line in text[end:].splitlines(keepends=True):
        body = line.strip()
        if body and not body.startswith("#") and len(line) - len(line.lstrip(" ")) <= indent:
            break
        end += len(line)
    return start, end


def without_block(text: str, header: str) -> str:
    start, end = block(text, header)
    return text[:start] + text[end:]


def renamed(text: str, example: str, index: int) -> str:
    """The example project's text (or its admission) with the names of project `index`."""
    name = f"project-{index}"
    text = text.replace(f"acme/{example}", f"acme/{name}").replace(f"{example}:", f"{name}:")
    text = text.replace(f"name: {example}", f"name: {name}")
    for role in EXAMPLE_PROJECTS[f"{example}.yaml"][1]:
        text = text.replace(f"role/{role}", f"role/{role}-{index % 37}")
    return text.replace(EXAMPLE_RESERVATION, f"cr-{index:017x}")


def example_of(index: int) -> str:
    return list(EXAMPLE_PROJECTS)[(index // PLATFORMS) % len(EXAMPLE_PROJECTS)]


def platform_text(index: int, rng: random.Random, count: int) -> str:
    """Example platform `index`, admitting the projects that name it (every PLATFORMS-th one)."""
    text = example_text(examples.PLATFORM)
    admissions = {file: text[slice(*block(text, f"      {name}:\n"))] for file, (name, _) in EXAMPLE_PROJECTS.items()}
    start, end = block(text, "    projects:\n")
    admitted = "".join(
        renamed(admissions[example_of(p)], EXAMPLE_PROJECTS[example_of(p)][0], p)
        for p in range(PLATFORMS, count)
        if p % PLATFORMS == index
    )
    text = text[:start] + ("    projects:\n" + admitted if admitted else "    projects: {}\n") + text[end:]
    digit = index % 10
    for account in ("444444444444", "111111111111", "222222222222", "333333333333"):
        text = text.replace(f'account: "{account}"', f'account: "{str(digit) + account[:11]}"')
    text = text.replace(f"name: {EXAMPLE_PLATFORM}", f"name: platform-{index}")
    text = text.replace("acme-pulumi-state", f"platform-{index}-pulumi-state")
    text = text.replace("acme/ml-platform", f"acme/platform-{index}")
    text = text.replace("region: us-east-1", f"region: {rng.choice(['us-east-1', 'eu-west-1', 'us-west-2'])}")
    return text.replace("{ min: 3, max: 6 }", f"{{ min: 3, max: {rng.randint(3, 8)} }}")


def project_text(index: int, rng: random.Random) -> str:
    """An example project under the name `project-<index>`, with its own values."""
    file = example_of(index)
    example = EXAMPLE_PROJECTS[file][0]
    text = renamed(example_text(file), example, index)
    text = text.replace(f"platform: {EXAMPLE_PLATFORM}", f"platform: platform-{index % PLATFORMS}")
    for pipeline in OPTIONAL_PIPELINES.get(example, ()):
        if rng.random() < 0.3:
            text = without_block(text, f"    {pipeline}:\n")
    text = re.sub(r'schedule: "(\d+) ', lambda _: f'schedule: "{rng.randint(0, 59)} ', text)
    text = text.replace("stagingRetentionDays: 14", f"stagingRetentionDays: {rng.randint(1, 60)}")
    text = text.replace("epochs: 20", f"epochs: {rng.randint(1, 50)}")
    text = text.replace("capacity: spot\n        max: 8", f"capacity: spot\n        max: {rng.randint(1, 20)}")
    text = text.replace("strategy: canary, percent: 10", f"strategy: canary, percent: {rng.randint(1, 99)}")
    return text.replace("strategy: ab, percent: 50", f"strategy: ab, percent: {rng.randint(1, 99)}")


def generate(directory: Path, count: int) -> list[Path]:
    rng = random.Random(2)
    files = []
    for index in range(count):
        if index < PLATFORMS:
            path, text = directory / f"platform-{index}.yaml", platform_text(index, rng, count)
        else:
            path, text = directory / f"project-{index}.yaml", project_text(index, rng)
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


def best_in_process(repeat: int, work: Callable[[], object]) -> Timing:
    """Best CPU seconds of this process and best wall seconds over `repeat` runs."""
    cpu_times, wall_times = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        work()
        cpu_times.append(time.process_time() - cpu)
        wall_times.append(time.perf_counter() - wall)
    return Timing(min(cpu_times), min(wall_times))


def report(title: str, baseline_label: str, baseline: Timing, label: str, measured: Timing) -> None:
    print(title)
    print(f"  {'':34} cpu s    wall s")
    print(f"  {baseline_label:34} {baseline.cpu:6.3f}   {baseline.wall:6.3f}")
    print(f"  {label:34} {measured.cpu:6.3f}   {measured.wall:6.3f}")
    print(
        f"  {'ratio:':34} {measured.cpu / baseline.cpu:5.2f}x   {measured.wall / baseline.wall:5.2f}x"
        f"   (target <= {TARGET}x)"
    )


def mlrig_command() -> str:
    """The console script beside this interpreter (`.venv/bin/mlrig`)."""
    return str(Path(sys.executable).with_name("mlrig"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mode", choices=["both", "process", "in-process"], default="both")
    parser.add_argument("--mlrig", default=None, help="the mlrig script to time whole (default: this install's)")
    parser.add_argument("--before", default=None, help="a second mlrig script, timed in the same rounds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-") as tmp:
        directory = Path(tmp)
        files = generate(directory, args.files)
        result = validate_paths([directory])  # warm-up, and proof the files are valid
        if not result.valid:
            for diagnostic in result.diagnostics[:10]:
                print(diagnostic.text(), file=sys.stderr)
            print("generated bundles are invalid; the benchmark is broken", file=sys.stderr)
            return 1
        print(f"files: {len(files)} ({PLATFORMS} platforms, {len(files) - PLATFORMS} projects)")
        print(f"load average before: {load_average()}")
        if args.mode in ("both", "process"):
            commands = {
                "parse": [sys.executable, "-c", PARSE_SCRIPT, str(directory)],
                "validate": [args.mlrig or mlrig_command(), "validate", str(directory)],
            }
            if args.before:
                commands["before"] = [args.before, "validate", str(directory)]
            with bytecode_cached(list(commands.values())):
                timings = best_of(args.repeat, commands)
            report(
                f"whole process, best of {args.repeat} (bytecode cached):",
                "python -c (CSafeLoader every file)",
                timings["parse"],
                "mlrig validate DIR",
                timings["validate"],
            )
            if args.before:
                report(
                    f"the same rounds, --before {args.before}:",
                    "python -c (CSafeLoader every file)",
                    timings["parse"],
                    "mlrig validate DIR (before)",
                    timings["before"],
                )
                print(
                    f"  {'after / before:':34} {timings['validate'].cpu / timings['before'].cpu:5.2f}x"
                    f"   {timings['validate'].wall / timings['before'].wall:5.2f}x"
                )
        if args.mode in ("both", "in-process"):

            def parse_only() -> None:
                for path in files:
                    yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)

            parse = best_in_process(args.repeat, parse_only)
            validate = best_in_process(args.repeat, lambda: validate_paths([directory]))
            report(
                f"in this process, after a warm-up, best of {args.repeat}:",
                "parse (CSafeLoader)",
                parse,
                "validate_paths([DIR])",
                validate,
            )
        print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
