#!/usr/bin/env python3
"""Set up and run mlrig's jobs with nothing but Python 3.11+.

    python3 dev.py plan    # create .venv, install mlrig, plan the example bundles offline
    python3 dev.py test    # create .venv, install mlrig with its test tools, run every test
    python3 dev.py bench   # the benchmarks in bench/

The virtual environment is (re)installed only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".mlrig-installed"


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"mlrig needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing mlrig and its tools into .venv (first run only)", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(digest)


def run(*args: str) -> int:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(list(args), cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    job = argv[0] if argv else "help"
    extra = argv[1:]
    if job == "plan":
        setup()
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
    print(__doc__)
    return 0 if job in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
