"""Alerts: pipeline failures, serving latency and errors over the bundle's thresholds, drift over
its threshold, routed to the bundle's channels; and nothing built on a disabled add-on."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from mlrig import naming

from .conftest import named, objects


def rules(plan) -> dict[str, dict]:
    rule = named(plan, "PrometheusRule", "mlrig-alerts")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_serving_alerts_use_the_bundles_latency_and_error_thresholds(project_plan):
    alerts = rules(project_plan("fraud-detection", "prod"))
    assert alerts["MlrigServingLatencyHigh"]["expr"].endswith("> 200")
    assert "http_request_duration_seconds_bucket" in alerts["MlrigServingLatencyHigh"]["expr"]
    assert 'namespace="fraud-detection"' in alerts["MlrigServingLatencyHigh"]["expr"]
    assert alerts["MlrigServingErrorRateHigh"]["expr"].endswith("> 0.01")
    assert alerts["MlrigServingLatencyHigh"]["labels"]["severity"] == "critical"


def test_drift_alerts_fire_over_the_drift_threshold_on_the_published_metric(project_plan):
    alerts = rules(project_plan("rag-assistant", "staging"))
    expr = alerts["MlrigDataDrift"]["expr"]
    assert "argo_workflows_mlrig_drift_score" in expr and expr.endswith("> 0.3")


def test_pipeline_failures_alert_on_the_failure_counter_of_the_environment(project_plan):
    expr = rules(project_plan("fraud-detection", "staging"))["MlrigPipelineFailed"]["expr"]
    assert "mlrig_pipeline_failed" in expr and 'environment="staging"' in expr and 'project="fraud-detection"' in expr


def test_predictor_pods_are_scraped(project_plan):
    monitor = named(project_plan("fraud-detection", "prod"), "PodMonitor", "mlrig-predictors")["spec"]
    assert monitor["selector"]["matchExpressions"][0]["key"] == "serving.kserve.io/inferenceservice"


def test_a_teams_servers_cannot_grow_the_shared_prometheus_without_bound(project_plan):
    # The model servers run the team's images, and the gateway labels its counters with the model
    # and user each caller names: every scrape of them is bounded, so one team's /metrics cannot
    # take down the Prometheus every team's alerts run on.
    from mlrig.tenancy import SCRAPE_LIMITS

    plan = project_plan("rag-assistant", "prod")
    monitors = {o["metadata"]["name"]: o["spec"] for o in objects(plan, "PodMonitor")}
    assert set(monitors) == {"mlrig-predictors", "mlrig-gateway"}
    for spec in monitors.values():
        assert {k: spec.get(k) for k in SCRAPE_LIMITS} == SCRAPE_LIMITS
        assert "namespaceSelector" not in spec


def test_alerts_are_routed_to_the_bundles_channels(project_plan):
    slack = named(project_plan("fraud-detection", "prod"), "AlertmanagerConfig", "mlrig-alert-routes")["spec"]
    (receiver,) = slack["receivers"]
    assert receiver["slackConfigs"][0]["channel"] == "#fraud-ml-alerts"
    assert slack["route"]["receiver"] == receiver["name"]
    pagerduty = named(project_plan("rag-assistant", "prod"), "AlertmanagerConfig", "mlrig-alert-routes")["spec"]
    assert pagerduty["receivers"][0]["pagerdutyConfigs"][0]["routingKey"]["name"] == "alert-routes"
    secret = named(project_plan("rag-assistant", "prod"), "ExternalSecret", "alert-routes")["spec"]
    assert secret["data"] == [
        {"secretKey": "route-0", "remoteRef": {"key": "mlrig/rag-assistant/prod/alerts/genai-oncall"}}
    ]


def without_workloads(project):
    """The project without what needs Argo or KServe: validation refuses pipelines, endpoints and
    a model hub where the platform does not run their engine (as it refuses pools without Karpenter)."""
    for key in ("pipelines", "serving", "environments"):
        project["spec"].pop(key, None)
    project["spec"].get("monitoring", {}).pop("retrainOnDrift", None)


def test_nothing_is_built_on_add_ons_the_platform_does_not_install(plan_variant):
    def without_engines(platform):
        for addon in ("argoWorkflows", "kserve", "monitoring"):
            platform["spec"]["cluster"]["addons"][addon] = {"enabled": False}

    def without_alertmanager_routes(project):
        without_workloads(project)  # and routes only CloudWatch's alarms reach (validation refuses the others)
        project["spec"]["monitoring"]["alerts"] = [{"type": "email", "target": "ml-oncall@example.com"}]
        del project["spec"]["monitoring"]["gpuIdle"]  # an alert on metrics nothing scrapes: refused too

    plan = plan_variant("fraud-detection", without_alertmanager_routes, "dev", platform_edit=without_engines)
    for kind in ("WorkflowTemplate", "CronWorkflow", "InferenceService", "PrometheusRule", "AlertmanagerConfig"):
        assert not objects(plan, kind), kind
    assert named(plan, "Deployment", "mlflow")
    assert named(plan, "NetworkPolicy", "default-deny")


def test_without_argo_or_kserve_no_alert_watches_pipelines_or_endpoints_that_were_never_made(plan_variant):
    """An alert on the metrics of a pipeline or endpoint that does not exist could never fire
    (MLRIG-DEP-007 reports it): where the platform does not run their engine, the alerts go too."""

    def without_engines(platform):
        for addon in ("argoWorkflows", "kserve"):
            platform["spec"]["cluster"]["addons"][addon] = {"enabled": False}

    plan = plan_variant("fraud-detection", without_workloads, "dev", platform_edit=without_engines)
    [rules] = objects(plan, "PrometheusRule")
    groups = [g["name"].rsplit(".", 1)[-1] for g in rules["spec"]["groups"]]
    assert not {"pipelines", "drift", "serving"} & set(groups), groups


def test_a_webhook_route_takes_its_url_from_secrets_manager_never_from_the_bundle(plan_variant):
    # F9: the webhook URL (token included) was written in plain text into the AlertmanagerConfig.
    target = "https://hooks.acme.example/alerts/fraud"

    def webhook(project):
        project["spec"]["monitoring"]["alerts"] = [{"type": "webhook", "target": target}]

    plan = plan_variant("fraud-detection", webhook, "prod")
    routes = named(plan, "AlertmanagerConfig", "mlrig-alert-routes")["spec"]
    (receiver,) = routes["receivers"]
    assert receiver["webhookConfigs"] == [
        {"urlSecret": {"name": "alert-routes", "key": "route-0"}, "sendResolved": True}
    ]
    assert "hooks.acme.example" not in json.dumps(routes)
    secret = naming.ProjectNames("fraud-detection", "prod", "333333333333", "us-east-1", "account").secret(
        naming.alert_route_secret("webhook", target)
    )
    (external,) = [o for o in objects(plan, "ExternalSecret") if o["metadata"]["name"] == "alert-routes"]
    assert external["spec"]["data"] == [{"secretKey": "route-0", "remoteRef": {"key": secret}}]
    created = {s["inputs"]["name"] for s in plan.of_type("aws:secretsmanager/secret:Secret")}
    assert secret in created and secret.startswith("mlrig/fraud-detection/prod/alerts/webhook-")


def all_rules(plan) -> list[dict]:
    rule = named(plan, "PrometheusRule", "mlrig-alerts")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


@pytest.mark.parametrize(("project", "environment"), [("fraud-detection", "prod"), ("rag-assistant", "dev")])
def test_every_alert_carries_the_namespace_its_routes_match(project_plan, project, environment):
    """The platform's Alertmanager matches an AlertmanagerConfig only on alerts labelled with its
    namespace (OnNamespace): rules that aggregated `namespace` away were never routed anywhere."""
    plan = project_plan(project, environment)
    namespace = named(plan, "AlertmanagerConfig", "mlrig-alert-routes")["metadata"]["namespace"]
    for rule in all_rules(plan):
        assert rule["labels"]["namespace"] == namespace, rule["alert"]
        for grouping in re.findall(r"by \(([^)]*)\)", rule["expr"]):
            if "inference_service" in grouping:  # series scraped in the project's namespace keep it
                assert "namespace" in [g.strip() for g in grouping.split(",")], rule["expr"]


def test_the_metrics_alerts_query_are_the_ones_the_pipelines_emit(project_plan):
    """Argo serves a template's custom metric `<name>` as `argo_workflows_<name>`."""
    plan = project_plan("rag-assistant", "staging")
    emitted = set()
    for template in objects(plan, "WorkflowTemplate"):
        emitted |= {m["name"] for m in template["spec"].get("metrics", {}).get("prometheus", [])}
        for step in template["spec"]["templates"]:
            emitted |= {m["name"] for m in step.get("metrics", {}).get("prometheus", [])}
    queried = set()
    for rule in all_rules(plan):
        queried |= set(re.findall(r"argo_workflows_(mlrig_[a-z_]+?)(?:\(_total\)\?|\{|\")", rule["expr"]))
    assert queried == {"mlrig_pipeline_failed", "mlrig_drift_score", "mlrig_quality"}
    assert queried <= emitted


