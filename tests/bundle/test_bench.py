"""The benchmarks keep working: the validation bench's bundles are varied, valid and derived from
the shipped examples, and both benches run and report against their baselines."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from mlrig.bundle.validate import validate_paths

from .helpers import ROOT


def load_bench(name: str = "bench_validate"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
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


def test_the_valid_plans_explorer_makes_the_same_variants_for_a_seed():
    explore = load_bench("explore_valid_plans")
    assert explore.variant(7, 3) == explore.variant(7, 3)
    assert explore.variant(7, 3) != explore.variant(8, 3) and explore.variant(7, 3) != explore.variant(7, 4)


def test_most_of_the_explorers_variants_validate(tmp_path: Path):
    """Only valid variants are planned: a generator whose variants mostly fail validation
    explores nothing. Each is one platform with 2-4 projects, from the shipped examples."""
    explore = load_bench("explore_valid_plans")
    valid = 0
    for seed, index in ((1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)):
        files = explore.variant(seed, index)
        assert 3 <= len(files) <= 5 and "platform.yaml" in files
        result = validate_paths([explore.write_variant(tmp_path / f"{seed}-{index}", files)])
        valid += result.valid
    assert valid >= 3


def test_the_explorers_variants_reach_the_corners_of_the_schema():
    """Across a seed's variants the generator uses what the examples alone never do."""
    explore = load_bench("explore_valid_plans")
    text = "\n".join(t for index in range(30) for t in explore.variant(1, index).values())
    for corner in (
        "mode: mig",
        "mode: time-slicing",
        "efa: true",
        "placementGroup: cluster",
        "fallback: []",
        "deploymentPattern: deploy-models",
        "strategy: shadow",
        "strategy: ab",
        "strategy: direct",
        "minReplicas: 0",
        "endpoints: []",
        "engine: opensearch",
        "isolation: namespace",
        "isolation: cluster",
        "mode: streaming",
        "architecture: arm64",
        "enabled: false",
    ):
        assert corner in text, corner
