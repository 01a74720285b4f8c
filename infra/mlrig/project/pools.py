"""The project's compute pools as Karpenter NodePools + EC2NodeClasses.

Every pool's nodes carry the project's taint and label, GPU pools also the `nvidia.com/gpu`
taint and the label that picks their device-plugin configuration (whole GPUs, time-slicing or
MIG, `gpu_sharing.py`). Workloads get their node selector and tolerations from
`node_selector_for` and `tolerations_for`, which derive from the same `pool_taints` and
`pool_labels`, so taints and tolerations can never disagree.

Capacity: a pool with `reservations` launches into its EC2 capacity reservations (Karpenter's
`reserved` capacity type) first, then `fallback` in order, in one NodePool when Karpenter's own
order (reserved, spot, on-demand) is the pool's, so that the pool's limits hold; only on-demand
before spot gets a second NodePool of lower weight (`capacity_types.py`). EFA pools' nodes join a security group that lets EFA traffic flow
between them; `placementGroup: cluster` creates a cluster placement group.

Teardown (removing a pool or destroying the stack) must leave no instance, ENI or volume behind.
Pulumi deletes a resource only after everything that depends on it, so the dependencies say the
order: workloads (pipelines, endpoints, warm placeholders) depend on the pools, so they go first and
the nodes empty; then the NodePool (Karpenter deletes its NodeClaims, drains and terminates the
instances: the root volume and every ENI are delete-on-termination); then the EC2NodeClass, whose
finalizer waits until no NodeClaim uses it and removes the instance profile; only then the EFA
security group and the placement group, which AWS refuses to delete while instances use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import gpu_sharing, naming, pins
from ..aws_catalog import nvidia_gpus
from ..bundle.model import ComputePool, ProjectSpec
from ..capacity_types import node_pool_capacity_types
from ..instance_facts import facts_of
from ..pool_sizing import node_capacity, workers_per_node
from .context import ProjectContext
from .kube import cpu_cores, metadata, restricted_container_security, restricted_pod_security

KARPENTER_API = "karpenter.sh/v1"
NODE_CLASS_API = "karpenter.k8s.aws/v1"
# Karpenter resolves the AL2023 alias to the accelerated (NVIDIA) variant for GPU instance types.
AMI_ALIAS = "al2023@latest"
PAUSE_IMAGE = pins.PAUSE.reference

POOL_LABEL = "mlrig.io/pool"
OWNER_KEY = "mlrig.io/project"
GPU_TAINT = "nvidia.com/gpu"

# GPU nodes are expensive: remove them as soon as they are empty. CPU pools also consolidate
# underused nodes.
GPU_CONSOLIDATE_AFTER = "5m"
CPU_CONSOLIDATE_AFTER = "2m"
NODE_EXPIRY = "720h"


def gpus_per_node(pool: ComputePool) -> int:
    """Physical GPUs of the pool's largest node (NodePool limits are counted in these: Karpenter
    knows instance types, not how the device plugin shares them)."""
    if pool.gpu is None:
        return 0
    return max((nvidia_gpus(t) or pool.gpu.count) for t in pool.instance_types)


def slices_per_node(pool: ComputePool) -> int:
    """`nvidia.com/gpu` the pool's largest node advertises to pods: its GPUs, times the replicas
    (time-slicing) or MIG instances per GPU. Quotas and queues count these."""
    if pool.gpu is None:
        return 0
    sharing = pool.sharing
    best = 0
    for instance_type in pool.instance_types:
        facts = facts_of(instance_type)
        physical = nvidia_gpus(instance_type) or pool.gpu.count
        per_gpu = gpu_sharing.slices_per_gpu(sharing.mode, sharing.replicas, sharing.profile, facts) if facts else 1
        best = max(best, physical * per_gpu)
    return best


def largest_job_nodes(pool: ComputePool, spec: ProjectSpec) -> int:
    """Nodes the pool's largest multi-worker job occupies at once: a distributed run (torchrun
    rendezvous) makes progress only when every worker is scheduled, so the pool must hold all of
    them together."""
    needed = 0
    for pipeline in spec.pipelines.values():
        if pipeline.pool != pool.name or pipeline.workers <= 1:
            continue
        per_node = workers_per_node(pool, cpu_cores(pipeline.resources.cpu), pipeline.resources.gpu)
        needed = max(needed, math.ceil(pipeline.workers / per_node))
    return needed


def pool_nodes(pool: ComputePool, spec: ProjectSpec) -> int:
    """The most nodes the pool may run: its `max`, raised to fit its largest multi-worker job
    (a limit below that would leave the job's last workers pending until its deadline)."""
    return max(pool.max, largest_job_nodes(pool, spec))


# --- scheduling: the one place taints and tolerations come from --------------------------------


def pool_taints(pool: ComputePool, owner: str) -> list[dict[str, str]]:
    """Taints of the pool's nodes. `owner` is the project's namespace."""
    taints = [{"key": OWNER_KEY, "value": owner, "effect": "NoSchedule"}]
    if pool.gpu is not None:
        taints.append({"key": GPU_TAINT, "value": "true", "effect": "NoSchedule"})
    return taints


def pool_labels(pool: ComputePool, owner: str) -> dict[str, str]:
    labels = {OWNER_KEY: owner, POOL_LABEL: pool.name}
    if pool.gpu is not None:
        sharing = pool.sharing
        labels.update(gpu_sharing.node_labels(sharing.mode, sharing.replicas, sharing.profile))
    return labels


def tolerations_for(pool: ComputePool, owner: str) -> list[dict[str, str]]:
    """Tolerations a pod needs to run on the pool: exactly its taints."""
    return [
        {"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]}
        for t in pool_taints(pool, owner)
    ]


def node_selector_for(pool: ComputePool, owner: str) -> dict[str, str]:
    """Node selector that pins a pod to the pool's nodes."""
    return pool_labels(pool, owner)


def pools_selected(spec: Any) -> list[str]:
    """The pools the pods of an object's `spec` select (`mlrig.io/pool` in a `nodeSelector`), in
    order: what the object waits for, and what outlives it on teardown."""
    found: dict[str, None] = {}
    stack = [spec]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            selector = value.get("nodeSelector")
            if isinstance(selector, dict) and isinstance(selector.get(POOL_LABEL), str):
                found[selector[POOL_LABEL]] = None
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))
    return list(found)


