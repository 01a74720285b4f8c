"""Ctrl-C in any command, at any moment (start-up imports, validation, planning, writing):
the process ends at once with exit code 130 and the one line `interrupted`; no hang, no
warning, no traceback, no temporary file left behind.

The moments are recognised, not timed: the test waits until the process has loaded a given
extension module (visible in /proc/<pid>/maps), then interrupts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlrig import examples

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see what a process loaded"),
]
# The console script pip installed (what users run), else the module.
SCRIPT = Path(sys.executable).parent / "mlrig"
MLRIG = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "mlrig"]
HANG = 60  # seconds after which a process that has not ended counts as hung


def loaded(pid: int, marker: str) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def interrupt_when(args: list[str], cwd: Path, marker: str, delay: float = 0.0) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen([*MLRIG, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + HANG
    while not loaded(process.pid, marker) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, f"the command ended before loading {marker}"
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"mlrig {' '.join(args)} hung after Ctrl-C")
    return subprocess.CompletedProcess(args, process.returncode, out, err)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    examples.copy_to(tmp_path / "bundles")
    (tmp_path / "Pulumi.yaml").write_text("name: mlrig\nruntime: python\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "marker", "delay"),
    [
        (["validate"], "_pydantic_core", 0.0),  # while the command line's imports load
        (["plan", "bundles"], "_pydantic_core", 0.0),
        (["plan", "bundles"], "cygrpc", 0.0),  # the Pulumi SDK loading
        (["plan", "bundles"], "cygrpc", 1.5),  # planning: the SDK's event loop, lazy provider imports
        (["plan", "bundles"], "cygrpc", 4.0),
        (["generate"], "_yaml", 0.2),
    ],
)
def test_ctrl_c_ends_the_command_at_once_with_one_line_and_exit_130(repo: Path, args, marker, delay):
    done = interrupt_when(args, repo, marker, delay)
    if done.returncode == 0:
        pytest.skip("the command finished before the interrupt arrived")
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines()[-1:] == ["interrupted"] and "Traceback" not in done.stderr, done.stderr
    assert "Warning" not in done.stderr and "never awaited" not in done.stderr, done.stderr
    assert not [p for p in repo.rglob("*.tmp")], "a temporary file was left behind"


def test_an_interrupt_removes_the_temporary_files_being_written(tmp_path: Path):
    partial = tmp_path / ".plan.json.tmp"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from mlrig import interrupt\n"
        "interrupt.install()\n"
        f"with interrupt.removed_if_interrupted(Path({str(partial)!r})) as path:\n"
        "    path.write_text('half a plan')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "writing\n"
    assert partial.exists()
    os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=HANG)
    assert process.returncode == 130 and err == "interrupted\n"
    assert not partial.exists()
