"""MLRIG-DEP-112 and MLRIG-DEP-113: what a stack's objects need from the cluster's add-ons is
installed (and installed first): a custom resource's definitions, an autoscaler's metrics."""

from __future__ import annotations

import pytest

from mlrig import pins
from mlrig.checks import catalogue, run_check
from mlrig.checks.addon_wiring import CRD_CHARTS, api_group
from mlrig.checks.graph import Resource, StackGraph

from .helpers import findings, k8s, record


def release(chart: pins.ChartPin, name: str = "addon", **options) -> dict:
    return record("kubernetes:helm.sh/v3:Release", name, {"chart": chart.chart, "name": chart.name}, **options)


def urn_of(item: dict) -> str:
    return item["urn"]


def alert_rule(**options) -> dict:
    item = k8s("PrometheusRule", "monitoring.coreos.com/v1", "alerts", {"groups": []})
    item["options"].update(options)
    return item


def test_a_custom_resource_whose_add_on_no_stack_installs_is_refused_by_the_api_server():
    """A project's PrometheusRule on a platform without kube-prometheus-stack: `no matches for kind`."""
    [found] = findings("MLRIG-DEP-112", alert_rule())
    assert "needs the CRDs of kube-prometheus-stack (monitoring.coreos.com)" in found.message


def test_the_platforms_release_installs_the_definitions_before_the_project_stack():
    platform = (release(pins.KUBE_PROMETHEUS_STACK),)
    assert findings("MLRIG-DEP-112", alert_rule(), context=platform) == []


def test_a_custom_resource_racing_its_chart_in_the_same_stack_is_found():
    chart = release(pins.KUBE_PROMETHEUS_STACK)
    [found] = findings("MLRIG-DEP-112", chart, alert_rule())
    assert "does not wait for the kube-prometheus-stack release" in found.message
    assert findings("MLRIG-DEP-112", chart, alert_rule(dependsOn=[urn_of(chart)])) == []


def test_waiting_for_the_component_that_holds_the_release_is_waiting_for_it():
    component = record("mlrig:platform:ClusterAddons", "addons")
    chart = release(pins.KUBE_PROMETHEUS_STACK)
    chart["parent"] = urn_of(component)
    assert findings("MLRIG-DEP-112", component, chart, alert_rule(dependsOn=[urn_of(component)])) == []


def test_a_group_no_add_on_defines_is_found_unless_the_stack_defines_it():
    widget = k8s("Widget", "example.com/v1", "w", {})
    [found] = findings("MLRIG-DEP-112", widget)
    assert "API group example.com, which no add-on mlrig installs defines" in found.message
    definition = record(
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "widgets", {"spec": {"group": "example.com"}}
    )
    assert findings("MLRIG-DEP-112", widget, definition) == []


def test_built_in_kinds_and_the_providers_own_types_need_no_definition():
    objects = [
        k8s("Deployment", "apps/v1", "d", {}),
        k8s("NetworkPolicy", "networking.k8s.io/v1", "n", {}),
        k8s("ValidatingAdmissionPolicy", "admissionregistration.k8s.io/v1", "v", {}, namespace=None),
        release(pins.KEDA),
    ]
    assert findings("MLRIG-DEP-112", *objects) == []


def test_every_custom_group_of_the_examples_is_known_and_installed_first(example_result, example_planner):
    from mlrig.checks.runner import principal_owners, stack_graph

    targets = [*example_result.platforms.values(), *example_result.projects.values()]
    groups = set()
    for target in targets:
        for environment in ("dev", "prod"):
            graph = stack_graph(target, environment, example_planner, principal_owners(targets))
            groups |= {api_group(r) for r in graph.resources if r.is_kubernetes and api_group(r) in CRD_CHARTS}
            assert run_check(catalogue()["MLRIG-DEP-112"], graph) == []
    assert {"monitoring.coreos.com", "argoproj.io", "serving.kserve.io", "karpenter.sh", "kueue.x-k8s.io"} <= groups


# --- MLRIG-DEP-113 -------------------------------------------------------------------------------


def inference_service(predictor: dict, *, keda: bool = False) -> dict:
    annotations = {"serving.kserve.io/autoscalerClass": "keda"} if keda else {}
    return k8s(
        "InferenceService",
        "serving.kserve.io/v1beta1",
        "scorer",
        {"predictor": predictor},
        annotations=annotations,
    )


CPU_SCALED = {"minReplicas": 2, "maxReplicas": 10, "scaleMetric": "cpu", "scaleTarget": 70}
PROMETHEUS_TRIGGER = {
    "minReplicas": 1,
    "maxReplicas": 4,
    "autoScaling": {"metrics": [{"type": "External", "external": {"metric": {"backend": "prometheus"}}}]},
}


def test_an_endpoint_scaling_on_cpu_without_metrics_server_never_scales():
    [found] = findings("MLRIG-DEP-113", inference_service(CPU_SCALED))
    assert "would never scale: its predictor's HPA scales on cpu" in found.message
    assert "metrics-server is not installed" in found.message
    assert findings("MLRIG-DEP-113", inference_service(CPU_SCALED), context=(release(pins.METRICS_SERVER),)) == []


def test_an_endpoint_at_a_fixed_size_needs_no_metrics():
    fixed = {**CPU_SCALED, "maxReplicas": 2}
    assert findings("MLRIG-DEP-113", inference_service(fixed)) == []
    assert findings("MLRIG-DEP-113", inference_service({})) == []  # KServe's default: one replica


def test_a_keda_endpoint_needs_the_keda_operator_and_the_prometheus_its_trigger_queries():
    found = findings("MLRIG-DEP-113", inference_service(PROMETHEUS_TRIGGER, keda=True))
    assert sorted(f.message.rsplit(", and ", 1)[1] for f in found) == [
        "keda is not installed",
        "kube-prometheus-stack is not installed",
    ]
    platform = (release(pins.KEDA, "keda"), release(pins.KUBE_PROMETHEUS_STACK, "prometheus"))
    assert findings("MLRIG-DEP-113", inference_service(PROMETHEUS_TRIGGER, keda=True), context=platform) == []


def test_an_hpa_on_resource_metrics_needs_metrics_server():
    hpa = k8s(
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        "worker",
        {"minReplicas": 1, "maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]},
    )
    [found] = findings("MLRIG-DEP-113", hpa)
    assert "scales on resource metrics" in found.message


@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_the_examples_endpoints_have_what_they_scale_on(project, project_plan, platform_plan):
    plan = project_plan(project, "prod")
    graph = StackGraph.of(plan.stack, plan.resources, context=platform_plan("prod").resources)
    services = [Resource.from_record(r) for r in plan.resources if r["type"].endswith(":InferenceService")]
    assert services and any(s.annotations.get("serving.kserve.io/autoscalerClass") == "keda" for s in services)
    assert run_check(catalogue()["MLRIG-DEP-113"], graph) == []
