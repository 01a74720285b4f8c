"""Building mlrig's wheel offline, as `pip install mlrig` would get it, for the packaging and
adoption tests: a copy of the sources pip needs, built with the test venv's setuptools (no
build isolation, no index)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the build reads: everything else in the repository is not part of the distribution.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "infra", "ci", "schemas")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")


def build_wheel(
    destination: Path, *, version: str | None = None, patch: Callable[[Path], None] | None = None
) -> tuple[Path, str]:
    """Build the wheel into `destination`; returns its path and pip's output. `version`
    replaces the version in pyproject.toml and `patch` edits the copied sources (a later
    release, for the upgrade test)."""
    source = destination / "source"
    source.mkdir(parents=True)
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=IGNORED)
        else:
            shutil.copy2(origin, source / name)
    if version is not None:
        pyproject = source / "pyproject.toml"
        text, count = re.subn(r'(?m)^version = "[^"]*"$', f'version = "{version}"', pyproject.read_text())
        assert count == 1, "pyproject.toml has one project version"
        pyproject.write_text(text)
    if patch is not None:
        patch(source)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(destination),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    [wheel] = destination.glob("mlrig-*.whl")
    return wheel, output
