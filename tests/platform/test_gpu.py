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
