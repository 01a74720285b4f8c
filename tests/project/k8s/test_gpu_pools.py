"""GPU pools: how nodes share their GPUs (a label picks the device plugin's configuration), the
capacity they launch into first (reservations, then the fallback in order), EFA between the nodes
of a training pool, and a cluster placement group."""

from __future__ import annotations

from typing import Any

from mlrig import gpu_sharing

from .conftest import named, templates_of


def node_pool(plan, name: str) -> dict[str, Any]:
    return named(plan, "NodePool", name)["spec"]


def requirement(pool: dict[str, Any], key: str) -> list[str]:
    return next(r["values"] for r in pool["template"]["spec"]["requirements"] if r["key"] == key)


def test_a_time_sliced_pools_nodes_select_the_device_plugins_time_slicing_config(project_plan):
    pool = node_pool(project_plan("fraud-detection", "dev"), "fraud-detection--gpu-train")
    labels = pool["template"]["metadata"]["labels"]
    assert labels["nvidia.com/device-plugin.config"] == "time-slicing-4"
    assert labels["mlrig.io/gpu-sharing"] == "time-slicing"
    # Karpenter plans in physical GPUs: it consolidates underused nodes to pack the slices back
    assert pool["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    # NodePool limits stay in Karpenter's unit, physical GPUs: 1 node × 1 GPU
    assert pool["limits"]["nvidia.com/gpu"] == "1"


def test_the_platforms_device_plugin_ships_every_configuration_a_pool_can_select(platform_plan):
    plan = platform_plan("dev")
    release = next(
        r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == "nvidia-device-plugin"
    )
    configs = release["inputs"]["values"]["config"]["map"]
    assert {"default", "mig-single", "time-slicing-4"} <= set(configs)
    assert all(f"time-slicing-{n}" in configs for n in range(gpu_sharing.MIN_REPLICAS, gpu_sharing.MAX_REPLICAS + 1))
    assert release["inputs"]["values"]["config"]["default"] == "default"


def test_whole_gpu_pools_keep_the_default_configuration(project_plan):
    labels = node_pool(project_plan("fraud-detection", "prod"), "fraud-detection--gpu-train")["template"]["metadata"][
        "labels"
    ]
    assert labels["nvidia.com/device-plugin.config"] == "default" and labels["mlrig.io/gpu-sharing"] == "none"


def mig_serving_pool(project: dict) -> None:
    serve = project["spec"]["compute"]["pools"][1]
    serve["instanceTypes"] = ["p5.48xlarge"]
    serve["sharing"] = {"mode": "mig", "profile": "1g.10gb"}


def test_a_mig_pool_cuts_every_gpu_into_its_profile_before_the_kubelet_starts(plan_variant):
    plan = plan_variant("rag-assistant", mig_serving_pool, "prod")
    node_class = named(plan, "EC2NodeClass", "rag-assistant--gpu-serve")["spec"]
    assert "nvidia-smi -mig 1" in node_class["userData"] and "MIG 1g.10gb" in node_class["userData"]
    labels = node_pool(plan, "rag-assistant--gpu-serve")["template"]["metadata"]["labels"]
    assert labels["nvidia.com/device-plugin.config"] == "mig-single"
    assert labels["nvidia.com/mig.config"] == "all-1g.10gb"
    # 4 nodes × 8 H100 × 7 instances of 1g.10gb, as pods request them
    quota = named(plan, "ResourceQuota", "project-quota")["spec"]["hard"]
    assert int(quota["requests.nvidia.com/gpu"]) == 2 * 4 + 4 * 8 * 7


def test_a_pool_with_reservations_launches_into_them_first_then_its_fallback(project_plan):
    plan = project_plan("rag-assistant", "prod")
    node_class = named(plan, "EC2NodeClass", "rag-assistant--gpu-tune")["spec"]
    assert node_class["capacityReservationSelectorTerms"] == [{"id": "cr-0a1b2c3d4e5f60718"}]
    pool = node_pool(plan, "rag-assistant--gpu-tune")
    # Karpenter prefers reserved offerings inside a NodePool; spot follows once they are used up
    assert requirement(pool, "karpenter.sh/capacity-type") == ["reserved", "spot"]


def test_a_second_fallback_is_a_nodepool_of_lower_weight(plan_variant):
    def on_demand_then_spot(project: dict) -> None:
        tune = project["spec"]["compute"]["pools"][0]
        tune["capacity"] = "on-demand"
        tune["reservations"]["fallback"] = ["on-demand", "spot"]

    plan = plan_variant("rag-assistant", on_demand_then_spot, "prod")
    first, second = node_pool(plan, "rag-assistant--gpu-tune"), node_pool(plan, "rag-assistant--gpu-tune--fallback")
    assert requirement(first, "karpenter.sh/capacity-type") == ["reserved", "on-demand"]
    assert requirement(second, "karpenter.sh/capacity-type") == ["spot"]
    assert first["weight"] > second["weight"]
    assert first["template"]["spec"]["nodeClassRef"] == second["template"]["spec"]["nodeClassRef"]


def test_spot_then_on_demand_after_the_reservations_is_one_nodepool_so_the_pools_max_holds(plan_variant, project_plan):
    """Karpenter tries reserved, then spot, then on-demand within one NodePool, and holds limits
    per NodePool: a second NodePool for on-demand (as before) let the pool launch twice its max."""

    def spot_then_on_demand(project: dict) -> None:
        project["spec"]["compute"]["pools"][0]["reservations"]["fallback"] = ["spot", "on-demand"]

    plan = plan_variant("rag-assistant", spot_then_on_demand, "prod")
    pools = [p for p in plan.of_type("kubernetes:karpenter.sh/v1:NodePool") if "gpu-tune" in p["name"]]
    assert len(pools) == 1, [p["name"] for p in pools]
    pool = node_pool(plan, "rag-assistant--gpu-tune")
    assert requirement(pool, "karpenter.sh/capacity-type") == ["reserved", "spot", "on-demand"]
    assert "weight" not in pool
    # the limits of the pool's max, as with the reservations and spot alone
    assert pool["limits"] == node_pool(project_plan("rag-assistant", "prod"), "rag-assistant--gpu-tune")["limits"]


def test_pools_without_reservations_keep_their_capacity_and_no_weight(project_plan):
    pool = node_pool(project_plan("fraud-detection", "prod"), "fraud-detection--gpu-train")
    assert requirement(pool, "karpenter.sh/capacity-type") == ["on-demand"] and "weight" not in pool


def test_efa_nodes_join_a_security_group_open_to_itself_in_both_directions(project_plan):
    plan = project_plan("rag-assistant", "prod")
    (group,) = [g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup") if g["inputs"]["name"].endswith("--efa")]
    group_id = group["id"]
    rules = [
        r
        for kind in (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        )
        for r in plan.of_type(kind)
        if r["inputs"]["securityGroupId"] == group_id
    ]
    assert sorted(r["type"].rsplit(":", 1)[-1] for r in rules) == [
        "SecurityGroupEgressRule",
        "SecurityGroupIngressRule",
    ]
    for rule in rules:
        assert rule["inputs"]["ipProtocol"] == "-1" and rule["inputs"]["referencedSecurityGroupId"] == group_id
    node_class = named(plan, "EC2NodeClass", "rag-assistant--gpu-tune")["spec"]
    assert {"id": group_id} in node_class["securityGroupSelectorTerms"]
    assert {"tags": {"karpenter.sh/discovery": "acme-ml-prod"}} in node_class["securityGroupSelectorTerms"]


def test_gpu_steps_on_an_efa_pool_request_the_nodes_efa_interfaces(project_plan):
    """Karpenter attaches EFA interfaces only to nodes whose pods request `vpc.amazonaws.com/efa`."""
    worker = templates_of(named(project_plan("rag-assistant", "prod"), "WorkflowTemplate", "fine-tune"))["worker"]
    resources = worker["container"]["resources"]
    # g6e.12xlarge and g5.12xlarge have one EFA interface and 4 GPUs; the worker takes all 4
    assert resources["requests"]["vpc.amazonaws.com/efa"] == resources["limits"]["vpc.amazonaws.com/efa"] == "1"


def test_a_cluster_placement_group_is_created_for_the_pool(project_plan):
    plan = project_plan("rag-assistant", "prod")
    (group,) = plan.of_type("aws:ec2/placementGroup:PlacementGroup")
    assert group["inputs"] == {**group["inputs"], "name": "rag-assistant--prod--gpu-tune", "strategy": "cluster"}
