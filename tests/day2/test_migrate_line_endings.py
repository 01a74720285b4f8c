"""`mlrig migrate` on bundles written on Windows (CRLF line endings, a byte order mark): a file
stays a Windows file, a file a migration only renames keeps every byte, and a failed run puts
every file back byte for byte."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mlrig.bundle.validate import validate_paths
from mlrig.migrate import command as migrate_command
from mlrig.migrate.command import run_migrate_command

from .test_migrate import FIXTURE, Run

BOM = b"\xef\xbb\xbf"


@pytest.fixture
def windows_bundles(tmp_path: Path) -> Path:
    """The 0.1.0 fixture as an editor on Windows saves it."""
    target = tmp_path / "bundles"
    shutil.copytree(FIXTURE, target)
    for path in target.iterdir():
        path.write_bytes(BOM + path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return target


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_migrated_windows_file_keeps_its_line_endings_and_byte_order_mark(windows_bundles: Path, run: Run) -> None:
    before = snapshot(windows_bundles)
    code, out, err = run(run_migrate_command, [str(windows_bundles)], check=False, diff=False)
    assert code == 0, (out, err)
    after = snapshot(windows_bundles)
    for name, data in after.items():
        assert data.startswith(BOM), name
        assert b"\n" not in data.replace(b"\r\n", b""), f"{name} has a line ending that is not CRLF"
    # fraud.yaml is only renamed (0003-file-names): not one byte of it changes.
    assert after["fraud-detection.yaml"] == before["fraud.yaml"]
    assert before["platform.yaml"] != after["platform.yaml"], "the platform's migration did edit it"
    assert validate_paths([windows_bundles]).valid


def test_a_failed_migration_puts_windows_files_back_byte_for_byte(
    windows_bundles: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(windows_bundles)
    real_replace = os.replace
    calls = {"n": 0}

    def failing_replace(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(migrate_command.os, "replace", failing_replace)
    code, _, err = run(run_migrate_command, [str(windows_bundles)], check=False, diff=False)
    monkeypatch.setattr(migrate_command.os, "replace", real_replace)
    assert code == 2 and "no file was changed" in err
    assert snapshot(windows_bundles) == before
