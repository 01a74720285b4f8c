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
    assert node_selector_for(pool, "team-a") == {
        "mlrig.io/project": "team-a",
        "mlrig.io/pool": "gpu",
        # whole GPUs: the device plugin's default configuration, and the queue's shared GPU flavor
        "mlrig.io/gpu-sharing": "none",
        "nvidia.com/device-plugin.config": "default",
    }


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


def test_a_pool_too_small_for_every_worker_of_its_largest_distributed_job_is_refused():
    """The old dev example: `gpu-tune` at max 1 node (4 GPUs) under a fine-tuning job of 2 workers
    × 4 GPUs. Torchrun waits for every worker, so a 1-node limit left the run hanging until its
    deadline: validation now refuses it and says which max holds both workers."""
    from tests.bundle.helpers import check_project, explain

    result = check_project({"spec.environments.dev": {"compute": {"pools": [{"name": "gpu-tune", "max": 1}]}}}, "rag")
    assert not result.valid
    assert "'fine-tune' runs 2 pods" in explain(result) and "raise max to 2" in explain(result)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_example_distributed_job_fits_its_pools_limits(project_plan, environment):
    plan = project_plan("rag-assistant", environment)
    template = named(plan, "WorkflowTemplate", "fine-tune")
    steps = template["spec"]["templates"][0]["steps"]
    (worker_step,) = [s for group in steps for s in group if s["name"] == "worker"]
    workers = int(worker_step["withSequence"]["count"])
    gpus = int(templates_of(template)["worker"]["container"]["resources"]["requests"]["nvidia.com/gpu"])
    limits = pool_of(plan, "rag-assistant", "gpu-tune")["spec"]["limits"]
    assert workers * gpus <= int(limits["nvidia.com/gpu"])


# --- pods fit the nodes of their pool ------------------------------------------------------------
# Facts: vCPU and memory of the example pools' instance types (AWS instance type specifications),
# the kubelet reservations of the EKS AL2023 AMI (kube-reserved CPU: 6% of the first core, 1% of
# the second, 0.5% of cores 3-4, 0.25% of the rest; memory 255 MiB + 11 MiB per pod of the
# instance's ENI-derived max-pods; eviction threshold 100 MiB), and an allowance for the node
# daemonsets mlrig installs (VPC CNI and its network-policy agent, kube-proxy, EKS Pod Identity
# agent, EBS CSI node, NVIDIA device plugin, DCGM exporter, node exporter).
INSTANCE_FACTS = {  # vCPU, GiB, max pods
    "g5.2xlarge": (8, 32, 58),
    "g6.2xlarge": (8, 32, 58),
    "g5.12xlarge": (48, 192, 737),
    "g6e.12xlarge": (48, 384, 737),
    "m6i.2xlarge": (8, 32, 58),
    "m7i.2xlarge": (8, 32, 58),
}
DAEMONSET_CPU, DAEMONSET_GIB = 0.5, 1.5


def allocatable(instance_type: str) -> tuple[float, float]:
    vcpus, gib, max_pods = INSTANCE_FACTS[instance_type]
    shares = [0.06, 0.01, 0.005, 0.005] + [0.0025] * (vcpus - 4)
    reserved_cpu = sum(shares[:vcpus])
    reserved_gib = (255 + 11 * max_pods + 100) / 1024
    return vcpus - reserved_cpu - DAEMONSET_CPU, gib - reserved_gib - DAEMONSET_GIB


def cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def gib(quantity: str) -> float:
    return float(quantity[:-2]) / (1024 if quantity.endswith("Mi") else 1)


def pinned_requests(plan) -> list[tuple[str, str, dict]]:
    """(what, pool, requests) of every InferenceService and workflow step pinned to a pool."""
    found = []
    for isvc in objects(plan, "InferenceService"):
        predictor = isvc["spec"]["predictor"]
        pool = predictor.get("nodeSelector", {}).get("mlrig.io/pool")
        server = predictor.get("model") or predictor["containers"][0]
        if pool:
            found.append((isvc["metadata"]["name"], pool, server["resources"]["requests"]))
    for template in objects(plan, "WorkflowTemplate"):
        for step in templates_of(template).values():
            pool = step.get("nodeSelector", {}).get("mlrig.io/pool")
            if pool and "container" in step:
                found.append(
                    (f"{template['metadata']['name']}/{step['name']}", pool, step["container"]["resources"]["requests"])
                )
    return found


