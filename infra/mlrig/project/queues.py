"""The project's queue (Kueue): who runs on its pools when they are full, and who waits.

Per project environment:

- a **ResourceFlavor per pool** (`<namespace>--<pool>`): the pool's node labels and taints, so a
  pod admitted in it is one that lands on that pool; it counts CPU and memory;
- GPUs are counted apart: **whole GPUs** in the platform's shared flavor (`<platform>-gpu`, nodes
  without sharing), so that the projects of one environment, whose ClusterQueues share the
  environment's **cohort**, lend each other the GPUs they do not use; a time-sliced or MIG pool's
  slices in its own flavor (`<namespace>--<pool>--gpu`), never lent (a slice is not a GPU);
- a **ClusterQueue** (`<namespace>`) whose `namespaceSelector` admits workloads of the project's
  namespace only, with nominal quotas from its pools: everything `max` nodes hold, less what the
  pool's endpoints take at `maxReplicas` (serving is never queued, so its room is set aside);
  `queue.nominalGpus` lowers a pool's GPU share, `queueing.borrowingLimit` caps borrowing;
- a **LocalQueue** `pipelines` in the namespace, the only queue its pods can name;
- **WorkloadPriorityClasses** `<namespace>--training` and `<namespace>--batch-inference`, and a
  **PriorityClass** `<namespace>--serving` for endpoint replicas on pools.

Preemption (`preemption_policy`): a project always gets its own share back (`reclaimWithinCohort:
Any`: a borrower is preempted whatever priority it claims, since priorities are chosen by each
team); borrowing never preempts anyone (`borrowWithinCohort: Never`); inside the project's queue,
higher priority preempts lower (`withinClusterQueue: LowerPriority`: training over batch
inference). The platform turns Kueue's `PrioritySortingWithinCohort` off, so a team's priorities
never order another team's borrowing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import gpu_sharing, naming
from ..bundle.model import ComputePool, Endpoint, Pipeline, ProjectSpec
from ..pool_sizing import node_capacity
from .context import ProjectContext
from .kube import addons_of, cpu_cores, memory_gib, metadata
from .pools import find_pool, pool_labels, pool_nodes, pool_taints

KUEUE_API = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
POD_GROUP_LABEL = "kueue.x-k8s.io/pod-group-name"
POD_GROUP_COUNT = "kueue.x-k8s.io/pod-group-total-count"
LOCAL_QUEUE = naming.LOCAL_QUEUE
GPU = gpu_sharing.GPU_RESOURCE
TRAINING_TYPES = ("training", "fine-tuning")
BATCH_PRIORITY = "batch-inference"


def queueing_active(ctx: ProjectContext) -> bool:
    """The project asked for queues, the platform runs Kueue and Karpenter, and there are pools."""
    addons = addons_of(ctx)
    spec = ctx.env.spec
    return bool(
        spec.compute.queueing.enabled and addons.kueue.enabled and addons.karpenter.enabled and spec.compute.pools
    )


def preemption_policy() -> dict[str, Any]:
    return {
        "reclaimWithinCohort": "Any",
        "borrowWithinCohort": {"policy": "Never"},
        "withinClusterQueue": "LowerPriority",
    }


# --- what pods carry ---------------------------------------------------------------------------


def priority_kind(pipeline: Pipeline) -> str:
    return "training" if pipeline.type in TRAINING_TYPES else BATCH_PRIORITY


def step_labels(ctx: ProjectContext, pipeline: Pipeline) -> dict[str, str]:
    """Labels of a pooled step's pods: its LocalQueue and priority (nothing without queueing)."""
    if not queueing_active(ctx) or find_pool(ctx, pipeline.pool) is None:
        return {}
    return {
        QUEUE_LABEL: LOCAL_QUEUE,
        PRIORITY_LABEL: ctx.names.workload_priority_class(priority_kind(pipeline)),
    }


def gang(ctx: ProjectContext, pipeline: Pipeline) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) making the workers of one run a Kueue pod group: admitted together or
    not at all, so a 2 × 4-GPU job never holds 4 GPUs while waiting for the other 4. The group is
    the run (`workflow.uid`, unique and short enough for a label)."""
    if not step_labels(ctx, pipeline) or pipeline.workers <= 1:
        return {}, {}
    return {POD_GROUP_LABEL: "{{workflow.uid}}"}, {POD_GROUP_COUNT: str(pipeline.workers)}


# --- quotas --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """A pool's nominal quota in the queue: cores, GiB and GPUs (as pods request them)."""

    cpu: int
    memory_gib: int
    gpus: int


