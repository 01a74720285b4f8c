"""Validation resolves each path once (`_RealPaths`), and a file that is no link by its directory:
whatever the links, every path resolves exactly as `Path.resolve(strict=True)` resolves it, so the
symbolic-link checks decide as before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlrig.bundle.validate import _RealPaths


def strictly_resolved(path: Path) -> Path | None:
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Files, links to files and directories (inside and out), dangling and looping links."""
    real = tmp_path / "real"
    (real / "teams").mkdir(parents=True)
    (real / "p.yaml").write_text("kind: Platform\n", encoding="utf-8")
    (real / "teams" / "a.yaml").write_text("kind: Project\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("secret\n", encoding="utf-8")
    bundles = tmp_path / "bundles"
    bundles.symlink_to(real)  # the bundles directory itself is a link
    (real / "to-file.yaml").symlink_to(real / "p.yaml")
    (real / "relative.yaml").symlink_to(Path("teams") / "a.yaml")
    (real / "out.yaml").symlink_to(outside / "secret.yaml")
    (real / "linked-teams").symlink_to(real / "teams")
    (real / "out-dir").symlink_to(outside)
    (real / "dangling.yaml").symlink_to(real / "missing.yaml")
    (real / "loop-a.yaml").symlink_to(real / "loop-b.yaml")
    (real / "loop-b.yaml").symlink_to(real / "loop-a.yaml")
    return tmp_path


def paths_in(tree: Path) -> list[Path]:
    found = [tree / "bundles", tree / "missing" / "x.yaml"]
    for directory, subdirectories, files in os.walk(tree / "bundles", followlinks=True):
        base = Path(directory)
        if len(base.parts) > len(tree.parts) + 4:
            continue
        found += [base / name for name in [*subdirectories, *files]]
        found += [base / ".." / name for name in files]
    return found


def test_every_path_resolves_as_path_resolve_strict_does(tree: Path):
    real = _RealPaths()
    paths = paths_in(tree)
    assert len(paths) > 20
    for path in paths:
        assert real.of(path) == strictly_resolved(path), path
    for path in paths:  # and again, from what it remembered
        assert real.of(path) == strictly_resolved(path), path


def test_relative_paths_resolve_from_the_working_directory(tree: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tree / "bundles")
    real = _RealPaths()
    for name in ["p.yaml", "to-file.yaml", "relative.yaml", "out.yaml", "dangling.yaml", "loop-a.yaml", "."]:
        assert real.of(Path(name)) == strictly_resolved(Path(name)), name
    assert real.of(Path("teams") / ".." / "p.yaml") == strictly_resolved(Path("teams") / ".." / "p.yaml")
    assert real.of(Path("linked-teams") / "a.yaml") == (tree / "real" / "teams" / "a.yaml").resolve()
