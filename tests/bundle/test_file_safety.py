"""The loader reads bundle files and nothing else: a symbolic link out of the bundles directory is
refused unread (its content never reaches a diagnostic), and a broken link is a diagnostic of
its own file, never an "internal error" (review F13)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlrig.bundle.validate import collect_files, validate_paths

from .helpers import BUNDLES, ROOT

SECRET = "AKIAIOSFODNN7EXAMPLE"
CREDENTIALS = f"apiVersion: mlrig/v1\nkind: Project\nmetadata: {{name: {SECRET}}}\nspec: {{platform: wJalrXUtnFEMI}}\n"


def mlrig(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrig.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    target = tmp_path / "repo" / "bundles"
    shutil.copytree(BUNDLES, target)
    return target


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A credentials file outside the repository, shaped like a bundle."""
    secret = tmp_path / "home" / ".aws" / "credentials.yaml"
    secret.parent.mkdir(parents=True)
    secret.write_text(CREDENTIALS, encoding="utf-8")
    return secret


def test_a_link_out_of_the_bundles_directory_is_refused_without_echoing_its_content(bundles: Path, outside: Path):
    (bundles / "leak.yaml").symlink_to(outside)
    result = mlrig("validate", "--format", "github", str(bundles))
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr and "wJalr" not in result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if "leak.yaml" in line]
    assert "outside the bundles directory" in line and "the target was not read" in line


def test_a_named_file_that_links_out_of_its_directory_is_refused_too(bundles: Path, outside: Path):
    (bundles / "leak.yaml").symlink_to(outside)
    result = mlrig("validate", "--format", "json", str(bundles / "leak.yaml"))
    assert result.returncode == 1 and SECRET not in result.stdout
    [entry] = json.loads(result.stdout)["files"]
    assert entry["file"].endswith("leak.yaml") and not entry["valid"]


def test_links_to_system_files_are_refused(bundles: Path):
    for name, target in (("zero.yaml", "/dev/zero"), ("environ.yaml", "/proc/self/environ")):
        (bundles / name).symlink_to(target)
    rejected: list = []
    files = collect_files([bundles], rejected)
    assert {f.name for f in files} == {"platform.yaml", "fraud-detection.yaml", "rag-assistant.yaml"}
    assert sorted(Path(d.file).name for d in rejected) == ["environ.yaml", "zero.yaml"]


def test_a_symlink_loop_is_a_diagnostic_of_its_file_not_an_internal_error(bundles: Path):
    (bundles / "loop.yaml").symlink_to(bundles / "loop.yaml")
    result = mlrig("validate", str(bundles))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "internal error" not in result.stderr
    assert f"{bundles / 'loop.yaml'}:1:1: (document): a symbolic link that points nowhere or loops" in result.stdout


def test_a_dangling_link_is_reported_instead_of_skipped(bundles: Path):
    (bundles / "gone.yaml").symlink_to(bundles / "missing.yaml")
    result = validate_paths([bundles])
    [report] = [r for r in result.reports if r.file.endswith("gone.yaml")]
    [error] = report.diagnostics
    assert error.rule == "load" and "points nowhere" in error.message


def test_validating_one_file_beside_a_looping_link_is_no_internal_error(bundles: Path):
    (bundles / "loop.yaml").symlink_to(bundles / "loop.yaml")
    result = mlrig("validate", str(bundles / "fraud-detection.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_a_diagnostic_of_its_own(bundles: Path):
    locked = bundles / "locked.yaml"
    locked.write_text("kind: Project\n")
    locked.chmod(0)
    try:
        result = validate_paths([bundles])
    finally:
        locked.chmod(0o644)
    [report] = [r for r in result.reports if r.file.endswith("locked.yaml")]
    assert report.diagnostics and "cannot read" in report.diagnostics[0].message


def test_a_link_that_stays_inside_the_bundles_directory_is_read(bundles: Path):
    (bundles / "teams").mkdir()
    (bundles / "fraud-detection.yaml").rename(bundles / "teams" / "fraud-detection.yaml")
    (bundles / "fraud-detection.yaml").symlink_to(bundles / "teams" / "fraud-detection.yaml")
    result = validate_paths([bundles])
    assert result.valid, [d.text() for d in result.diagnostics]
    assert set(result.projects) == {"fraud-detection", "rag-assistant"}
