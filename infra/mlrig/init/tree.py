"""A set of new files, written all or nothing, never over an existing file.

The files are first written into a temporary directory beside the destination (the same file
system), then moved into place: a failure or Ctrl-C before the move leaves nothing behind, and a
destination that does not exist yet appears whole, with one rename.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import interrupt

EXECUTABLE = 0o755
REGULAR = 0o644


class ExistingFiles(Exception):
    """Files of the tree already exist at the destination: nothing was written."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        super().__init__(", ".join(paths))


@dataclass
class FileTree:
    """Relative POSIX path → text, and the paths that are executable."""

    files: dict[str, str] = field(default_factory=dict)
    executable: set[str] = field(default_factory=set)

    def add(self, path: str, text: str, *, executable: bool = False) -> None:
        if path in self.files:
            raise ValueError(f"{path} is written twice")
        self.files[path] = text
        if executable:
            self.executable.add(path)

    def update(self, other: FileTree) -> None:
        for path, text in other.files.items():
            self.add(path, text, executable=path in other.executable)

    def existing_in(self, destination: Path) -> list[str]:
        return sorted(p for p in self.files if os.path.lexists(destination / p))

    def materialize(self, directory: Path) -> None:
        """Write every file below `directory` (which may exist)."""
        for path, text in sorted(self.files.items()):
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            os.chmod(target, EXECUTABLE if path in self.executable else REGULAR)


def write_new(tree: FileTree, destination: Path) -> None:
    """Write `tree` below `destination`. Raises ExistingFiles (writing nothing) when any of its
    files exists."""
    existing = tree.existing_in(destination)
    if existing:
        raise ExistingFiles(existing)
    parent = destination.parent if not destination.exists() else destination
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".mlrig-init-", dir=parent))
    with interrupt.removed_if_interrupted(staging):
        try:
            tree.materialize(staging)
            if not destination.exists():
                os.chmod(staging, 0o755)  # mkdtemp makes it private; a repository is not
                os.replace(staging, destination)
                return
            _move_into(staging, destination, sorted(tree.files))
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _move_into(staging: Path, destination: Path, paths: list[str]) -> None:
    """Move each staged file into an existing destination; if one move fails, undo the others."""
    moved: list[Path] = []
    created: list[Path] = []
    try:
        for path in paths:
            target = destination / path
            for directory in reversed(target.parents):
                if directory.is_relative_to(destination) and not directory.exists():
                    directory.mkdir()
                    created.append(directory)
            if os.path.lexists(target):
                raise ExistingFiles([path])
            os.replace(staging / path, target)
            moved.append(target)
    except BaseException:
        for target in moved:
            target.unlink(missing_ok=True)
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
