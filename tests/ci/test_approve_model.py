"""A prod model release with `approval: manual` waits at its `approval` step until one of the
project's prod approvers decides in GitHub: `mlrig-approve-model.yml` runs in the `prod`
environment (whose required reviewers are the admitted prod approvers), assumes the ci-deployer
role (the only identity that may change a Workflow in prod) and resumes or stops the step the way
`argo resume` / `argo stop --node-field-selector displayName=approval` do."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.ci import actions
from mlrig.ci.render import APPROVAL_STEP, render_project_workflows
from mlrig.platform.addons import argo_values
from mlrig.project.workspace import CLUSTER_ROLES

from .checkers import assert_workflows_pass_both_checkers
from .conftest import parse, write_files
from .test_platform_workflows import runs, steps_using

APPROVE = ".github/workflows/mlrig-approve-model.yml"


@pytest.fixture(scope="module")
def approve(project_workflows: dict[str, dict[str, str]]) -> dict[str, Any]:
    return parse(project_workflows["fraud-detection"][APPROVE])


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("name", "").startswith(name))


def with_approval(example_result: ValidationResult, approval: str) -> Any:
    """fraud-detection with every environment's `modelDeployment.approval` set to `approval`."""
    project = example_result.projects["fraud-detection"]
    environments = {}
    for name, env in project.environments.items():
        settings = env.spec.model_deployment.model_copy(update={"approval": approval})
        spec = env.spec.model_copy(update={"model_deployment": settings})
        environments[name] = dataclasses.replace(env, spec=spec)
    return dataclasses.replace(project, environments=environments)


def test_every_manual_approval_project_gets_a_workflow_to_approve_its_prod_model_releases(
    project_workflows: dict[str, dict[str, str]],
) -> None:
    for project, files in project_workflows.items():
        assert APPROVE in files, f"{project}: its prod model releases would wait for an approval nobody can give"


def test_a_project_that_promotes_automatically_gets_no_approval_workflow(example_result: ValidationResult) -> None:
    assert APPROVE in render_project_workflows(with_approval(example_result, "manual"))
    assert APPROVE not in render_project_workflows(with_approval(example_result, "automatic"))


def test_the_approval_workflow_passes_zizmor_and_the_github_workflow_schema(
    tmp_path: Path, project_workflows: dict[str, dict[str, str]]
) -> None:
    files = {
        path: text for workflows in project_workflows.values() for path, text in workflows.items() if path == APPROVE
    }
    written = []
    for index, (path, text) in enumerate(files.items()):
        written += write_files(tmp_path / str(index), {path: text})
    assert_workflows_pass_both_checkers(written)


def test_only_the_prod_environments_reviewers_let_the_ci_deployer_decide(approve: dict[str, Any]) -> None:
    """Dispatched by hand; the job waits for the `prod` environment's required reviewers (the
    admitted prod approvers), then holds the prod ci-deployer role through OIDC, nothing more."""
    assert set(approve["on"]) == {"workflow_dispatch"}
    inputs = approve["on"]["workflow_dispatch"]["inputs"]
    assert inputs["workflow"]["type"] == "string" and inputs["workflow"]["required"] is True
    assert inputs["decision"]["options"] == ["approve", "reject"]
    assert approve["permissions"] == {}
    (job,) = approve["jobs"].values()
    assert job["environment"] == "prod"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    (assume,) = steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS)
    assert assume["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}", "the prod environment's ci-deployer"
    assert "aws eks update-kubeconfig" in runs(job)


def test_the_workflow_name_reaches_the_scripts_only_through_env_and_is_checked_first(approve: dict[str, Any]) -> None:
    (job,) = approve["jobs"].values()
    assert "${{" not in runs(job), "no input is interpolated into a script"
    check = job["steps"][0]
    assert check["name"] == "Check the request", "checked before any credentials exist"
    assert check["env"] == {"WORKFLOW": "${{ inputs.workflow }}", "DECISION": "${{ inputs.decision }}"}
    decide = step(job, "Resume or stop")
    assert decide["env"]["WORKFLOW"] == "${{ inputs.workflow }}" and decide["env"]["STEP"] == APPROVAL_STEP


def run_script(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "name",
    [
        "model-deployment-x7k2p",
        "a",
        "release.v2",
        "a" * 253,
    ],
)
def test_a_kubernetes_name_is_accepted(approve: dict[str, Any], tmp_path: Path, name: str) -> None:
    (job,) = approve["jobs"].values()
    check = job["steps"][0]["run"]
    assert run_script(check, {"WORKFLOW": name, "DECISION": "approve"}, tmp_path).returncode == 0


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Model-Deployment",
        "-leading-dash",
        "trailing-dash-",
        "two..dots",
        "dash-.dot",
        "x; kubectl delete ns prod",
        "$(id)",
        "ok\n::set-output name=x::y",
        "a" * 254,
    ],
)
def test_anything_else_stops_the_job_before_it_holds_credentials(
    approve: dict[str, Any], tmp_path: Path, name: str
) -> None:
    (job,) = approve["jobs"].values()
    done = run_script(job["steps"][0]["run"], {"WORKFLOW": name, "DECISION": "approve"}, tmp_path)
    assert done.returncode == 1 and "::error::" in done.stdout
    assert name.strip() == "" or name not in done.stdout, "the rejected value is never echoed (workflow commands)"


