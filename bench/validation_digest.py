"""Everything `mlrig validate` decides, for many bundle sets, as text: for comparing two builds.

A change meant to make validation cheaper must not change what it says. This script validates
bundle sets (directories of bundle files) and writes, per set, every report in order: the file,
its kind and name, whether it is valid or blocked, every diagnostic in the order it was found
(line, column, path, message, rule), and for each valid project every environment's resolved
spec (its values and the fields set). Run it with each build and compare the outputs:

    .venv/bin/python bench/validation_digest.py --sets 300 > after.txt
    PYTHONPATH=<export of main>/infra .venv/bin/python bench/validation_digest.py --sets 300 > before.txt
    diff before.txt after.txt

The sets are the shipped examples (`mlrig.examples`), every valid set under `tests/valid_sets/`,
and `--sets` mutations of them (seeded, the same for every build): characters deleted, inserted
or replaced, lines dropped or repeated (duplicate keys), anchors and aliases, merge keys, tags,
overrides with schema errors or unknown keys, numbers for strings and strings for numbers.
`tests/bundle/test_validation_digest.py` holds a sample of this output as a golden file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlrig import examples
from mlrig.bundle.validate import validate_paths

ROOT = Path(__file__).resolve().parents[1]
VALID_SETS = ROOT / "tests" / "valid_sets" / "sets"


def base_sets() -> dict[str, dict[str, str]]:
    """Set name -> file name -> text: the examples and every valid set of the tests."""
    sets = {"examples": {f: examples.path(f).read_text(encoding="utf-8") for f in examples.FILES}}
    for directory in sorted(p for p in VALID_SETS.iterdir() if p.is_dir()):
        sets[f"valid/{directory.name}"] = {
            f.name: f.read_text(encoding="utf-8") for f in sorted(directory.glob("*.yaml"))
        }
    return sets


FRAGMENTS = [*"abcxyz019 -:[]{},&*!|>'\"#%@`?\n\t.~", "\u00e9", "  ", ": ", "- "]
OVERRIDES = [
    "      compute:\n        pools:\n          - { name: gpu-train, max: -1 }\n",
    "      compute:\n        pools:\n          - { name: gpu-train, max: many }\n",
    "      serving:\n        endpoints:\n          - { name: scorer, autoscaling: { minReplicas: 9, maxReplicas: 2 } }\n",
    "      serving:\n        endpoints:\n          - { name: llm, runtime: nope }\n",
    "      platform: other\n",
    "      colour: blue\n",
    "      storage: { retentionDays: -3 }\n",
    "      pipelines: { train: { schedule: 'not a cron' } }\n",
]


def mutate(text: str, rng: random.Random) -> str:
    """`text` with one mutation of a kind a bundle author (or an attacker) might write."""
    kind = rng.choice(["chars", "drop-line", "repeat-line", "anchor", "merge-key", "tag", "override", "swap"])
    lines = text.splitlines(keepends=True)
    if kind == "chars":
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            fragment = rng.choice(FRAGMENTS)
            action = rng.choice(["delete", "insert", "replace"])
            if action == "delete":
                text = text[:at] + text[at + len(fragment) :]
            elif action == "insert":
                text = text[:at] + fragment + text[at:]
            else:
                text = text[:at] + fragment + text[at + len(fragment) :]
        return text
    if kind == "drop-line" and lines:
        del lines[rng.randrange(len(lines))]
        return "".join(lines)
    if kind == "repeat-line" and lines:
        at = rng.randrange(len(lines))
        lines.insert(at, lines[at])
        return "".join(lines)
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s+[A-Za-z][\w-]*: \S", line)]
    if kind == "anchor" and len(keyed) >= 2:
        first, second = sorted(rng.sample(keyed, 2))
        lines[first] = re.sub(r": (\S)", r": &a \1", lines[first], count=1)
        lines[second] = re.sub(r": .*$", ": *a", lines[second].rstrip("\n")) + "\n"
        return "".join(lines)
    if kind == "merge-key" and keyed:
        at = rng.choice(keyed)
        indent = re.match(r"^(\s*)", lines[at]).group(1)  # type: ignore[union-attr]
        lines.insert(at, f"{indent}<<: {{ extra: 1 }}\n")
        return "".join(lines)
    if kind == "tag" and keyed:
        at = rng.choice(keyed)
        tag = rng.choice(["!!str", "!!int", "!custom", "!!float", "!!binary"])
        lines[at] = re.sub(r": (\S)", rf": {tag} \1", lines[at], count=1)
        return "".join(lines)
    if kind == "override" and "\n  environments:\n" in text and "kind: Project" in text:
        env = rng.choice(["dev", "staging", "prod"])
        return text.replace("\n  environments:\n", f"\n  environments:\n    {env}:\n{rng.choice(OVERRIDES)}", 1)
    if kind == "swap" and keyed:
        at = rng.choice(keyed)
        value = rng.choice(["42", '"42"', "true", "null", "-1", "[]", "{}", "1e3", "0x1F", "x" * 70])
        lines[at] = re.sub(r": .*$", f": {value}", lines[at].rstrip("\n")) + "\n"
        return "".join(lines)
    return text + "\n# unchanged\n"


def mutated_sets(count: int, seed: int = 12) -> dict[str, dict[str, str]]:
    rng = random.Random(seed)
    bases = base_sets()
    names = sorted(bases)
    sets: dict[str, dict[str, str]] = {}
    for index in range(count):
        name = rng.choice(names)
        files = dict(bases[name])
        for _ in range(rng.randint(1, 3)):
            file = rng.choice(sorted(files))
            files[file] = mutate(files[file], rng)
        sets[f"mutated/{index:04d}-{name}"] = files
    return sets


def digest(files: dict[str, str], *, hashed: bool = False) -> Iterator[str]:
    """Every report of validating `files` together, as lines of text (`hashed`: each resolved
    spec as a SHA-256 of its text, for a golden file of reasonable size)."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "bundles"
        directory.mkdir()
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        result = validate_paths([directory])
        for report in result.reports:
            shown = report.file.replace(str(directory), "<dir>")
            yield f"  {shown} kind={report.kind} name={report.name!r} valid={report.valid} blocked={report.blocked_by is not None}"
            for d in report.diagnostics:
                yield f"    {d.line}:{d.column} {d.path} [{d.rule}] {d.message}".replace(str(directory), "<dir>")
        for name, project in sorted(result.projects.items()):
            for env_name, env in project.environments.items():
                spec = _spec(env.spec)
                if hashed:
                    spec = hashlib.sha256(spec.encode()).hexdigest()
                yield f"  project {name} {env_name} {spec}"
        shutil.rmtree(directory)


def _spec(spec: Any) -> str:
    return json.dumps([spec.model_dump(mode="json"), spec.model_dump(mode="json", exclude_unset=True)], sort_keys=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=300, help="mutated sets, besides the unmutated ones")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--hashed", action="store_true", help="resolved specs as SHA-256 digests")
    args = parser.parse_args(argv)
    sets = {**base_sets(), **mutated_sets(args.sets, args.seed)}
    for name, files in sets.items():
        sys.stdout.write(f"{name}\n")
        for line in digest(files, hashed=args.hashed):
            sys.stdout.write(line + "\n")
    sys.stderr.write(f"{len(sets)} sets\n")


if __name__ == "__main__":
    main()
