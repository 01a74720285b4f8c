"""MLRIG-SEC-012: an alert on Argo's custom metrics reads series only its own namespace's workflows may write."""

from __future__ import annotations

from mlrig.checks import catalogue
from mlrig.project.workspace import workflow_metric_policy_spec

from .helpers import findings, k8s

ADMISSION = "admissionregistration.k8s.io/v1"
DRIFT = 'max by (pipeline) (argo_workflows_mlrig_drift_score{project="demo", environment="prod"}) > 0.3'


def rule(expr: str = DRIFT):
    groups = [{"name": "drift", "rules": [{"alert": "MlrigDataDrift", "expr": expr}]}]
    return k8s("PrometheusRule", "monitoring.coreos.com/v1", "mlrig-alerts", {"groups": groups})


def policy(spec=None):
    return k8s(
        "ValidatingAdmissionPolicy",
        ADMISSION,
        "demo--workflow-metrics",
        spec or workflow_metric_policy_spec("demo", "prod"),
        namespace=None,
    )


def binding(namespace: str = "demo", actions: tuple[str, ...] = ("Deny",)):
    spec = {
        "policyName": "demo--workflow-metrics",
        "validationActions": list(actions),
        "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
    }
    return k8s("ValidatingAdmissionPolicyBinding", ADMISSION, "demo--workflow-metrics", spec, namespace=None)


def test_an_alert_on_argo_metrics_without_a_policy_on_the_namespaces_workflows_is_reported():
    # Any team's Workflow could overwrite this drift gauge and silence the alert.
    [found] = findings("MLRIG-SEC-012", rule())
    assert "cronworkflows, workflows, workflowtemplates" in found.message


def test_a_policy_that_only_warns_or_is_bound_elsewhere_does_not_guard():
    assert findings("MLRIG-SEC-012", rule(), policy(), binding(actions=("Warn", "Audit")))
    assert findings("MLRIG-SEC-012", rule(), policy(), binding(namespace="other"))


def test_a_policy_missing_a_kind_is_reported_for_that_kind():
    spec = workflow_metric_policy_spec("demo", "prod")
    spec["matchConstraints"]["resourceRules"][0]["resources"] = ["workflows", "workflowtemplates"]
    [found] = findings("MLRIG-SEC-012", rule(), policy(spec), binding())
    assert "cronworkflows" in found.message and "workflowtemplates" not in found.message


def test_an_alert_guarded_by_the_namespaces_workflow_metrics_policy_passes():
    assert findings("MLRIG-SEC-012", rule(), policy(), binding()) == []


def test_an_alert_on_other_metrics_needs_no_workflow_policy():
    assert findings("MLRIG-SEC-012", rule('DCGM_FI_DEV_GPU_UTIL{mlrig_namespace="demo"} < 5')) == []


def test_an_unguarded_alert_fails_the_plan():
    assert catalogue()["MLRIG-SEC-012"].enforcement == "mandatory"