@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_every_pod_pinned_to_a_pool_fits_one_of_its_instance_types_after_reservations(project_plan, project):
    """vLLM endpoints asked for 8 CPU / 32 GiB on 8 vCPU / 32 GiB nodes: never schedulable."""
    plan = project_plan(project, "prod")
    pools = {n["spec"]["template"]["metadata"]["labels"]["mlrig.io/pool"]: n for n in objects(plan, "NodePool")}
    misfits = []
    for what, pool, requests in pinned_requests(plan):
        node_pool = pools[pool]
        types = next(
            r["values"]
            for r in node_pool["spec"]["template"]["spec"]["requirements"]
            if r["key"] == "node.kubernetes.io/instance-type"
        )
        if not any(
            cpu(requests["cpu"]) <= allocatable(t)[0] and gib(requests["memory"]) <= allocatable(t)[1] for t in types
        ):
            misfits.append(f"{what}: {requests} fits none of {types}")
    assert misfits == []


# --- limits hold real nodes -----------------------------------------------------------------------


def _single_type_pool(facts, nodes: int, **extra) -> ComputePool:
    gpu = {"count": facts.nvidia_gpus} if facts.nvidia_gpus else None
    return ComputePool.model_validate(
        {"name": "p", "instanceTypes": [facts.name], "gpu": gpu, "architecture": facts.architecture, "max": nodes}
        | extra
    )


def test_every_known_instance_types_nodes_fit_the_limits_of_a_pool_of_it():
    """NodePool limits were estimated from a size table and a GiB-per-vCPU guess per family: a
    p5.4xlarge pool (256 GiB) got 176Gi, an i4i.2xlarge pool 32Gi for a 64 GiB node, m6i.metal
    96 CPU for 128: Karpenter launched no node at all. Whatever type EC2 knows, `max` nodes of it
    now fit the pool's limits, and the namespace quota and Kueue quotas use the same capacity."""
    from mlrig.bundle.model import ProjectSpec
    from mlrig.instance_facts import all_facts
    from mlrig.project.pools import pool_limits

    spec = ProjectSpec.model_construct(pipelines={})
    too_small = []
    for facts in all_facts().values():
        if facts.gpus and not facts.nvidia_gpus:
            continue  # other accelerators: no GPU pool of mlrig runs them
        limits = pool_limits(_single_type_pool(facts, 3), spec)
        memory_gib = int(limits["memory"].removesuffix("Gi"))
        if int(limits["cpu"]) < 3 * facts.vcpus or memory_gib * 1024 < 3 * facts.memory_mib:
            too_small.append(f"{facts.name}: {limits} for {facts.vcpus} CPU / {facts.memory_mib} MiB")
    assert not too_small, too_small[:10]


def test_workers_that_take_a_nodes_only_efa_interface_get_a_node_each():
    """A g5.24xlarge has 4 GPUs but one EFA interface, and every GPU step on an EFA pool asks for
    one: two one-GPU workers need two nodes, and the pool's limits must allow both."""
    from mlrig.instance_facts import facts_of
    from mlrig.pool_sizing import step_efa, workers_per_node

    facts = facts_of("g5.24xlarge")
    assert facts is not None and facts.nvidia_gpus == 4 and facts.efa == 1
    efa_pool = _single_type_pool(facts, 1, efa=True)
    assert step_efa(efa_pool, 1) == 1
    assert workers_per_node(efa_pool, 7, 1) == 1
    assert workers_per_node(_single_type_pool(facts, 1), 7, 1) == 4  # without EFA, by GPUs
    assert step_efa(efa_pool, 0) == 0  # a CPU-only step takes no GPU's share of the fabric
