"""The project's compute pools as Karpenter NodePools + EC2NodeClasses.

Every pool's nodes carry the project's taint and label, GPU pools also the `nvidia.com/gpu`
taint. Workloads get their node selector and tolerations from `node_selector_for` and
`tolerations_for`, which derive from the same `pool_taints`, so taints and tolerations can never
disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import pins
from ..aws_catalog import nvidia_gpus, split_instance_type
from ..bundle.model import ComputePool, ProjectSpec
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

# vCPUs per instance size and GiB of memory per vCPU by family, for pool limits and quotas.
VCPUS_BY_SIZE: dict[str, int] = {
    "medium": 1,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "3xlarge": 12,
    "4xlarge": 16,
    "6xlarge": 24,
    "8xlarge": 32,
    "9xlarge": 36,
    "12xlarge": 48,
    "16xlarge": 64,
    "18xlarge": 72,
    "24xlarge": 96,
    "32xlarge": 128,
    "48xlarge": 192,
    "metal": 96,
}
GIB_PER_VCPU_BY_FAMILY: dict[str, int] = {
    "c": 2,
    "m": 4,
    "r": 8,
    "x": 16,
    "z": 8,
    "t": 4,
    "g4dn": 4,
    "g5": 4,
    "g5g": 2,
    "g6": 4,
    "g6e": 8,
    "gr6": 8,
    "p3": 8,
    "p3dn": 8,
    "p4d": 12,
    "p4de": 12,
    "p5": 11,
    "p5e": 11,
    "p5en": 11,
    "p6-b200": 11,
}


def instance_capacity(instance_type: str) -> tuple[int, int]:
    """(vCPUs, GiB of memory) of an instance type, from its size and family."""
    family, size = split_instance_type(instance_type)
    vcpus = VCPUS_BY_SIZE.get(size, 4)
    per_vcpu = GIB_PER_VCPU_BY_FAMILY.get(family, GIB_PER_VCPU_BY_FAMILY.get(family[:1], 4))
    return vcpus, vcpus * per_vcpu


def node_capacity(pool: ComputePool) -> tuple[int, int]:
    """The largest node the pool may launch: its limits are `max` of these."""
    sizes = [instance_capacity(t) for t in pool.instance_types]
    return max(c for c, _ in sizes), max(m for _, m in sizes)


def gpus_per_node(pool: ComputePool) -> int:
    """GPUs of the pool's largest node (limits are counted in these)."""
    if pool.gpu is None:
        return 0
    return max((nvidia_gpus(t) or pool.gpu.count) for t in pool.instance_types)


def workers_per_node(pool: ComputePool, cpu: float, gpus: int) -> int:
    """How many workers of a job fit on the pool's smallest node, at least one."""
    if pool.gpu is not None and gpus:
        smallest = min((nvidia_gpus(t) or pool.gpu.count) for t in pool.instance_types)
        return max(1, smallest // gpus)
    smallest_cpu = min(instance_capacity(t)[0] for t in pool.instance_types)
    return max(1, int(smallest_cpu // max(cpu, 1)))


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
    return {OWNER_KEY: owner, POOL_LABEL: pool.name}


def tolerations_for(pool: ComputePool, owner: str) -> list[dict[str, str]]:
    """Tolerations a pod needs to run on the pool: exactly its taints."""
    return [
        {"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]}
        for t in pool_taints(pool, owner)
    ]


def node_selector_for(pool: ComputePool, owner: str) -> dict[str, str]:
    """Node selector that pins a pod to the pool's nodes."""
    return pool_labels(pool, owner)


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


def requirements(pool: ComputePool) -> list[dict[str, Any]]:
    return [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [pool.capacity]},
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
    if pool.gpu is not None:
        return {"consolidationPolicy": "WhenEmpty", "consolidateAfter": GPU_CONSOLIDATE_AFTER}
    return {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": CPU_CONSOLIDATE_AFTER}


def node_pool_spec(pool: ComputePool, spec: ProjectSpec, owner: str, node_class: str) -> dict[str, Any]:
    return {
        "template": {
            "metadata": {"labels": pool_labels(pool, owner)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
                "requirements": requirements(pool),
                "taints": pool_taints(pool, owner),
                "expireAfter": NODE_EXPIRY,
            },
        },
        "limits": pool_limits(pool, spec),
        "disruption": disruption(pool),
    }


def node_class_spec(ctx: ProjectContext, pool: ComputePool) -> dict[str, Any]:
    discovery = {"tags": {"karpenter.sh/discovery": ctx.platform.karpenter_discovery}}
    return {
        "role": ctx.platform.node_role_name,
        "amiSelectorTerms": [{"alias": AMI_ALIAS}],
        "subnetSelectorTerms": [discovery],
        "securityGroupSelectorTerms": [discovery],
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


class ComputePools(pulumi.ComponentResource):
    """Each `spec.compute.pools` entry as a NodePool + EC2NodeClass (and warm placeholders)."""

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:ComputePools", name, None, opts)
        owner = ctx.names.namespace
        pools = ctx.env.spec.compute.pools
        warm = [p for p in pools if p.min > 0]
        priority_class = f"{owner}-placeholder"
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
            node_class = k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-nodeclass",
                api_version=NODE_CLASS_API,
                kind="EC2NodeClass",
                metadata=metadata(ctx, node_class_name, component="compute", namespaced=False),
                spec=node_class_spec(ctx, pool),
                opts=ctx.k8s_opts(self),
            )
            k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-nodepool",
                api_version=KARPENTER_API,
                kind="NodePool",
                metadata=metadata(ctx, node_class_name, component="compute", namespaced=False),
                spec=node_pool_spec(pool, ctx.env.spec, owner, node_class_name),
                opts=ctx.k8s_opts(self, depends_on=[node_class]),
            )
            if pool.min > 0:
                k8s.apps.v1.Deployment(
                    f"{name}-{pool.name}-warm",
                    metadata=metadata(ctx, f"warm-{pool.name}", component="compute"),
                    spec=cast(k8s.apps.v1.DeploymentSpecArgsDict, placeholder_deployment(ctx, pool, priority_class)),
                    opts=ctx.k8s_opts(self, depends_on=list(depends_on)),
                )
        self.register_outputs({"pools": [p.name for p in pools]})