def serving_demand(spec: ProjectSpec, pool: ComputePool) -> Share:
    """What the pool's endpoints take at `maxReplicas` (both variants of a split or shadow)."""
    cores = memory = 0.0
    gpus = 0
    for endpoint in spec.serving.endpoints:
        if endpoint.pool != pool.name:
            continue
        copies = replicas_at_most(endpoint)
        cores += copies * cpu_cores(endpoint.resources.cpu)
        memory += copies * memory_gib(endpoint.resources.memory)
        gpus += copies * endpoint.resources.gpu
    return Share(math.ceil(cores), math.ceil(memory), gpus)


def replicas_at_most(endpoint: Endpoint) -> int:
    return endpoint.autoscaling.max_replicas * (1 if endpoint.rollout.strategy == "direct" else 2)


def pool_share(spec: ProjectSpec, pool: ComputePool) -> Share:
    nodes = pool_nodes(pool, spec)
    node_cpu, node_memory = node_capacity(pool)
    serving = serving_demand(spec, pool)
    return Share(
        max(nodes * node_cpu - serving.cpu, 0),
        max(nodes * node_memory - serving.memory_gib, 0),
        gpu_sharing.queue_gpu_share(spec, pool, nodes) or 0,
    )


def resource_flavor_spec(pool: ComputePool, owner: str) -> dict[str, Any]:
    return {"nodeLabels": pool_labels(pool, owner), "nodeTaints": pool_taints(pool, owner)}


def pool_gpu_flavor_spec(pool: ComputePool, owner: str) -> dict[str, Any]:
    """A shared pool's slices: its own nodes only (labels, not taints: the pool flavor of the
    CPU/memory group already checks the taints)."""
    return {"nodeLabels": pool_labels(pool, owner)}


def shares_whole_gpus(pool: ComputePool) -> bool:
    return pool.gpu is not None and pool.sharing.mode == "none"


def cluster_queue_spec(ctx: ProjectContext) -> dict[str, Any]:
    spec = ctx.env.spec
    names = ctx.names
    pools = spec.compute.pools
    shares = {pool.name: pool_share(spec, pool) for pool in pools}
    groups: list[dict[str, Any]] = [
        {
            "coveredResources": ["cpu", "memory"],
            "flavors": [
                {
                    "name": names.resource_flavor(pool.name),
                    "resources": [
                        {"name": "cpu", "nominalQuota": str(shares[pool.name].cpu)},
                        {"name": "memory", "nominalQuota": f"{shares[pool.name].memory_gib}Gi"},
                    ],
                }
                for pool in pools
            ],
        }
    ]
    gpu_flavors: list[dict[str, Any]] = []
    whole = [pool for pool in pools if shares_whole_gpus(pool)]
    if whole:
        resource: dict[str, Any] = {"name": GPU, "nominalQuota": str(sum(shares[p.name].gpus for p in whole))}
        if spec.compute.queueing.borrowing_limit is not None:
            resource["borrowingLimit"] = str(spec.compute.queueing.borrowing_limit)
        gpu_flavors.append({"name": naming.shared_gpu_flavor(ctx.project.platform.name), "resources": [resource]})
    for pool in pools:
        if pool.gpu is not None and not shares_whole_gpus(pool):
            gpu_flavors.append(
                {
                    "name": names.pool_gpu_flavor(pool.name),
                    "resources": [{"name": GPU, "nominalQuota": str(shares[pool.name].gpus), "borrowingLimit": "0"}],
                }
            )
    if gpu_flavors:
        groups.append({"coveredResources": [GPU], "flavors": gpu_flavors})
    return {
        "cohortName": naming.kueue_cohort(ctx.project.platform.name, ctx.env.name),
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": names.namespace}},
        "queueingStrategy": "BestEffortFIFO",
        "preemption": preemption_policy(),
        "resourceGroups": groups,
    }


class WorkloadPriorityClass(pulumi.CustomResource):
    """Kueue's WorkloadPriorityClass keeps `value` and `description` at the top level, beside
    `metadata`, where `apiextensions.CustomResource` (spec only) cannot put them."""

    def __init__(
        self,
        resource_name: str,
        *,
        metadata: k8s.meta.v1.ObjectMetaArgsDict,
        value: int,
        description: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        kind = "WorkloadPriorityClass"
        props = {
            "apiVersion": KUEUE_API,
            "kind": kind,
            "metadata": metadata,
            "value": value,
            "description": description,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s_version()))
        super().__init__(f"kubernetes:{KUEUE_API}:{kind}", resource_name, props, opts)


