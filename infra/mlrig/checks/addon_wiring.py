"""What a stack's objects need from the cluster's add-ons is installed, and installed first.

- A custom resource is accepted only once its CustomResourceDefinition exists: the add-on chart
  that installs it must be released in the stack (and the object must wait for that release), or
  in a stack this one reads (its platform's, applied before it). Otherwise the first `pulumi up`
  fails on the object ("no matches for kind"), or races the chart and fails on a first apply only.
- An autoscaler scales only on metrics something serves: an HPA's CPU and memory come from
  metrics-server, KEDA's ScaledObjects from the KEDA operator, KEDA's Prometheus trigger from the
  platform's Prometheus. Without them the workload deploys, keeps its minimum replicas, and never
  scales: nothing fails, the HPA only reports that it cannot read its metric.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import pins
from ..pins import ChartPin
from . import Violation, check
from .graph import Resource, StackGraph, as_list, dig, waiting_for

RELEASE = "kubernetes:helm.sh/v3:Release"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

# API groups the API server serves itself (`core` is the legacy group, as Pulumi types name it).
BUILT_IN_GROUPS = frozenset(
    {
        "core",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
# Pulumi's own kinds of the Kubernetes provider: not objects of the API server.
PROVIDER_GROUPS = frozenset({"helm.sh", "yaml", "kustomize"})

# The add-on chart whose release installs each custom API group's definitions (each chart's own
# CRDs, at the values mlrig sets: cert-manager's `crds.enabled`, External Secrets' `installCRDs`).
CRD_CHARTS: Mapping[str, ChartPin] = {
    "argoproj.io": pins.ARGO_WORKFLOWS,
    "cert-manager.io": pins.CERT_MANAGER,
    "acme.cert-manager.io": pins.CERT_MANAGER,
    "external-secrets.io": pins.EXTERNAL_SECRETS,
    "generators.external-secrets.io": pins.EXTERNAL_SECRETS,
    "karpenter.sh": pins.KARPENTER,
    "karpenter.k8s.aws": pins.KARPENTER,
    "keda.sh": pins.KEDA,
    "kueue.x-k8s.io": pins.KUEUE,
    "monitoring.coreos.com": pins.KUBE_PROMETHEUS_STACK,
    "serving.kserve.io": pins.KSERVE_CRD,
}


def api_group(resource: Resource) -> str:
    """The API group of a Kubernetes resource type, `kubernetes:<group>/<version>:<Kind>`."""
    return resource.type.split(":")[1].rsplit("/", 1)[0]


def releases_of(graph: StackGraph, chart: ChartPin) -> list[Resource]:
    """The releases of `chart` in the stack and in the stacks it reads."""
    return [r for r in graph.everywhere(RELEASE) if r.inputs.get("chart") == chart.chart]


def defines(graph: StackGraph, group: str) -> bool:
    """A CustomResourceDefinition of the group is one of the stacks' own objects."""
    return any(dig(r.inputs, "spec", "group") == group for r in graph.everywhere(CRD))


def _custom_resources(graph: StackGraph) -> Iterator[tuple[Resource, str]]:
    for resource in graph.resources:
        if resource.is_kubernetes:
            group = api_group(resource)
            if group not in BUILT_IN_GROUPS and group not in PROVIDER_GROUPS:
                yield resource, group


