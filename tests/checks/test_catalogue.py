"""The catalogue: stable ids, names and rationales, and every check tested both ways."""

from __future__ import annotations

import re
from pathlib import Path

from mlrig.checks import load_all


def test_every_check_has_an_id_a_name_a_rationale_and_an_enforcement_level():
    checks = load_all()
    assert len(checks) >= 18
    for item in checks:
        assert re.fullmatch(r"MLRIG-(DEP|SEC|UPS|REC)-\d{3}", item.id)
        assert item.name and item.rationale.endswith(".") and item.enforcement in ("mandatory", "advisory")


def test_every_check_has_a_passing_and_a_failing_fixture_that_name_it():
    tests = "\n".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    for item in load_all():
        assert f'"{item.id}"' in tests, f"{item.id} has no tests"
        failing = re.search(rf'def test_[a-z_]*\(.*\):\n(?:.*\n)*?.*"{item.id}"', tests)
        assert failing, item.id
