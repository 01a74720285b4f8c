"""GPU add-ons: the NVIDIA device plugin (exposes `nvidia.com/gpu` on GPU nodes, shared by
time-slicing or MIG where a pool asks for it), the DCGM exporter (GPU metrics, labelled with the
project and pool of the node they come from), a Grafana dashboard of what the GPUs cost, and the
AWS EFA device plugin (exposes `vpc.amazonaws.com/efa` on EFA-capable nodes). They run only on
the nodes they serve and tolerate the taints project pools carry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import gpu_sharing, naming
from ..bundle.model import Addons
from .versions import DCGM_EXPORTER, EFA_DEVICE_PLUGIN, NVIDIA_DEVICE_PLUGIN, pinned

# Every GPU pool (project stacks' Karpenter NodePools) carries this taint, so only pods that ask
# for GPUs land on GPU nodes. The GPU add-ons tolerate it whatever its value.
GPU_TAINT_KEY = "nvidia.com/gpu"
# Project pools also carry their owner's taint (one value per project namespace).
PROJECT_TAINT_KEY = "mlrig.io/project"
POOL_LABEL_KEY = "mlrig.io/pool"
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
MONITORING_NAMESPACE = naming.MONITORING_NAMESPACE

# --- GPU metrics by project and pool ---------------------------------------------------------------

MONITORING_API = "monitoring.coreos.com/v1"
DCGM_PORT = 9400  # dcgm-exporter 4.1.1 `service.port`, the container's metrics port
# dcgm-exporter chart selector labels (templates/_helpers.tpl) for the release `dcgm-exporter`.
DCGM_POD_LABELS = {"app.kubernetes.io/name": "dcgm-exporter", "app.kubernetes.io/instance": "dcgm-exporter"}
# Labels the scrape adds to every DCGM series, from the labels of the node the GPU is in: the
# owning project's namespace (the pool taint's value) and the pool. An idle GPU runs no pod, so
# only the node knows whose it is.
NAMESPACE_METRIC_LABEL = "mlrig_namespace"
POOL_METRIC_LABEL = "mlrig_pool"
NODE_METRIC_LABELS = {
    PROJECT_TAINT_KEY: NAMESPACE_METRIC_LABEL,
    POOL_LABEL_KEY: POOL_METRIC_LABEL,
    "node.kubernetes.io/instance-type": "instance_type",
    "karpenter.sh/capacity-type": "capacity_type",
}
GPU_UTIL_METRIC = "DCGM_FI_DEV_GPU_UTIL"
GPU_MEMORY_USED_METRIC = "DCGM_FI_DEV_FB_USED"
GPU_MEMORY_FREE_METRIC = "DCGM_FI_DEV_FB_FREE"
# kube-prometheus-stack's Grafana loads every ConfigMap with this label (`sidecar.dashboards`,
# searchNamespace ALL) and its Prometheus data source has the uid `prometheus`.
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
DASHBOARD_NAME = "mlrig-gpu-costs"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
DASHBOARD_IDLE_PERCENT = 5


def node_meta_label(key: str) -> str:
    """Prometheus' name of a node label in service discovery (`attachMetadata.node`)."""
    return "__meta_kubernetes_node_label_" + "".join(c if c.isalnum() else "_" for c in key)


def dcgm_pod_monitor_spec() -> dict[str, Any]:
    """Scrape every dcgm-exporter pod; label its series with the project and pool of its node."""
    relabelings = [
        {"sourceLabels": [node_meta_label(key)], "targetLabel": target} for key, target in NODE_METRIC_LABELS.items()
    ]
    relabelings.append({"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"})
    return {
        # Prometheus needs `list`/`watch` on nodes for this; kube-prometheus-stack grants both.
        "attachMetadata": {"node": True},
        "selector": {"matchLabels": dict(DCGM_POD_LABELS)},
        "podMetricsEndpoints": [
            {"portNumber": DCGM_PORT, "path": "/metrics", "interval": "30s", "relabelings": relabelings}
        ],
    }


def _panel(panel_id: int, title: str, expr: str, *, unit: str, kind: str = "timeseries", y: int = 0) -> dict[str, Any]:
    return {
        "id": panel_id,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * ((panel_id - 1) % 2), "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "datasource": DATASOURCE, "expr": expr, "legendFormat": "{{mlrig_namespace}}"}],
    }


