"""A project repository's deploy-code CI/CD: PR → lint and unit tests; merge → images to the
staging registries and an integration run in staging; release → prod images, rolled out, behind
the `prod` environment's reviewers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.ci import actions
from mlrig.ci.render import render_project_workflows

from .checkers import assert_workflows_pass_both_checkers
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
        # The roll-out patches the images only, under its own field manager: never a `replace` of
        # whole objects the project stack also applies.
        assert "replace -f" not in roll and "kubectl apply" not in roll
        assert '--type json --field-manager "$FIELD_MANAGER"' in roll


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


def roll_steps(job: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The step recording the run's tag, and the steps patching the images (one per registry)."""
    steps = job["steps"]
    (record,) = [s for s in steps if "ssm put-parameter" in str(s.get("run", ""))]
    patches = [s for s in steps if "kubectl" in str(s.get("run", "")) and "patch" in str(s.get("run", ""))]
    return record, patches


@pytest.mark.parametrize(
    ("workflow", "job", "environment"), [(RELEASE, "roll-prod", "prod"), (STAGING, "integration-staging", "staging")]
)
def test_a_roll_out_records_its_tag_for_the_project_stack_before_it_patches_the_images(
    parsed: dict[str, Any], workflow: str, job: str, environment: str
) -> None:
    # The project stack builds its images with the recorded tag: the next `pulumi up` writes what
    # the roll-out wrote, even when the roll-out stops half-way.
    for project, files in parsed.items():
        steps = files[workflow]["jobs"][job]["steps"]
        record, patches = roll_steps(files[workflow]["jobs"][job])
        assert record["env"] == {
            "PARAMETER": f"mlrig/{project}/{environment}/release/rolled-image-tag",
            "TAG": "${{ github.sha }}",
        }
        assert patches and all(steps.index(record) < steps.index(p) for p in patches)
        for patch in patches:
            assert patch["env"]["FIELD_MANAGER"] == "mlrig-release"
            assert patch["env"]["TAG"] == record["env"]["TAG"]


def fake_kubectl(directory: Path, listing: dict[str, Any]) -> Path:
    """A `kubectl` that lists `listing` on `get` and logs every other call's arguments."""
    (directory / "listing.json").write_text(json.dumps(listing))
    script = directory / "kubectl"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'for arg in "$@"; do if [ "$arg" = get ]; then cat "$(dirname "$0")/listing.json"; exit 0; fi; done\n'
        'python3 -c \'import json, sys; print(json.dumps(sys.argv[1:]))\' "$@" >> "$(dirname "$0")/calls.log"\n'
    )
    script.chmod(0o755)
    return directory / "calls.log"


def json_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    """Apply `test` and `replace` operations (RFC 6902) to `document`, in place."""
    for operation in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if operation["op"] == "test":
            assert node[key] == operation["value"], operation
        else:
            assert operation["op"] == "replace"
            node[key] = operation["value"]


@pytest.mark.skipif(not (shutil.which("jq") and shutil.which("bash")), reason="needs jq and bash")
def test_a_roll_out_moves_exactly_the_images_of_its_repository_and_nothing_else(
    parsed: dict[str, Any], tmp_path: Path
) -> None:
    registry, repository = "111111111111.dkr.ecr.us-east-1.amazonaws.com", "fraud-detection/prod/training"
    mine, other = f"{registry}/{repository}", f"{registry}/fraud-detection/prod/serving"
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "train", "annotations": {"note": f"{mine}:old"}},
        "spec": {
            "templates": [
                {"name": "main", "dag": {"tasks": [{"name": "a", "template": "run"}]}},
                {"name": "run", "container": {"image": f"{mine}:old", "args": ["--step=run"]}},
                {"name": "serve", "container": {"image": f"{other}:old"}},
                {"name": "wait", "container": {"image": "busybox:1.36"}},
                {"name": "look-alike", "container": {"image": f"{mine}-two:old"}},
            ]
        },
    }
    server = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "scorer"},
        "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": f"{mine}:old"}]}},
        "status": {"image": f"{mine}:old"},
    }
    schedule = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "nightly"},
        "spec": {},
    }
    calls = fake_kubectl(tmp_path, {"kind": "List", "items": [template, server, schedule]})
    _, patches = roll_steps(parsed["fraud-detection"][RELEASE]["jobs"]["roll-prod"])
    (step,) = [p for p in patches if p["env"]["REPOSITORY"] == repository]
    environment = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", **step["env"]}
    environment.update(NAMESPACE="fraud-detection", REGISTRY=registry, TAG="abc123")
    subprocess.run(["bash", "-e", "-c", step["run"]], env=environment, check=True)

    patched = {"workflowtemplates.argoproj.io/train": template, "inferenceservices.serving.kserve.io/scorer": server}
    logged = [json.loads(line) for line in calls.read_text().splitlines()]
    assert sorted(call[call.index("patch") + 1] for call in logged) == sorted(patched)
    for call in logged:
        assert call[call.index("--type") + 1] == "json"
        assert call[call.index("--field-manager") + 1] == "mlrig-release"
        json_patch(patched[call[call.index("patch") + 1]], json.loads(call[call.index("--patch") + 1]))
    assert [t.get("container", {}).get("image") for t in template["spec"]["templates"]] == [
        None,
        f"{mine}:abc123",
        f"{other}:old",
        "busybox:1.36",
        f"{mine}-two:old",
    ]
    assert template["metadata"]["annotations"]["note"] == f"{mine}:old"
    assert server["spec"]["predictor"]["containers"][0]["image"] == f"{mine}:abc123"


def test_the_rolled_out_workflows_pass_zizmor_and_the_workflow_schema(
    project_workflows: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    written = []
    for project, files in project_workflows.items():
        for path in (RELEASE, STAGING):
            target = tmp_path / project / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[path])
            written.append(target)
    assert_workflows_pass_both_checkers(written)
