"""GPU add-ons: the NVIDIA device plugin (exposes `nvidia.com/gpu` on GPU nodes) and the DCGM
exporter (GPU metrics). Both run only on GPU nodes and tolerate the taint GPU pools carry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import naming
from ..bundle.model import Addons
from .versions import DCGM_EXPORTER, NVIDIA_DEVICE_PLUGIN, pinned

# Every GPU pool (project stacks' Karpenter NodePools) carries this taint, so only pods that ask
# for GPUs land on GPU nodes. The GPU add-ons tolerate it whatever its value.
GPU_TAINT_KEY = "nvidia.com/gpu"
# Project pools also carry their owner's taint (one value per project namespace).
PROJECT_TAINT_KEY = "mlrig.io/project"
GPU_TOLERATIONS: list[dict[str, str]] = [
    {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
    {"key": PROJECT_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
]
# Karpenter labels every node it launches with the GPU manufacturer of its instance type.
GPU_NODE_LABEL = "karpenter.k8s.aws/instance-gpu-manufacturer"
GPU_NODE_AFFINITY: dict[str, Any] = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": GPU_NODE_LABEL, "operator": "In", "values": ["nvidia"]}]}
            ]
        }
    }
}
NAMESPACE = naming.KUBE_SYSTEM_NAMESPACE


class GpuAddons(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        addons: Addons,
        *,
        k8s_provider: k8s.Provider,
        monitoring: k8s.helm.v3.Release | None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__("mlrig:platform:GpuAddons", name, None, pulumi.ResourceOptions(provider=k8s_provider))
        opts = pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=list(depends_on))
        if addons.nvidia_device_plugin.enabled:
            chart = pinned(NVIDIA_DEVICE_PLUGIN, addons.nvidia_device_plugin.version)
            k8s.helm.v3.Release(
                f"{name}-device-plugin",
                name="nvidia-device-plugin",
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=NAMESPACE,
                values={"tolerations": GPU_TOLERATIONS, "affinity": GPU_NODE_AFFINITY},
                opts=opts,
            )
        if addons.dcgm_exporter.enabled:
            chart = pinned(DCGM_EXPORTER, addons.dcgm_exporter.version)
            depends = [*depends_on, monitoring] if monitoring is not None else list(depends_on)
            k8s.helm.v3.Release(
                f"{name}-dcgm-exporter",
                name="dcgm-exporter",
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=NAMESPACE,
                values={
                    "tolerations": GPU_TOLERATIONS,
                    "affinity": GPU_NODE_AFFINITY,
                    # A ServiceMonitor needs the Prometheus operator's CRD: only with monitoring on.
                    "serviceMonitor": {"enabled": monitoring is not None},
                },
                opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=depends),
            )
        self.register_outputs({})
