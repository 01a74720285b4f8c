"""The pull-request workflow's plan job, run as a runner runs it: its `run:` steps, verbatim, in a
scratch platform repository whose last commit changes one project bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
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


NEEDS_BASH_AND_JQ = pytest.mark.skipif(
    shutil.which("jq") is None or shutil.which("bash") is None, reason="the job's steps use bash and jq"
)
DIFF_STEP = "mlrig diff"


def pull_request(tmp_path: Path, *, before_the_change: Callable[[Path], None] = lambda repo: None) -> tuple[Path, str]:
    """A platform repository whose last commit changes one project bundle; (root, base commit)."""
    repo = tmp_path / "repo"
    examples.copy_to(repo / "bundles")
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / ".git/info/exclude").write_text("plans/\n")  # what the job writes is never committed
    mlrig(repo, "generate")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    before_the_change(repo)
    bundle = repo / "bundles" / "fraud-detection.yaml"
    bundle.write_text(bundle.read_text().replace("\n  pipelines:\n", "\n  pipelines:\n" + NEW_PIPELINE, 1))
    mlrig(repo, "generate")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a pipeline more")
    return repo, base


def run_plan_job(repo: Path, base: str, tmp_path: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every `run:` step of the plan job, verbatim, in order, until one fails; step name → result."""
    workflow = yaml.safe_load((repo / ".github/workflows/mlrig-pull-request.yml").read_text())
    output, summary = tmp_path / "github-output", tmp_path / "step-summary"
    environment = {**os.environ, "BASE_SHA": base, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    results = {}
    for step in workflow["jobs"]["plan"]["steps"]:
        if "run" in step and not step["name"].startswith(RUNNER_SETUP):
            done = subprocess.run(
                ["bash", "-e", "-c", step["run"]], cwd=repo, env=environment, capture_output=True, text=True
            )
            results[step["name"]] = done
            if done.returncode != 0:
                break
    return results


@NEEDS_BASH_AND_JQ
def test_the_plan_job_plans_the_changed_bundle_once_and_reports_each_of_its_stacks(tmp_path: Path) -> None:
    repo, base = pull_request(tmp_path)
    results = run_plan_job(repo, base, tmp_path)
    for name, done in results.items():
        assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"

    assert len(list((repo / "plans").glob("*.json"))) == 1, "one plan process for the one changed bundle"
    report = (repo / "report.md").read_text()
    for stack in ("fraud-detection.dev", "fraud-detection.staging", "fraud-detection.prod"):
        assert f"`{stack}`" in report
    assert "not planned" not in report and "nightly-backfill" in report
    assert "report<<mlrig-report-" in (tmp_path / "github-output").read_text()

    [diff_step] = [done for name, done in results.items() if name.startswith(DIFF_STEP)]
    assert "--head-plans plans" in diff_step.args[-1], "the diff reuses the plan step's plans"
    assert "planned here" not in diff_step.stderr, "every head stack came from plans/, none was planned again"
    replanned = subprocess.run(
        [".venv/bin/mlrig", "diff", "--base", base, "--head", "HEAD", "--format", "markdown", "--jobs", "1"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (repo / "pr-report/05-diff.md").read_text() == replanned.stdout, (
        "the comment is the diff that plans both revisions itself, byte for byte"
    )


@NEEDS_BASH_AND_JQ
def test_a_plan_left_over_from_another_revision_fails_the_job_instead_of_being_diffed(tmp_path: Path) -> None:
    def plan_the_base(repo: Path) -> None:  # e.g. a restored cache, or a step that planned too early
        (repo / "plans").mkdir()
        mlrig(repo, "plan", "bundles/fraud-detection.yaml", "--env", "dev", "--format", "json", "--out", "plans/0.json")

    repo, base = pull_request(tmp_path, before_the_change=plan_the_base)
    results = run_plan_job(repo, base, tmp_path)
    [(name, diff_step)] = [(n, done) for n, done in results.items() if n.startswith(DIFF_STEP)]
    assert diff_step.returncode == 1, "the diff refuses the stale plan"
    assert "plans/0.json: the plan of fraud-detection.dev cannot stand for the head" in diff_step.stderr
    assert list(results)[-1] == name, "the job stops there: no report, no comment"
    assert not (repo / "report.md").exists()
