"""The pull-request workflow's plan job, run as a runner runs it: its `run:` steps, verbatim, in a
scratch platform repository whose last commit changes one project bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlrig import examples

RUNNER_SETUP = ("Check out", "Set up Python", "Install")  # needs a runner and the network
NEW_PIPELINE = """\
    nightly-backfill:
      type: batch-inference
      image: training
      pool: cpu-batch
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def mlrig(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "mlrig.cli", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.skipif(
    shutil.which("jq") is None or shutil.which("bash") is None, reason="the job's steps use bash and jq"
)
def test_the_plan_job_plans_the_changed_bundle_once_and_reports_each_of_its_stacks(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    examples.copy_to(repo / "bundles")
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    mlrig(repo, "generate")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    bundle = repo / "bundles" / "fraud-detection.yaml"
    bundle.write_text(bundle.read_text().replace("\n  pipelines:\n", "\n  pipelines:\n" + NEW_PIPELINE, 1))
    mlrig(repo, "generate")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a pipeline more")

    workflow = yaml.safe_load((repo / ".github/workflows/mlrig-pull-request.yml").read_text())
    output, summary = tmp_path / "github-output", tmp_path / "step-summary"
    environment = {**os.environ, "BASE_SHA": base, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    for step in workflow["jobs"]["plan"]["steps"]:
        if "run" in step and not step["name"].startswith(RUNNER_SETUP):
            done = subprocess.run(
                ["bash", "-e", "-c", step["run"]], cwd=repo, env=environment, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{step['name']}: {done.stderr[-2000:]}"

    assert len(list((repo / "plans").glob("*.json"))) == 1, "one plan process for the one changed bundle"
    report = (repo / "report.md").read_text()
    for stack in ("fraud-detection.dev", "fraud-detection.staging", "fraud-detection.prod"):
        assert f"`{stack}`" in report
    assert "not planned" not in report and "nightly-backfill" in report
    assert "report<<mlrig-report-" in output.read_text()
