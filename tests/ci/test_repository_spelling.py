"""The CI roles trust `repo:<owner>/<name>:…` as the bundle spells the repository, and IAM compares
the OIDC `sub` case-sensitively, while GitHub writes the repository as it is named on GitHub. Every
job that assumes a role first checks that GitHub's name is the bundle's, byte for byte, and stops
with a message saying what to change, instead of a bare "Not authorized" from STS."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from typing import Any

import pytest

from mlrig.ci import actions
from mlrig.ci.render import render_project_workflows

from .checkers import assert_workflows_pass_both_checkers
from .conftest import parse, write_files
from .test_platform_workflows import steps_using

CHECK = "Check the repository is spelt as the CI role trusts it"


def jobs_assuming_a_role(files: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path}:{name}", job)
        for path, text in files.items()
        for name, job in parse(text)["jobs"].items()
        if steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS)
    ]


def check_before_each_assumption(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps = job["steps"]
    return [
        steps[i - 1]
        for i, step in enumerate(steps)
        if str(step.get("uses", "")).startswith(actions.CONFIGURE_AWS_CREDENTIALS.repository + "@")
    ]


def test_every_job_of_the_platform_checks_the_spelling_right_before_it_assumes_a_role(platform_workflows):
    jobs = jobs_assuming_a_role(platform_workflows)
    assert jobs
    for where, job in jobs:
        for step in check_before_each_assumption(job):
            assert step["name"] == CHECK, where
            assert step["env"]["TRUSTED_REPOSITORY"] == "acme/ml-platform", where


def test_every_job_of_a_project_checks_the_spelling_right_before_it_assumes_a_role(project_workflows):
    for project, files in project_workflows.items():
        jobs = jobs_assuming_a_role(files)
        assert jobs, project
        for where, job in jobs:
            for step in check_before_each_assumption(job):
                assert step["name"] == CHECK, where
                assert step["env"]["TRUSTED_REPOSITORY"] == f"acme/{project}", where


def spelled(example_result, repository: str) -> dict[str, str]:
    project = example_result.projects["fraud-detection"]
    spec = project.bundle.spec.model_copy(update={"repository": repository})
    return render_project_workflows(
        dataclasses.replace(project, bundle=project.bundle.model_copy(update={"spec": spec}))
    )


def run_check(files: dict[str, str], github_repository: str) -> subprocess.CompletedProcess[str]:
    [(_, job), *_] = jobs_assuming_a_role(files)
    [step] = [s for s in job["steps"] if s.get("name") == CHECK]
    env = {"PATH": os.environ["PATH"], "GITHUB_REPOSITORY": github_repository, **step["env"]}
    bash = shutil.which("bash")
    assert bash
    return subprocess.run([bash, "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("github_says", ["Acme/fraud-detection", "acme/Fraud-Detection", "ACME/FRAUD-DETECTION"])
def test_a_repository_github_spells_differently_stops_the_job_with_what_to_change(example_result, github_says: str):
    result = run_check(spelled(example_result, "acme/fraud-detection"), github_says)
    assert result.returncode == 1
    assert f"GitHub names this repository {github_says}, but the bundle says acme/fraud-detection" in result.stdout
    assert result.stdout.startswith("::error title=Repository spelt differently from the bundle::")
    assert "case-sensitively" in result.stdout and "run mlrig generate" in result.stdout


def test_the_repository_spelt_as_on_github_passes(example_result):
    files = spelled(example_result, "Acme/Fraud-Detection")
    assert run_check(files, "Acme/Fraud-Detection").returncode == 0
    assert run_check(files, "acme/fraud-detection").returncode == 1


def test_the_check_passes_both_workflow_checkers(tmp_path, example_result):
    assert_workflows_pass_both_checkers(write_files(tmp_path, spelled(example_result, "Acme/Fraud-Detection")))
