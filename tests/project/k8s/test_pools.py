"""Compute pools: Karpenter NodePools whose taints keep other projects (and non-GPU work) off the
nodes, and workloads whose tolerations match exactly the pool they run on."""

from __future__ import annotations

import pytest

from mlrig.bundle.model import ComputePool, GpuSettings
from mlrig.project.pools import node_selector_for, pool_taints, tolerations_for

from .conftest import named, objects, templates_of

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}


def pool_of(plan, namespace: str, pool: str) -> dict:
    return named(plan, "NodePool", f"{namespace}--{pool}")


def tolerated(tolerations: list[dict], taints: list[dict]) -> bool:
    """Every taint has a toleration with the same key, value and effect (operator Equal)."""
    return all(
        any(
            t["key"] == taint["key"] and t.get("value") == taint["value"] and t["effect"] == taint["effect"]
            for t in tolerations
        )
        for taint in taints
    )


def test_gpu_pools_are_tainted_for_gpus_and_for_the_project(project_plan):
    taints = pool_of(project_plan("fraud-detection", "prod"), "fraud-detection", "gpu-train")["spec"]["template"][
        "spec"
    ]["taints"]
    assert GPU_TAINT in taints
    assert {"key": "mlrig.io/project", "value": "fraud-detection", "effect": "NoSchedule"} in taints


def test_cpu_pools_carry_only_the_project_taint(project_plan):
    taints = pool_of(project_plan("fraud-detection", "prod"), "fraud-detection", "cpu-batch")["spec"]["template"][
        "spec"
    ]["taints"]
    assert taints == [{"key": "mlrig.io/project", "value": "fraud-detection", "effect": "NoSchedule"}]


def test_a_pool_launches_only_its_instance_types_capacity_and_architecture(project_plan):
    spec = pool_of(project_plan("fraud-detection", "prod"), "fraud-detection", "gpu-train")["spec"]
    requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["g5.2xlarge", "g6.2xlarge"]
    assert requirements["karpenter.sh/capacity-type"] == ["on-demand"]  # prod override
    assert requirements["kubernetes.io/arch"] == ["amd64"]
    assert spec["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": "fraud-detection--gpu-train",
    }


@pytest.mark.parametrize(("environment", "gpus"), [("dev", "1"), ("prod", "16")])
def test_pool_limits_follow_the_maximum_nodes(project_plan, environment, gpus):
    limits = pool_of(project_plan("fraud-detection", environment), "fraud-detection", "gpu-train")["spec"]["limits"]
    assert limits["nvidia.com/gpu"] == gpus
    assert int(limits["cpu"]) == int(gpus) * 8


def test_gpu_pools_scale_to_zero_as_soon_as_they_are_empty(project_plan):
    plan = project_plan("fraud-detection", "prod")
    assert pool_of(plan, "fraud-detection", "gpu-train")["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert (
        pool_of(plan, "fraud-detection", "cpu-batch")["spec"]["disruption"]["consolidationPolicy"]
        == "WhenEmptyOrUnderutilized"
    )
    assert not objects(plan, "Deployment") or all(
        not d["metadata"]["name"].startswith("warm-") for d in objects(plan, "Deployment")
    )


def test_node_classes_use_the_platform_node_role_discovery_imdsv2_and_encrypted_disks(project_plan, platform_plan):
    outputs = platform_plan("prod").outputs
    spec = named(project_plan("fraud-detection", "prod"), "EC2NodeClass", "fraud-detection--gpu-train")["spec"]
    assert spec["role"] == outputs["nodeRoleName"]
    discovery = {"tags": {"karpenter.sh/discovery": outputs["karpenterDiscovery"]}}
    assert spec["subnetSelectorTerms"] == [discovery] and spec["securityGroupSelectorTerms"] == [discovery]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (volume,) = spec["blockDeviceMappings"]
    assert volume["ebs"] == {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]