def find_pool(ctx: ProjectContext, name: str | None) -> ComputePool | None:
    if name is None:
        return None
    return next((p for p in ctx.env.spec.compute.pools if p.name == name), None)


def scheduling(ctx: ProjectContext, pool_name: str | None) -> dict[str, Any]:
    """`nodeSelector` and `tolerations` of a pod on a pool ({} on the general nodes)."""
    pool = find_pool(ctx, pool_name)
    if pool is None:
        return {}
    owner = ctx.names.namespace
    return {"nodeSelector": node_selector_for(pool, owner), "tolerations": tolerations_for(pool, owner)}


# --- Karpenter objects ------------------------------------------------------------------------


# NodePool weights: the reserved-first NodePool of a pool is tried before its second fallback.
PRIMARY_WEIGHT = 50
FALLBACK_WEIGHT = 10


def requirements(pool: ComputePool, capacity: Sequence[str] | None = None) -> list[dict[str, Any]]:
    return [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
        {
            "key": "karpenter.sh/capacity-type",
            "operator": "In",
            "values": list(capacity or node_pool_capacity_types(pool)[0]),
        },
        {"key": "kubernetes.io/arch", "operator": "In", "values": [pool.architecture]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]


def pool_limits(pool: ComputePool, spec: ProjectSpec) -> dict[str, str]:
    """Karpenter's NodePool limits: `pool_nodes` nodes of the pool's largest instance type."""
    nodes = pool_nodes(pool, spec)
    cpu, memory = node_capacity(pool)
    limits = {"cpu": str(nodes * cpu), "memory": f"{nodes * memory}Gi"}
    if pool.gpu is not None:
        limits[GPU_TAINT] = str(nodes * gpus_per_node(pool))
    return limits


def disruption(pool: ComputePool) -> dict[str, str]:
    if pool.gpu is not None and pool.sharing.mode != "none":
        # Karpenter plans in physical GPUs: a burst of pods each asking for one slice launches a
        # node per pod, and the scheduler spreads them. Consolidating underused nodes packs the
        # slices back onto as few nodes as the device plugin's replicas allow.
        return {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": GPU_CONSOLIDATE_AFTER}
    if pool.gpu is not None:
        return {"consolidationPolicy": "WhenEmpty", "consolidateAfter": GPU_CONSOLIDATE_AFTER}
    return {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": CPU_CONSOLIDATE_AFTER}


def node_pool_spec(
    pool: ComputePool, spec: ProjectSpec, owner: str, node_class: str, capacity: Sequence[str] | None = None
) -> dict[str, Any]:
    node_pool: dict[str, Any] = {
        "template": {
            "metadata": {"labels": pool_labels(pool, owner)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
                "requirements": requirements(pool, capacity),
                "taints": pool_taints(pool, owner),
                "expireAfter": NODE_EXPIRY,
            },
        },
        "limits": pool_limits(pool, spec),
        "disruption": disruption(pool),
    }
    if len(node_pool_capacity_types(pool)) > 1:
        first = list(capacity or []) == node_pool_capacity_types(pool)[0]
        node_pool["weight"] = PRIMARY_WEIGHT if first else FALLBACK_WEIGHT
    return node_pool


def node_class_spec(
    ctx: ProjectContext, pool: ComputePool, efa_security_group: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    discovery = {"tags": {"karpenter.sh/discovery": ctx.platform.karpenter_discovery}}
    security_groups: list[dict[str, Any]] = [discovery]
    if efa_security_group is not None:
        security_groups.append({"id": efa_security_group})
    node_class: dict[str, Any] = {
        "role": ctx.platform.node_role_name,
        "amiSelectorTerms": [{"alias": AMI_ALIAS}],
        "subnetSelectorTerms": [discovery],
        "securityGroupSelectorTerms": security_groups,
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/xvda",
                "ebs": {
                    "volumeSize": f"{pool.disk_gib or 100}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        # IMDSv2 only, one hop: pods cannot reach the node's credentials (they use Pod Identity).
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "tags": {
            "project": ctx.project.name,
            "environment": ctx.env.name,
            "team": ctx.project.bundle.metadata.team or ctx.project.name,
            "cost-center": ctx.project.bundle.metadata.cost_center or "unassigned",
            "managed-by": "mlrig",
            POOL_LABEL: pool.name,
        },
    }
    if pool.reservations is not None:
        node_class["capacityReservationSelectorTerms"] = [{"id": rid} for rid in pool.reservations.ids]
    if pool.gpu is not None and pool.sharing.mode == "mig" and pool.sharing.profile:
        node_class["userData"] = gpu_sharing.mig_user_data(pool.sharing.profile)
    return node_class


def placeholder_deployment(ctx: ProjectContext, pool: ComputePool, priority_class: str) -> dict[str, Any]:
    """`min` warm nodes: one lowest-priority pause pod per node (anti-affinity), so the node is
    never empty and Karpenter keeps it; real pods preempt the placeholders when they need room."""
    labels = {"app.kubernetes.io/name": "warm-node-placeholder", POOL_LABEL: pool.name}
    return {
        "replicas": pool.min,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "priorityClassName": priority_class,
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security(),
                **scheduling(ctx, pool.name),
                "affinity": {
                    "podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}
                        ]
                    }
                },
                "containers": [
                    {
                        "name": "pause",
                        "image": PAUSE_IMAGE,
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "16Mi"},
                            "limits": {"cpu": "10m", "memory": "16Mi"},
                        },
                        "securityContext": restricted_container_security(),
                    }
                ],
            },
        },
    }


