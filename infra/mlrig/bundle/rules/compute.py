"""Compute: the cluster's Kubernetes version is supported; pools' instance types exist, GPU pools
use GPU families, counts fit, bounds are ordered, and every pipeline step and endpoint fits a node
of its pool (and its pool's `max`)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache

from ... import gpu_sharing, pool_sizing
from ...aws_catalog import (
    ARM64_GPU_FAMILIES,
    NON_NVIDIA_ACCELERATORS,
    botocore_version,
    is_instance_type,
    nvidia_gpus,
    split_instance_type,
)
from ...checks import quantities
from ...checks.daemonsets import mlrig_daemonsets
from ...instance_facts import Allocatable, InstanceFacts, all_facts, facts_of, node_allocatable
from ...pins import KARPENTER, KUBERNETES_MINIMUM
from ..diagnostics import Path, did_you_mean
from ..model import Addon, ComputePool, Resources
from ..resolved import Platform
from . import Finding, ProjectView, platform_rule, project_rule
from .gpu import DISTRIBUTED_TYPES


def _pool_path(i: int, *rest: str | int) -> tuple[str | int, ...]:
    return ("spec", "compute", "pools", i, *rest)


def _cluster_version_problem(version: str, karpenter: Addon) -> str | None:
    """Why a cluster of this Kubernetes version cannot run what mlrig deploys, or None."""
    minor = int(version.split(".")[1])
    if minor < KUBERNETES_MINIMUM:
        return (
            f"Kubernetes {version} is too old for mlrig: project namespaces are guarded by ValidatingAdmissionPolicies "
            f"(admissionregistration.k8s.io/v1), which clusters serve from 1.{KUBERNETES_MINIMUM} on; "
            f"use 1.{KUBERNETES_MINIMUM} or later"
        )
    supported = KARPENTER.kubernetes
    if karpenter.enabled and karpenter.version is None and supported is not None:
        oldest, newest = supported
        if not oldest <= minor <= newest:
            return (
                f"Kubernetes {version} is not supported by Karpenter {KARPENTER.version}, the release this mlrig pins "
                f"(it supports 1.{oldest} to 1.{newest}); use one of those, or set `addons.karpenter.version` to "
                f"a Karpenter release that supports {version}"
            )
    return None


@platform_rule
def cluster_version_supported(platform: Platform) -> Iterator[Finding]:
    """Every environment's cluster runs a Kubernetes version that serves the APIs mlrig's objects
    use and that the pinned Karpenter supports: EKS creates a cluster of any version it offers,
    and the first apply then fails on the objects, or nodes never launch."""
    reported: set[Path] = set()
    for name, env in platform.environments.items():
        cluster = env.spec.cluster
        if cluster is None:
            continue
        declared = platform.bundle.spec.environments[name].cluster
        where: Path = (
            ("spec", "environments", name, "cluster", "version")
            if declared is not None and "version" in declared.model_fields_set
            else ("spec", "cluster", "version")
        )
        problem = _cluster_version_problem(cluster.version, cluster.addons.karpenter)
        if problem and where not in reported:
            reported.add(where)
            yield Finding(where, problem)


@project_rule
def pool_bounds_ordered(view: ProjectView) -> Iterator[Finding]:
    for i, pool in enumerate(view.spec.compute.pools):
        if pool.min > pool.max:
            yield Finding(
                _pool_path(i, "min"), f"min ({pool.min}) is greater than max ({pool.max}) in pool '{pool.name}'"
            )


def _unknown_type(instance_type: str) -> str:
    return (
        f"'{instance_type}' is not an EC2 instance type{did_you_mean(instance_type, _names())}; "
        f"valid names come from botocore {botocore_version()}'s EC2 model (upgrade botocore for newer types)"
    )


def _names() -> list[str]:
    from ...aws_catalog import ec2_instance_types

    return sorted(ec2_instance_types())


@project_rule
def pool_instance_types_exist(view: ProjectView) -> Iterator[Finding]:
    for i, pool in enumerate(view.spec.compute.pools):
        for j, instance_type in enumerate(pool.instance_types):
            if not is_instance_type(instance_type):
                yield Finding(_pool_path(i, "instanceTypes", j), _unknown_type(instance_type))


@platform_rule
def system_node_group_types_exist(platform: Platform) -> Iterator[Finding]:
    spec = platform.bundle.spec
    places: list[tuple[Path, list[str]]] = []
    if spec.cluster is not None:
        places.append(
            (("spec", "cluster", "systemNodeGroup", "instanceTypes"), spec.cluster.system_node_group.instance_types)
        )
    for name, env in spec.environments.items():
        if env.cluster is not None and env.cluster.system_node_group is not None:
            where: Path = ("spec", "environments", name, "cluster", "systemNodeGroup", "instanceTypes")
            places.append((where, env.cluster.system_node_group.instance_types))
    for where, types in places:
        for j, instance_type in enumerate(types):
            if not is_instance_type(instance_type):
                yield Finding((*where, j), _unknown_type(instance_type))


@project_rule
def gpu_pools_use_gpu_instances(view: ProjectView) -> Iterator[Finding]:
    for i, pool in enumerate(view.spec.compute.pools):
        for j, instance_type in enumerate(pool.instance_types):
            if not is_instance_type(instance_type):
                continue  # reported by pool_instance_types_exist
            family, _ = split_instance_type(instance_type)
            gpus = nvidia_gpus(instance_type)
            path = _pool_path(i, "instanceTypes", j)
            if pool.gpu is None:
                if gpus:
                    yield Finding(
                        path,
                        f"'{instance_type}' is a GPU instance in CPU pool '{pool.name}'; add `gpu: {{count: 1}}` or use a CPU type",
                    )
                continue
            if family in NON_NVIDIA_ACCELERATORS:
                yield Finding(
                    path,
                    f"'{instance_type}' has {NON_NVIDIA_ACCELERATORS[family]}, not NVIDIA GPUs; GPU pools need g4dn, g5, g6, g6e, p4d, p5 … types",
                )
            elif gpus == 0:
                yield Finding(
                    path,
                    f"'{instance_type}' is not a GPU instance type; GPU pool '{pool.name}' needs NVIDIA GPU families such as g5, g6, p4d or p5",
                )
            elif gpus is None:
                yield Finding(path, f"unknown size of GPU family '{family}' in '{instance_type}'")
            elif gpus < pool.gpu.count:
                yield Finding(path, f"'{instance_type}' has {gpus} GPU(s), fewer than gpu.count {pool.gpu.count}")
            if pool.gpu is not None and (family in ARM64_GPU_FAMILIES) != (pool.architecture == "arm64"):
                yield Finding(
                    path,
                    f"'{instance_type}' is {'arm64' if family in ARM64_GPU_FAMILIES else 'amd64'} but pool '{pool.name}' has architecture {pool.architecture}",
                )


@project_rule
def gpu_requests_have_gpu_pools(view: ProjectView) -> Iterator[Finding]:
    names = Counter(p.name for p in view.spec.compute.pools)
    # A name declared twice is ambiguous: that is the error, reported once by its own rule.
    pools: dict[str, ComputePool] = {p.name: p for p in view.spec.compute.pools if names[p.name] == 1}
    ambiguous = {name for name, count in names.items() if count > 1}
    workloads: list[tuple[Path, str, str | None, int]] = [
        (("spec", "pipelines", name), name, p.pool, p.resources.gpu) for name, p in view.spec.pipelines.items()
    ]
    workloads += [
        (("spec", "serving", "endpoints", i), e.name, e.pool, e.resources.gpu)
        for i, e in enumerate(view.spec.serving.endpoints)
    ]
    for path, name, pool_name, gpus in workloads:
        if gpus == 0:
            continue
        pool = pools.get(pool_name) if pool_name else None
        if pool_name in ambiguous:
            continue
        if pool_name is None:
            yield Finding(
                (*path, "pool"),
                f"'{name}' requests {gpus} GPU(s) but names no `pool`; point it at a GPU pool",
                key=False,
            )
        elif pool is None:
            continue  # reported by the reference rule
        elif pool.gpu is None:
            yield Finding((*path, "pool"), f"'{name}' requests {gpus} GPU(s) but pool '{pool_name}' has no GPUs")
        elif gpus > pool.gpu.count:
            yield Finding(
                (*path, "resources", "gpu"),
                f"'{name}' requests {gpus} GPU(s) but pool '{pool_name}' nodes have {pool.gpu.count}",
            )


@project_rule
def vllm_endpoints_use_gpus(view: ProjectView) -> Iterator[Finding]:
    for i, endpoint in enumerate(view.spec.serving.endpoints):
        if endpoint.runtime == "vllm" and endpoint.resources.gpu == 0:
            yield Finding(
                ("spec", "serving", "endpoints", i, "resources"),
                f"vllm endpoint '{endpoint.name}' needs `resources.gpu` ≥ 1 and a GPU pool",
            )


# --- scheduling fit -----------------------------------------------------------------------------
#
# What a node offers pods: `instance_facts.node_allocatable` (capacity less kube-reserved, the
# eviction threshold and Karpenter's VM overhead), less the DaemonSets the platform installs on it
# (`checks/daemonsets.py`). The same numbers as MLRIG-DEP-001/002 on the plan, before any plan.

KSERVE_LOGGER_CPU_MILLIS = 100  # KServe v0.15 logger sidecar (inferenceservice-config `logger`)
KSERVE_LOGGER_MIB = 100
# Pipeline types whose steps run on their pool (model-deployment's gates run on general nodes).
POOL_PIPELINE_TYPES = (
    "feature-refresh",
    "training",
    "batch-inference",
    "monitoring",
    "fine-tuning",
    "vector-index-refresh",
)


@dataclass(frozen=True)
class _Workload:
    path: Path
    name: str
    pool_name: str
    cpu_millis: int
    memory_mib: int
    gpus: int
    together: int
    note: str = ""
    efa: int = 0  # EFA interfaces per pod (pipeline steps on an EFA pool: `pool_sizing.step_efa`)

    def text(self) -> str:
        parts = [f"{quantities.show_cpu(self.cpu_millis)} CPU", f"{quantities.show_memory(self.memory_mib)} memory"]
        if self.gpus:
            parts.append(f"{self.gpus} GPU(s)")
        if self.efa:
            parts.append(f"{self.efa} EFA interface(s)")
        return ", ".join(parts)


def _requests(resources: Resources) -> tuple[int, int, int]:
    return (
        quantities.cpu_millis(resources.cpu) or 0,
        quantities.memory_mib(resources.memory) or 0,
        resources.gpu,
    )


def _workloads(view: ProjectView) -> list[_Workload]:
    return _derived(view).workloads


def _derive_workloads(view: ProjectView) -> Iterator[_Workload]:
    pools = {p.name: p for p in view.spec.compute.pools}
    for name, pipeline in view.spec.pipelines.items():
        if pipeline.pool is None or pipeline.type not in POOL_PIPELINE_TYPES:
            continue
        cpu, memory, gpus = _requests(pipeline.resources)
        together = pipeline.workers if pipeline.type in DISTRIBUTED_TYPES else 1
        efa = pool_sizing.step_efa(pools.get(pipeline.pool), gpus)
        path: Path = ("spec", "pipelines", name, "resources")
        yield _Workload(path, name, pipeline.pool, cpu, memory, gpus, together, efa=efa)
    for i, endpoint in enumerate(view.spec.serving.endpoints):
        if endpoint.pool is None:
            continue
        cpu, memory, gpus = _requests(endpoint.resources)
        note = ""
        if endpoint.request_logging or endpoint.rollout.strategy == "shadow":
            cpu, memory = cpu + KSERVE_LOGGER_CPU_MILLIS, memory + KSERVE_LOGGER_MIB
            note = " (with KServe's request-logger sidecar, 100m CPU and 100Mi)"
        variants = 2 if endpoint.rollout.strategy in ("canary", "ab", "shadow") else 1
        replicas = max(endpoint.autoscaling.min_replicas, 1) * variants
        yield _Workload(
            ("spec", "serving", "endpoints", i, "resources"),
            endpoint.name,
            endpoint.pool,
            cpu,
            memory,
            gpus,
            replicas,
            note,
        )


def _offer(view: ProjectView, facts: InstanceFacts, *, prepull: bool = False) -> Allocatable:
    return _node_offer(facts, prepull, _addons(view))


def _addons(view: ProjectView) -> tuple[bool, bool, bool, bool, bool]:
    """The add-ons whose DaemonSets run on the nodes: monitoring, the NVIDIA device plugin, the
    DCGM exporter, the EFA device plugin, Mountpoint for S3."""
    cluster = None
    if view.platform_environment is not None:
        cluster = view.platform_environment.spec.cluster
    if cluster is None and view.platform is not None:
        cluster = view.platform.bundle.spec.cluster
    addons = cluster.addons if cluster is not None else None
    return (
        bool(addons and addons.monitoring.enabled),
        bool(addons and addons.nvidia_device_plugin.enabled),
        bool(addons and addons.dcgm_exporter.enabled),
        bool(addons and addons.efa_device_plugin.enabled),
        bool(addons and addons.mountpoint_s3.enabled),
    )


@cache
def _node_offer(facts: InstanceFacts, prepull: bool, addons: tuple[bool, bool, bool, bool, bool]) -> Allocatable:
    """What pods may request on a node of `facts` with these add-ons (as `_addons` gives them). The
    rules ask once per pool and instance type of every project environment; the answers repeat."""
    monitoring, device_plugin, dcgm_exporter, efa_device_plugin, mountpoint_s3 = addons
    daemonsets = mlrig_daemonsets(
        monitoring=monitoring,
        device_plugin=device_plugin,
        dcgm_exporter=dcgm_exporter,
        efa_device_plugin=efa_device_plugin,
        mountpoint_s3=mountpoint_s3,
    )
    here = [
        d for d in daemonsets if (not d.gpu_nodes_only or facts.nvidia_gpus) and (not d.efa_nodes_only or facts.efa)
    ]
    overhead_cpu = sum(d.cpu_millis for d in here) + (PREPULL_CPU_MILLIS if prepull else 0)
    overhead_mib = sum(d.memory_mib for d in here) + (PREPULL_MIB if prepull else 0)
    return node_allocatable(facts).minus(overhead_cpu, overhead_mib)


# The serving-image pre-puller on a GPU pool with pre-pulling endpoints (project/serving.py).
PREPULL_CPU_MILLIS = 10
PREPULL_MIB = 16


def _prepulls(view: ProjectView, pool: ComputePool) -> bool:
    return pool.gpu is not None and any(e.pool == pool.name and e.startup.pre_pull for e in view.spec.serving.endpoints)


def _fits(workload: _Workload, offer: Allocatable) -> bool:
    return (
        workload.cpu_millis <= offer.cpu_millis
        and workload.memory_mib <= offer.memory_mib
        and workload.gpus <= offer.gpus
        and workload.efa <= offer.efa
    )


def _pool_is_sound(pool: ComputePool) -> bool:
    """Its instance types exist and suit it (else another rule reports the pool: one error per cause)."""
    return _types_suit(tuple(pool.instance_types), pool.architecture, None if pool.gpu is None else pool.gpu.count)


def _types_suit(instance_types: tuple[str, ...], architecture: str, gpu_count: int | None) -> bool:
    for instance_type in instance_types:
        facts = facts_of(instance_type)
        if not is_instance_type(instance_type) or facts is None or facts.architecture != architecture:
            return False
        if (gpu_count is None) != (facts.nvidia_gpus == 0) or (gpu_count is not None and facts.nvidia_gpus < gpu_count):
            return False
    return True


def _pool_offers(view: ProjectView, pool: ComputePool) -> tuple[tuple[InstanceFacts, Allocatable], ...]:
    """What a node of each of the pool's types offers; a shared pool's GPUs as the device plugin
    advertises them (slices), which is what pods request and the kube-scheduler packs."""
    derived = _derived(view)
    found = derived.offers.get(id(pool))
    if found is None or found[0] is not pool:
        found = derived.offers[id(pool)] = (pool, _derive_pool_offers(view, pool))
    return found[1]


def _derive_pool_offers(view: ProjectView, pool: ComputePool) -> tuple[tuple[InstanceFacts, Allocatable], ...]:
    sharing = pool.sharing
    return _offers_of(
        tuple(pool.instance_types),
        pool.architecture,
        None if pool.gpu is None else pool.gpu.count,
        (sharing.mode, sharing.replicas, sharing.profile),
        _prepulls(view, pool),
        _addons(view),
    )


@lru_cache(maxsize=4096)
def _offers_of(
    instance_types: tuple[str, ...],
    architecture: str,
    gpu_count: int | None,
    sharing: tuple[str, int | None, str | None],
    prepull: bool,
    addons: tuple[bool, bool, bool, bool, bool],
) -> tuple[tuple[InstanceFacts, Allocatable], ...]:
    """The offers of a pool, from everything of the pool and its environment they depend on:
    pools repeat across environments and projects, and so do their offers."""
    if not _types_suit(instance_types, architecture, gpu_count):
        return ()
    offers = []
    for instance_type in instance_types:
        facts = facts_of(instance_type)
        if facts is None:
            continue
        slices = gpu_sharing.slices_per_gpu(*sharing, facts)
        offer = _node_offer(facts, prepull, addons)
        offers.append((facts, offer.with_gpus(offer.gpus * slices)))
    return tuple(offers)


@dataclass
class _ViewFacts:
    """The workloads and pool offers of one view. The compute rules each ask for them, and the
    rules judge one view after another: derived once per view, not once per rule."""

    view: ProjectView | None = None
    workloads: list[_Workload] = field(default_factory=list)
    offers: dict[int, tuple[ComputePool, tuple[tuple[InstanceFacts, Allocatable], ...]]] = field(default_factory=dict)


_last_view = _ViewFacts()


def _derived(view: ProjectView) -> _ViewFacts:
    """The facts of `view`: the last view's (kept alive with them, so that `is` is exact), or new."""
    global _last_view
    if _last_view.view is not view:
        _last_view = _ViewFacts(view, list(_derive_workloads(view)))
    return _last_view