def test_an_idle_gpu_of_the_projects_pools_raises_an_alert_after_the_bundles_period(project_plan):
    alert = rules(project_plan("fraud-detection", "prod"))["MlrigGpuIdle"]
    # the GPU's project comes from its node's labels (the platform's DCGM PodMonitor relabels them)
    assert alert["expr"] == 'DCGM_FI_DEV_GPU_UTIL{mlrig_namespace="fraud-detection"} < 5'
    assert alert["for"] == "60m"
    assert alert["labels"]["namespace"] == "fraud-detection"  # what the project's routes match


def test_a_project_without_gpu_pools_gets_no_gpu_alert(plan_variant):
    def cpu_only(project: dict) -> None:
        spec = project["spec"]
        spec["compute"]["pools"] = [spec["compute"]["pools"][0]]
        spec["pipelines"]["train"]["pool"] = "cpu-batch"
        spec["pipelines"]["train"]["resources"] = {"cpu": "4", "memory": "16Gi"}
        spec["environments"].pop("dev")
        spec["environments"]["prod"].pop("compute")

    assert "MlrigGpuIdle" not in rules(plan_variant("fraud-detection", cpu_only, "prod"))


def scaffolded(tmp_path, monkeypatch, module: str):
    """A module of the application `mlrig init` scaffolds (`serve`, `steps`), importable, over a
    team's `pipelines.py` that predicts 0 and measures every quality metric at 0.5."""
    import importlib

    from mlrig.init.templates import render

    name = f"demo_app_{module}"  # one package per module: a package imported once stays imported
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "pipelines.py").write_text(
        "def predict(instances):\n    return [0 for _ in instances]\n\n\n"
        "def quality_metric(name, params):\n    return 0.5\n"
    )
    (package / f"{module}.py").write_text(render(f"app/{module}.py.j2", app=None))
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(f"{name}.{module}")


