"""The validation benchmark keeps working: its generated bundles are varied and valid."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mlrig.bundle.validate import validate_paths

from .helpers import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_validate", ROOT / "bench" / "bench_validate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_generates_valid_varied_bundles(tmp_path: Path):
    bench = load_bench()
    files = bench.generate(tmp_path, 40)
    result = validate_paths([tmp_path])
    assert result.valid, [d.text() for d in result.diagnostics[:5]]
    assert len(result.platforms) == bench.PLATFORMS and len(result.projects) == 30
    assert len({f.read_text() for f in files}) == 40


def test_the_benchmark_runs_and_reports_a_ratio(capsys: pytest.CaptureFixture[str]):
    assert load_bench().main(["--files", "20", "--repeat", "1"]) == 0
    assert "ratio:" in capsys.readouterr().out