def node_pool_names(ctx: ProjectContext, pool: ComputePool) -> list[str]:
    """The pool's NodePools: `<namespace>--<pool>`, and `…--fallback` for a second fallback."""
    base = ctx.names.node_pool(pool.name)
    return [base, *[naming.join(base, "fallback") for _ in node_pool_capacity_types(pool)[1:]]]


class ComputePools(pulumi.ComponentResource):
    """Each `spec.compute.pools` entry as NodePool(s) + EC2NodeClass (and warm placeholders, the
    EFA security group, the placement group). `by_pool[pool]` lists what the workloads on the pool
    must depend on so that a teardown deletes them first (its EC2NodeClass and NodePools, see the
    module docstring)."""

    by_pool: dict[str, list[pulumi.Resource]]

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:ComputePools", name, None, opts)
        self._ctx = ctx
        self._name = name
        self.by_pool = {}
        owner = ctx.names.namespace
        pools = ctx.env.spec.compute.pools
        warm = [p for p in pools if p.min > 0]
        priority_class = ctx.names.placeholder_priority_class()
        if warm:
            k8s.scheduling.v1.PriorityClass(
                f"{name}-placeholder-priority",
                metadata=metadata(ctx, priority_class, component="compute", namespaced=False),
                value=-10,
                preemption_policy="Never",
                global_default=False,
                description="Pause pods that keep a project's warm nodes; any real pod preempts them.",
                opts=ctx.k8s_opts(self),
            )
        for pool in pools:
            node_class_name = ctx.names.node_pool(pool.name)
            # AWS resources the nodes use: deleted only after the EC2NodeClass (and so its nodes).
            network = self._efa_security_group(pool)
            placement = self._placement_group(pool)
            node_class = k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-nodeclass",
                api_version=NODE_CLASS_API,
                kind="EC2NodeClass",
                metadata=metadata(ctx, node_class_name, component="compute", namespaced=False),
                spec=node_class_spec(ctx, pool, network.id if network is not None else None),
                opts=ctx.k8s_opts(self, depends_on=[r for r in (network, placement) if r is not None]),
            )
            mine: list[pulumi.Resource] = [node_class]
            for node_pool_name, capacity in zip(
                node_pool_names(ctx, pool), node_pool_capacity_types(pool), strict=True
            ):
                suffix = "" if node_pool_name == node_class_name else "-fallback"
                node_pool = k8s.apiextensions.CustomResource(
                    f"{name}-{pool.name}-nodepool{suffix}",
                    api_version=KARPENTER_API,
                    kind="NodePool",
                    metadata=metadata(ctx, node_pool_name, component="compute", namespaced=False),
                    spec=node_pool_spec(pool, ctx.env.spec, owner, node_class_name, capacity),
                    opts=ctx.k8s_opts(self, depends_on=[node_class]),
                )
                mine.append(node_pool)
            self.by_pool[pool.name] = mine
            if pool.min > 0:
                k8s.apps.v1.Deployment(
                    f"{name}-{pool.name}-warm",
                    metadata=metadata(ctx, f"warm-{pool.name}", component="compute"),
                    spec=cast(k8s.apps.v1.DeploymentSpecArgsDict, placeholder_deployment(ctx, pool, priority_class)),
                    # Deleted before the pool's NodePools on teardown, like every workload on the pool.
                    opts=ctx.k8s_opts(self, depends_on=[*depends_on, *mine]),
                )
        self.register_outputs({"pools": [p.name for p in pools]})

    def _efa_security_group(self, pool: ComputePool) -> aws.ec2.SecurityGroup | None:
        """EFA traffic is not IP: it passes only between interfaces whose security group allows
        all traffic to and from itself, in both directions (the cluster security group allows
        inbound from itself but no such outbound rule)."""
        if not pool.efa:
            return None
        ctx = self._ctx
        group_name = ctx.names.efa_security_group(pool.name)
        group = aws.ec2.SecurityGroup(
            f"{self._name}-{pool.name}-efa",
            name=group_name,
            description=f"EFA between the nodes of pool {pool.name}: all traffic to and from itself",
            vpc_id=ctx.platform.vpc_id,
            tags={"Name": group_name, POOL_LABEL: pool.name},
            opts=ctx.aws_opts(self),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-{pool.name}-efa-in",
            security_group_id=group.id,
            description="EFA: all traffic from the pool's own nodes",
            ip_protocol="-1",
            referenced_security_group_id=group.id,
            opts=ctx.aws_opts(self),
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{pool.name}-efa-out",
            security_group_id=group.id,
            description="EFA: all traffic to the pool's own nodes",
            ip_protocol="-1",
            referenced_security_group_id=group.id,
            opts=ctx.aws_opts(self),
        )
        return group

    def _placement_group(self, pool: ComputePool) -> aws.ec2.PlacementGroup | None:
        if pool.placement_group != "cluster":
            return None
        ctx = self._ctx
        return aws.ec2.PlacementGroup(
            f"{self._name}-{pool.name}-placement",
            name=ctx.names.placement_group(pool.name),
            strategy="cluster",
            opts=ctx.aws_opts(self),
        )