@check(
    "MLRIG-DEP-112",
    "Custom resources have their definitions, installed before them",
    "The API server refuses a custom resource whose CustomResourceDefinition does not exist: the first "
    "`pulumi up` fails on it, or (the chart released in the same apply) fails only when it wins the race "
    "against the chart. Accepted: the add-on chart that installs the group is released in a stack this "
    "one reads, or in this stack with the object waiting for it, or the stack defines the group itself.",
)
def custom_resources_have_their_definitions(graph: StackGraph) -> Iterator[Violation]:
    releases = graph.everywhere(RELEASE)
    own_urns = {r.urn for r in graph.resources}
    waiting: dict[str, set[str]] = {}  # chart -> URNs whose wait reaches one of this stack's releases of it
    for resource, group in _custom_resources(graph):
        chart = CRD_CHARTS.get(group)
        if chart is None:
            if not defines(graph, group):
                yield Violation(
                    resource,
                    f"{resource.kind} '{resource.k8s_name}' is of API group {group}, which no add-on mlrig "
                    "installs defines",
                    "install the group's definitions (and list its chart in checks/addon_wiring.py CRD_CHARTS)",
                )
            continue
        installed = [
            r for r in releases if r.inputs.get("chart") == chart.chart
        ]  # releases_of(graph, chart), listed once
        if any(r.urn not in own_urns for r in installed):
            continue  # installed by a stack applied before this one
        if not installed:
            yield Violation(
                resource,
                f"{resource.kind} '{resource.k8s_name}' needs the CRDs of {chart.name} ({group}), which neither "
                "this stack nor the platform installs: the API server refuses it",
                f"enable the add-on that installs {chart.name}, or do not create the object without it",
            )
            continue
        if chart.chart not in waiting:
            waiting[chart.chart] = set().union(*(waiting_for(graph, r.urn) for r in installed))
        if not any(urn in waiting[chart.chart] for urn in resource.options.get("dependsOn") or []):
            yield Violation(
                resource,
                f"{resource.kind} '{resource.k8s_name}' does not wait for the {chart.name} release that installs "
                f"its CRDs ({group}): a first apply creates both at once and can fail on it",
                f"pass the {chart.name} release (or what waits for it) in depends_on",
            )


# --- autoscalers -------------------------------------------------------------------------------

INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
RESOURCE_METRICS = ("cpu", "memory")


def _scales(component: Mapping[str, Any]) -> bool:
    """Has room to scale: KServe's default bounds are one replica each way."""
    low, high = component.get("minReplicas", 1), component.get("maxReplicas", 1)
    return isinstance(low, int) and isinstance(high, int) and high > low


def inference_service_needs(service: Resource) -> list[tuple[ChartPin, str]]:
    """(chart, why) of what each component of an InferenceService needs to scale."""
    keda = service.annotations.get(AUTOSCALER_CLASS) == "keda"
    needs: list[tuple[ChartPin, str]] = []
    for name in ("predictor", "transformer", "explainer"):
        component = service.spec.get(name)
        if not isinstance(component, Mapping) or not _scales(component):
            continue
        if keda:
            needs.append((pins.KEDA, f"its {name} scales through KEDA (autoscalerClass: keda)"))
            for metric in as_list(dig(component, "autoScaling", "metrics")):
                if dig(metric, "external", "metric", "backend") == "prometheus":
                    needs.append((pins.KUBE_PROMETHEUS_STACK, f"its {name}'s KEDA trigger queries Prometheus"))
        elif component.get("scaleMetric", "cpu") in RESOURCE_METRICS:
            needs.append(
                (
                    pins.METRICS_SERVER,
                    f"its {name}'s HPA scales on {component.get('scaleMetric', 'cpu')}, read from metrics-server",
                )
            )
    return needs


def hpa_needs(hpa: Resource) -> list[tuple[ChartPin, str]]:
    metrics = as_list(hpa.spec.get("metrics"))
    if any(dig(m, "type") in ("Resource", "ContainerResource") for m in metrics) or not metrics:
        return [(pins.METRICS_SERVER, "it scales on resource metrics, read from metrics-server")]
    return []


@check(
    "MLRIG-DEP-113",
    "Autoscalers have the metrics they scale on",
    "An autoscaler without its metrics deploys, keeps its minimum replicas and never scales; nothing fails. "
    "KServe's RawDeployment HPA reads CPU and memory from metrics-server; an endpoint of the `keda` "
    "autoscaler class needs the KEDA operator, and its Prometheus trigger the platform's Prometheus.",
    applies_to=(INFERENCE_SERVICE, HPA),
)
def autoscalers_have_their_metrics(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.of_type(INFERENCE_SERVICE, HPA):
        needs = inference_service_needs(resource) if resource.type == INFERENCE_SERVICE else hpa_needs(resource)
        for chart, why in dict(needs).items():
            if not releases_of(graph, chart):
                yield Violation(
                    resource,
                    f"{resource.kind} '{resource.k8s_name}' would never scale: {why}, and {chart.name} is not "
                    "installed",
                    f"enable the add-on that installs {chart.name}, or give it fixed replicas (min = max)",
                )