def scaffolded_server(tmp_path, monkeypatch):
    return scaffolded(tmp_path, monkeypatch, "serve")


def test_the_server_mlrig_init_scaffolds_exports_the_metrics_custom_endpoint_alerts_read(tmp_path, monkeypatch):
    # It exported nothing: the latency and error alerts never fired, KEDA saw no load.
    from mlrig.observability import CUSTOM_SERVER

    serve = scaffolded_server(tmp_path, monkeypatch)
    metrics = serve.Metrics()
    metrics.observe(0.02, 200)
    metrics.observe(3.0, 503)
    text = metrics.render()
    assert f'{CUSTOM_SERVER.latency}_bucket{{le="0.025"}} 1' in text
    assert f'{CUSTOM_SERVER.latency}_bucket{{le="+Inf"}} 2' in text
    assert f"{CUSTOM_SERVER.latency}_sum 3.02" in text
    assert (
        f'{CUSTOM_SERVER.requests}{{status="5xx"}} 1' in text and f'{CUSTOM_SERVER.requests}{{status="2xx"}} 1' in text
    )


def test_each_endpoint_alerts_and_scales_on_the_histogram_its_model_server_exports(project_plan):
    # KServe's servers export request_predict_seconds, vLLM vllm:e2e_request_latency_seconds: an
    # alert on http_request_duration_seconds alone never fired for them.
    plan = project_plan("rag-assistant", "prod")
    expr = rules(plan)["MlrigServingLatencyHigh"]["expr"]
    assert "vllm:e2e_request_latency_seconds_bucket" in expr  # llm (vLLM)
    assert "http_request_duration_seconds_bucket" in expr  # assistant-api (the project's server)
    queries = {
        i["metadata"]["name"]: i["spec"]["predictor"]["autoScaling"]["metrics"][0]["external"]["metric"]["query"]
        for i in objects(plan, "InferenceService")
    }
    assert "vllm:e2e_request_latency_seconds_sum" in queries["llm-canary"]
    assert "http_request_duration_seconds_sum" in queries["assistant-api-a"]


