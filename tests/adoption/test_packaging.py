"""`pip install mlrig` carries everything a platform repository needs at runtime: the program
(reached from a two-line `__main__.py`), the CI templates (whose source stays in the repository's
`ci/templates/`), the example bundles, the init templates and the JSON schema."""

from __future__ import annotations

import importlib.util
import zipfile
from email.parser import Parser

import pytest

from mlrig.bundle.schema import bundle_schema_text

from .wheel import ROOT, build_wheel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[zipfile.ZipFile, str]:
    path, output = build_wheel(tmp_path_factory.mktemp("wheel"))
    return zipfile.ZipFile(path), output


def test_the_wheel_carries_every_ci_template_byte_for_byte(wheel):
    archive, _ = wheel
    templates = ROOT / "ci" / "templates"
    expected = {p.relative_to(templates).as_posix(): p.read_bytes() for p in templates.rglob("*.j2")}
    shipped = {
        name.removeprefix("mlrig/ci/templates/"): archive.read(name)
        for name in archive.namelist()
        if name.startswith("mlrig/ci/templates/")
    }
    assert expected and shipped == expected


def test_the_wheel_carries_the_schema_examples_and_init_templates(wheel):
    archive, _ = wheel
    names = set(archive.namelist())
    assert archive.read("mlrig/schemas/bundle.schema.json").decode() == bundle_schema_text()
    assert {"mlrig/examples/platform.yaml", "mlrig/examples/fraud-detection.yaml"} <= names
    for template in ("tabular", "llm", "vision"):
        assert f"mlrig/init/templates/project/{template}.yaml.j2" in names
    assert {"mlrig/program.py", "mlrig/entry.py", "mlrig/py.typed"} <= names


def test_the_console_script_starts_with_the_interrupt_handler_and_the_license_is_spdx(wheel):
    archive, _ = wheel
    info = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "mlrig = mlrig.entry:main" in archive.read(info).decode()
    metadata = Parser().parsestr(archive.read(info.replace("entry_points.txt", "METADATA")).decode())
    assert metadata["License-Expression"] == "Apache-2.0"


def test_building_prints_no_packaging_warning(wheel):
    _, output = wheel
    assert "Warning" not in output and "deprecated" not in output.lower(), output


def test_the_wheel_holds_no_repository_only_files(wheel):
    archive, _ = wheel
    assert not [n for n in archive.namelist() if n.startswith(("tests/", "bundles/", "infra/", "ci/"))]


def test_dev_setup_reports_pip_progress_instead_of_minutes_of_silence(capsys):
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec and spec.loader
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    status = dev.Status("mlrig")
    for i in range(25):
        status.update(f"Collecting package-{i}>=1.0")
        status.update(f"  Downloading package_{i}-1.0-py3-none-any.whl (10 kB)")
    status.update("Installing collected packages: a, b, c")
    status.finish()
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if "resolving" in line] == [
        "  resolving: 1 package(s), now package-0>=1.0",
        "  resolving: 11 package(s), now package-10>=1.0",
        "  resolving: 21 package(s), now package-20>=1.0",
    ]
    assert "  installing 3 package(s)" in lines and lines[-1] == "  mlrig: 25 package(s) resolved"