def k8s_version() -> str:
    """The pulumi-kubernetes provider version, as its own resources ask for it."""
    from pulumi_kubernetes import _utilities

    return str(_utilities.get_version())


class Queues(pulumi.ComponentResource):
    """ResourceFlavors, ClusterQueue, LocalQueue and priority classes of one project environment.
    `queued` is what queued pipeline steps depend on (the LocalQueue and the workload priority
    classes, deleted after them on teardown), `serving_priority` what endpoint replicas on the
    project's pools depend on."""

    queued: list[pulumi.Resource]
    serving_priority: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:Queues", name, None, opts)
        names = ctx.names
        owner = names.namespace
        spec = ctx.env.spec
        after = list(depends_on)
        self.queued = []
        self.serving_priority = []
        if queueing_active(ctx):
            flavors: list[pulumi.Resource] = []
            for pool in spec.compute.pools:
                flavors.append(
                    self._flavor(
                        ctx,
                        f"{name}-{pool.name}-flavor",
                        names.resource_flavor(pool.name),
                        resource_flavor_spec(pool, owner),
                    )
                )
                if pool.gpu is not None and not shares_whole_gpus(pool):
                    flavors.append(
                        self._flavor(
                            ctx,
                            f"{name}-{pool.name}-gpu-flavor",
                            names.pool_gpu_flavor(pool.name),
                            pool_gpu_flavor_spec(pool, owner),
                        )
                    )
            cluster_queue = k8s.apiextensions.CustomResource(
                f"{name}-cluster-queue",
                api_version=KUEUE_API,
                kind="ClusterQueue",
                metadata=metadata(ctx, names.cluster_queue(), component="queue", namespaced=False),
                spec=cluster_queue_spec(ctx),
                opts=ctx.k8s_opts(self, depends_on=[*after, *flavors]),
            )
            local_queue = k8s.apiextensions.CustomResource(
                f"{name}-local-queue",
                api_version=KUEUE_API,
                kind="LocalQueue",
                metadata=metadata(ctx, LOCAL_QUEUE, component="queue"),
                spec={"clusterQueue": names.cluster_queue()},
                opts=ctx.k8s_opts(self, depends_on=[*after, cluster_queue]),
            )
            priorities = spec.compute.queueing.priorities
            for kind, value in (("training", priorities.training), (BATCH_PRIORITY, priorities.batch_inference)):
                self.queued.append(
                    WorkloadPriorityClass(
                        f"{name}-priority-{kind}",
                        metadata=metadata(
                            ctx, names.workload_priority_class(kind), component="queue", namespaced=False
                        ),
                        value=value,
                        description=f"{kind} steps of {owner} (orders work inside the project's queue only)",
                        opts=ctx.k8s_opts(self),
                    )
                )
            self.queued.append(local_queue)
        if serves_on_pools(ctx):
            self.serving_priority.append(
                k8s.scheduling.v1.PriorityClass(
                    f"{name}-priority-serving",
                    metadata=metadata(ctx, names.priority_class("serving"), component="serving", namespaced=False),
                    value=spec.compute.queueing.priorities.serving,
                    preemption_policy="PreemptLowerPriority",
                    global_default=False,
                    description=f"Endpoint replicas of {owner} on its own pools: they preempt the project's queued pods there.",
                    opts=ctx.k8s_opts(self),
                )
            )
        self.register_outputs({"clusterQueue": names.cluster_queue() if queueing_active(ctx) else ""})

    def _flavor(self, ctx: ProjectContext, resource_name: str, flavor: str, spec: dict[str, Any]) -> pulumi.Resource:
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=KUEUE_API,
            kind="ResourceFlavor",
            metadata=metadata(ctx, flavor, component="queue", namespaced=False),
            spec=spec,
            opts=ctx.k8s_opts(self),
        )


def serves_on_pools(ctx: ProjectContext) -> bool:
    """Endpoint replicas on a pool get the project's serving priority (on pools only: there they
    compete with nothing but the project's own pods)."""
    return bool(addons_of(ctx).kserve.enabled and any(find_pool(ctx, e.pool) for e in ctx.env.spec.serving.endpoints))


def serving_priority_class(ctx: ProjectContext, endpoint: Endpoint) -> str | None:
    # An endpoint on a pool is what makes `serves_on_pools` true; asking it per endpoint would
    # scan every endpoint for each one.
    if not addons_of(ctx).kserve.enabled or find_pool(ctx, endpoint.pool) is None:
        return None
    return ctx.names.priority_class("serving")