def test_a_built_in_runtime_alerts_on_kserves_request_histogram_and_no_error_rate_is_invented(plan_variant):
    def sklearn(project):
        endpoint = project["spec"]["serving"]["endpoints"][0]
        endpoint["runtime"] = "sklearn"
        endpoint.pop("image")

    alerts = rules(plan_variant("fraud-detection", sklearn, "prod"))
    assert "request_predict_seconds_bucket" in alerts["MlrigServingLatencyHigh"]["expr"]
    assert "MlrigServingErrorRateHigh" not in alerts  # KServe's server counts no requests by status


def test_a_built_in_runtime_alerts_when_its_endpoint_has_no_ready_replica(plan_variant):
    # KServe's python runtimes count no failed requests: an endpoint whose predictors are all down
    # (every request fails) is the failure mlrig can see, from kube-state-metrics.
    def sklearn(project):
        endpoint = project["spec"]["serving"]["endpoints"][0]
        endpoint["runtime"] = "sklearn"
        endpoint.pop("image")

    plan = plan_variant("fraud-detection", sklearn, "prod")
    unavailable = [r for r in all_rules(plan) if r["alert"] == "MlrigServingUnavailable"]
    services = {i["metadata"]["name"] for i in objects(plan, "InferenceService")}
    assert unavailable and {r["labels"]["endpoint"] for r in unavailable} == {"scorer"}
    (expr,) = [r["expr"] for r in unavailable]
    deployments = re.search(r'deployment=~"([^"]+)"', expr)[1]
    assert all(re.fullmatch(deployments, f"{name}-predictor") for name in services)
    assert "kube_deployment_spec_replicas" in expr and "kube_deployment_status_replicas_available" in expr
    assert unavailable[0]["labels"]["namespace"] == "fraud-detection"


