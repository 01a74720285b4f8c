"""MLRIG-DEP-006/007: alerts can reach their route; their metrics are scraped."""

from __future__ import annotations

from .helpers import findings, k8s, record

ROUTES = k8s(
    "AlertmanagerConfig",
    "monitoring.coreos.com/v1alpha1",
    "routes",
    {"route": {"receiver": "slack-0"}, "receivers": [{"name": "slack-0"}]},
)


def rule(expr: str, labels: dict | None = None):
    alert = {"alert": "Failed", "expr": expr, "labels": {"severity": "warning", **(labels or {})}}
    return k8s("PrometheusRule", "monitoring.coreos.com/v1", "alerts", {"groups": [{"name": "g", "rules": [alert]}]})


def test_an_alert_aggregating_the_namespace_away_never_matches_an_on_namespace_route():
    [found] = findings("MLRIG-DEP-006", ROUTES, rule("sum by (pipeline) (increase(failures[1h])) > 0"))
    assert 'namespace="demo"' in found.message


def test_an_alert_that_keeps_the_namespace_or_sets_it_reaches_its_route():
    assert findings("MLRIG-DEP-006", ROUTES, rule("sum by (namespace, pipeline) (increase(failures[1h])) > 0")) == []
    assert findings("MLRIG-DEP-006", ROUTES, rule("sum by (pipeline) (failures) > 0", {"namespace": "demo"})) == []
    assert findings("MLRIG-DEP-006", ROUTES, rule("up == 0")) == []


def test_a_platform_that_enforces_the_namespace_label_or_turns_the_matcher_off_passes():
    kps = record(
        "kubernetes:helm.sh/v3:Release",
        "kps",
        {
            "chart": "kube-prometheus-stack",
            "values": {"prometheus": {"prometheusSpec": {"enforcedNamespaceLabel": "namespace"}}},
        },
    )
    assert findings("MLRIG-DEP-006", ROUTES, rule("sum by (pipeline) (x) > 0"), context=(kps,)) == []


def workflow(metric: str = "mlrig_pipeline_failed"):
    return k8s(
        "WorkflowTemplate",
        "argoproj.io/v1alpha1",
        "train",
        {"metrics": {"prometheus": [{"name": metric, "counter": {"value": "1"}}]}, "templates": []},
    )


def argo(enabled: bool):
    values = {"controller": {"metricsConfig": {"enabled": enabled}, "serviceMonitor": {"enabled": enabled}}}
    return record("kubernetes:helm.sh/v3:Release", "argo", {"chart": "argo-workflows", "values": values})


EXPR = 'sum by (namespace) (increase({__name__=~"argo_workflows_mlrig_pipeline_failed(_total)?"}[1h])) > 0'


def test_an_alert_on_argo_metrics_fails_when_the_controller_is_not_scraped():
    [found] = findings("MLRIG-DEP-007", rule(EXPR), workflow(), context=(argo(False),))
    assert "not scraped" in found.message


def test_an_alert_on_a_metric_no_workflow_declares_fails():
    [found] = findings("MLRIG-DEP-007", rule(EXPR), workflow("other"), context=(argo(True),))
    assert "no WorkflowTemplate declares" in found.message


def test_declared_and_scraped_metrics_pass():
    monitor = k8s("PodMonitor", "monitoring.coreos.com/v1", "predictors", {})
    assert findings("MLRIG-DEP-007", rule(EXPR), workflow(), context=(argo(True),)) == []
    assert findings("MLRIG-DEP-007", rule("rate(http_requests_total[5m]) > 1"), monitor) == []
    assert findings("MLRIG-DEP-007", rule("rate(http_requests_total[5m]) > 1"))  # nothing scrapes demo


def test_metrics_the_platforms_monitoring_stack_scrapes_need_no_monitor_of_their_own():
    kps = record("kubernetes:helm.sh/v3:Release", "kps", {"chart": "kube-prometheus-stack", "values": {}})
    restarts = rule("increase(kube_pod_container_status_restarts_total[1h]) > 3")
    assert findings("MLRIG-DEP-007", restarts, context=(kps,)) == []
    assert findings("MLRIG-DEP-007", restarts)  # no monitoring stack visible, no monitor in the namespace


def test_a_gpu_alert_needs_the_dcgm_exporter_and_a_monitor_that_scrapes_it():
    idle = rule('DCGM_FI_DEV_GPU_UTIL{mlrig_namespace="demo"} < 5')
    release = record("kubernetes:helm.sh/v3:Release", "dcgm", {"chart": "dcgm-exporter", "values": {}})
    monitor = k8s(
        "PodMonitor",
        "monitoring.coreos.com/v1",
        "dcgm-exporter",
        {"selector": {"matchLabels": {"app.kubernetes.io/name": "dcgm-exporter"}}},
        namespace="kube-system",
    )
    assert findings("MLRIG-DEP-007", idle, context=(release, monitor)) == []
    [found] = findings("MLRIG-DEP-007", idle, context=(release,))
    assert "no DCGM exporter is scraped" in found.message
    kps = record("kubernetes:helm.sh/v3:Release", "kps", {"chart": "kube-prometheus-stack", "values": {}})
    assert findings("MLRIG-DEP-007", idle, context=(kps,))  # the platform is visible and runs no exporter
