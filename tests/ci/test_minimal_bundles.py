"""A platform that names no accounts (`cluster` isolation) and a project holding only the required
fields still get complete, checker-clean workflows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundle.helpers import TINY_PLATFORM, TINY_PROJECT
from mlrig.bundle.validate import validate_paths
from mlrig.ci.render import render_platform_workflows, render_project_workflows

from .checkers import assert_workflows_pass_both_checkers
from .conftest import parse, write_files


@pytest.mark.slow
def test_a_platform_without_accounts_reads_them_from_repository_variables(tmp_path: Path) -> None:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "bundles/platform.yaml").write_text(TINY_PLATFORM)
    (tmp_path / "bundles/scorer.yaml").write_text(TINY_PROJECT)
    result = validate_paths([tmp_path / "bundles"])
    assert result.valid, [d.text() for d in result.diagnostics]
    platform, project = result.platforms["tiny"], result.projects["scorer"]
    workflows = render_platform_workflows(platform, [project])
    release = parse(workflows[".github/workflows/mlrig-release.yml"])
    job = release["jobs"]["up-live-platform"]
    assert job["environment"] == "live", "the GitHub environment is named like the prod-tier environment"
    credentials = next(s for s in job["steps"] if "role-to-assume" in s.get("with", {}))["with"]
    assert (
        credentials["role-to-assume"] == "arn:aws:iam::${{ vars.AWS_ACCOUNT_ID_LIVE }}:role/tiny-live-platform-deployer"
    )
    project_files = render_project_workflows(project)
    assert set(project_files) == {".github/workflows/mlrig-pull-request.yml", ".github/workflows/mlrig-release.yml"}, (
        "no staging-tier environment: no staging workflow"
    )
    files = write_files(tmp_path / "out", {**workflows, **{f"p/{k}": v for k, v in project_files.items()}})
    assert_workflows_pass_both_checkers(files)
