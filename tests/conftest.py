"""Shared fixtures: the example bundles, validated once, and cached offline plans of them.

`platform_plan(env)` and `project_plan(project, env)` are factories: each stack is planned once
per test session (per xdist worker) and shared by every test that asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from mlrig import examples
from mlrig.bundle.validate import ValidationResult, validate_paths
from mlrig.plan.engine import StackPlan
from mlrig.plan.runner import Planner

# In CI the property-based tests replay the same examples every run, so a landing is decided by
# the code, not by the draw; locally they explore new examples each run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
# The example bundles shipped in the package, never the repository's live bundles/: a platform
# team's own bundles must not change what mlrig's suite sees.
BUNDLES = examples.DIRECTORY


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def example_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch platform repository holding a copy of the example bundles in `bundles/`, made
    the working directory (as Pulumi and CI run mlrig from the repository root)."""
    repo = tmp_path / "repo"
    examples.copy_to(repo / "bundles")
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture(scope="session")
def example_result() -> ValidationResult:
    """The ValidationResult of the example bundles (every one is valid)."""
    result = validate_paths([BUNDLES])
    assert result.valid, "\n".join(d.text() for d in result.diagnostics)
    return result


@pytest.fixture(scope="session")
def example_planner() -> Planner:
    return Planner()


@pytest.fixture(scope="session")
def example_platform(example_result: ValidationResult):  # -> Platform
    assert len(example_result.platforms) == 1, "the examples hold one platform bundle"
    return next(iter(example_result.platforms.values()))


@pytest.fixture(scope="session")
def platform_plan(example_planner: Planner, example_platform) -> Callable[[str], StackPlan]:
    """`platform_plan("prod")`: the plan of the example platform's stack for one environment."""

    def plan(environment: str) -> StackPlan:
        return example_planner.platform(example_platform, environment)

    return plan


@pytest.fixture(scope="session")
def project_plan(example_planner: Planner, example_result: ValidationResult) -> Callable[[str, str], StackPlan]:
    """`project_plan("fraud-detection", "dev")`: the plan of one example project stack."""

    def plan(project: str, environment: str) -> StackPlan:
        return example_planner.project(example_result.projects[project], environment)

    return plan
