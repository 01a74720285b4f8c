"""Scheduling fit: every pod mlrig defines fits a node its pool can launch, and its pool's limits
leave room for all the pods that must run together.

A pod's pool is found the way the scheduler and Karpenter find it: the NodePools (and managed node
groups) whose taints the pod tolerates and whose labels and requirements its `nodeSelector` and
required node affinity match. A node of an instance type offers the capacity of the type minus
kube-reserved, the eviction threshold and Karpenter's VM overhead (`mlrig.instance_facts`), minus
the requests of the DaemonSets that run on it (`daemonsets.py`). A node whose labels select a
time-slicing or MIG configuration of the device plugin advertises its GPU slices
(`gpu_sharing.py`): pods pack by slices, at most one each, while NodePool limits stay in physical
GPUs (Karpenter's unit). EFA interfaces (`vpc.amazonaws.com/efa`) count like GPUs. Pods come from Deployments,
StatefulSets, Jobs, KServe InferenceService predictors (with the logger sidecar KServe adds) and
Argo workflow templates (× the parallel fan-out of the step that runs them).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .. import gpu_sharing
from ..instance_facts import Allocatable, InstanceFacts, all_facts, facts_of, node_allocatable
from . import Violation, check, quantities
from .daemonsets import PlacedDaemonSet, installed_daemonsets
from .graph import Resource, StackGraph, dig

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODEGROUP = "aws:eks/nodeGroup:NodeGroup"
WORKLOAD_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate",
    "kubernetes:argoproj.io/v1alpha1:CronWorkflow",
    "kubernetes:argoproj.io/v1alpha1:Workflow",
)
GPU = "nvidia.com/gpu"
EFA = "vpc.amazonaws.com/efa"
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
# KServe v0.15.0 `inferenceservice-config` (charts/kserve-resources/templates/configmap.yaml): the
# logger sidecar and the storage-initializer init container each request 100m CPU and 100Mi.
KSERVE_LOGGER = {"cpu": "100m", "memory": "100Mi"}
KSERVE_STORAGE_INITIALIZER = {"cpu": "100m", "memory": "100Mi"}


# --- pods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requests:
    cpu_millis: int = 0
    memory_mib: int = 0
    gpus: int = 0
    efa: int = 0

    def plus(self, other: Requests) -> Requests:
        return Requests(
            self.cpu_millis + other.cpu_millis,
            self.memory_mib + other.memory_mib,
            self.gpus + other.gpus,
            self.efa + other.efa,
        )

    def at_least(self, other: Requests) -> Requests:
        return Requests(
            max(self.cpu_millis, other.cpu_millis),
            max(self.memory_mib, other.memory_mib),
            max(self.gpus, other.gpus),
            max(self.efa, other.efa),
        )

    def fits(self, offer: Allocatable) -> bool:
        return (
            self.cpu_millis <= offer.cpu_millis
            and self.memory_mib <= offer.memory_mib
            and self.gpus <= offer.gpus
            and self.efa <= offer.efa
        )

    def text(self) -> str:
        parts = [f"{quantities.show_cpu(self.cpu_millis)} CPU", f"{quantities.show_memory(self.memory_mib)} memory"]
        if self.gpus:
            parts.append(f"{self.gpus} GPU(s)")
        if self.efa:
            parts.append(f"{self.efa} EFA interface(s)")
        return ", ".join(parts)


def container_requests(container: Mapping[str, Any]) -> Requests:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}

    def amount(key: str) -> Any:
        return requests.get(key, limits.get(key))  # a limit without a request is also the request

    return Requests(
        quantities.cpu_millis(amount("cpu")) or 0,
        quantities.memory_mib(amount("memory")) or 0,
        quantities.count(amount(GPU)) or 0,
        quantities.count(amount(EFA)) or 0,
    )


def pod_requests(containers: Iterable[Mapping[str, Any]], init: Iterable[Mapping[str, Any]] = ()) -> Requests:
    total = Requests()
    for container in containers:
        total = total.plus(container_requests(container))
    for container in init:  # init containers run one at a time, before the others
        total = total.at_least(container_requests(container))
    return total


@dataclass(frozen=True)
class Pod:
    """One kind of pod a workload runs: its requests, placement and how many run together."""

    workload: Resource
    label: str
    requests: Requests
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...]
    affinity_terms: tuple[tuple[Mapping[str, Any], ...], ...]  # OR of ANDs; () = no constraint
    together: int = 1


def _terms(affinity: Any) -> tuple[tuple[Mapping[str, Any], ...], ...]:
    required = dig(affinity, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    if not isinstance(required, list):
        return ()
    return tuple(tuple(term.get("matchExpressions") or ()) for term in required if isinstance(term, Mapping))


def _pod(workload: Resource, label: str, spec: Mapping[str, Any], together: int, extra: Requests = Requests()) -> Pod:
    requests = pod_requests(spec.get("containers") or [], spec.get("initContainers") or []).plus(extra)
    return Pod(
        workload,
        label,
        requests,
        dict(spec.get("nodeSelector") or {}),
        tuple(spec.get("tolerations") or ()),
        _terms(spec.get("affinity")),
        max(together, 1),
    )


def _isvc_pods(workload: Resource) -> Iterator[Pod]:
    predictor = workload.spec.get("predictor") or {}
    containers = list(predictor.get("containers") or [])
    model = predictor.get("model")
    if isinstance(model, Mapping):
        containers.append(model)
    init = [{"resources": {"requests": KSERVE_STORAGE_INITIALIZER}}] if (model or {}).get("storageUri") else []
    if predictor.get("logger"):
        containers.append({"resources": {"requests": KSERVE_LOGGER}})
    spec = {**predictor, "containers": containers, "initContainers": init}
    replicas = predictor.get("minReplicas")
    yield _pod(workload, f"predictor of {workload.k8s_name}", spec, replicas if isinstance(replicas, int) else 1)


def _fan_out(templates: list[Mapping[str, Any]], name: str) -> int:
    """How many pods of template `name` the steps or DAG tasks that call it start together."""
    widest = 1
    for template in templates:
        calls = [step for group in template.get("steps") or [] for step in (group or [])]
        calls += list(dig(template, "dag", "tasks") or [])
        for call in calls:
            if not isinstance(call, Mapping) or call.get("template") != name:
                continue
            count = quantities.count(dig(call, "withSequence", "count"))
            items = call.get("withItems")
            widest = max(widest, count or 0, len(items) if isinstance(items, list) else 0)
    return widest


def _workflow_pods(workload: Resource) -> Iterator[Pod]:
    spec = workload.workflow_spec
    templates = [t for t in spec.get("templates") or [] if isinstance(t, Mapping)]
    parallelism = spec.get("parallelism") if isinstance(spec.get("parallelism"), int) else None
    for template in templates:
        container = template.get("container") or template.get("script")
        if not isinstance(container, Mapping):
            continue
        placement = {
            "containers": [container],
            "initContainers": template.get("initContainers") or [],
            "nodeSelector": template.get("nodeSelector") or spec.get("nodeSelector") or {},
            "tolerations": template.get("tolerations") or spec.get("tolerations") or [],
            "affinity": template.get("affinity") or spec.get("affinity"),
        }
        together = _fan_out(templates, str(template.get("name")))
        if parallelism:
            together = min(together, parallelism)
        yield _pod(workload, f"step '{template.get('name')}' of {workload.k8s_name}", placement, together)


def pods_of(workload: Resource) -> Iterator[Pod]:
    kind = workload.kind
    if kind in ("Deployment", "StatefulSet"):
        replicas = workload.spec.get("replicas")
        template = dig(workload.spec, "template", "spec") or {}
        yield _pod(workload, workload.k8s_name, template, replicas if isinstance(replicas, int) else 1)
    elif kind == "Job":
        parallelism = workload.spec.get("parallelism")
        yield _pod(
            workload,
            workload.k8s_name,
            dig(workload.spec, "template", "spec") or {},
            parallelism if isinstance(parallelism, int) else 1,
        )
    elif kind == "CronJob":
        yield _pod(workload, workload.k8s_name, dig(workload.spec, "jobTemplate", "spec", "template", "spec") or {}, 1)
    elif kind == "InferenceService":
        yield from _isvc_pods(workload)
    elif kind in ("WorkflowTemplate", "CronWorkflow", "Workflow"):
        yield from _workflow_pods(workload)


# --- nodes ---------------------------------------------------------------------------------------


INSTANCE_TYPE = "node.kubernetes.io/instance-type"


def instance_labels(facts: InstanceFacts) -> dict[str, str]:
    """The well-known labels Karpenter and the kubelet put on a node of this type."""
    return dict(_instance_labels(facts))


@functools.cache
def _instance_labels(facts: InstanceFacts) -> Mapping[str, str]:
    """`instance_labels`, worked out once per instance type (every pool of every stack asks)."""
    labels = {
        INSTANCE_TYPE: facts.name,
        "kubernetes.io/arch": facts.architecture,
        "kubernetes.io/os": "linux",
        "karpenter.k8s.aws/instance-category": facts.category,
        "karpenter.k8s.aws/instance-family": facts.family,
        "karpenter.k8s.aws/instance-size": facts.size,
        "karpenter.k8s.aws/instance-cpu": str(facts.vcpus),
        "karpenter.k8s.aws/instance-memory": str(facts.memory_mib),
    }
    if facts.gpus:
        labels["karpenter.k8s.aws/instance-gpu-count"] = str(facts.gpus)
        labels["karpenter.k8s.aws/instance-gpu-manufacturer"] = facts.gpu_manufacturer or ""
        labels["karpenter.k8s.aws/instance-gpu-name"] = facts.gpu_name or ""
    return MappingProxyType(labels)


def expression_holds(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key"), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    value = labels.get(str(key))
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and values:
        try:
            return int(value) > int(values[0]) if operator == "Gt" else int(value) < int(values[0])
        except ValueError:
            return False
    return False


@dataclass(frozen=True)
class NodeShape:
    """Nodes of one instance type that one pool can launch."""

    pool: Resource
    pool_name: str
    facts: InstanceFacts
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, Any], ...]
    limits: Requests | None  # None: no limit (or a node group's own max size)
    unconstrained: frozenset[str] = field(default_factory=frozenset)  # label keys any value may take


def _nodepool_shapes(pool: Resource) -> Iterator[NodeShape]:
    template = dig(pool.spec, "template") or {}
    requirements = [r for r in dig(template, "spec", "requirements") or [] if isinstance(r, Mapping)]
    template_labels = {str(k): str(v) for k, v in (dig(template, "metadata", "labels") or {}).items()}
    taints = tuple(dig(template, "spec", "taints") or ())
    raw_limits = pool.spec.get("limits") or {}
    limits = (
        Requests(
            quantities.cpu_millis(raw_limits["cpu"]) if "cpu" in raw_limits else 10**12,  # type: ignore[arg-type]
            quantities.memory_mib(raw_limits["memory"]) if "memory" in raw_limits else 10**12,  # type: ignore[arg-type]
            quantities.count(raw_limits[GPU]) if GPU in raw_limits else 10**12,  # type: ignore[arg-type]
        )
        if raw_limits
        else None
    )
    # a pool names its instance types: only those are worth testing against every requirement
    named = [r for r in requirements if r.get("key") == INSTANCE_TYPE and r.get("operator") == "In"]
    types = {str(v) for v in named[0].get("values") or []} if named else None
    for facts in all_facts().values():
        if types is not None and facts.name not in types:
            continue
        known_labels = _instance_labels(facts)
        known = [r for r in requirements if r.get("key") in known_labels]
        if not all(expression_holds(r, known_labels) for r in known):
            continue
        labels = dict(known_labels)
        # Keys Karpenter sets from the requirement itself (capacity type, zone, custom labels).
        free = {str(r.get("key")) for r in requirements if r.get("key") not in labels}
        for requirement in requirements:
            values = requirement.get("values") or []
            if requirement.get("key") in free and requirement.get("operator") == "In" and len(values) == 1:
                labels[str(requirement["key"])] = str(values[0])
        yield NodeShape(pool, pool.k8s_name, facts, {**labels, **template_labels}, taints, limits, frozenset(free))


def _nodegroup_shapes(group: Resource) -> Iterator[NodeShape]:
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    taints = tuple(
        {"key": t.get("key"), "value": t.get("value"), "effect": effects.get(str(t.get("effect")), t.get("effect"))}
        for t in group.inputs.get("taints") or []
    )
    for name in group.inputs.get("instanceTypes") or []:
        facts = facts_of(str(name))
        if facts is not None:
            labels = {**instance_labels(facts), **(group.inputs.get("labels") or {})}
            yield NodeShape(group, str(group.inputs.get("nodeGroupName") or group.name), facts, labels, taints, None)


def node_shapes(graph: StackGraph) -> list[NodeShape]:
    shapes = [s for pool in graph.kubernetes("NodePool", everywhere=True) for s in _nodepool_shapes(pool)]
    shapes += [s for group in graph.everywhere(NODEGROUP) for s in _nodegroup_shapes(group)]
    return shapes


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for toleration in tolerations:
        key = toleration.get("key")
        operator = toleration.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if not key and operator != "Exists":
            continue
        if operator == "Equal" and str(toleration.get("value", "")) != str(taint.get("value", "")):
            continue
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        return True
    return False


def accepts(shape: NodeShape, *, node_selector: Mapping[str, str], tolerations: Iterable[Any], terms: Any) -> bool:
    for key, value in node_selector.items():  # first: the cheapest test, and the one most nodes fail
        if shape.labels.get(key) != str(value) and key not in shape.unconstrained:
            return False
    tolerations = list(tolerations)
    for taint in shape.taints:
        if taint.get("effect") in BLOCKING_EFFECTS and not tolerates(tolerations, taint):
            return False
    if terms:
        return any(
            all(expression_holds(e, shape.labels) or e.get("key") in shape.unconstrained for e in t) for t in terms
        )
    return True


def daemonset_overhead(shape: NodeShape, daemonsets: Iterable[PlacedDaemonSet]) -> Requests:
    total = Requests()
    for daemonset in daemonsets:
        if daemonset.gpu_nodes_only and not shape.facts.nvidia_gpus:
            continue
        if daemonset.efa_nodes_only and not shape.facts.efa:
            continue
        if accepts(
            shape,
            node_selector=daemonset.node_selector,
            tolerations=daemonset.tolerations,
            terms=_terms(daemonset.affinity),
        ):
            total = total.plus(Requests(daemonset.cpu_millis, daemonset.memory_mib))
    return total


# The DaemonSets that make a node advertise its devices: without them the kubelet reports no
# `nvidia.com/gpu` or `vpc.amazonaws.com/efa`, and a pod asking for one stays Pending for good.
GPU_DEVICE_PLUGIN = "nvidia-device-plugin"
EFA_DEVICE_PLUGIN = "aws-efa-k8s-device-plugin"


def runs_on(shape: NodeShape, daemonsets: Iterable[PlacedDaemonSet], name: str) -> bool:
    """Whether the DaemonSet `name` has a pod on nodes of the shape (one placed on the device nodes
    by default runs on every node of a pool that has the devices)."""
    return any(
        d.name == name
        and (
            d.gpu_nodes_only
            or d.efa_nodes_only
            or accepts(shape, node_selector=d.node_selector, tolerations=d.tolerations, terms=_terms(d.affinity))
        )
        for d in daemonsets
    )


def offer(shape: NodeShape, daemonsets: Sequence[PlacedDaemonSet], *, devices_known: bool = True) -> Allocatable:
    """What pods may request on a node of the shape: GPUs and EFA interfaces as their device plugins
    advertise them (all of the instance's when the cluster's DaemonSets are not `devices_known`)."""
    overhead = daemonset_overhead(shape, daemonsets)
    allocatable = node_allocatable(shape.facts).minus(overhead.cpu_millis, overhead.memory_mib)
    gpus = gpu_sharing.advertised_gpus(shape.facts, shape.labels)
    if devices_known and not runs_on(shape, daemonsets, GPU_DEVICE_PLUGIN):
        gpus = 0
    efa = allocatable.efa if not devices_known or runs_on(shape, daemonsets, EFA_DEVICE_PLUGIN) else 0
    return Allocatable(allocatable.cpu_millis, allocatable.memory_mib, gpus, efa)


def fits_shape(pod: Requests, shape: NodeShape, shape_offer: Allocatable) -> bool:
    """The pod fits the node, and asks no more GPUs than one pod may take on a shared node (the
    device plugin fails time-sliced requests above one; a CUDA process sees one MIG instance)."""
    most = gpu_sharing.max_request_per_pod(shape.labels)
    return pod.fits(shape_offer) and (most is None or pod.gpus <= most)


def offer_text(offer: Allocatable) -> str:
    return (
        f"{quantities.show_cpu(offer.cpu_millis)} CPU, {quantities.show_memory(offer.memory_mib)} memory, "
        f"{offer.gpus} GPU(s)"
    )


# --- the checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    pod: Pod
    shapes: list[NodeShape]
    offers: dict[str, Allocatable]  # by instance type


def placements(graph: StackGraph) -> Iterator[Placement]:
    """Every pod with the node shapes it may land on; pods whose pool is not visible are skipped."""
    installed = installed_daemonsets(graph)
    daemonsets = installed or []
    shapes = node_shapes(graph)
    pools_known = bool(graph.context)
    # what a node of each shape offers depends on the shape alone: worked out once, when a pod
    # may land there, not per pod
    shape_offers: dict[int, Allocatable] = {}

    def shape_offer(shape: NodeShape) -> Allocatable:
        if id(shape) not in shape_offers:
            shape_offers[id(shape)] = offer(shape, daemonsets, devices_known=installed is not None)
        return shape_offers[id(shape)]

    for workload in graph.of_type(*WORKLOAD_TYPES):
        for pod in pods_of(workload):
            if pod.requests == Requests():
                continue
            eligible = [
                s
                for s in shapes
                if accepts(s, node_selector=pod.node_selector, tolerations=pod.tolerations, terms=pod.affinity_terms)
            ]
            if not eligible and not pools_known:
                continue  # its nodes are the platform's, which this graph does not hold
            offers = {f"{s.pool_name}/{s.facts.name}": shape_offer(s) for s in eligible}
            yield Placement(pod, eligible, offers)


def placement_fits(placement: Placement) -> bool:
    return any(
        fits_shape(placement.pod.requests, s, placement.offers[f"{s.pool_name}/{s.facts.name}"])
        for s in placement.shapes
    )


def _largest(placement: Placement) -> tuple[str, Allocatable]:
    return max(placement.offers.items(), key=lambda item: (item[1].gpus, item[1].cpu_millis, item[1].memory_mib))


def _bigger_types(pod: Requests, shapes: list[NodeShape], daemonsets: list[PlacedDaemonSet]) -> list[str]:
    """Instance types of the same families whose nodes would fit the pod (smallest first)."""
    families = {s.facts.family for s in shapes}
    candidates = sorted(
        (f for f in all_facts().values() if f.family in families),
        key=lambda f: (f.vcpus, f.memory_mib, f.name),
    )
    fitting = []
    for facts in candidates:
        shape = NodeShape(shapes[0].pool, shapes[0].pool_name, facts, instance_labels(facts), (), None)
        if pod.fits(offer(shape, daemonsets)):
            fitting.append(facts.name)
    return fitting[:2]


@check(
    "MLRIG-DEP-001",
    "Every pod fits a node its pool can launch",
    "A pod that requests more than any allowed instance type offers after kube-reserved, the eviction "
    "threshold and DaemonSets stays Pending for ever: Karpenter finds no instance type.",
    applies_to=WORKLOAD_TYPES,
)
def pods_fit_their_pool(graph: StackGraph) -> Iterator[Violation]:
    daemonsets = installed_daemonsets(graph) or []
    for placement in placements(graph):
        pod = placement.pod
        if not placement.shapes:
            yield Violation(
                pod.workload,
                f"{pod.label} ({pod.requests.text()}) matches no NodePool: no pool's taints are tolerated "
                f"and labels selected by its nodeSelector {dict(pod.node_selector)}",
                "point the workload at a compute pool of the bundle, or fix its tolerations",
            )
            continue
        if placement_fits(placement):
            continue
        shared = [s for s in placement.shapes if gpu_sharing.max_request_per_pod(s.labels) is not None]
        if shared and pod.requests.gpus > 1 and len(shared) == len(placement.shapes):
            yield Violation(
                pod.workload,
                f"{pod.label} requests {pod.requests.gpus} GPUs on pool '{shared[0].pool_name}', whose nodes share their "
                "GPUs (time-slicing or MIG): a pod there gets one GPU slice at most, the device plugin fails larger requests",
                "request one GPU, or run the workload on a pool without GPU sharing",
            )
            continue
        where, best = _largest(placement)
        pool = where.split("/")[0]
        plugin = _missing_device_plugin(placement)
        if plugin:
            yield Violation(
                pod.workload,
                f"{pod.label} requests {pod.requests.text()}, but no {plugin[0]} runs on the nodes of pool '{pool}': "
                "they advertise none, so the pod stays Pending",
                f"enable the platform's `{plugin[1]}` add-on in this environment",
            )
            continue
        bigger = _bigger_types(pod.requests, placement.shapes, daemonsets)
        hint = f"request at most {offer_text(best)} or allow larger instance types" + (
            f" (e.g. {', '.join(bigger)})" if bigger else ""
        )
        yield Violation(
            pod.workload,
            f"{pod.label} requests {pod.requests.text()} per pod, but the largest node pool '{pool}' can launch "
            f"({where.split('/')[1]}) offers {offer_text(best)} after kube-reserved, eviction threshold and DaemonSets",
            hint,
        )


def _missing_device_plugin(placement: Placement) -> tuple[str, str] | None:
    """(device plugin, add-on) when the pod asks for devices its nodes have but do not advertise."""
    pod, offers = placement.pod.requests, placement.offers.values()
    if pod.gpus and all(o.gpus == 0 for o in offers) and any(s.facts.nvidia_gpus for s in placement.shapes):
        return "NVIDIA device plugin", "nvidiaDevicePlugin"
    if pod.efa and all(o.efa == 0 for o in offers) and any(s.facts.efa for s in placement.shapes):
        return "EFA device plugin", "efaDevicePlugin"
    return None


def _nodes_needed(pod: Requests, together: int, offer: Allocatable) -> int:
    per_node = [offer.cpu_millis // max(pod.cpu_millis, 1), offer.memory_mib // max(pod.memory_mib, 1)]
    if pod.gpus:
        per_node.append(offer.gpus // pod.gpus)
    if pod.efa:
        per_node.append(offer.efa // pod.efa)
    return math.ceil(together / max(min(per_node), 1))


@check(
    "MLRIG-DEP-002",
    "A pool's limits leave room for every pod that must run together",
    "Karpenter stops launching nodes at a NodePool's limits; a distributed job whose workers do not all "
    "fit waits at rendezvous until its deadline, and replicas beyond the limit stay Pending.",
    applies_to=(NODEPOOL, *WORKLOAD_TYPES),
)
def pools_hold_workloads(graph: StackGraph) -> Iterator[Violation]:
    for placement in placements(graph):
        pod = placement.pod
        verdicts: list[str] = []
        room = False
        for shape in placement.shapes:
            shape_offer = placement.offers[f"{shape.pool_name}/{shape.facts.name}"]
            if not fits_shape(pod.requests, shape, shape_offer):
                continue
            if shape.limits is None:
                room = True
                break
            nodes = _nodes_needed(pod.requests, pod.together, shape_offer)
            needed = Requests(
                nodes * shape.facts.vcpus * 1000, nodes * shape.facts.memory_mib, nodes * shape.facts.gpus
            )
            limits = shape.limits
            if (
                needed.cpu_millis <= limits.cpu_millis
                and needed.memory_mib <= limits.memory_mib
                and (needed.gpus <= limits.gpus or not shape.facts.gpus)
            ):
                room = True
                break
            verdicts.append(
                f"{nodes} × {shape.facts.name} ({needed.text()}) of pool '{shape.pool_name}' against its limits "
                f"{quantities.show_cpu(limits.cpu_millis) if limits.cpu_millis < 10**12 else '∞'} CPU / "
                f"{quantities.show_memory(limits.memory_mib) if limits.memory_mib < 10**12 else '∞'} / "
                f"{limits.gpus if limits.gpus < 10**12 else '∞'} GPU(s)"
            )
        if room or not verdicts:
            continue  # no fitting node at all is MLRIG-DEP-001's finding
        yield Violation(
            pod.workload,
            f"{pod.label} runs {pod.together} pod(s) of {pod.requests.text()} together, which needs {verdicts[0]}",
            "raise the pool's `max` for this environment, or run fewer workers/replicas at once",
        )