def test_a_vllm_endpoint_alerts_on_the_5xx_share_the_llm_gateway_answers_for_it(project_plan):
    # vLLM counts no failed requests; the gateway in front of it counts every request by status.
    plan = project_plan("rag-assistant", "prod")
    (alert,) = [r for r in all_rules(plan) if r["alert"] == "MlrigLlmErrorRateHigh"]
    assert alert["labels"] == {"severity": "critical", "namespace": "rag-assistant", "endpoint": "llm"}
    assert 'requested_model="llm"' in alert["expr"] and 'status_code=~"5.."' in alert["expr"]
    assert "litellm_proxy_total_requests_metric_total" in alert["expr"] and alert["expr"].endswith("> 0.01")
    config = yaml.safe_load(named(plan, "ConfigMap", "llm-gateway")["data"]["config.yaml"])
    assert "prometheus" in config["litellm_settings"]["callbacks"]
    assert "llm" in [m["model_name"] for m in config["model_list"]]
    monitor = named(plan, "PodMonitor", "mlrig-gateway")["spec"]
    gateway = named(plan, "Deployment", "llm-gateway")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= gateway["template"]["metadata"]["labels"].items()
    assert (
        monitor["podMetricsEndpoints"][0]["portNumber"]
        == gateway["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    )


def test_without_a_gateway_no_llm_error_rate_is_invented(plan_variant):
    def no_gateway(project):
        project["spec"]["llm"].pop("gateway")

    plan = plan_variant("rag-assistant", no_gateway, "prod")
    alerts = {r["alert"] for r in all_rules(plan)}
    assert "MlrigLlmErrorRateHigh" not in alerts and "MlrigServingUnavailable" in alerts
    assert "mlrig-gateway" not in {o["metadata"]["name"] for o in objects(plan, "PodMonitor")}


def test_each_quality_metric_alerts_past_its_threshold_on_the_value_the_quality_step_publishes(project_plan):
    # `monitoring.quality` promised alerts; the quality step only printed, and no rule read anything.
    plan = project_plan("rag-assistant", "prod")
    quality_rules = [
        r
        for g in named(plan, "PrometheusRule", "mlrig-alerts")["spec"]["groups"]
        for r in g["rules"]
        if r["alert"] == "MlrigModelQualityLow"
    ]
    exprs = sorted(r["expr"] for r in quality_rules)
    assert exprs == [
        'max by (pipeline, metric) (argo_workflows_mlrig_quality{project="rag-assistant", environment="prod", '
        'metric="answer_relevance"}) < 0.7',
        'max by (pipeline, metric) (argo_workflows_mlrig_quality{project="rag-assistant", environment="prod", '
        'metric="hallucination_rate"}) > 0.05',
    ]
    assert all(r["labels"]["namespace"] == "rag-assistant" for r in quality_rules)
    template = next(
        t for t in named(plan, "WorkflowTemplate", "monitor")["spec"]["templates"] if t["name"] == "quality"
    )
    args = template["container"]["args"]
    published = {}
    for gauge in template["metrics"]["prometheus"]:
        labels = {label["key"]: label["value"] for label in gauge["labels"]}
        published[labels["metric"]] = gauge["gauge"]["value"]
        assert gauge["name"] == "mlrig_quality"
    outputs = {o["name"]: o["valueFrom"] for o in template["outputs"]["parameters"]}
    # The step writes the i-th --metric's value to quality-<i>; unknown values stay NaN (no alert).
    metrics = [a.removeprefix("--metric=").split(":")[0] for a in args if a.startswith("--metric=")]
    for index, metric in enumerate(metrics):
        assert published[metric] == f"{{{{outputs.parameters.quality-{index}}}}}"
        assert outputs[f"quality-{index}"] == {"path": f"/tmp/outputs/quality-{index}", "default": "NaN"}


def test_the_quality_step_mlrig_init_scaffolds_writes_the_outputs_the_template_publishes(tmp_path, monkeypatch):
    steps = scaffolded(tmp_path, monkeypatch, "steps")
    monkeypatch.setattr(steps, "OUTPUTS", tmp_path / "outputs")
    assert (
        steps.main(["--step=quality", "--metric=answer_relevance:0.7:maximize", "--metric=f1.macro:0.9:maximize"]) == 0
    )
    assert {p.name: p.read_text() for p in (tmp_path / "outputs").iterdir()} == {"quality-0": "0.5", "quality-1": "0.5"}