def test_a_decision_other_than_approve_or_reject_is_refused(approve: dict[str, Any], tmp_path: Path) -> None:
    (job,) = approve["jobs"].values()
    done = run_script(job["steps"][0]["run"], {"WORKFLOW": "wf", "DECISION": "maybe"}, tmp_path)
    assert done.returncode == 1


# --- the decision itself, against a fake kubectl holding one Workflow ---------------------------------

FAKE_KUBECTL = """#!/bin/bash
# get: print the stored Workflow; replace: store the file given, or fail once with a conflict.
case "$3" in
  get) cat "$STORE/workflow.json" ;;
  replace)
    if [ -f "$STORE/conflict" ]; then
      rm "$STORE/conflict"
      echo 'Operation cannot be fulfilled on workflows.argoproj.io "wf": the object has been modified' >&2
      exit 1
    fi
    cp "$5" "$STORE/workflow.json"; echo "$@" >> "$STORE/calls" ;;
esac
"""


def waiting_workflow() -> dict[str, Any]:
    """A model-deployment Workflow whose `approval` step waits (as the controller records it)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf", "namespace": "fraud-detection--prod", "resourceVersion": "42"},
        "spec": {"workflowTemplateRef": {"name": "release"}},
        "status": {
            "phase": "Running",
            "nodes": {
                "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "DAG", "phase": "Running"},
                "wf-1": {
                    "id": "wf-1",
                    "name": "wf.compare",
                    "displayName": "compare",
                    "type": "Pod",
                    "phase": "Succeeded",
                },
                "wf-2": {
                    "id": "wf-2",
                    "name": "wf.approval",
                    "displayName": APPROVAL_STEP,
                    "type": "Suspend",
                    "phase": "Running",
                    "templateName": "approval",
                },
            },
        },
    }


def decide(
    approve: dict[str, Any], tmp_path: Path, workflow: dict[str, Any], decision: str, *, conflict: bool = False
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    (job,) = approve["jobs"].values()
    decide_step = step(job, "Resume or stop")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    (tmp_path / "workflow.json").write_text(json.dumps(workflow))
    if conflict:
        (tmp_path / "conflict").touch()
    work = tmp_path / "work"
    work.mkdir()
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STORE": str(tmp_path),
        "NAMESPACE": "fraud-detection--prod",
        "WORKFLOW": "wf",
        "DECISION": decision,
        "STEP": decide_step["env"]["STEP"],
        "RUN_URL": "https://github.com/acme/fraud-detection/actions/runs/7",
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", decide_step["run"]],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    return done, json.loads((tmp_path / "workflow.json").read_text())


def test_an_approval_marks_the_waiting_step_succeeded_so_the_release_goes_on_to_promote(
    approve: dict[str, Any], tmp_path: Path
) -> None:
    done, stored = decide(approve, tmp_path, waiting_workflow(), "approve")
    assert done.returncode == 0, done.stderr + done.stdout
    node = stored["status"]["nodes"]["wf-2"]
    assert node["phase"] == "Succeeded" and node["finishedAt"].endswith("Z")
    assert node["message"] == "approved in GitHub: https://github.com/acme/fraud-detection/actions/runs/7"
    assert stored["metadata"]["resourceVersion"] == "42", "an update that fails on a concurrent change"
    assert stored["status"]["nodes"]["wf-1"] == waiting_workflow()["status"]["nodes"]["wf-1"]
    assert "replace --filename decided.json" in (tmp_path / "calls").read_text()


def test_a_rejection_marks_the_waiting_step_failed_so_the_release_stops(
    approve: dict[str, Any], tmp_path: Path
) -> None:
    done, stored = decide(approve, tmp_path, waiting_workflow(), "reject")
    assert done.returncode == 0, done.stderr + done.stdout
    assert stored["status"]["nodes"]["wf-2"]["phase"] == "Failed"
    assert stored["status"]["nodes"]["wf-2"]["message"].startswith("rejected in GitHub")


def test_a_concurrent_change_is_retried_on_the_fresh_workflow(approve: dict[str, Any], tmp_path: Path) -> None:
    done, stored = decide(approve, tmp_path, waiting_workflow(), "approve", conflict=True)
    assert done.returncode == 0, done.stderr + done.stdout
    assert stored["status"]["nodes"]["wf-2"]["phase"] == "Succeeded"


def test_a_workflow_with_no_waiting_approval_is_left_alone(approve: dict[str, Any], tmp_path: Path) -> None:
    decided = waiting_workflow()
    decided["status"]["nodes"]["wf-2"]["phase"] = "Succeeded"
    done, stored = decide(approve, tmp_path, decided, "reject")
    assert done.returncode == 1 and "no approval step waiting" in done.stdout
    assert stored == decided and not (tmp_path / "calls").exists()


def test_a_compressed_node_status_is_refused_rather_than_overwritten(approve: dict[str, Any], tmp_path: Path) -> None:
    compressed = waiting_workflow()
    compressed["status"] = {"phase": "Running", "compressedNodes": "H4sI..."}
    done, stored = decide(approve, tmp_path, compressed, "approve")
    assert done.returncode == 1 and stored == compressed


def test_the_step_the_workflow_resumes_is_the_suspend_step_of_the_prod_model_deployment_pipeline(
    project_plan: Callable[[str, str], Any],
) -> None:
    """The contract with `mlrig.project.pipelines`: the DAG task that suspends is `APPROVAL_STEP`
    (a DAG task's node carries the task's name as its displayName)."""
    plan = project_plan("fraud-detection", "prod")
    templates = [
        r["inputs"]
        for r in plan.resources
        if r["type"].startswith("kubernetes:") and r["inputs"].get("kind") == "WorkflowTemplate"
    ]
    suspending = []
    for template in templates:
        by_name = {t["name"]: t for t in template["spec"]["templates"]}
        for t in by_name.values():
            for task in t.get("dag", {}).get("tasks", []):
                if "suspend" in by_name.get(task["template"], {}):
                    suspending.append(task["name"])
    assert suspending == [APPROVAL_STEP]


def test_the_prod_ci_deployer_may_update_workflows_through_argos_admin_aggregation() -> None:
    """The decision is a `get` and an `update` of the Workflow. The prod ci-deployer's access entry
    puts it in a group bound to `admin` in the namespace, and the argo-workflows chart (0.45.15)
    aggregates create/delete/get/list/patch/update/watch on workflows.argoproj.io into `admin`
    while `createAggregateRoles` keeps its default, true: mlrig must not turn it off."""
    assert CLUSTER_ROLES["prod"]["ci-deployer"] == "admin"
    for service_monitor in (True, False):
        assert argo_values(service_monitor=service_monitor).get("createAggregateRoles", True) is True
