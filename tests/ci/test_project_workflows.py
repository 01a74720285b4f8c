"""A project repository's deploy-code CI/CD: PR → lint and unit tests; merge → images to the
staging registries and an integration run in staging; release → prod images, rolled out, behind
the `prod` environment's reviewers."""

from __future__ import annotations

from typing import Any

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.ci import actions
from mlrig.ci.render import render_project_workflows

from .conftest import parse
from .test_platform_workflows import SHA_PIN, runs, steps_using

PR = ".github/workflows/mlrig-pull-request.yml"
STAGING = ".github/workflows/mlrig-staging.yml"
RELEASE = ".github/workflows/mlrig-release.yml"
APPROVE = ".github/workflows/mlrig-approve-model.yml"


@pytest.fixture(scope="module")
def parsed(project_workflows: dict[str, dict[str, str]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {project: {path: parse(t) for path, t in files.items()} for project, files in project_workflows.items()}


def test_every_project_gets_pull_request_staging_and_release_workflows(parsed: dict[str, Any]) -> None:
    assert set(parsed) == {"fraud-detection", "rag-assistant"}
    for files in parsed.values():
        assert set(files) == {PR, STAGING, RELEASE, APPROVE}, "both examples approve prod models by hand"


def test_a_project_pull_request_runs_lint_and_unit_tests_without_any_cloud_access(parsed: dict[str, Any]) -> None:
    for project, files in parsed.items():
        wf = files[PR]
        assert wf["on"] == {"pull_request": {"branches": ["main", "release"]}}
        assert wf["permissions"] == {}
        (job,) = wf["jobs"].values()
        assert job["permissions"] == {"contents": "read"}, project
        assert "ruff check" in runs(job) and "pytest -q tests/unit" in runs(job)
        assert not steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS)


def test_a_merge_builds_into_staging_then_runs_the_training_pipeline_on_a_data_subset(parsed: dict[str, Any]) -> None:
    wf = parsed["fraud-detection"][STAGING]
    assert wf["on"] == {"push": {"branches": ["main"]}}
    build, integration = wf["jobs"]["build-staging-amd64"], wf["jobs"]["integration-staging"]
    assert set(wf["jobs"]) == {"build-staging-amd64", "integration-staging"}, "amd64 pools only: no arm64 build"
    assert integration["needs"] == ["build-staging-amd64"]
    for job in (build, integration):
        assert job["environment"] == "staging"
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        role = steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS)[0]["with"]["role-to-assume"]
        assert role == "${{ vars.AWS_ROLE_ARN }}", "the staging environment's variable: the ci-deployer role"
    pushes = [s for s in build["steps"] if 'docker push "$REGISTRY/$REPOSITORY:$TAG"' in s.get("run", "")]
    assert [s["env"]["REPOSITORY"] for s in pushes] == [
        "fraud-detection/staging/training",
        "fraud-detection/staging/serving",
    ], "one step per registry; the repository reaches the script through env only"
    assert [s["env"]["DOCKERFILE"] for s in pushes] == ["docker/training/Dockerfile", "docker/serving/Dockerfile"]
    assert {s["env"]["TAG"] for s in pushes} == {"${{ github.sha }}"}, "one architecture: the run's tag itself"
    assert "imagetools" not in runs(integration), "no image index for a registry of one architecture"
    script = runs(integration)
    assert "aws eks update-kubeconfig" in script
    assert "workflowTemplateRef" in script
    submit = next(s for s in integration["steps"] if s.get("id") == "pipeline")
    assert submit["env"]["TEMPLATE"] == "train"
    assert submit["env"]["DATA_FRACTION"] == "0.1"
    assert "Succeeded" in script and "Failed|Error" in script
    assert "pytest -q tests/integration" in script


def test_a_project_without_a_training_pipeline_runs_its_fine_tuning_pipeline_in_staging(parsed: dict[str, Any]) -> None:
    integration = parsed["rag-assistant"][STAGING]["jobs"]["integration-staging"]
    submit = next(s for s in integration["steps"] if s.get("id") == "pipeline")
    assert submit["env"]["TEMPLATE"] == "fine-tune"


def test_a_release_pushes_to_prod_and_rolls_prod_behind_the_prod_environment(parsed: dict[str, Any]) -> None:
    for project, files in parsed.items():
        wf = files[RELEASE]
        assert wf["on"] == {"push": {"branches": ["release"]}}
        assert wf["jobs"]["roll-prod"]["needs"] == ["build-prod-amd64"]
        for job in wf["jobs"].values():
            assert job["environment"] == "prod", project
            assert job["permissions"] == {"contents": "read", "id-token": "write"}
        repositories = [s["env"].get("REPOSITORY", "") for s in wf["jobs"]["build-prod-amd64"]["steps"] if "env" in s]
        assert [r for r in repositories if r] and all(r.startswith(f"{project}/prod/") for r in repositories if r)
        roll = runs(wf["jobs"]["roll-prod"])
        assert "workflowtemplates.argoproj.io" in roll and "inferenceservices.serving.kserve.io" in roll
        assert 'kubectl --namespace "$NAMESPACE" replace -f -' in roll


def test_project_workflows_are_pinned_and_never_interpolate_into_scripts(
    project_workflows: dict[str, dict[str, str]],
) -> None:
    for files in project_workflows.values():
        for path, text in files.items():
            for line in (line for line in text.splitlines() if "uses:" in line):
                assert SHA_PIN.match(line), f"{path}: {line.strip()}"
            for job in parse(text)["jobs"].values():
                assert "${{" not in runs(job), path
                assert isinstance(job["timeout-minutes"], int)
                for step in steps_using(job, actions.CHECKOUT):
                    assert step["with"]["persist-credentials"] is False


def test_a_project_without_a_prod_environment_gets_no_release_workflow(example_result: ValidationResult) -> None:
    project = example_result.projects["fraud-detection"]
    without_prod = type(project)(
        project.file,
        project.bundle,
        project.platform,
        {k: v for k, v in project.environments.items() if v.tier != "prod"},
    )
    assert RELEASE not in render_project_workflows(without_prod)
    assert STAGING in render_project_workflows(without_prod)