def _larger(view: ProjectView, pool: ComputePool, workload: _Workload) -> list[str]:
    families = {split_instance_type(t)[0] for t in pool.instance_types}
    candidates = sorted(
        (f for f in all_facts().values() if f.family in families), key=lambda f: (f.vcpus, f.memory_mib, f.name)
    )
    return [f.name for f in candidates if _fits(workload, _offer(view, f))][:2]


def _show_offer(offer: Allocatable) -> str:
    return f"{quantities.show_cpu(offer.cpu_millis)} CPU, {quantities.show_memory(offer.memory_mib)} memory, {offer.gpus} GPU(s)"


@project_rule
def workloads_fit_pool_nodes(view: ProjectView) -> Iterator[Finding]:
    pools = {p.name: p for p in view.spec.compute.pools}
    offers_by_pool: dict[str, tuple[tuple[InstanceFacts, Allocatable], ...]] = {}
    for workload in _workloads(view):
        pool = pools.get(workload.pool_name)
        if pool is None or (workload.gpus and (pool.gpu is None or workload.gpus > pool.gpu.count)):
            continue  # reported by the reference rule or gpu_requests_have_gpu_pools
        if pool.name not in offers_by_pool:
            offers_by_pool[pool.name] = _pool_offers(view, pool)
        offers = offers_by_pool[pool.name]
        if not offers or any(_fits(workload, offer) for _, offer in offers):
            continue
        facts, best = max(offers, key=lambda item: (item[1].gpus, item[1].cpu_millis, item[1].memory_mib))
        larger = _larger(view, pool, workload)
        yield Finding(
            workload.path,
            f"'{workload.name}' requests {workload.text()} per pod{workload.note}, but a node of pool '{pool.name}' "
            f"offers at most {_show_offer(best)} ({facts.name}: capacity less kube-reserved, the eviction "
            f"threshold and the platform's DaemonSets); request less"
            + (f" or allow larger instance types such as {', '.join(larger)}" if larger else ""),
        )


