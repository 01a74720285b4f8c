"""Alerts of one project environment: a PrometheusRule for pipeline failures, serving latency,
errors and availability, and data drift; an AlertmanagerConfig routing them to the bundle's channels.

Routing is per namespace: the platform's Alertmanager matches each AlertmanagerConfig only on
alerts labelled with its own namespace (`OnNamespace`), so every rule here carries
`namespace=<the project's namespace>` — kept through its aggregation where the series have it
(serving), and set by the rule where they come from the Argo controller's namespace (pipeline
metrics). Each rule selects only this project environment's series, so a route never receives
another team's alerts.

Metrics used:
- `argo_workflows_mlrig_pipeline_failed` — counter every WorkflowTemplate emits on failure
  (pipelines.py; Argo prefixes custom metrics with `argo_workflows_`, newer releases add `_total`);
- `argo_workflows_mlrig_drift_score` — gauge the monitoring pipeline's drift step emits;
- `argo_workflows_mlrig_quality{metric=<name>}` — gauge per `monitoring.quality` metric the
  quality step emits (NaN until the metric is known: no alert);
- the request metrics of each endpoint's model server (`server_metrics`), scraped from every
  predictor pod by the namespace's PodMonitor and labelled `inference_service`: the project's own
  servers `http_request_duration_seconds` and `http_requests_total{status="5xx"}` (what the
  server `mlrig init` scaffolds exports), KServe's python runtimes `request_predict_seconds`, vLLM
  `vllm:e2e_request_latency_seconds`. Latency alerts read each server's histogram; the error
  rate only the servers that count requests by status. KServe runs in RawDeployment mode, so
  there is no Knative queue-proxy to measure requests;
- for endpoints whose server counts no requests by status, what else sees their failures:
  vLLM endpoints are reached through the LLM gateway, whose LiteLLM proxy counts every request
  by the model asked for and the HTTP status it answered
  (`litellm_proxy_total_requests_metric_total{requested_model, status_code}`, scraped from the
  gateway pods by their own PodMonitor); every endpoint, whatever its runtime, is watched for
  having no ready replica while it should have one (`kube_deployment_spec_replicas` and
  `kube_deployment_status_replicas_available` of its predictor Deployments, from the platform's
  kube-state-metrics). vLLM's own `vllm:request_success_total{finished_reason}` counts finished
  requests only (`stop`, `length`, `abort`): a request that fails never finishes, so it has no
  failure share to alert on;
- `DCGM_FI_DEV_GPU_UTIL` — GPU utilisation from the platform's DCGM exporter, whose PodMonitor
  labels every GPU with the project namespace (`mlrig_namespace`) and pool (`mlrig_pool`) of its
  node: an idle GPU runs no pod, so only its node says whose it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import naming, tenancy
from ..bundle.model import AlertRoute, Endpoint, MonitoringSettings, ProjectSpec
from ..observability import gpu_metrics_missing, server_metrics
from .context import ProjectContext
from .gateway import GATEWAY_LABELS, GATEWAY_PORT, hosted_model_entries
from .kube import EXTERNAL_SECRETS_API, SECRET_REFRESH, SECRET_STORE, addons_of, metadata
from .model_locations import has_server, rollout_services
from .pipelines import DRIFT_SCORE_METRIC, PIPELINE_FAILED_METRIC, QUALITY_METRIC, argo_metric

MONITORING_API = "monitoring.coreos.com/v1"
ALERTMANAGER_CONFIG_API = "monitoring.coreos.com/v1alpha1"
ALERT_SECRET = "alert-routes"
# kube-prometheus-stack selects rules and Alertmanager configs by this label.
SELECTOR_LABELS = {"release": "kube-prometheus-stack"}


def severity(ctx: ProjectContext) -> str:
    return "critical" if ctx.tier == "prod" else "warning"


def alert_labels(ctx: ProjectContext) -> dict[str, str]:
    """Labels every alert of the project carries: its severity, and the namespace its
    AlertmanagerConfig lives in (the only alerts that config's routes match)."""
    return {"severity": severity(ctx), "namespace": ctx.names.namespace}


def _selector(ctx: ProjectContext) -> str:
    return f'project="{ctx.project.name}", environment="{ctx.env.name}"'


def pipeline_rules(ctx: ProjectContext) -> list[dict[str, Any]]:
    # Counters may carry Prometheus' `_total` suffix, depending on the Argo release.
    failed = f'{{__name__=~"{argo_metric(PIPELINE_FAILED_METRIC)}(_total)?", {_selector(ctx)}}}'
    return [
        {
            "alert": "MlrigPipelineFailed",
            "expr": f"sum by (pipeline) (increase({failed}[1h])) > 0",
            "labels": alert_labels(ctx),
            "annotations": {
                "summary": f"A pipeline of {ctx.project.name} ({ctx.env.name}) failed",
                "description": "Pipeline {{ $labels.pipeline }} failed in the last hour.",
            },
        }
    ]


ISVC_LABEL = "inference_service"


# kube-prometheus-stack's Prometheus Service (release `kube-prometheus-stack`).
PROMETHEUS_SERVICE = "kube-prometheus-stack-prometheus"
PROMETHEUS_PORT = 9090


def prometheus_url(ctx: ProjectContext) -> pulumi.Output[str]:
    """The platform's Prometheus, for in-cluster queries (KEDA's concurrency trigger)."""
    return pulumi.Output.concat(
        f"http://{PROMETHEUS_SERVICE}.", ctx.platform.monitoring_namespace, f".svc.cluster.local:{PROMETHEUS_PORT}"
    )


PREDICTOR_POD_LABEL = "serving.kserve.io/inferenceservice"
MODEL_SERVER_PORT = 8080


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods the platform's Prometheus scrapes in the namespace, and on which port: the only
    traffic the monitoring namespace may send into it (`workspace.network_policies`)."""

    name: str
    selector: dict[str, Any]
    port: int


PREDICTORS = ScrapeTarget(
    "predictors", {"matchExpressions": [{"key": PREDICTOR_POD_LABEL, "operator": "Exists"}]}, MODEL_SERVER_PORT
)


# The LLM gateway's LiteLLM proxy serves `/metrics` on its API port once its `prometheus`
# callback is on (gateway.py).
GATEWAY_PODS = ScrapeTarget("gateway", {"matchLabels": dict(GATEWAY_LABELS)}, GATEWAY_PORT)


def scrape_targets(spec: ProjectSpec) -> list[ScrapeTarget]:
    """What the PodMonitors of this environment scrape (see `MonitoringRules`)."""
    targets = [PREDICTORS] if spec.serving.endpoints else []
    if spec.llm.gateway is not None:
        targets.append(GATEWAY_PODS)
    return targets


def gateway_pod_monitor_spec() -> dict[str, Any]:
    """Scrape every gateway pod's `/metrics` (LiteLLM's request counters)."""
    return {
        "selector": GATEWAY_PODS.selector,
        "podMetricsEndpoints": [{"portNumber": GATEWAY_PODS.port, "path": "/metrics", "interval": "30s"}],
        # Callers name the model and user each counter is labelled with (tenancy.SCRAPE_LIMITS).
        **tenancy.SCRAPE_LIMITS,
    }


def predictor_pod_monitor_spec() -> dict[str, Any]:
    """Scrape every predictor pod of the namespace, labelled with its InferenceService."""
    source = "__meta_kubernetes_pod_label_" + PREDICTOR_POD_LABEL.replace(".", "_").replace("/", "_")
    return {
        "selector": PREDICTORS.selector,
        "podMetricsEndpoints": [
            {
                "portNumber": PREDICTORS.port,
                "path": "/metrics",
                "interval": "30s",
                "relabelings": [{"sourceLabels": [source], "targetLabel": ISVC_LABEL}],
            }
        ],
        # The team's own server images decide what they export (tenancy.SCRAPE_LIMITS).
        **tenancy.SCRAPE_LIMITS,
    }


def serving_rules(ctx: ProjectContext, monitoring: MonitoringSettings) -> list[dict[str, Any]]:
    """p99 latency over every endpoint's server, each on the histogram its server exports; the
    error rate where the servers count requests by status (the project's own servers)."""
    selector = f'namespace="{ctx.names.namespace}", {ISVC_LABEL}!=""'
    by = f"namespace, {ISVC_LABEL}"
    found = [m for e in ctx.env.spec.serving.endpoints if (m := server_metrics(e)) is not None]
    servers = list(dict.fromkeys(found))
    if not servers:
        return []
    buckets = " or ".join(f"sum by (le, {by}) (rate({m.latency}_bucket{{{selector}}}[5m]))" for m in servers)
    latency = f"1000 * histogram_quantile(0.99, {buckets})"
    rules: list[dict[str, Any]] = [
        {
            "alert": "MlrigServingLatencyHigh",
            "expr": f"{latency} > {monitoring.latency_p99_ms}",
            "for": "10m",
            "labels": alert_labels(ctx),
            "annotations": {
                "summary": f"p99 latency above {monitoring.latency_p99_ms} ms",
                "description": "{{ $labels.inference_service }} p99 latency is {{ $value }} ms.",
            },
        }
    ]
    counted = [m.requests for m in servers if m.requests is not None]
    if counted:
        errors = " or ".join(f'sum by ({by}) (rate({c}{{{selector}, status="5xx"}}[5m]))' for c in counted)
        total = " or ".join(f"sum by ({by}) (rate({c}{{{selector}}}[5m]))" for c in counted)
        rules.append(
            {
                "alert": "MlrigServingErrorRateHigh",
                "expr": f"({errors}) / ({total}) > {monitoring.error_rate}",
                "for": "10m",
                "labels": alert_labels(ctx),
                "annotations": {
                    "summary": f"Error rate above {monitoring.error_rate}",
                    "description": "{{ $labels.inference_service }} answers {{ $value }} of requests with 5xx.",
                },
            }
        )
    return rules


# LiteLLM's request counter (`litellm_proxy_total_requests_metric`, a prometheus_client Counter,
# hence `_total`): one series per model asked for (`requested_model`, the gateway's model name,
# which is the endpoint's name) and HTTP status answered (`status_code`, "200", "500", ...).
GATEWAY_REQUESTS = "litellm_proxy_total_requests_metric_total"
GATEWAY_MODEL_LABEL = "requested_model"
GATEWAY_STATUS_LABEL = "status_code"


def gateway_routed_endpoints(ctx: ProjectContext) -> list[str]:
    """The project's endpoints the LLM gateway routes (its vLLM endpoints, by name)."""
    if ctx.env.spec.llm.gateway is None:
        return []
    return [entry["model_name"] for entry in hosted_model_entries(ctx)]


def gateway_error_rules(ctx: ProjectContext, monitoring: MonitoringSettings) -> list[dict[str, Any]]:
    """One alert per vLLM endpoint whose 5xx share, as the gateway answered its callers, is over
    `monitoring.errorRate`: vLLM counts no failed requests, the gateway in front of it does.
    Requests that bypass the gateway (calling the predictor directly) are not counted."""
    rules = []
    for endpoint in gateway_routed_endpoints(ctx):
        selector = f'namespace="{ctx.names.namespace}", {GATEWAY_MODEL_LABEL}="{endpoint}"'
        errors = f'sum by (namespace) (rate({GATEWAY_REQUESTS}{{{selector}, {GATEWAY_STATUS_LABEL}=~"5.."}}[5m]))'
        total = f"sum by (namespace) (rate({GATEWAY_REQUESTS}{{{selector}}}[5m]))"
        rules.append(
            {
                "alert": "MlrigLlmErrorRateHigh",
                "expr": f"({errors}) / ({total}) > {monitoring.error_rate}",
                "for": "10m",
                "labels": {**alert_labels(ctx), "endpoint": endpoint},
                "annotations": {
                    "summary": f"Error rate of {endpoint} through the LLM gateway above {monitoring.error_rate}",
                    "description": (
                        f"The gateway answers {{{{ $value }}}} of the requests for {endpoint} with 5xx "
                        "(the endpoint failed, timed out or was unreachable)."
                    ),
                },
            }
        )
    return rules


def served_endpoints(ctx: ProjectContext) -> list[Endpoint]:
    """The endpoints `Serving` makes InferenceServices for (a custom one needs an image)."""
    return [e for e in ctx.env.spec.serving.endpoints if has_server(e)]


def predictor_deployments(endpoint: Endpoint) -> str:
    """A regex of the Deployments KServe (RawDeployment) runs the endpoint's predictors in:
    `<isvc>-predictor`, or `<isvc>-predictor-default` for services created by older releases."""
    return f"({'|'.join(rollout_services(endpoint).values())})-predictor(-default)?"


UNAVAILABLE_GRACE_MINUTES = 5


def availability_rules(ctx: ProjectContext) -> list[dict[str, Any]]:
    """One alert per endpoint with a predictor Deployment that should run replicas and has none
    ready, for longer than a replica may take to load: every request to it fails. For KServe's
    built-in runtimes this is the only failure signal there is (their server counts no requests
    by status); an endpoint scaled to zero on purpose wants no replica and does not alert."""
    from .serving import readiness_budget_seconds  # serving reads this module's server metrics

    addons = addons_of(ctx)
    rules = []
    for endpoint in served_endpoints(ctx):
        selector = f'namespace="{ctx.names.namespace}", deployment=~"{predictor_deployments(endpoint)}"'
        wanted = f"kube_deployment_spec_replicas{{{selector}}} > 0"
        ready = f"kube_deployment_status_replicas_available{{{selector}}} > 0"
        minutes = -(-readiness_budget_seconds(addons, endpoint) // 60) + UNAVAILABLE_GRACE_MINUTES
        rules.append(
            {
                "alert": "MlrigServingUnavailable",
                "expr": f"({wanted}) unless on (namespace, deployment) ({ready})",
                "for": f"{minutes}m",
                "labels": {**alert_labels(ctx), "endpoint": endpoint.name},
                "annotations": {
                    "summary": f"Endpoint {endpoint.name} has no ready replica",
                    "description": (
                        "{{ $labels.deployment }} wants replicas and has none ready: every request routed to it "
                        "fails (all of the endpoint's, or its share of a split)."
                    ),
                },
            }
        )
    return rules


def drift_rules(ctx: ProjectContext, monitoring: MonitoringSettings) -> list[dict[str, Any]]:
    threshold = monitoring.drift.threshold
    retrain = " (retraining was submitted)" if monitoring.retrain_on_drift else ""
    return [
        {
            "alert": "MlrigDataDrift",
            "expr": f"max by (pipeline) ({argo_metric(DRIFT_SCORE_METRIC)}{{{_selector(ctx)}}}) > {threshold}",
            "labels": {**alert_labels(ctx), "severity": "warning"},
            "annotations": {
                "summary": f"Data drift above {threshold} ({monitoring.drift.method})",
                "description": "Drift score {{ $value }}" + retrain + ".",
            },
        }
    ]


def quality_rules(ctx: ProjectContext, monitoring: MonitoringSettings) -> list[dict[str, Any]]:
    """One alert per `monitoring.quality` metric past its threshold (below it for `maximize`,
    above it for `minimize`), on the value the monitoring pipeline's quality step published."""
    rules = []
    for metric in monitoring.quality:
        crossed = "<" if metric.direction == "maximize" else ">"
        series = f'{argo_metric(QUALITY_METRIC)}{{{_selector(ctx)}, metric="{metric.name}"}}'
        rules.append(
            {
                "alert": "MlrigModelQualityLow",
                "expr": f"max by (pipeline, metric) ({series}) {crossed} {metric.threshold}",
                "labels": alert_labels(ctx),
                "annotations": {
                    "summary": f"{metric.name} {crossed} {metric.threshold} ({metric.direction})",
                    "description": "{{ $labels.metric }} is {{ $value }} in the last monitoring run.",
                },
            }
        )
    return rules


GPU_UTIL_METRIC = "DCGM_FI_DEV_GPU_UTIL"
GPU_NAMESPACE_LABEL = "mlrig_namespace"  # set by the platform's DCGM PodMonitor (platform/gpu.py)


def watches_gpus(ctx: ProjectContext) -> bool:
    addons = addons_of(ctx)
    has_gpus = any(pool.gpu is not None for pool in ctx.env.spec.compute.pools)
    return has_gpus and not gpu_metrics_missing(addons) and addons.karpenter.enabled


def gpu_rules(ctx: ProjectContext, monitoring: MonitoringSettings) -> list[dict[str, Any]]:
    """One alert per GPU of the project's pools whose utilisation stayed under the threshold for
    the whole period (a GPU-hour costs dollars whether it computes or not)."""
    idle = monitoring.gpu_idle
    selector = f'{GPU_NAMESPACE_LABEL}="{ctx.names.namespace}"'
    return [
        {
            "alert": "MlrigGpuIdle",
            "expr": f"{GPU_UTIL_METRIC}{{{selector}}} < {idle.below_percent}",
            "for": f"{idle.for_minutes}m",
            "labels": {**alert_labels(ctx), "severity": "warning"},
            "annotations": {
                "summary": f"GPU idle for {idle.for_minutes} minutes (utilisation < {idle.below_percent}%)",
                "description": (
                    "GPU {{ $labels.gpu }} of pool {{ $labels.mlrig_pool }} on {{ $labels.node }} is "
                    "{{ $value }}% busy: an idle GPU still costs its instance. Stop what holds it, or "
                    "lower the pool's min."
                ),
            },
        }
    ]


def rule_groups(ctx: ProjectContext) -> list[dict[str, Any]]:
    spec = ctx.env.spec
    monitoring = spec.monitoring
    prefix = f"mlrig.{ctx.project.name}.{ctx.env.name}"
    addons = addons_of(ctx)
    # Pipelines and endpoints exist only where the platform runs their engines (kubernetes_side):
    # an alert on the metrics of a pipeline that was never made could never fire.
    pipelines = spec.pipelines if addons.argo_workflows.enabled else {}
    groups = []
    if pipelines:
        groups.append({"name": f"{prefix}.pipelines", "rules": pipeline_rules(ctx)})
    serving = (
        [*serving_rules(ctx, monitoring), *gateway_error_rules(ctx, monitoring), *availability_rules(ctx)]
        if addons.kserve.enabled
        else []
    )
    if serving:
        groups.append({"name": f"{prefix}.serving", "rules": serving})
    if any(p.type == "monitoring" for p in pipelines.values()):
        groups.append({"name": f"{prefix}.drift", "rules": drift_rules(ctx, monitoring)})
        if monitoring.quality:
            groups.append({"name": f"{prefix}.quality", "rules": quality_rules(ctx, monitoring)})
    if watches_gpus(ctx):
        groups.append({"name": f"{prefix}.gpus", "rules": gpu_rules(ctx, monitoring)})
    return groups


# --- routing ------------------------------------------------------------------------------------


def secret_key(index: int) -> str:
    return f"route-{index}"


def needs_secret(route: AlertRoute) -> bool:
    return naming.alert_route_secret(route.type, route.target) is not None


def receiver(ctx: ProjectContext, index: int, route: AlertRoute) -> dict[str, Any]:
    name = f"{route.type}-{index}"
    secret = {"name": ALERT_SECRET, "key": secret_key(index)}
    if route.type == "slack":
        return {"name": name, "slackConfigs": [{"channel": route.target, "apiURL": secret, "sendResolved": True}]}
    if route.type == "pagerduty":
        return {"name": name, "pagerdutyConfigs": [{"routingKey": secret, "sendResolved": True}]}
    if route.type == "email":
        return {"name": name, "emailConfigs": [{"to": route.target, "sendResolved": True}]}
    if route.type == "sns":
        return {"name": name, "snsConfigs": [{"topicARN": route.target, "sigv4": {"region": ctx.names.region}}]}
    # The full URL (its token included) comes from Secrets Manager, like Slack's; the bundle only
    # declares https://host/path, which validation holds to the platform's allowed hosts.
    return {"name": name, "webhookConfigs": [{"urlSecret": secret, "sendResolved": True}]}


def alertmanager_config_spec(ctx: ProjectContext, routes: Sequence[AlertRoute]) -> dict[str, Any]:
    receivers = [receiver(ctx, i, r) for i, r in enumerate(routes)]
    return {
        "route": {
            "receiver": receivers[0]["name"],
            "groupBy": ["alertname", "pipeline", ISVC_LABEL],
            "groupWait": "30s",
            "groupInterval": "5m",
            "repeatInterval": "4h",
            "routes": [{"receiver": r["name"], "continue": True} for r in receivers[1:]],
        },
        "receivers": receivers,
    }


def alert_secret_spec(ctx: ProjectContext, routes: Sequence[AlertRoute]) -> dict[str, Any]:
    """Slack webhook URLs, PagerDuty routing keys and webhook URLs: `mlrig/<project>/<env>/alerts/slack`,
    `…/alerts/<target>` (PagerDuty: the target names the key's secret) and
    `…/alerts/webhook-<digest of the target>` (see `naming.alert_route_secret`)."""
    data = []
    for index, route in enumerate(routes):
        # The same secret names the AWS side creates (empty, filled by the platform team).
        purpose = naming.alert_route_secret(route.type, route.target)
        if purpose is not None:
            data.append({"secretKey": secret_key(index), "remoteRef": {"key": ctx.names.secret(purpose)}})
    return {
        "refreshInterval": SECRET_REFRESH,
        "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
        "target": {"name": ALERT_SECRET, "creationPolicy": "Owner"},
        "data": data,
    }


class MonitoringRules(pulumi.ComponentResource):
    """PrometheusRule + AlertmanagerConfig of the project environment."""

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:MonitoringRules", name, None, opts)
        after = list(depends_on)
        groups = rule_groups(ctx)
        if groups:
            k8s.apiextensions.CustomResource(
                f"{name}-rules",
                api_version=MONITORING_API,
                kind="PrometheusRule",
                metadata=metadata(ctx, "mlrig-alerts", component="monitoring", labels=SELECTOR_LABELS),
                spec={"groups": groups},
                opts=ctx.k8s_opts(self, depends_on=after),
            )
        if ctx.env.spec.serving.endpoints:
            k8s.apiextensions.CustomResource(
                f"{name}-predictors",
                api_version=MONITORING_API,
                kind="PodMonitor",
                metadata=metadata(ctx, "mlrig-predictors", component="monitoring", labels=SELECTOR_LABELS),
                spec=predictor_pod_monitor_spec(),
                opts=ctx.k8s_opts(self, depends_on=after),
            )
        if ctx.env.spec.llm.gateway is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-gateway",
                api_version=MONITORING_API,
                kind="PodMonitor",
                metadata=metadata(ctx, "mlrig-gateway", component="monitoring", labels=SELECTOR_LABELS),
                spec=gateway_pod_monitor_spec(),
                opts=ctx.k8s_opts(self, depends_on=after),
            )
        routes = ctx.env.spec.monitoring.alerts
        if routes:
            if any(needs_secret(r) for r in routes) and addons_of(ctx).external_secrets.enabled:
                secret = k8s.apiextensions.CustomResource(
                    f"{name}-alert-secret",
                    api_version=EXTERNAL_SECRETS_API,
                    kind="ExternalSecret",
                    metadata=metadata(ctx, ALERT_SECRET, component="monitoring"),
                    spec=alert_secret_spec(ctx, routes),
                    opts=ctx.k8s_opts(self, depends_on=after),
                )
                after = [*after, secret]
            k8s.apiextensions.CustomResource(
                f"{name}-routes",
                api_version=ALERTMANAGER_CONFIG_API,
                kind="AlertmanagerConfig",
                metadata=metadata(ctx, "mlrig-alert-routes", component="monitoring", labels=SELECTOR_LABELS),
                spec=alertmanager_config_spec(ctx, routes),
                opts=ctx.k8s_opts(self, depends_on=after),
            )
        self.register_outputs({"ruleGroups": [g["name"] for g in groups]})
