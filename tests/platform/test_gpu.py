"""The NVIDIA device plugin and DCGM exporter run on GPU nodes: they tolerate every taint a GPU
pool's nodes carry, whatever its value, and select GPU nodes only."""

from __future__ import annotations

from platform_helpers import helm_release

from mlrig.bundle.model import ComputePool
from mlrig.project.pools import pool_taints


def tolerates(tolerations: list[dict[str, str]], taint: dict[str, str]) -> bool:
    """Kubernetes' rule: a toleration matches a taint by key and effect, and by value unless the
    operator is Exists (an empty key with Exists matches every taint)."""
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", taint["effect"]):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", taint["key"]):
            return True
        if toleration.get("key") == taint["key"] and toleration.get("value") == taint.get("value"):
            return True
    return False


GPU_POOL = ComputePool.model_validate({"name": "gpu-train", "instanceTypes": ["g5.2xlarge"], "gpu": {"count": 1}})


def test_the_device_plugin_tolerates_the_gpu_taint_with_operator_exists(example_plans):
    tolerations = helm_release(example_plans["dev"], "nvidia-device-plugin")["inputs"]["values"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert tolerates(tolerations, {"key": "nvidia.com/gpu", "value": "anything", "effect": "NoSchedule"})


def test_gpu_daemons_tolerate_every_taint_project_gpu_pools_put_on_their_nodes(example_plans):
    taints = pool_taints(GPU_POOL, "fraud-detection")
    assert any(t["key"] == "nvidia.com/gpu" for t in taints)
    for release in ("nvidia-device-plugin", "dcgm-exporter"):
        tolerations = helm_release(example_plans["prod"], release)["inputs"]["values"]["tolerations"]
        for taint in taints:
            assert tolerates(tolerations, taint), (release, taint)


def test_gpu_daemons_run_only_on_nvidia_gpu_nodes(example_plans):
    for release in ("nvidia-device-plugin", "dcgm-exporter"):
        affinity = helm_release(example_plans["dev"], release)["inputs"]["values"]["affinity"]
        (term,) = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert term["matchExpressions"] == [
            {"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]}
        ]


def test_gpu_metrics_are_scraped_when_monitoring_is_on(example_plans, minimal_plan):
    plan = example_plans["dev"]
    dcgm = helm_release(plan, "dcgm-exporter")
    # the chart's ServiceMonitor cannot attach node labels: mlrig's PodMonitor scrapes instead
    assert dcgm["inputs"]["values"]["serviceMonitor"]["enabled"] is False
    assert helm_release(plan, "kube-prometheus-stack")["urn"] in dcgm["options"]["dependsOn"]
    monitors = [r for r in plan.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")]
    assert [m["inputs"]["metadata"]["name"] for m in monitors] == ["dcgm-exporter"]
    # without the Prometheus operator there is no PodMonitor CRD to create one with
    assert not minimal_plan.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")


def test_a_pod_without_tolerations_is_kept_off_gpu_nodes():
    assert not tolerates([], {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"})
    assert not tolerates(
        [{"key": "other", "operator": "Exists"}], {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    )


# --- GPU costs by project --------------------------------------------------------------------------


def test_gpu_metrics_carry_the_project_and_pool_of_the_node_they_come_from(example_plans):
    (monitor,) = example_plans["prod"].of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")
    spec = monitor["inputs"]["spec"]
    # an idle GPU runs no pod: only its node's labels say whose it is
    assert spec["attachMetadata"] == {"node": True}
    assert spec["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "dcgm-exporter", "app.kubernetes.io/instance": "dcgm-exporter"}
    }
    (endpoint,) = spec["podMetricsEndpoints"]
    relabel = {r["sourceLabels"][0]: r["targetLabel"] for r in endpoint["relabelings"]}
    assert relabel["__meta_kubernetes_node_label_mlrig_io_project"] == "mlrig_namespace"
    assert relabel["__meta_kubernetes_node_label_mlrig_io_pool"] == "mlrig_pool"
    assert relabel["__meta_kubernetes_node_label_karpenter_sh_capacity_type"] == "capacity_type"


def test_a_grafana_dashboard_shows_utilisation_memory_and_idle_gpu_hours_per_project(example_plans):
    import json

    (dashboard,) = [
        c
        for c in example_plans["prod"].of_type("kubernetes:core/v1:ConfigMap")
        if c["inputs"]["metadata"]["name"] == "mlrig-gpu-costs"
    ]
    metadata = dashboard["inputs"]["metadata"]
    assert metadata["namespace"] == "monitoring" and metadata["labels"] == {"grafana_dashboard": "1"}
    (body,) = dashboard["inputs"]["data"].values()
    model = json.loads(body)
    titles = [p["title"] for p in model["panels"]]
    assert any("utilisation" in t for t in titles) and any("memory" in t for t in titles)
    idle = next(p for p in model["panels"] if p["title"].startswith("Idle GPU-hours"))
    assert (
        "DCGM_FI_DEV_GPU_UTIL" in idle["targets"][0]["expr"]
        and "sum by (mlrig_namespace)" in idle["targets"][0]["expr"]
    )
    assert model["templating"]["list"][0]["name"] == "project"


# --- EFA ---------------------------------------------------------------------------------------------


def test_the_efa_device_plugin_runs_on_project_pools_of_efa_capable_types(example_plans):
    release = helm_release(example_plans["prod"], "aws-efa-k8s-device-plugin")["inputs"]
    assert release["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    for taint in [*pool_taints(GPU_POOL, "rag-assistant")]:
        assert tolerates(release["values"]["tolerations"], taint)
    # the chart's own affinity keeps it on the EFA-capable instance types: mlrig does not override it
    assert "affinity" not in release["values"]
