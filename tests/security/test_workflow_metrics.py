"""A team's workflows cannot speak for another team's metrics.

Argo's controller serves the custom metrics of every namespace's workflows as one set of series,
labelled only as each metric's definition says, and each project's alerts select their series by
`project` and `environment`. A data scientist in dev may create Workflows (Argo aggregates its
kinds into `edit`), so without a guard one team's Workflow could label its gauge
`project=<another team>, environment=prod` and overwrite that team's drift or quality score
(silencing its alert), or raise its failure counter (paging its prod on-call). The namespace's
admission policy, evaluated here by an independent CEL implementation, admits mlrig's own
workflows and refuses a metric labelled for anyone else."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .admission import named, objects, passes

POLICY = "fraud-detection--workflow-metrics"


def gauge(project: str = "fraud-detection", environment: str = "dev", **extra: str) -> dict[str, Any]:
    labels = [{"key": "project", "value": project}, {"key": "environment", "value": environment}]
    labels += [{"key": k, "value": v} for k, v in extra.items()]
    return {"name": "mlrig_drift_score", "help": "drift", "labels": labels, "gauge": {"value": "0"}}


def workflow(*, top: list | None = None, template: list | None = None, kind: str = "Workflow") -> dict[str, Any]:
    step: dict[str, Any] = {"name": "main", "container": {"image": "busybox"}}
    if template is not None:
        step["metrics"] = {"prometheus": template}
    spec: dict[str, Any] = {"entrypoint": "main", "templates": [step]}
    if top is not None:
        spec["metrics"] = {"prometheus": top}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": kind, "metadata": {"generateName": "x-"}, "spec": spec}


def test_the_policy_guards_every_workflow_kind_of_the_projects_namespace(dev_plan, policy):
    binding = named(dev_plan, "ValidatingAdmissionPolicyBinding", POLICY)["spec"]
    assert binding["policyName"] == POLICY and binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "fraud-detection"
    }
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["argoproj.io"]
    assert sorted(rule["resources"]) == ["cronworkflows", "workflows", "workflowtemplates"]
    assert policy["spec"]["failurePolicy"] == "Fail"


@pytest.mark.parametrize(("project", "environment"), [("fraud-detection", "dev"), ("rag-assistant", "prod")])
def test_mlrigs_own_workflows_pass(project_plan, project, environment):
    plan = project_plan(project, environment)
    (policy,) = [
        p for p in objects(plan, "ValidatingAdmissionPolicy") if p["metadata"]["name"].endswith("workflow-metrics")
    ]
    own = [*objects(plan, "WorkflowTemplate"), *objects(plan, "CronWorkflow")]
    assert own and any("metrics" in str(o["spec"]) for o in own)
    for obj in own:
        assert passes(policy, obj), obj["metadata"]["name"]


def test_a_workflow_with_its_own_labels_or_no_metrics_passes(policy):
    assert passes(policy, workflow(top=[gauge()], template=[gauge(method="psi")]))
    assert passes(policy, workflow())
    submitted = {"kind": "Workflow", "spec": {"workflowTemplateRef": {"name": "train"}}}
    assert passes(policy, submitted)


def test_a_team_cannot_overwrite_another_teams_prod_drift_score(policy):
    # The attack: a dev data scientist of fraud-detection silences rag-assistant's prod drift alert.
    assert not passes(policy, workflow(template=[gauge("rag-assistant", "prod")]))
    assert not passes(policy, workflow(top=[gauge("rag-assistant", "prod")]))


def test_dev_cannot_speak_for_its_own_projects_prod(policy):
    assert not passes(policy, workflow(template=[gauge("fraud-detection", "prod")]))


@pytest.mark.parametrize(
    "labels",
    [
        [],  # no labels: the alerts would not see it, and nothing says whose it is
        [{"key": "project", "value": "fraud-detection"}],
        [
            {"key": "project", "value": "fraud-detection"},
            {"key": "project", "value": "rag-assistant"},
            {"key": "environment", "value": "dev"},
        ],
        [
            {"key": "project", "value": "{{workflow.parameters.team}}"},
            {"key": "environment", "value": "dev"},
        ],
    ],
)
def test_a_metric_not_labelled_exactly_with_its_own_project_is_refused(policy, labels):
    metric = {"name": "mlrig_quality", "help": "q", "labels": labels, "gauge": {"value": "1"}}
    assert not passes(policy, workflow(template=[metric]))


def test_metrics_in_inline_templates_and_template_defaults_are_held_too(policy):
    foreign = gauge("rag-assistant", "prod")
    inline = {"name": "x", "inline": {"container": {"image": "busybox"}, "metrics": {"prometheus": [foreign]}}}
    in_steps = workflow()
    in_steps["spec"]["templates"].append({"name": "steps", "steps": [[inline]]})
    assert not passes(policy, in_steps)
    in_dag = workflow()
    in_dag["spec"]["templates"].append({"name": "dag", "dag": {"tasks": [inline]}})
    assert not passes(policy, in_dag)
    defaults = workflow()
    defaults["spec"]["templateDefaults"] = {"metrics": {"prometheus": [foreign]}}
    assert not passes(policy, defaults)
    mine = copy.deepcopy(in_steps)
    mine["spec"]["templates"][1]["steps"][0][0]["inline"]["metrics"]["prometheus"] = [gauge()]
    assert passes(policy, mine)


def test_a_cron_workflow_is_held_like_a_workflow(policy):
    spoofed = {
        "kind": "CronWorkflow",
        "spec": {"schedule": "* * * * *", "workflowSpec": workflow(template=[gauge("rag-assistant", "prod")])["spec"]},
    }
    assert not passes(policy, spoofed)
    own = copy.deepcopy(spoofed)
    own["spec"]["workflowSpec"] = workflow(template=[gauge()])["spec"]
    assert passes(policy, own)
