"""The two independent workflow checkers, run over generated workflow files: zizmor (offline
audits) and check-jsonschema (GitHub's workflow schema)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent


def assert_workflows_pass_both_checkers(files: Sequence[Path]) -> None:
    """zizmor finds nothing in `files` and every one matches the GitHub workflow schema."""
    zizmor = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--format", "json", "--no-progress", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(zizmor.stdout or "[]") == [] and zizmor.returncode == 0, zizmor.stdout[:3000]
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert schema.returncode == 0, schema.stdout[:3000]
