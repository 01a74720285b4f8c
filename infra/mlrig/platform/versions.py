"""Pinned Helm charts of the cluster add-ons. A bundle's `addons.<name>.version` overrides the pin.

Pins are reviewed together on upgrade; each names where the chart comes from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    chart: str  # chart name, or a full oci:// reference
    version: str
    repository: str | None = None  # https Helm repository; None for oci:// charts


KARPENTER = Chart("oci://public.ecr.aws/karpenter/karpenter", "1.8.1")
NVIDIA_DEVICE_PLUGIN = Chart("nvidia-device-plugin", "0.18.0", "https://nvidia.github.io/k8s-device-plugin")
DCGM_EXPORTER = Chart("dcgm-exporter", "4.1.1", "https://nvidia.github.io/dcgm-exporter/helm-charts")
ARGO_WORKFLOWS = Chart("argo-workflows", "0.45.15", "https://argoproj.github.io/argo-helm")
CERT_MANAGER = Chart("cert-manager", "v1.18.2", "https://charts.jetstack.io")
KSERVE_CRD = Chart("oci://ghcr.io/kserve/charts/kserve-crd", "v0.15.0")
KSERVE = Chart("oci://ghcr.io/kserve/charts/kserve", "v0.15.0")
KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", "79.7.1", "https://prometheus-community.github.io/helm-charts")
EXTERNAL_SECRETS = Chart("external-secrets", "2.9.0", "https://charts.external-secrets.io")
METRICS_SERVER = Chart("metrics-server", "3.13.0", "https://kubernetes-sigs.github.io/metrics-server/")


def pinned(chart: Chart, override: str | None) -> Chart:
    """The chart at the bundle's version when it sets one, else at the pin."""
    return Chart(chart.chart, override, chart.repository) if override else chart
