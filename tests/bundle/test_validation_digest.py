"""Validation says exactly what it said before it was made cheaper: for the examples, every
valid set of the tests and 120 seeded mutations of them (broken YAML, anchors and aliases,
duplicate keys, tags, merge keys, overrides with schema errors, wrong types), every report,
every diagnostic in the order it is found (line, column, path, message, rule) and every valid
project's resolved environments are those in the golden file, which the mainline's code wrote
before the performance work of `bench/validation_digest.py`'s change.

A change that means to change what validation says (a new rule, a new message, a new default)
rewrites the golden file and shows the difference in its diff:

    .venv/bin/python bench/validation_digest.py --sets 120 --hashed > tests/bundle/golden/validation_digest.txt
"""

from __future__ import annotations

from pathlib import Path

from .test_bench import load_bench

GOLDEN = Path(__file__).parent / "golden" / "validation_digest.txt"


def test_validation_says_what_the_golden_file_says() -> None:
    bench = load_bench("validation_digest")
    sets = {**bench.base_sets(), **bench.mutated_sets(120)}
    lines = []
    for name, files in sets.items():
        lines.append(name)
        lines += bench.digest(files, hashed=True)
    expected = GOLDEN.read_text(encoding="utf-8").splitlines()
    assert len(sets) == 139
    assert lines == expected
