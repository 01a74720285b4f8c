"""Clean teardown: destroying a project stack, or removing a pool from it, leaves no instance, ENI,
volume or load balancer behind.

Pulumi deletes a resource only after every resource that depends on it, so the plan's dependency
graph is the delete order. What it must say: every workload on a pool goes before the pool's
NodePools (the nodes drain empty, Karpenter terminates them with their delete-on-termination root
volumes and ENIs), each NodePool before its EC2NodeClass (whose finalizer waits for the last
NodeClaim, then removes the instance profile), and the EC2NodeClass before the EFA security group
and placement group AWS refuses to delete while instances use them. Queued workloads go before
their LocalQueue, which goes before the ClusterQueue and its flavors (Kueue keeps a finalizer on
each while something uses it)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Graph

PLANS = [("rag-assistant", "prod"), ("rag-assistant", "dev"), ("fraud-detection", "dev")]


def pools_of(resource: dict[str, Any]) -> set[str]:
    """The pools (`mlrig.io/pool`) a workload's pods select."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            selector = value.get("nodeSelector")
            if isinstance(selector, dict) and "mlrig.io/pool" in selector:
                found.add(selector["mlrig.io/pool"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(resource["inputs"].get("spec") or {})
    return found


WORKLOAD_KINDS = ("WorkflowTemplate", "CronWorkflow", "InferenceService", "Deployment", "DaemonSet")


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_every_workload_on_a_pool_is_deleted_before_the_pools_nodepools(project_plan, project, environment):
    graph = Graph(project_plan(project, environment))
    node_pools = graph.kind("NodePool")
    checked = 0
    for kind in WORKLOAD_KINDS:
        for workload in graph.kind(kind):
            for pool in pools_of(workload):
                mine = [
                    p
                    for p in node_pools
                    if p["inputs"]["spec"]["template"]["metadata"]["labels"]["mlrig.io/pool"] == pool
                ]
                assert mine
                for node_pool in mine:
                    assert graph.deleted_before(workload, node_pool), (workload["name"], node_pool["name"])
                    checked += 1
    assert checked


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_a_nodepool_goes_before_its_node_class_and_the_class_before_its_aws_resources(
    project_plan, project, environment
):
    plan = project_plan(project, environment)
    graph = Graph(plan)
    classes = {c["inputs"]["metadata"]["name"]: c for c in graph.kind("EC2NodeClass")}
    for node_pool in graph.kind("NodePool"):
        node_class = classes[node_pool["inputs"]["spec"]["template"]["spec"]["nodeClassRef"]["name"]]
        assert graph.deleted_before(node_pool, node_class)
    for node_class in classes.values():
        for term in node_class["inputs"]["spec"]["securityGroupSelectorTerms"]:
            if "id" in term:
                (group,) = [g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup") if g["id"] == term["id"]]
                assert graph.deleted_before(node_class, group)


def test_a_placement_group_outlives_the_instances_in_it(project_plan):
    plan = project_plan("rag-assistant", "prod")
    graph = Graph(plan)
    (placement,) = plan.of_type("aws:ec2/placementGroup:PlacementGroup")
    (node_class,) = [
        c for c in graph.kind("EC2NodeClass") if c["inputs"]["metadata"]["name"] == "rag-assistant--gpu-tune"
    ]
    assert graph.deleted_before(node_class, placement)


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_queued_work_goes_before_its_queue_and_the_queue_before_its_flavors(project_plan, project, environment):
    graph = Graph(project_plan(project, environment))
    (local,) = graph.kind("LocalQueue")
    (cluster,) = graph.kind("ClusterQueue")
    assert graph.deleted_before(local, cluster)
    for flavor in graph.kind("ResourceFlavor"):
        assert graph.deleted_before(cluster, flavor)
    for template in graph.kind("WorkflowTemplate"):
        if pools_of(template):
            assert graph.deleted_before(template, local)


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_nothing_left_behind_in_aws_outlives_its_instance(project_plan, project, environment):
    """Root volumes go with their instance, and no project Service asks for a load balancer."""
    plan = project_plan(project, environment)
    for node_class in Graph(plan).kind("EC2NodeClass"):
        for device in node_class["inputs"]["spec"]["blockDeviceMappings"]:
            assert device["ebs"]["deleteOnTermination"] is True
    for service in Graph(plan).kind("Service"):
        assert service["inputs"]["spec"].get("type", "ClusterIP") == "ClusterIP"
    quota = next(r for r in Graph(plan).kind("ResourceQuota"))
    assert quota["inputs"]["spec"]["hard"]["services.loadbalancers"] == "0"
