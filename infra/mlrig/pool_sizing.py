"""How large a pool's nodes are and how many of a job's pods one node holds, read from the EC2
instance facts: for the program (NodePool limits, the namespace quota, Kueue's quotas) and for
validation alike, so that a pool validation accepts is a pool whose limits admit its nodes.

Free of Pulumi: `mlrig validate` imports it.
"""

from __future__ import annotations

import math

from .aws_catalog import nvidia_gpus
from .bundle.model import ComputePool
from .instance_facts import facts_of


def instance_capacity(instance_type: str) -> tuple[int, int]:
    """(vCPUs, GiB of memory rounded up) of an instance type, as EC2 describes it. Validation
    refuses a pool whose instance types the facts do not hold, so the program never guesses."""
    facts = facts_of(instance_type)
    if facts is None:
        raise ValueError(f"no instance facts for {instance_type!r}: `mlrig validate` refuses pools of such types")
    return facts.vcpus, math.ceil(facts.memory_mib / 1024)


def node_capacity(pool: ComputePool) -> tuple[int, int]:
    """The largest node the pool may launch, in vCPUs and GiB: its limits are multiples of these."""
    sizes = [instance_capacity(t) for t in pool.instance_types]
    return max(c for c, _ in sizes), max(m for _, m in sizes)


def efa_per_node(pool: ComputePool) -> int:
    """EFA interfaces every instance type of the pool has (0 without `efa`)."""
    if not pool.efa:
        return 0
    counts = [f.efa for t in pool.instance_types if (f := facts_of(t)) is not None]
    return min(counts) if counts else 0


def efa_per_pod(pool: ComputePool, gpus: int) -> int:
    """EFA interfaces a pod requests on an EFA pool: its share of the node's, by GPUs (all of them
    for a pod taking every GPU), at least one. Requesting `vpc.amazonaws.com/efa` is what makes
    Karpenter attach EFA interfaces when it launches the node."""
    per_node = efa_per_node(pool)
    if per_node == 0:
        return 0
    gpus_here = min((nvidia_gpus(t) or 1) for t in pool.instance_types) if pool.gpu is not None else 1
    share = per_node * max(gpus, 1) // max(gpus_here, 1) if pool.gpu is not None else per_node
    return max(1, min(per_node, share))


def step_efa(pool: ComputePool | None, gpus: int) -> int:
    """EFA interfaces a pipeline step of `gpus` GPUs requests on `pool`: none off EFA pools, and
    none for a CPU-only step on an EFA GPU pool (it takes no GPU, so no GPU's share of the fabric)."""
    if pool is None or not pool.efa or (pool.gpu is not None and gpus == 0):
        return 0
    return efa_per_pod(pool, gpus)


def workers_per_node(pool: ComputePool, cpu: float, gpus: int) -> int:
    """How many workers of a job fit on the pool's smallest node, at least one: by GPUs on a GPU
    pool, by CPU on a CPU pool, and by EFA interfaces where the workers take them (a node with one
    interface holds one worker, whatever its GPUs)."""
    if pool.gpu is not None and gpus:
        per_node = max(1, min((nvidia_gpus(t) or pool.gpu.count) for t in pool.instance_types) // gpus)
    else:
        smallest_cpu = min(instance_capacity(t)[0] for t in pool.instance_types)
        per_node = max(1, int(smallest_cpu // max(cpu, 1)))
    efa = step_efa(pool, gpus)
    if efa:
        per_node = min(per_node, max(1, efa_per_node(pool) // efa))
    return per_node
