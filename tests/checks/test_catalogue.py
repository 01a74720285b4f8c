"""The catalogue: stable ids, names and rationales, and every check tested both ways."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mlrig.checks import load_all


def test_every_check_has_an_id_a_name_a_rationale_and_an_enforcement_level():
    checks = load_all()
    assert len(checks) >= 18
    for item in checks:
        assert re.fullmatch(r"MLRIG-(DEP|SEC|UPS|REC)-\d{3}", item.id)
        assert item.name and item.rationale.endswith(".") and item.enforcement in ("mandatory", "advisory")


def _findings_calls() -> tuple[set[str], set[str]]:
    """Check ids called by `findings("ID", …) == []` (passing fixtures) and otherwise (failing)."""
    passing: set[str] = set()
    every: list[tuple[ast.Call, str]] = []
    for path in Path(__file__).parent.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "findings" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    every.append((node, first.value))
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Call):
                call = node.left
                empty = [c for c in node.comparators if isinstance(c, ast.List) and not c.elts]
                if empty and getattr(call.func, "id", None) == "findings" and isinstance(call.args[0], ast.Constant):
                    passing.add(id(call))
    passed = {check for call, check in every if id(call) in passing}
    failed = {check for call, check in every if id(call) not in passing}
    return passed, failed


def test_every_check_has_a_passing_and_a_failing_fixture_that_name_it():
    passed, failed = _findings_calls()
    for item in load_all():
        assert item.id in passed, f"{item.id} has no passing fixture"
        assert item.id in failed, f"{item.id} has no failing fixture"
