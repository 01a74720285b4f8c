"""A pydantic plugin installed beside mlrig (an observability package, say) never sees a team's
bundle, and cannot change what mlrig accepts: importing mlrig turns pydantic's plugins off, with
pydantic's documented switch, in the `mlrig` command and in the Pulumi program `pulumi up` runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlrig import examples

SPY = """\
import os

class Spy:
    def new_schema_validator(self, schema, schema_type, *args, **kwargs):
        with open(os.environ["SPY_LOG"], "a") as log:
            log.write(f"{schema_type.__name__}\\n")
        return None, None, None

plugin = Spy()
"""


def install_spy_plugin(site: Path) -> None:
    """A distribution `spy` whose `pydantic` entry point logs every model pydantic builds."""
    (site / "spy_plugin.py").write_text(SPY, encoding="utf-8")
    info = site / "spy_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n", encoding="utf-8")


def run_mlrig(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    probe = "import sys\nfrom mlrig.entry import main\nsys.argv = ['mlrig', *sys.argv[1:]]\nmain()\n"
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"} | env
    return subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=cwd, env=environment, timeout=120
    )


def test_a_pydantic_plugin_installed_beside_mlrig_sees_no_bundle(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_spy_plugin(site)
    examples.copy_to(tmp_path / "bundles")
    log = tmp_path / "spy.log"
    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])

    done = run_mlrig(["validate", "bundles"], tmp_path, PYTHONPATH=path, SPY_LOG=str(log))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 bundle(s) valid" in done.stdout
    assert not log.exists(), log.read_text(encoding="utf-8")


PROGRAM_PROBE = """\
from mlrig.program import load_target
load_target("bundles/fraud-detection.yaml")
"""


def test_the_pulumi_program_builds_its_models_without_plugins(tmp_path: Path) -> None:
    """What `pulumi up` runs (`infra/__main__.py`, or a platform repository's two-line
    `__main__.py`) imports `mlrig.program` and validates the stack's bundle with the others."""
    site = tmp_path / "site"
    site.mkdir()
    install_spy_plugin(site)
    examples.copy_to(tmp_path / "bundles")
    log = tmp_path / "spy.log"
    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    environment |= {"PYTHONPATH": path, "SPY_LOG": str(log)}

    done = subprocess.run(
        [sys.executable, "-c", PROGRAM_PROBE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert not log.exists(), log.read_text(encoding="utf-8")


def test_the_spy_plugin_is_one_pydantic_would_load(tmp_path: Path) -> None:
    """The tests above prove something only if pydantic would load the plugin otherwise: with
    an explicit (empty) `PYDANTIC_DISABLE_PLUGINS`, which mlrig keeps, it does."""
    site = tmp_path / "site"
    site.mkdir()
    install_spy_plugin(site)
    log = tmp_path / "spy.log"
    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    probe = "from mlrig.bundle import model"
    environment = dict(os.environ) | {"PYTHONPATH": path, "SPY_LOG": str(log), "PYDANTIC_DISABLE_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "ProjectBundle" in log.read_text(encoding="utf-8").split()
