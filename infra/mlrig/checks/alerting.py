"""Observability wiring: every alert can reach a route, and every metric it reads is scraped.

Routing: the Prometheus operator scopes an AlertmanagerConfig to its namespace. With the
Alertmanager's `alertmanagerConfigMatcherStrategy` `OnNamespace` (the CRD default, and
kube-prometheus-stack's), the route gets the matcher `namespace="<its namespace>"`, so an alert
reaches it only when it carries that label: from the rule's `labels`, from Prometheus's
`enforcedNamespaceLabel`, or because the expression keeps the series' `namespace` label (an
aggregation `by (...)` that does not list it drops it). Values come from the kube-prometheus-stack
release when the graph holds the platform; otherwise the chart defaults apply.

Metrics: a metric is produced by an Argo workflow (a custom metric a WorkflowTemplate declares,
exported as `argo_workflows_<name>` by the controller, which must have metrics and a
ServiceMonitor enabled), or by pods a PodMonitor/ServiceMonitor of the rule's namespace scrapes.
GPU metrics (`DCGM_*`) come from the platform's DCGM exporter, scraped by a monitor that selects
its pods: without the exporter (or its monitor) a GPU alert never fires. A metric read from the
namespace's own pods must also be one the servers those monitors select export, with every label
the alert selects on (exporters.py): an alert on a name no server exports, or on a label it never
sets, selects nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from . import Violation, check
from .exporters import (
    KUBE_STATE_METRICS,
    LITELLM_IMAGE,
    PREDICTOR_POD_LABEL,
    TARGET_LABELS,
    Exporter,
    litellm_exporter,
    predictor_exporter,
    selector_matches,
)
from .graph import Resource, StackGraph, dig
from .promql import Analysis, Selector, analyse, metric_matches

RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
ROUTES = "kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig"
MONITORS = ("PodMonitor", "ServiceMonitor")
ARGO_PREFIX = "argo_workflows_"
# Scraped by kube-prometheus-stack's defaults (kube-state-metrics, node-exporter, kubelet and
# cAdvisor, the API server).
PLATFORM_METRIC_PREFIXES = ("kube_", "node_", "container_", "kubelet_", "apiserver_")
DCGM_PREFIX = "DCGM_"
DCGM_APP = "dcgm-exporter"


def _release(graph: StackGraph, chart: str) -> Resource | None:
    for release in graph.everywhere("kubernetes:helm.sh/v3:Release"):
        if str(release.inputs.get("chart") or "").rsplit("/", 1)[-1] == chart:
            return release
    return None


def matcher_strategy(graph: StackGraph) -> str:
    release = _release(graph, "kube-prometheus-stack")
    values = release.inputs.get("values") if release else None
    found = dig(values, "alertmanager", "alertmanagerSpec", "alertmanagerConfigMatcherStrategy", "type")
    return str(found or "OnNamespace")


def enforced_namespace_label(graph: StackGraph) -> str:
    release = _release(graph, "kube-prometheus-stack")
    values = release.inputs.get("values") if release else None
    return str(dig(values, "prometheus", "prometheusSpec", "enforcedNamespaceLabel") or "")


def alerts(rule: Resource) -> Iterator[dict[str, Any]]:
    for group in rule.spec.get("groups") or []:
        for item in group.get("rules") or []:
            if isinstance(item, Mapping) and item.get("alert") and isinstance(item.get("expr"), str):
                yield dict(item)


def _analysis(expression: str) -> Analysis | None:
    try:
        return analyse(expression)
    except ValueError:
        return None  # not PromQL we can read: no verdict


def route_matchers(routes: Resource, strategy: str) -> list[tuple[str, str, str]]:
    root = routes.spec.get("route") or {}
    matchers = [
        (str(m.get("name")), str(m.get("matchType") or "="), str(m.get("value") or ""))
        for m in root.get("matchers") or []
        if isinstance(m, Mapping)
    ]
    if strategy != "None" and routes.namespace:
        matchers.append(("namespace", "=", routes.namespace))
    return matchers


def can_match(alert: dict[str, Any], analysis: Analysis, namespace: str | None, enforced: str, matcher: Any) -> bool:
    name, operator, value = matcher
    static = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    if enforced and namespace:
        static[enforced] = namespace
    if name in static:
        have = static[name]
        return {"=": have == value, "!=": have != value}.get(operator, True)
    if analysis.labels.keeps(name):
        return True  # a label of the series: some series may carry the value
    return operator == "!=" or (operator == "=" and value == "")


@check(
    "MLRIG-DEP-006",
    "Every alert can match a route of its namespace's AlertmanagerConfig",
    'The operator adds `namespace="<ns>"` to an AlertmanagerConfig\'s route; an alert whose expression '
    "aggregates the namespace label away never matches it, so no Slack or PagerDuty message is ever sent.",
    applies_to=(RULE, ROUTES),
)
def alerts_reach_their_routes(graph: StackGraph) -> Iterator[Violation]:
    strategy = matcher_strategy(graph)
    enforced = enforced_namespace_label(graph)
    routes = graph.of_type(ROUTES)
    if not routes:
        return  # no routing asked for: alerts stay visible in Alertmanager only
    for rule in graph.of_type(RULE):
        scoped = [r for r in routes if r.namespace == rule.namespace] or routes
        for alert in alerts(rule):
            analysis = _analysis(alert["expr"])
            if analysis is None:
                continue
            reachable = [
                r
                for r in scoped
                if all(can_match(alert, analysis, rule.namespace, enforced, m) for m in route_matchers(r, strategy))
            ]
            if reachable:
                continue
            missing = [
                f'{n}{op}"{v}"'
                for n, op, v in route_matchers(scoped[0], strategy)
                if not can_match(alert, analysis, rule.namespace, enforced, (n, op, v))
            ]
            yield Violation(
                rule,
                f"alert {alert['alert']} can never match AlertmanagerConfig {scoped[0].k8s_name}: the route requires "
                f"{', '.join(missing)} (matcher strategy {strategy}) and the alert's expression drops or lacks that label",
                f"keep the label in the aggregation (e.g. `by (namespace, ...)`) or add `labels: {{namespace: "
                f"{rule.namespace}}}` to the rule",
            )


def argo_metrics(graph: StackGraph) -> set[str]:
    """`argo_workflows_<name>` (and `_total` for counters) of every custom metric a workflow declares."""
    names: set[str] = set()
    for template in graph.kubernetes("WorkflowTemplate", "CronWorkflow", "Workflow", everywhere=True):
        spec = template.workflow_spec
        declared = list(dig(spec, "metrics", "prometheus") or [])
        for step in spec.get("templates") or []:
            declared += list(dig(step, "metrics", "prometheus") or [])
        for metric in declared:
            if isinstance(metric, Mapping) and metric.get("name"):
                base = f"{ARGO_PREFIX}{metric['name']}"
                names.add(base)
                if metric.get("counter") is not None:
                    names.add(f"{base}_total")
    return names


def platform_monitoring(graph: StackGraph) -> bool:
    """Whether the cluster runs kube-prometheus-stack (from the platform's plan or its exported flags)."""
    if _release(graph, "kube-prometheus-stack") is not None:
        return True
    flags = graph.reference_outputs().get("addons")
    return isinstance(flags, Mapping) and bool(flags.get("monitoring"))


def argo_controller_scraped(graph: StackGraph) -> bool | None:
    """Whether the Argo controller's metrics endpoint has a ServiceMonitor (None: not visible).
    argo-workflows chart 0.45: `controller.metricsConfig.enabled` and `controller.serviceMonitor.enabled`,
    both false by default."""
    release = _release(graph, "argo-workflows")
    if release is None:
        return None
    values = release.inputs.get("values") or {}
    return bool(dig(values, "controller", "metricsConfig", "enabled")) and bool(
        dig(values, "controller", "serviceMonitor", "enabled")
    )


def dcgm_scraped(graph: StackGraph) -> bool:
    """Whether the DCGM exporter runs and a monitor scrapes it: its release and a PodMonitor or
    ServiceMonitor selecting `app.kubernetes.io/name: dcgm-exporter` (or the chart's own
    ServiceMonitor), when the platform's plan is visible; else the add-on flags it exports."""
    release = _release(graph, DCGM_APP)
    if release is not None:
        if dig(release.inputs.get("values") or {}, "serviceMonitor", "enabled"):
            return True
        return any(
            dig(monitor.spec, "selector", "matchLabels", "app.kubernetes.io/name") == DCGM_APP
            for monitor in graph.kubernetes(*MONITORS, everywhere=True)
        )
    if graph.everywhere("kubernetes:helm.sh/v3:Release"):
        return False  # the platform is visible and installs no DCGM exporter
    flags = graph.reference_outputs().get("addons")
    return isinstance(flags, Mapping) and bool(flags.get("dcgmExporter")) and bool(flags.get("monitoring"))


@check(
    "MLRIG-DEP-007",
    "Every metric an alert reads is produced by something Prometheus scrapes",
    "An alert over a metric nobody exports or nobody scrapes evaluates to nothing and can never fire.",
    applies_to=(RULE,),
)
def alert_metrics_are_scraped(graph: StackGraph) -> Iterator[Violation]:
    declared = argo_metrics(graph)
    controller = argo_controller_scraped(graph)
    monitors = {(m.namespace) for m in graph.kubernetes(*MONITORS, everywhere=True)}
    platform_scrapes = platform_monitoring(graph)
    for rule in graph.of_type(RULE):
        for alert in alerts(rule):
            analysis = _analysis(alert["expr"])
            if analysis is None:
                continue
            for pattern in analysis.metric_patterns():
                argo = pattern[1].startswith(ARGO_PREFIX)
                if argo:
                    produced = any(metric_matches(pattern, name) for name in declared)
                    if not produced:
                        yield Violation(
                            rule,
                            f"alert {alert['alert']} reads {pattern[1]}, which no WorkflowTemplate declares as a metric",
                            "declare the metric in the workflow's `metrics.prometheus`, or fix the name",
                        )
                    elif controller is False:
                        yield Violation(
                            rule,
                            f"alert {alert['alert']} reads {pattern[1]}, but the Argo workflow controller's metrics "
                            "are not scraped (controller.metricsConfig.enabled / controller.serviceMonitor.enabled "
                            "are off in the argo-workflows release)",
                            "enable controller.metricsConfig and controller.serviceMonitor in the platform's Argo release",
                        )
                elif pattern[1].startswith(DCGM_PREFIX):
                    if not dcgm_scraped(graph):
                        yield Violation(
                            rule,
                            f"alert {alert['alert']} reads {pattern[1]}, but no DCGM exporter is scraped: the "
                            "dcgm-exporter add-on is off, or no PodMonitor/ServiceMonitor selects its pods",
                            "turn on the platform's dcgmExporter and monitoring add-ons",
                        )
                elif platform_scrapes and pattern[0] == "=" and pattern[1].startswith(PLATFORM_METRIC_PREFIXES):
                    continue
                elif rule.namespace not in monitors:
                    yield Violation(
                        rule,
                        f"alert {alert['alert']} reads {pattern[1]}, but no PodMonitor or ServiceMonitor scrapes "
                        f"namespace {rule.namespace}",
                        "add a PodMonitor/ServiceMonitor for the pods that expose the metric",
                    )


# --- what the namespace's monitors scrape ----------------------------------------------------------


def _config_map_data(graph: StackGraph, namespace: str | None, name: str) -> dict[str, Any] | None:
    for config_map in graph.kubernetes("ConfigMap"):
        if config_map.namespace == namespace and config_map.k8s_name == name:
            data = config_map.get("data")
            return dict(data) if isinstance(data, Mapping) else None
    return None


def deployment_exporter(graph: StackGraph, deployment: Resource) -> Exporter | None:
    """The server a Deployment runs, when mlrig knows it (the LLM gateway's LiteLLM, read from
    the configuration it mounts); None otherwise."""
    pod = dig(deployment.spec, "template", "spec") or {}
    images = [str(c.get("image") or "") for c in pod.get("containers") or [] if isinstance(c, Mapping)]
    if not any(image.startswith(LITELLM_IMAGE + ":") for image in images):
        return None
    for volume in pod.get("volumes") or []:
        name = dig(volume, "configMap", "name")
        data = _config_map_data(graph, deployment.namespace, str(name)) if name else None
        for text in (data or {}).values():
            try:
                config = yaml.safe_load(text) if isinstance(text, str) else None
            except yaml.YAMLError:
                config = None
            if isinstance(config, Mapping) and "model_list" in config:
                return litellm_exporter(config)
    return None


def namespace_pods(graph: StackGraph, namespace: str | None) -> Iterator[tuple[dict[str, str], Exporter | None]]:
    """(pod labels, server) of every workload of the namespace in the plan."""
    for isvc in graph.kubernetes("InferenceService"):
        if isvc.namespace == namespace:
            yield {PREDICTOR_POD_LABEL: isvc.k8s_name, "component": "predictor"}, predictor_exporter(isvc.spec)
    for deployment in graph.kubernetes("Deployment"):
        if deployment.namespace == namespace:
            labels = dig(deployment.spec, "template", "metadata", "labels") or {}
            yield {str(k): str(v) for k, v in labels.items()}, deployment_exporter(graph, deployment)


def scraped_servers(graph: StackGraph, namespace: str | None) -> list[tuple[Exporter | None, frozenset[str]]]:
    """(server, labels Prometheus adds) of every pod a monitor of the namespace scrapes; a
    ServiceMonitor's targets are not followed (server unknown)."""
    pods = list(namespace_pods(graph, namespace))
    found: list[tuple[Exporter | None, frozenset[str]]] = []
    for monitor in graph.kubernetes(*MONITORS):
        if monitor.namespace != namespace:
            continue
        if monitor.kind == "ServiceMonitor":
            found.append((None, TARGET_LABELS))
            continue
        added = {
            str(r["targetLabel"])
            for endpoint in monitor.spec.get("podMetricsEndpoints") or []
            for r in endpoint.get("relabelings") or []
            if isinstance(r, Mapping) and r.get("targetLabel")
        }
        for labels, server in pods:
            if selector_matches(monitor.spec.get("selector"), labels):
                found.append((server, TARGET_LABELS | added))
    return found


def selected_labels(selector: Selector) -> set[str]:
    """Labels a selector needs a series to carry (a matcher that an absent label cannot satisfy)."""
    return {
        label
        for label, operator, value in selector.matchers
        if label != "__name__" and operator in ("=", "=~") and value not in ("", ".*")
    }


def missing_series(metric: str, needed: set[str], servers: list[tuple[Exporter | None, frozenset[str]]]) -> str | None:
    """Why no scraped server gives `metric` with the `needed` labels, or None when one may."""
    exporting = [
        (labels | added) for server, added in servers if server and (labels := server.labels_of(metric)) is not None
    ]
    if not exporting:
        known = [server for server, _ in servers if server is not None]
        if servers and len(known) == len(servers):
            names = ", ".join(sorted({server.name for server in known}))
            return f"no server the namespace's monitors scrape exports it ({names})"
        return None
    if all(needed - labels for labels in exporting):
        absent = sorted(set.intersection(*(needed - labels for labels in exporting)) or needed - exporting[0])
        return f"it carries no label {', '.join(absent)} (it has {', '.join(sorted(exporting[0]))})"
    return None


@check(
    "MLRIG-DEP-014",
    "Every metric an alert reads from the namespace's servers exists there, with the labels it selects on",
    "A selector on a metric name no scraped server exports, or on a label the server never sets, selects "
    "nothing: the alert is green for ever while the endpoint fails.",
    applies_to=(RULE,),
)
def alert_series_exist(graph: StackGraph) -> Iterator[Violation]:
    platform_scrapes = platform_monitoring(graph)
    for rule in graph.of_type(RULE):
        servers = scraped_servers(graph, rule.namespace)
        for alert in alerts(rule):
            analysis = _analysis(alert["expr"])
            if analysis is None:
                continue
            for selector in analysis.selectors:
                metric = selector.metric
                if not metric or metric.startswith((ARGO_PREFIX, DCGM_PREFIX)):
                    continue
                needed = selected_labels(selector)
                if platform_scrapes and metric.startswith(PLATFORM_METRIC_PREFIXES):
                    known = KUBE_STATE_METRICS.labels_of(metric)
                    absent = sorted(needed - (known | TARGET_LABELS)) if known is not None else []
                    why = f"it carries no label {', '.join(absent)}" if absent else None
                else:
                    why = missing_series(metric, needed, servers)
                if why:
                    yield Violation(
                        rule,
                        f"alert {alert['alert']} reads {metric}, but {why}: the selector matches no series and the "
                        "alert can never fire",
                        "read a metric the server exports (checks/exporters.py lists them), select on its own labels, "
                        "or scrape the server that exports it",
                    )