def gpu_dashboard() -> dict[str, Any]:
    """Where the GPU money goes: utilisation, memory, GPU-hours and idle GPU-hours per project."""
    project = f'{NAMESPACE_METRIC_LABEL}=~"$project"'
    by = f"sum by ({NAMESPACE_METRIC_LABEL})"
    idle = f"({GPU_UTIL_METRIC}{{{project}}} < bool {DASHBOARD_IDLE_PERCENT})"
    panels = [
        _panel(
            1,
            "GPU utilisation by project",
            f"avg by ({NAMESPACE_METRIC_LABEL}) ({GPU_UTIL_METRIC}{{{project}}})",
            unit="percent",
        ),
        _panel(
            2,
            "GPU memory used by project",
            f"{by} ({GPU_MEMORY_USED_METRIC}{{{project}}}) / {by} ({GPU_MEMORY_USED_METRIC}{{{project}}} + "
            f"{GPU_MEMORY_FREE_METRIC}{{{project}}})",
            unit="percentunit",
        ),
        # Each GPU sample of the 1-minute subquery is one GPU-minute.
        _panel(
            3,
            "GPU-hours in the range by project",
            f"{by} (count_over_time({GPU_UTIL_METRIC}{{{project}}}[$__range:1m])) / 60",
            unit="h",
            kind="bargauge",
            y=8,
        ),
        _panel(
            4,
            f"Idle GPU-hours in the range (utilisation < {DASHBOARD_IDLE_PERCENT}%) by project",
            f"{by} (sum_over_time({idle}[$__range:1m])) / 60",
            unit="h",
            kind="bargauge",
            y=8,
        ),
        _panel(
            5,
            "GPUs now by project, pool and capacity type",
            f"count by ({NAMESPACE_METRIC_LABEL}, {POOL_METRIC_LABEL}, instance_type, capacity_type) "
            f"({GPU_UTIL_METRIC}{{{project}}})",
            unit="short",
            y=16,
        ),
    ]
    return {
        "uid": DASHBOARD_NAME,
        "title": "mlrig: GPUs by project",
        "tags": ["mlrig", "gpu"],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": {"from": "now-7d", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "project",
                    "label": "project namespace",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {
                        "query": f"label_values({GPU_UTIL_METRIC}, {NAMESPACE_METRIC_LABEL})",
                        "refId": "project",
                    },
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".+",
                    "refresh": 2,
                }
            ]
        },
        "panels": panels,
    }


# --- EFA ---------------------------------------------------------------------------------------------

# EFA-capable nodes may be GPU pools or CPU (HPC) pools of any project.
EFA_TOLERATIONS = GPU_TOLERATIONS


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
                values=device_plugin_values(),
                opts=opts,
            )
        if addons.dcgm_exporter.enabled:
            chart = pinned(DCGM_EXPORTER, addons.dcgm_exporter.version)
            depends = [*depends_on, monitoring] if monitoring is not None else list(depends_on)
            after_monitoring = pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=depends)
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
                    # The chart's ServiceMonitor cannot attach node labels; mlrig's PodMonitor does.
                    "serviceMonitor": {"enabled": False},
                },
                opts=after_monitoring,
            )
            if monitoring is not None:
                k8s.apiextensions.CustomResource(
                    f"{name}-dcgm-pod-monitor",
                    api_version=MONITORING_API,
                    kind="PodMonitor",
                    metadata={
                        "name": "dcgm-exporter",
                        "namespace": NAMESPACE,
                        "labels": {"release": "kube-prometheus-stack"},
                    },
                    spec=dcgm_pod_monitor_spec(),
                    opts=after_monitoring,
                )
                k8s.core.v1.ConfigMap(
                    f"{name}-gpu-dashboard",
                    metadata={
                        "name": DASHBOARD_NAME,
                        "namespace": MONITORING_NAMESPACE,
                        "labels": dict(DASHBOARD_LABEL),
                    },
                    data={f"{DASHBOARD_NAME}.json": json.dumps(gpu_dashboard(), indent=1, sort_keys=True)},
                    opts=after_monitoring,
                )
        if addons.efa_device_plugin.enabled:
            chart = pinned(EFA_DEVICE_PLUGIN, addons.efa_device_plugin.version)
            k8s.helm.v3.Release(
                f"{name}-efa-device-plugin",
                name="aws-efa-k8s-device-plugin",
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=NAMESPACE,
                # The chart keeps it on the EFA-capable instance types it lists (node affinity).
                values={"tolerations": EFA_TOLERATIONS},
                opts=opts,
            )
        self.register_outputs({})


def device_plugin_values() -> dict[str, Any]:
    """GPU nodes only; every sharing configuration a pool may select with the node label
    `nvidia.com/device-plugin.config` (whole GPUs by default)."""
    return {
        "tolerations": GPU_TOLERATIONS,
        "affinity": GPU_NODE_AFFINITY,
        "config": {"map": gpu_sharing.device_plugin_configs(), "default": gpu_sharing.DEFAULT_CONFIG},
    }
