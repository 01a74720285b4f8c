"""The DaemonSets mlrig's platform puts on every node, with what they request, and where they run.

The numbers are the defaults of the pinned charts and EKS add-ons; the plan says which of them are
installed, with which values (a release's `resources`, `tolerations` and `affinity` override the
defaults). Sources (at the versions mlrig pins or, for EKS add-ons, that EKS installs):

- vpc-cni `aws-node`: aws/amazon-vpc-cni-k8s `charts/aws-vpc-cni/values.yaml` (`resources.requests.cpu:
  25m`; the network-policy agent and init container `{}`; `tolerations: [{operator: Exists}]`);
- kube-proxy: the EKS kube-proxy add-on manifest (`requests.cpu: 100m`, tolerates every taint);
- eks-pod-identity-agent: aws/eks-pod-identity-agent `charts/eks-pod-identity-agent/values.yaml`
  (`resources: {}`, `tolerations: [{operator: Exists}]`);
- aws-ebs-csi-driver `ebs-csi-node`: kubernetes-sigs/aws-ebs-csi-driver `charts/aws-ebs-csi-driver/
  values.yaml` (`node.resources.requests: {cpu: 10m, memory: 40Mi}`, `node.tolerateAllTaints: true`);
- kube-prometheus-stack 79.7.1 `prometheus-node-exporter` (`resources: {}`, tolerates NoSchedule);
- nvidia-device-plugin 0.18.0 and dcgm-exporter 4.1.1 (`resources: {}`; placement from the values
  mlrig sets: GPU nodes only);
- aws-efa-k8s-device-plugin v0.5.30 (`resources.requests: {cpu: 10m, memory: 20Mi}`; node affinity
  on the EFA-capable instance types it lists: EFA nodes only);
- aws-mountpoint-s3-csi-driver 2.7.0 `s3-csi-node` (`node.resources.requests: {cpu: 10m, memory:
  40Mi}`, `node.tolerateAllTaints: true`). Its Mountpoint Pods request nothing by default.

DaemonSets a stack declares itself (a project's image pre-puller) count with their pod template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from . import quantities
from .graph import Resource, StackGraph, dig

TOLERATE_ALL: tuple[dict[str, str], ...] = ({"operator": "Exists"},)
TOLERATE_NO_SCHEDULE: tuple[dict[str, str], ...] = ({"operator": "Exists", "effect": "NoSchedule"},)


@dataclass(frozen=True)
class DaemonSetFact:
    name: str
    cpu_millis: int
    memory_mib: int
    tolerations: tuple[Mapping[str, str], ...]
    # Where the values of a chart keep this DaemonSet's resources, tolerations and affinity.
    values_path: tuple[str, ...] = ()
    gpu_nodes_only: bool = False
    efa_nodes_only: bool = False


EKS_ADDON_DAEMONSETS: dict[str, tuple[DaemonSetFact, ...]] = {
    "vpc-cni": (DaemonSetFact("aws-node", 25, 0, TOLERATE_ALL),),
    "kube-proxy": (DaemonSetFact("kube-proxy", 100, 0, TOLERATE_ALL),),
    "eks-pod-identity-agent": (DaemonSetFact("eks-pod-identity-agent", 0, 0, TOLERATE_ALL),),
    "aws-ebs-csi-driver": (DaemonSetFact("ebs-csi-node", 10, 40, TOLERATE_ALL),),
}
CHART_DAEMONSETS: dict[str, tuple[DaemonSetFact, ...]] = {
    "kube-prometheus-stack": (
        DaemonSetFact("prometheus-node-exporter", 0, 0, TOLERATE_NO_SCHEDULE, ("prometheus-node-exporter",)),
    ),
    "nvidia-device-plugin": (DaemonSetFact("nvidia-device-plugin", 0, 0, (), (), gpu_nodes_only=True),),
    "dcgm-exporter": (DaemonSetFact("dcgm-exporter", 0, 0, (), (), gpu_nodes_only=True),),
    "aws-efa-k8s-device-plugin": (DaemonSetFact("aws-efa-k8s-device-plugin", 10, 20, (), (), efa_nodes_only=True),),
    "aws-mountpoint-s3-csi-driver": (DaemonSetFact("s3-csi-node", 10, 40, TOLERATE_ALL, ("node",)),),
}
# What mlrig's platform installs on every cluster (platform/cluster.py CORE_ADDONS).
MLRIG_CORE_ADDONS = ("eks-pod-identity-agent", "vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver")


@dataclass(frozen=True)
class PlacedDaemonSet:
    """A DaemonSet as installed: its requests and where it may run."""

    name: str
    cpu_millis: int
    memory_mib: int
    tolerations: tuple[Mapping[str, Any], ...]
    affinity: Mapping[str, Any] | None
    node_selector: Mapping[str, str]
    gpu_nodes_only: bool
    efa_nodes_only: bool = False


def chart_name(release: Resource) -> str:
    return str(release.inputs.get("chart") or "").rsplit("/", 1)[-1]


def _placed(fact: DaemonSetFact, values: Mapping[str, Any] | None) -> PlacedDaemonSet:
    scope = dig(values or {}, *fact.values_path) if fact.values_path else values
    scope = scope if isinstance(scope, Mapping) else {}
    requests = dig(scope, "resources", "requests") or {}
    cpu = quantities.cpu_millis(requests.get("cpu")) if "cpu" in requests else fact.cpu_millis
    memory = quantities.memory_mib(requests.get("memory")) if "memory" in requests else fact.memory_mib
    tolerations = tuple(scope.get("tolerations") or fact.tolerations)
    return PlacedDaemonSet(
        fact.name,
        cpu or 0,
        memory or 0,
        tolerations,
        scope.get("affinity"),
        dict(scope.get("nodeSelector") or {}),
        fact.gpu_nodes_only and not scope.get("affinity"),
        fact.efa_nodes_only and not scope.get("affinity"),
    )


def declared_daemonsets(graph: StackGraph) -> list[PlacedDaemonSet]:
    """DaemonSet objects of the stack (and of the stacks it sees): their pod templates' requests
    (init containers run one at a time, before the others) and placement."""
    placed = []
    for daemonset in graph.kubernetes("DaemonSet", everywhere=True):
        pod = dig(daemonset.spec, "template", "spec") or {}
        cpu = memory = 0
        for container in pod.get("containers") or []:
            requests = dig(container, "resources", "requests") or {}
            cpu += quantities.cpu_millis(requests.get("cpu")) or 0
            memory += quantities.memory_mib(requests.get("memory")) or 0
        for container in pod.get("initContainers") or []:
            requests = dig(container, "resources", "requests") or {}
            cpu = max(cpu, quantities.cpu_millis(requests.get("cpu")) or 0)
            memory = max(memory, quantities.memory_mib(requests.get("memory")) or 0)
        placed.append(
            PlacedDaemonSet(
                daemonset.k8s_name,
                cpu,
                memory,
                tuple(pod.get("tolerations") or ()),
                pod.get("affinity"),
                dict(pod.get("nodeSelector") or {}),
                False,
            )
        )
    return placed


def installed_daemonsets(graph: StackGraph) -> list[PlacedDaemonSet] | None:
    """The DaemonSets of the cluster the stack deploys to, from the platform's resources when the
    graph holds them, else from the add-on flags the platform exports (None: nothing known)."""
    addons = graph.everywhere("aws:eks/addon:Addon")
    releases = graph.everywhere("kubernetes:helm.sh/v3:Release")
    if addons or releases:
        placed = [
            _placed(fact, None)
            for addon in addons
            for fact in EKS_ADDON_DAEMONSETS.get(str(addon.inputs.get("addonName")), ())
        ]
        placed += [
            _placed(fact, release.inputs.get("values") or {})
            for release in releases
            for fact in CHART_DAEMONSETS.get(chart_name(release), ())
        ]
        return placed + declared_daemonsets(graph)
    flags = graph.reference_outputs().get("addons")
    if not isinstance(flags, Mapping):
        return None
    return mlrig_daemonsets(
        monitoring=bool(flags.get("monitoring")),
        device_plugin=bool(flags.get("nvidiaDevicePlugin")),
        dcgm_exporter=bool(flags.get("dcgmExporter")),
        efa_device_plugin=bool(flags.get("efaDevicePlugin")),
        mountpoint_s3=bool(flags.get("mountpointS3")),
    ) + declared_daemonsets(graph)


def mlrig_daemonsets(
    *,
    monitoring: bool,
    device_plugin: bool,
    dcgm_exporter: bool,
    efa_device_plugin: bool = False,
    mountpoint_s3: bool = False,
) -> list[PlacedDaemonSet]:
    """What an mlrig platform with these add-ons installs (for bundle validation, before any plan)."""
    return list(_mlrig_daemonsets(monitoring, device_plugin, dcgm_exporter, efa_device_plugin, mountpoint_s3))


@cache
def _mlrig_daemonsets(
    monitoring: bool, device_plugin: bool, dcgm_exporter: bool, efa_device_plugin: bool, mountpoint_s3: bool
) -> tuple[PlacedDaemonSet, ...]:
    # Validation asks once per pool and instance type of every project environment; the answer
    # depends on the five flags alone.
    placed = [_placed(f, None) for addon in MLRIG_CORE_ADDONS for f in EKS_ADDON_DAEMONSETS.get(addon, ())]
    charts = {
        "kube-prometheus-stack": monitoring,
        "nvidia-device-plugin": device_plugin,
        "dcgm-exporter": dcgm_exporter,
        "aws-efa-k8s-device-plugin": efa_device_plugin,
        "aws-mountpoint-s3-csi-driver": mountpoint_s3,
    }
    for chart, installed in charts.items():
        if installed:
            placed += [_placed(f, None) for f in CHART_DAEMONSETS[chart]]
    return tuple(placed)
