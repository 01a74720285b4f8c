"""The two independent checkers (zizmor and check-jsonschema) accept every generated workflow, of the platform
repository and of every project repository of the examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing_in_any_generated_workflow(all_workflow_files: list[Path], persona: str) -> None:
    """`pedantic` includes `concurrency-limits`: every job of the apply workflows states its own."""
    assert len(all_workflow_files) >= 4 + 2 * 3
    done = subprocess.run(
        [
            str(BIN / "zizmor"),
            "--offline",
            "--persona",
            persona,
            "--format",
            "json",
            "--no-progress",
            *map(str, all_workflow_files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1, 10, 11, 12, 13, 14), done.stderr  # >0 only with findings
    findings = json.loads(done.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=2)[:4000]
    assert done.returncode == 0


def test_zizmor_would_catch_an_unpinned_action(tmp_path: Path, platform_workflows: dict[str, str]) -> None:
    """The check has teeth: the same workflow with a tag instead of a commit is a finding."""
    text = platform_workflows[".github/workflows/mlrig-pull-request.yml"]
    broken = tmp_path / "unpinned.yml"
    broken.write_text(text.replace("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@v4"))
    done = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--format", "json", "--no-progress", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert any(f["ident"] == "unpinned-uses" for f in json.loads(done.stdout)), done.stdout[:2000]


def test_every_generated_workflow_matches_the_github_workflow_schema(all_workflow_files: list[Path]) -> None:
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, all_workflow_files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
