"""mlrig is installed, not forked: the suite reads the example bundles shipped in the package,
never the repository's live `bundles/` (which a platform team replaces with its own), so adding,
changing or removing a team's bundle cannot turn mlrig's own tests red."""

from __future__ import annotations

import re
from pathlib import Path

from mlrig import examples

TESTS = Path(__file__).resolve().parent
# A path built from the repository root into bundles/, or a test run from the repository root
# (where relative `bundles/...` paths would resolve to the live directory).
LIVE_BUNDLES = re.compile(r"""(ROOT|repo_root|parents\[\d\])\s*/\s*["']bundles|chdir\(\s*(ROOT|repo_root)\s*\)""")


def test_no_test_reads_the_repositorys_live_bundles_directory():
    offenders = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LIVE_BUNDLES.search(line)
    ]
    assert offenders == []


def test_the_examples_ship_inside_the_package():
    assert examples.DIRECTORY.is_relative_to(Path(examples.__file__).resolve().parent)
    for file in examples.FILES:
        assert examples.path(file).read_text(encoding="utf-8").startswith("# yaml-language-server")
