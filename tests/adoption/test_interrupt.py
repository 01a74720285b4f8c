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


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, grandchildren…), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left to collect


@pytest.mark.parametrize("whole_group", [False, True], ids=["to-the-command", "to-the-process-group"])
def test_ctrl_c_during_a_parallel_plan_ends_the_workers_too(repo: Path, tmp_path: Path, whole_group: bool):
    """A terminal's Ctrl-C reaches every process of the foreground group; `kill -INT` only the
    command. Either way the command answers once, with 130, and no worker outlives it. (Output
    goes to a file: a worker left behind would hold a pipe open and hang the test.)"""
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [*MLRIG, "plan", "bundles", "--jobs", "2"],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    deadline = time.monotonic() + HANG
    workers: set[int] = set()
    while process.poll() is None and time.monotonic() < deadline:
        workers = {pid for pid in descendants(process.pid) if loaded(pid, "cygrpc")}
        if len(workers) >= 3:  # the fork server and two workers forked from it
            break
        time.sleep(0.01)
    assert process.poll() is None, "the plan ended before its workers started"
    time.sleep(1.0)  # the workers are planning
    workers |= descendants(process.pid)
    if whole_group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=HANG)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("mlrig plan --jobs 2 hung after Ctrl-C")
    finally:
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in workers if running(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    err = errors.read_text()
    assert process.returncode == 130, err
    assert err.splitlines() == ["interrupted"], err
    assert not left, "a worker outlived the interrupted command"
