"""Fixtures of the day-2 command tests: throwaway git repositories of the example bundles, and
the commands run with consoles that write to strings."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ci.conftest import bundle_repo, commit, run_git  # noqa: F401  (fixtures and helpers re-used)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def consoles() -> tuple[Console, Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(file=out, soft_wrap=True, width=200), Console(file=err, soft_wrap=True, width=200), out, err


@pytest.fixture
def run() -> Callable[..., tuple[int, str, str]]:
    """run(function, *args, **kwargs) → (exit code, stdout, stderr) of a `run_*_command`."""

    def call(function: Callable[..., int], *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        stdout, stderr, out, err = consoles()
        code = function(*args, stdout=stdout, stderr=stderr, **kwargs)
        return code, out.getvalue(), err.getvalue()

    return call
