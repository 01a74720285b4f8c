"""A user's clone has no design notes of the mlrig project: nothing shipped or documented may
send a reader to them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# README.md, CHANGELOG.md and ci/README.md are checked by test_readme.py.
CHECKED = ("infra", "tests", "ci", "docs", "bench", "schemas")
CHECKED_FILES = ("pyproject.toml", "dev.py", "Makefile", "setup.py", ".pre-commit-config.yaml", "Pulumi.yaml")
REFERENCE = re.compile("DESIGN" + r"(\.md| §)")


def test_no_file_refers_to_design_notes_users_do_not_have():
    files = [p for d in CHECKED for p in (ROOT / d).rglob("*") if p.is_file() and "egg-info" not in str(p)]
    files += [ROOT / f for f in CHECKED_FILES if (ROOT / f).is_file()]
    offenders = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1) if REFERENCE.search(line)
        ]
    assert offenders == []
