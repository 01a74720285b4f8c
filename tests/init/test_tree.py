"""Files `mlrig init` writes appear all at once, or not at all, and never replace a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlrig.init.tree import ExistingFiles, FileTree, write_new


def tree() -> FileTree:
    files = FileTree()
    files.add("a.txt", "a\n")
    files.add("deep/b/c.txt", "c\n")
    files.add("run.sh", "#!/bin/sh\n", executable=True)
    return files


def test_a_new_directory_appears_whole(tmp_path: Path):
    write_new(tree(), tmp_path / "repo")
    assert (tmp_path / "repo/deep/b/c.txt").read_text() == "c\n"
    assert os.access(tmp_path / "repo/run.sh", os.X_OK) and not os.access(tmp_path / "repo/a.txt", os.X_OK)
    assert [p.name for p in tmp_path.iterdir()] == ["repo"], "no staging directory left beside it"


def test_files_are_added_to_an_existing_directory_beside_what_is_there(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("mine\n")
    write_new(tree(), tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine\n" and (tmp_path / "a.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mlrig-init-")]


def test_one_existing_file_means_nothing_is_written(tmp_path: Path):
    (tmp_path / "deep/b").mkdir(parents=True)
    (tmp_path / "deep/b/c.txt").write_text("mine\n")
    with pytest.raises(ExistingFiles) as refused:
        write_new(tree(), tmp_path)
    assert refused.value.paths == ["deep/b/c.txt"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["deep", "deep/b", "deep/b/c.txt"]


def test_a_path_written_twice_is_a_bug_caught_at_once():
    files = tree()
    with pytest.raises(ValueError, match="written twice"):
        files.add("a.txt", "again")