def test_warm_nodes_are_kept_by_lowest_priority_placeholders(plan_variant):
    def warm_serving_pool(project):
        project["spec"]["compute"]["pools"][1]["min"] = 1

    plan = plan_variant("fraud-detection", warm_serving_pool, "staging")
    warm = named(plan, "Deployment", "warm-gpu-train")
    assert warm["spec"]["replicas"] == 1
    pod = warm["spec"]["template"]["spec"]
    priority = named(plan, "PriorityClass", pod["priorityClassName"])
    assert priority["value"] < 0 and priority["preemptionPolicy"] == "Never"
    taints = pool_of(plan, "fraud-detection", "gpu-train")["spec"]["template"]["spec"]["taints"]
    assert tolerated(pod["tolerations"], taints)


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_pipeline_tolerations_match_the_taints_of_their_pool(project_plan, environment):
    plan = project_plan("fraud-detection", environment)
    train = templates_of(named(plan, "WorkflowTemplate", "train"))["main"]
    taints = pool_of(plan, "fraud-detection", "gpu-train")["spec"]["template"]["spec"]["taints"]
    labels = pool_of(plan, "fraud-detection", "gpu-train")["spec"]["template"]["metadata"]["labels"]
    assert tolerated(train["tolerations"], taints)
    assert train["nodeSelector"] == labels
    features = templates_of(named(plan, "WorkflowTemplate", "features"))["main"]
    assert GPU_TAINT not in [{k: t[k] for k in ("key", "value", "effect")} for t in features["tolerations"]]


def test_fine_tuning_workers_and_llm_endpoints_tolerate_their_gpu_pools(project_plan):
    plan = project_plan("rag-assistant", "prod")
    worker = templates_of(named(plan, "WorkflowTemplate", "fine-tune"))["worker"]
    tune = pool_of(plan, "rag-assistant", "gpu-tune")["spec"]["template"]
    assert (
        tolerated(worker["tolerations"], tune["spec"]["taints"])
        and worker["nodeSelector"] == tune["metadata"]["labels"]
    )
    serve = pool_of(plan, "rag-assistant", "gpu-serve")["spec"]["template"]
    llm = [i for i in objects(plan, "InferenceService") if i["metadata"]["labels"]["mlrig.io/endpoint"] == "llm"]
    assert llm
    for isvc in llm:
        predictor = isvc["spec"]["predictor"]
        assert tolerated(predictor["tolerations"], serve["spec"]["taints"])
        assert predictor["nodeSelector"] == serve["metadata"]["labels"]


def test_tolerations_are_derived_from_the_taints_so_they_cannot_disagree():
    pool = ComputePool.model_validate(
        {"name": "gpu", "instanceTypes": ["g5.xlarge"], "gpu": GpuSettings(count=1).model_dump()}
    )
    assert tolerated(tolerations_for(pool, "team-a"), pool_taints(pool, "team-a"))
    assert not tolerated(tolerations_for(pool, "team-a"), pool_taints(pool, "team-b"))
    assert node_selector_for(pool, "team-a") == {"mlrig.io/project": "team-a", "mlrig.io/pool": "gpu"}


def pods_on_pools(plan) -> list[tuple[str, dict]]:
    """(what, pod spec fragment) of every pipeline step and predictor pinned to a pool."""
    pinned = []
    for template in objects(plan, "WorkflowTemplate"):
        for step in templates_of(template).values():
            if "nodeSelector" in step:
                pinned.append((f"{template['metadata']['name']}/{step['name']}", step))
    for isvc in objects(plan, "InferenceService"):
        if "nodeSelector" in isvc["spec"]["predictor"]:
            pinned.append((isvc["metadata"]["name"], isvc["spec"]["predictor"]))
    return pinned


@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_pod_pinned_to_a_pool_tolerates_exactly_that_pools_taints(project_plan, project, environment):
    plan = project_plan(project, environment)
    pools = {
        p["spec"]["template"]["metadata"]["labels"]["mlrig.io/pool"]: p["spec"]["template"]
        for p in objects(plan, "NodePool")
    }
    pinned = pods_on_pools(plan)
    assert pinned
    for what, pod in pinned:
        pool = pools[pod["nodeSelector"]["mlrig.io/pool"]]
        assert pod["nodeSelector"] == pool["metadata"]["labels"], what
        assert tolerated(pod["tolerations"], pool["spec"]["taints"]), what
        assert len(pod["tolerations"]) == len(pool["spec"]["taints"]), what
        gpu_pool = GPU_TAINT in pool["spec"]["taints"]
        limits = pod.get("container", pod.get("model", {})).get("resources", {}).get("limits", {})
        if "nvidia.com/gpu" in limits:
            assert gpu_pool, f"{what} asks for GPUs on a pool without them"
