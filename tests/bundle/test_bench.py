"""The benchmarks keep working: the validation bench's bundles are varied, valid and derived from
the shipped examples, and both benches run and report against their baselines."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from mlrig.bundle.validate import validate_paths

from .helpers import ROOT


def load_bench(name: str = "bench_validate"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
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


def test_the_benchmarks_bundles_are_the_shipped_examples_renamed(tmp_path: Path):
    bench = load_bench()
    bench.generate(tmp_path, 40)
    result = validate_paths([tmp_path])
    kinds = {project.bundle.spec.llm.vector_database is not None for project in result.projects.values()}
    assert kinds == {True, False}  # both examples: the LLM project and the classic one


def test_the_benchmark_runs_and_reports_a_ratio(capsys: pytest.CaptureFixture[str]):
    assert load_bench().main(["--files", "20", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "whole process" in out and "mlrig validate DIR" in out and out.count("ratio:") == 2


def test_the_benchmark_times_a_before_build_in_the_same_rounds_with_bytecode_allowed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """`--before` adds a row and after / before; a shell forbidding bytecode caches gets its
    setting back once the children have run."""
    bench = load_bench()
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    mlrig = bench.mlrig_command()
    assert bench.main(["--files", "20", "--repeat", "1", "--mode", "process", "--before", mlrig]) == 0
    out = capsys.readouterr().out
    assert "mlrig validate DIR (before)" in out and "after / before:" in out and out.count("ratio:") == 2
    assert os.environ["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_start_benchmark_runs_against_the_interpreters_and_the_schemas_floors(
    capsys: pytest.CaptureFixture[str],
):
    assert load_bench("bench_start").main(["--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "python -c pass" in out and "mlrig --help" in out and "mlrig validate fraud-detection.yaml" in out
    assert 'python -c "import mlrig.bundle.model"' in out and "x the schema floor" in out


def test_every_project_the_scaling_bench_plans_is_valid(tmp_path: Path):
    """The engine bench plans projects as large as validation admits; a new bound on what a
    bundle may ask for must be raised by the bench's platform, as a platform team would."""
    bench = load_bench("bench_scaling")
    for size in bench.SIZES:
        directory = bench.prepare(size, tmp_path)
        result = validate_paths([directory])
        assert result.valid, (size, [d.text() for d in result.diagnostics[:3]])


def test_the_diagnostics_comparison_finds_a_build_alike_to_itself(capsys: pytest.CaptureFixture[str]):
    compare = load_bench("compare_diagnostics")
    assert compare.main(["--before", str(ROOT / "infra"), "--sets", "25"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("25 bundle sets") and out.rstrip().endswith(": 0 differ")
