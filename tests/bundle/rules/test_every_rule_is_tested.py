"""Adding a rule means adding its tests: every registered rule is named by a test beside it."""

from __future__ import annotations

from pathlib import Path

from mlrig.bundle import rules


def test_every_semantic_rule_has_tests_that_expect_it_by_name():
    rules.load_all()
    registered = [r.__name__ for r in (*rules.PLATFORM_RULES, *rules.PROJECT_RULES, *rules.SET_RULES)]
    tests = "\n".join(
        p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py") if p.name != Path(__file__).name
    )
    tests += (Path(__file__).parents[1] / "test_overrides.py").read_text(encoding="utf-8")
    untested = [name for name in registered if f'"{name}"' not in tests]
    assert len(registered) >= 25
    assert not untested, f"rules without tests: {untested}"
