"""Pinned Helm charts of the cluster add-ons (the pins themselves live in `mlrig/pins.py`, each
with its source). A bundle's `addons.<name>.version` overrides the pin."""

from __future__ import annotations

from ..pins import (
    ARGO_WORKFLOWS,
    CERT_MANAGER,
    DCGM_EXPORTER,
    EFA_DEVICE_PLUGIN,
    EXTERNAL_SECRETS,
    KARPENTER,
    KEDA,
    KSERVE,
    KSERVE_CRD,
    KUBE_PROMETHEUS_STACK,
    KUEUE,
    METRICS_SERVER,
    MOUNTPOINT_S3_CSI,
    NVIDIA_DEVICE_PLUGIN,
)
from ..pins import ChartPin as Chart

__all__ = [
    "ARGO_WORKFLOWS",
    "CERT_MANAGER",
    "DCGM_EXPORTER",
    "EFA_DEVICE_PLUGIN",
    "EXTERNAL_SECRETS",
    "KARPENTER",
    "KEDA",
    "KSERVE",
    "KSERVE_CRD",
    "KUBE_PROMETHEUS_STACK",
    "KUEUE",
    "METRICS_SERVER",
    "MOUNTPOINT_S3_CSI",
    "NVIDIA_DEVICE_PLUGIN",
    "Chart",
    "pinned",
]


def pinned(chart: Chart, override: str | None) -> Chart:
    """The chart at the bundle's version when it sets one, else at the pin."""
    return chart.at(override) if override else chart