@project_rule
def pool_max_holds_workloads(view: ProjectView) -> Iterator[Finding]:
    workloads = _workloads(view)
    for i, pool in enumerate(view.spec.compute.pools):
        # one pod needs one node: a pool that may launch none (max 0) holds no workload at all
        together = [w for w in workloads if w.pool_name == pool.name and (w.together > 1 or pool.max == 0)]
        if not together:
            continue
        offers = _pool_offers(view, pool)
        for workload in together:
            needs = []
            for facts, offer in offers:
                if not _fits(workload, offer):
                    continue
                per_node = [
                    offer.cpu_millis // max(workload.cpu_millis, 1),
                    offer.memory_mib // max(workload.memory_mib, 1),
                ]
                if workload.gpus:
                    per_node.append(offer.gpus // workload.gpus)
                if workload.efa:
                    per_node.append(offer.efa // workload.efa)
                needs.append((math.ceil(workload.together / max(min(per_node), 1)), facts.name))
            if not needs:
                continue  # reported by workloads_fit_pool_nodes
            nodes, instance_type = min(needs)
            if nodes > pool.max:
                yield Finding(
                    _pool_path(i, "max"),
                    f"pool '{pool.name}' may launch {pool.max} node(s), but '{workload.name}' runs {workload.together} "
                    f"pods of {workload.text()} together, which need {nodes} nodes ({instance_type}); raise max to {nodes}",
                )
