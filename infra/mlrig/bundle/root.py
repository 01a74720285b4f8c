"""Where a bundle's set of bundles lives, and where a platform repository starts.

A bundle is validated, planned and deployed together with the other bundles of its *bundles
root*: the nearest directory, from the bundle's own upward, that is named `bundles` or holds a
Platform bundle. So a team may keep its bundle in `bundles/teams/ads/ads-ranking.yaml` and every
command (`validate`, `plan`, `generate`, and the program `pulumi up` runs) still finds its
platform and checks names against every other bundle. The walk never leaves the repository (a
directory holding `.git` or `Pulumi.yaml`), and outside a repository only a directory named
`bundles` is taken for a bundles root; without one the bundle's own directory is its set.

The *repository root* is the nearest directory, from the working directory upward, that holds
`Pulumi.yaml` and `bundles/` (a platform repository), else the nearest one holding `.git`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

BUNDLES_DIR = "bundles"
BUNDLE_SUFFIXES = (".yaml", ".yml")
# Never bundles, and possibly huge: virtual environments, caches, VCS data.
SKIPPED_DIRECTORIES = frozenset({"node_modules", "venv", "__pycache__", "site-packages"})
_SNIFF_BYTES = 16_384
_PLATFORM = re.compile(rb"^kind:\s*[\"']?Platform[\"']?\s*(#.*)?$", re.MULTILINE)
_API_VERSION = re.compile(rb"^apiVersion:\s*[\"']?mlrig/", re.MULTILINE)


def bundles_root(path: str | Path) -> Path:
    """The bundles root of a bundle file (or of a directory of bundles), resolved."""
    start = Path(path).resolve()
    if not start.is_dir():
        start = start.parent
    chain = (start, *start.parents)
    # Outside a repository an ancestor's Platform bundle belongs to someone else (a scratch
    # directory, a home directory): only a directory named `bundles` counts there, so the walk
    # never adopts, and then reads, an unrelated tree.
    in_repository = any(is_repository_boundary(directory) for directory in chain)
    for directory in chain:
        if directory.name == BUNDLES_DIR:
            return directory
        if (in_repository or directory == start) and holds_platform_bundle(directory):
            return directory
        if is_repository_boundary(directory):
            break
    return start


def is_repository_boundary(directory: Path) -> bool:
    return (directory / ".git").exists() or (directory / "Pulumi.yaml").is_file()


def holds_platform_bundle(directory: Path) -> bool:
    """Whether a bundle file directly in `directory` declares `kind: Platform` (a quick look at
    its first lines, not a validation)."""
    try:
        candidates = [p for p in directory.iterdir() if p.suffix in BUNDLE_SUFFIXES and p.is_file()]
    except OSError:
        return False
    for candidate in candidates:
        try:
            with candidate.open("rb") as handle:
                head = handle.read(_SNIFF_BYTES)
        except OSError:
            continue
        if _PLATFORM.search(head) and _API_VERSION.search(head):
            return True
    return False


def bundle_files_under(root: Path) -> Iterator[Path]:
    """Every bundle file below `root`, in path order, skipping hidden and tool directories."""
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name in SKIPPED_DIRECTORIES:
            continue
        if entry.is_dir():
            yield from bundle_files_under(entry)
        elif entry.suffix in BUNDLE_SUFFIXES and entry.is_file():
            yield entry


def repository_root(start: str | Path = ".") -> Path | None:
    """The platform repository around `start`: the nearest directory holding `Pulumi.yaml` and
    `bundles/`, else the nearest holding `.git`; None when there is neither."""
    here = Path(start).resolve()
    chain = (here, *here.parents)
    for directory in chain:
        if (directory / "Pulumi.yaml").is_file() and (directory / BUNDLES_DIR).is_dir():
            return directory
    for directory in chain:
        if (directory / ".git").exists():
            return directory
    return None
