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


# --- MLRIG-DEP-014: the series an alert selects exist on what the namespace's monitors scrape ---

PREDICTOR_MONITOR = k8s(
    "PodMonitor",
    "monitoring.coreos.com/v1",
    "predictors",
    {
        "selector": {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]},
        "podMetricsEndpoints": [{"portNumber": 8080, "relabelings": [{"targetLabel": "inference_service"}]}],
    },
)


def vllm_endpoint():
    model = {"modelFormat": {"name": "huggingface"}, "args": ["--backend=vllm", "--model_name=llm"]}
    return k8s("InferenceService", "serving.kserve.io/v1beta1", "llm", {"predictor": {"model": model}})


def custom_endpoint():
    containers = [{"name": "kserve-container", "image": "123.dkr.ecr.us-east-1.amazonaws.com/demo/prod/serving:1"}]
    return k8s("InferenceService", "serving.kserve.io/v1beta1", "api", {"predictor": {"containers": containers}})


FIVE_XX = 'sum by (namespace, inference_service) (rate(http_requests_total{namespace="demo", status="5xx"}[5m])) > 0'


def test_an_error_rate_on_a_counter_vllm_never_exports_is_caught():
    # vLLM counts no requests by HTTP status: the custom server's 5xx alert would select nothing.
    [found] = findings("MLRIG-DEP-014", rule(FIVE_XX), PREDICTOR_MONITOR, vllm_endpoint())
    assert "http_requests_total" in found.message and "no server" in found.message
    assert findings("MLRIG-DEP-014", rule(FIVE_XX), PREDICTOR_MONITOR, custom_endpoint()) == []


def test_a_label_the_exporter_never_sets_is_caught():
    errors = rule('rate(vllm:request_success_total{namespace="demo", finished_reason="error", status="5xx"}[5m]) > 0')
    [found] = findings("MLRIG-DEP-014", errors, PREDICTOR_MONITOR, vllm_endpoint())
    assert "no label status" in found.message
    relabelled = rule('rate(vllm:request_success_total{inference_service="llm", finished_reason="abort"}[5m]) > 0')
    assert findings("MLRIG-DEP-014", relabelled, PREDICTOR_MONITOR, vllm_endpoint()) == []


def gateway(callbacks: list[str]):
    config = "model_list: []\nlitellm_settings:\n  callbacks: " + str(callbacks).replace("'", '"') + "\n"
    config_map = k8s("ConfigMap", "v1", "llm-gateway", {})
    config_map["inputs"]["data"] = {"config.yaml": config}
    pod = {
        "metadata": {"labels": {"app.kubernetes.io/name": "llm-gateway"}},
        "spec": {
            "containers": [{"name": "litellm", "image": "ghcr.io/berriai/litellm:v1.83.10-stable"}],
            "volumes": [{"name": "config", "configMap": {"name": "llm-gateway"}}],
        },
    }
    deployment = k8s("Deployment", "apps/v1", "llm-gateway", {"template": pod})
    monitor = k8s(
        "PodMonitor",
        "monitoring.coreos.com/v1",
        "gateway",
        {"selector": {"matchLabels": {"app.kubernetes.io/name": "llm-gateway"}}, "podMetricsEndpoints": [{}]},
    )
    return config_map, deployment, monitor


GATEWAY_5XX = rule(
    'sum by (namespace) (rate(litellm_proxy_total_requests_metric_total{namespace="demo", '
    'requested_model="llm", status_code=~"5.."}[5m])) > 0'
)


def test_the_gateways_request_counter_exists_only_with_its_prometheus_callback():
    assert findings("MLRIG-DEP-014", GATEWAY_5XX, *gateway(["prometheus"])) == []
    [found] = findings("MLRIG-DEP-014", GATEWAY_5XX, *gateway([]))
    assert "LiteLLM proxy without its prometheus callback" in found.message


def test_kube_state_metrics_series_are_selected_on_their_own_labels():
    kps = record("kubernetes:helm.sh/v3:Release", "kps", {"chart": "kube-prometheus-stack", "values": {}})
    good = rule('kube_deployment_spec_replicas{namespace="demo", deployment=~"llm-predictor"} > 0')
    assert findings("MLRIG-DEP-014", good, context=(kps,)) == []
    [found] = findings(
        "MLRIG-DEP-014", rule('kube_deployment_spec_replicas{inference_service="llm"} > 0'), context=(kps,)
    )
    assert "no label inference_service" in found.message


def test_servers_mlrig_cannot_identify_get_no_verdict():
    unknown = k8s("Deployment", "apps/v1", "app", {"template": {"metadata": {"labels": {"app": "x"}}}})
    monitor = k8s("PodMonitor", "monitoring.coreos.com/v1", "app", {"selector": {"matchLabels": {"app": "x"}}})
    assert findings("MLRIG-DEP-014", rule(FIVE_XX), unknown, monitor) == []
