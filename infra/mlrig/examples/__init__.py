"""The example bundles shipped with mlrig: the `acme-ml` platform (three accounts), a classic ML
project (`fraud-detection`) and an LLM RAG project (`rag-assistant`).

They are package data, so mlrig's own tests use them instead of whatever a platform repository
keeps in its `bundles/` directory (a team's bundle must never break mlrig's suite), and
`mlrig init` can start from them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
PLATFORM = "platform.yaml"
PROJECTS = ("fraud-detection.yaml", "rag-assistant.yaml")
FILES = (PLATFORM, *PROJECTS)


def path(file: str) -> Path:
    """The shipped copy of one example bundle file."""
    return DIRECTORY / file


def copy_to(directory: Path) -> Path:
    """Copy every example bundle into `directory` (created if needed); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in FILES:
        shutil.copyfile(DIRECTORY / file, directory / file)
    return directory
