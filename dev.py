#!/usr/bin/env python3
"""Set up and run mlrig's jobs with nothing but Python 3.11+.

    python3 dev.py plan    # create .venv, install mlrig, plan the example bundles offline
    python3 dev.py test    # create .venv, install mlrig with its test tools, run every test
    python3 dev.py setup   # only create .venv with mlrig and its test and lint tools
    python3 dev.py bench   # the benchmarks in bench/
    python3 dev.py lock    # refresh requirements.lock (what CI installs) from pyproject.toml

The virtual environment is (re)installed only when pyproject.toml changes; the first run shows
its progress (about 1-3 minutes on a fresh machine).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".mlrig-installed"
LOCK = ROOT / "requirements.lock"
# CI runs mlrig on this Python (infra/mlrig/ci/render.py PYTHON_VERSION).
LOCK_PYTHON = "3.11"


def setup(*, dev: bool = True) -> None:
    """Create .venv and install mlrig into it (editable): with its test and lint tools unless
    `dev` is False. Reinstalls only when pyproject.toml changed or the tools are missing."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"mlrig needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split() if STAMP.exists() else []
    if PYTHON.exists() and installed[:1] == [digest] and (not dev or installed[1:] == ["dev"]):
        return
    started = time.monotonic()
    if not PYTHON.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    what = "mlrig with its test and lint tools" if dev else "mlrig"
    print(f"installing {what} into .venv (first run only; about 1-3 minutes on a fresh machine)", flush=True)
    pip_install(["--upgrade", "pip"], "pip")
    pip_install(["-e", f"{ROOT}[dev]" if dev else str(ROOT)], what)
    STAMP.write_text(f"{digest} dev" if dev else digest)
    print(f"ready in {time.monotonic() - started:.0f} s", flush=True)


def pip_install(args: list[str], label: str) -> None:
    """`pip install ARGS` with one progress line per step instead of pip's full log (shown only
    when it fails): what is being collected and installed, and how many packages so far."""
    command = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", *args]
    log: list[str] = []
    status = Status(label)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as pip:
        assert pip.stdout is not None
        for line in pip.stdout:
            log.append(line)
            status.update(line.strip())
    status.finish()
    if pip.returncode:
        sys.stderr.write("".join(log[-60:]))
        sys.exit(f"pip install of {label} failed (exit {pip.returncode}); its last lines are above")


class Status:
    """Progress of a pip run: a line rewritten in place on a terminal, a line every few
    packages otherwise (CI logs)."""

    EVERY = 10

    def __init__(self, label: str) -> None:
        self.label = label
        self.collected = 0
        self.terminal = sys.stdout.isatty()
        self.last = ""

    def update(self, line: str) -> None:
        if line.startswith("Collecting "):
            self.collected += 1
            name = line.split()[1]
            self.show(f"  resolving: {self.collected} package(s), now {name}", every=True)
        elif line.startswith("Downloading "):
            self.show(f"  downloading {line.split()[1].rsplit('/', 1)[-1]}", every=False)
        elif line.startswith("Building wheel"):
            self.show(f"  building {line.split()[3] if len(line.split()) > 3 else 'a wheel'}", every=False)
        elif line.startswith("Installing collected packages"):
            count = len(line.split(":", 1)[1].split(","))
            self.show(f"  installing {count} package(s)", every=False, always=True)

    def show(self, text: str, *, every: bool, always: bool = False) -> None:
        if self.terminal:
            sys.stdout.write("\r\x1b[2K" + text[:100])
            sys.stdout.flush()
        elif always or (every and self.collected % self.EVERY == 1):
            print(text, flush=True)
        self.last = text

    def finish(self) -> None:
        if self.terminal and self.last:
            sys.stdout.write("\r\x1b[2K")
            sys.stdout.flush()
        if self.collected:
            print(f"  {self.label}: {self.collected} package(s) resolved", flush=True)


def lock_inputs() -> list[str]:
    """What requirements.lock pins: mlrig's runtime dependencies and its build backend (CI installs
    mlrig from the checkout with --no-build-isolation). Never the dev extra: no test or lint tool
    runs where credentials are."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return sorted(project["project"]["dependencies"] + project["build-system"]["requires"])


def lock_digest(inputs: list[str]) -> str:
    return hashlib.sha256("\n".join(inputs).encode()).hexdigest()


def lock() -> int:
    """Compile requirements.lock with uv: every package pinned with the hashes of its published
    files, for any platform, on Python LOCK_PYTHON. Needs network access to PyPI."""
    setup()
    inputs = lock_inputs()
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "mlrig-runtime.in").write_text("\n".join(inputs) + "\n", encoding="utf-8")
        compiled = Path(scratch) / "requirements.lock"
        command = [
            str(BIN / "uv"), "pip", "compile", "mlrig-runtime.in", "--output-file", str(compiled),
            "--universal", "--python-version", LOCK_PYTHON, "--generate-hashes", "--no-header", "--quiet",
        ]  # fmt: skip
        code = subprocess.run(command, cwd=scratch).returncode
        if code:
            return code
        header = [
            "# requirements.lock — generated by `python3 dev.py lock`; do not edit.",
            "# mlrig's runtime dependencies (pyproject.toml [project.dependencies]) and its build backend,",
            f"# each pinned with the hashes of its published files (any platform, Python {LOCK_PYTHON}).",
            "# CI jobs install it with `pip install --require-hashes -r requirements.lock`.",
            f"# inputs-sha256: {lock_digest(inputs)}",
        ]
        LOCK.write_text("\n".join(header) + "\n" + compiled.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"wrote {LOCK.name}; update PULUMI_CLI_VERSION in infra/mlrig/ci/actions.py if pulumi moved", flush=True)
    return 0


def run(*args: str) -> int:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(list(args), cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    job = argv[0] if argv else "help"
    extra = argv[1:]
    if job == "plan":
        setup(dev=False)  # planning needs mlrig only, not the test and lint tools
        code = run(str(BIN / "mlrig"), "validate", "bundles")
        if code:
            return code
        return run(str(BIN / "mlrig"), "plan", "bundles", *extra)
    if job == "test":
        setup()
        code = run(str(PYTHON), "-m", "pytest", "-n", "auto", "-q", *extra)
        return code
    if job == "lint":
        setup()
        return run(str(BIN / "ruff"), "check", "infra", "tests", "bench") or run(str(BIN / "mypy"))
    if job == "bench":
        setup()
        code = 0
        for script in sorted((ROOT / "bench").glob("bench_*.py")):
            code |= run(str(PYTHON), str(script), *extra)
        return code
    if job == "setup":
        setup()
        return 0
    if job == "lock":
        return lock()
    print(__doc__)
    return 0 if job in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
