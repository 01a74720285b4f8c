"""The garbage collector is paused only while mlrig builds what it keeps (the command line's
modules, the bundle models, a validation), and is on again afterwards for every command."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from mlrig import collector, examples


def test_a_paused_step_leaves_the_collector_on_and_what_it_built_in_the_oldest_generation():
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        kept = [{"built": "while paused"}]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert any(o is kept for o in gc.get_objects(generation=2))


def test_a_paused_step_leaves_a_collector_the_program_turned_off_off():
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_console_script_validates_with_the_collector_on_again_after_its_imports(tmp_path: Path):
    examples.copy_to(tmp_path / "bundles")
    probe = (
        "import gc, os, sys\n"
        "from mlrig.entry import main\n"
        "def _exit(code):\n"
        "    sys.stderr.write(f'\\nCOLLECTOR {gc.isenabled()} {code}')\n"
        "    raise SystemExit(code)\n"
        "os._exit = _exit\n"
        "sys.argv = ['mlrig', 'validate', 'bundles']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "3 bundle(s) valid" in done.stdout, done.stdout + done.stderr
    assert done.stderr.rstrip().endswith("COLLECTOR True 0"), done.stderr
