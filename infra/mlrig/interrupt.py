"""Ctrl-C: every command stops at once with exit code 130 and one line, `interrupted`.

The handler is installed by the console script before any heavy import, and it ends the process
from inside the signal handler (`os._exit`): no KeyboardInterrupt unwinds through half-imported
modules, the SDK's event loop or pending coroutines, so there is nothing left to hang on, warn
about or print a traceback for. Files a command is writing are written to a temporary path first
(then renamed); those temporary paths are registered here and removed before exiting, so an
interrupted command leaves the old files or the new ones, never a partial one.

Only the standard library is imported here: this module runs before everything else.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

EXIT_CODE = 130  # 128 + SIGINT, what shells report for a process stopped by Ctrl-C
MESSAGE = "interrupted"
_temporary: dict[int, Path] = {}
_keys = itertools.count()


def install() -> None:
    """Make SIGINT (and SIGTERM) end the process at once; a no-op outside the main thread."""
    try:
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    except ValueError:  # not the main thread (an embedding program): leave its handlers alone
        pass


@contextmanager
def removed_if_interrupted(path: str | Path) -> Iterator[Path]:
    """Register a temporary file or directory for the duration of the block: an interrupt
    removes it before the process ends."""
    key = next(_keys)
    temporary = Path(path)
    _temporary[key] = temporary
    try:
        yield temporary
    finally:
        _temporary.pop(key, None)


def _stop(signum: int, frame: FrameType | None) -> None:
    for path in list(_temporary.values()):
        with suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    prefix = ""
    if _is_terminal(sys.stderr):
        # A progress display may have hidden the cursor and left a half-drawn line.
        prefix = "\r\x1b[2K\x1b[?25h"
    with suppress(OSError):
        os.write(2, f"{prefix}{MESSAGE}\n".encode())
    os._exit(EXIT_CODE if signum == signal.SIGINT else 128 + signum)


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream and stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
