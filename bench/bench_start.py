"""How fast does `mlrig` start? `mlrig --help` and `mlrig validate` of one file, whole process.

Times, in the same run, each as a user runs it (`.venv/bin/mlrig`, output discarded):

- `python -c pass`           the interpreter alone (the floor of any Python command);
- `python -c "import yaml"`  the interpreter and PyYAML (the floor of a YAML checker);
- `python -c "import mlrig.bundle.model"`
                             the interpreter, pydantic and the bundle models built: the floor of
                             any validation whose schema is those models, before a file is read;
- `mlrig --help`;
- `mlrig validate FILE`      one project bundle of a copy of the shipped examples
                             (`mlrig.examples`; checked with its platform and its neighbour, as
                             in a platform repository).

Each is run `--repeat` times (default 10), taking turns, and the best is kept: wall seconds and
CPU seconds of the child (user + system, `getrusage(RUSAGE_CHILDREN)`). Target: ≤ 0.2 s for
`--help`. For `validate` of one file the bench prints its ratio to the schema floor above: the
0.2 s target was set aside by decision (RESULTS.md "## start": the floor alone is about 0.19 s). Each command first runs once, untimed, with bytecode caches allowed
(`process_timing.bytecode_cached`): a user's installed mlrig has them.

    .venv/bin/python bench/bench_start.py [--repeat 10] [--mlrig PATH]   # PATH: another install's script
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from mlrig import examples

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_timing import best_of, bytecode_cached, load_average

TARGET = 0.2
SCHEMA_FLOOR = 'python -c "import mlrig.bundle.model"'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--mlrig", default=str(Path(sys.executable).with_name("mlrig")), help="the mlrig to time")
    args = parser.parse_args(argv)
    python, mlrig = sys.executable, args.mlrig
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-") as tmp:
        bundles = examples.copy_to(Path(tmp) / "bundles")
        bundle = bundles / examples.PROJECTS[0]
        commands = {
            "python -c pass": [python, "-c", "pass"],
            'python -c "import yaml"': [python, "-c", "import yaml"],
            SCHEMA_FLOOR: [python, "-c", "import mlrig.bundle.model"],
            "mlrig --help": [mlrig, "--help"],
            f"mlrig validate {bundle.name}": [mlrig, "validate", str(bundle)],
        }
        print(f"load average before: {load_average()}")
        with bytecode_cached(list(commands.values()), cwd=Path(tmp)):
            timings = best_of(args.repeat, commands, cwd=Path(tmp))
    floor = timings["python -c pass"]
    print(f"best of {args.repeat}, whole process, bytecode cached:")
    print(f"  {'':40} cpu s    wall s   wall above python -c pass")
    for label, timing in timings.items():
        verdict = ""
        if label.startswith("mlrig validate"):
            verdict = f"  {timing.wall / timings[SCHEMA_FLOOR].wall:.2f}x the schema floor"
        elif label.startswith("mlrig"):
            verdict = "  met" if timing.wall <= TARGET else f"  over the {TARGET} s target"
        print(f"  {label:40} {timing.cpu:6.3f}   {timing.wall:6.3f}   {timing.wall - floor.wall:6.3f}{verdict}")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
