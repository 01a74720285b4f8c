"""The platform repository's requirements: `requirements.in` pins mlrig; `requirements.lock`
pins mlrig and every runtime dependency, each with its sha256 hashes, and is what every install
uses (`pip install --require-hashes -r requirements.lock`: the platform's deploy jobs, Pulumi's
virtualenv, a platform engineer's machine).

The lock is produced where there is network, by one documented command (`LOCK_COMMANDS`): `uv pip
compile` or pip-tools' `pip-compile`, both with `--generate-hashes`. Upgrading mlrig is editing
the version in `requirements.in`, running that command, then `mlrig generate`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REQUIREMENTS_IN = "requirements.in"
LOCK_FILE = "requirements.lock"
PYTHON_VERSION = "3.11"
# Tool → the command that (re)writes the lock from requirements.in, run in the repository root.
LOCK_COMMANDS: dict[str, list[str]] = {
    "uv": [
        "uv",
        "pip",
        "compile",
        "--generate-hashes",
        "--universal",
        "--python-version",
        PYTHON_VERSION,
        "--output-file",
        LOCK_FILE,
        REQUIREMENTS_IN,
    ],
    "pip-compile": [
        "pip-compile",
        "--generate-hashes",
        "--allow-unsafe",
        "--strip-extras",
        "--output-file",
        LOCK_FILE,
        REQUIREMENTS_IN,
    ],
}
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


class LockError(Exception):
    """The lock could not be produced or is not usable; the message says why."""


def installed_version() -> str:
    try:
        return metadata.version("mlrig")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def requirements_in(version: str) -> str:
    return (
        "# mlrig, pinned: the platform's program, CLI and CI templates all come from this version.\n"
        "# To upgrade: change the version, then rewrite the lock and regenerate:\n"
        f"#   {lock_command_text()}\n"
        "#   mlrig generate\n"
        f"mlrig=={version}\n"
    )


def lock_command_text() -> str:
    return " ".join(LOCK_COMMANDS["uv"])


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str
    hashes: int


def parse_lock(text: str) -> list[Requirement]:
    """The pinned requirements of a lock, with how many hashes each carries (continuation lines
    joined; comments and options skipped)."""
    joined = re.sub(r"\\\s*\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _REQUIREMENT.match(line)
        if match:
            found.append(Requirement(_normalize(match.group(1)), match.group(3), len(_HASH.findall(line))))
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_version(text: str) -> str | None:
    """mlrig's version in a lock, or None when the lock does not pin mlrig."""
    return next((r.version for r in parse_lock(text) if r.name == "mlrig"), None)


def lock_problems(text: str, version: str | None = None) -> list[str]:
    """Why a lock cannot be used with `pip install --require-hashes`: a requirement without a
    hash or an exact version, no mlrig, or (with `version`) another mlrig version."""
    requirements = parse_lock(text)
    problems = [f"{r.name}=={r.version} has no --hash" for r in requirements if not r.hashes]
    pinned = locked_version(text)
    if pinned is None:
        problems.append("it does not pin mlrig (mlrig==<version> with its hashes)")
    elif version is not None and pinned != version:
        problems.append(f"it pins mlrig {pinned}, not {version}")
    unpinned = [
        line.strip()
        for line in re.sub(r"\\\s*\n", " ", text).splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-")) and not _REQUIREMENT.match(line.strip())
    ]
    problems += [f"'{line.split()[0]}' is not pinned with ==" for line in unpinned]
    return problems


def available_tool() -> str | None:
    return next((tool for tool in LOCK_COMMANDS if shutil.which(tool)), None)


def compile_lock(version: str) -> str:
    """Run the lock command for `mlrig==version` in a scratch directory and return the lock.
    Needs network (the package index); raises LockError when no tool is installed or it fails."""
    tool = available_tool()
    if tool is None:
        raise LockError(f"neither uv nor pip-compile is installed (pip install uv), so {LOCK_FILE} was not written")
    with tempfile.TemporaryDirectory(prefix="mlrig-lock-") as scratch:
        (Path(scratch) / REQUIREMENTS_IN).write_text(requirements_in(version), encoding="utf-8")
        try:
            done = subprocess.run(LOCK_COMMANDS[tool], cwd=scratch, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise LockError(f"{tool} failed: {error}") from None
        lock = Path(scratch) / LOCK_FILE
        if done.returncode != 0 or not lock.is_file():
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise LockError(f"{tool} failed: {detail[-1] if detail else f'exit {done.returncode}'}")
        text = lock.read_text(encoding="utf-8")
    problems = lock_problems(text, version)
    if problems:
        raise LockError(f"{tool} wrote an unusable lock: {'; '.join(problems)}")
    return text
