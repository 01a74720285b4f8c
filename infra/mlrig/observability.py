"""What a project's signals need from the platform's add-ons, for the program and for validation
alike (no Pulumi here): which request metrics each model server exports, so which endpoints scale
on their in-flight requests (KEDA reading Prometheus) and which on CPU (KServe's HPA reading
metrics-server); which alert routes CloudWatch alarms reach without Alertmanager; and which
add-ons the GPU-idle alert's metrics come from."""

from __future__ import annotations

from dataclasses import dataclass

from .bundle.model import Addons, Endpoint


@dataclass(frozen=True)
class ServerMetrics:
    """The request metrics a model server exports on its `/metrics`: a histogram of request
    seconds, and (when it has one) a counter of requests labelled with their `status` class."""

    latency: str
    requests: str | None = None


# The project's own server (the `serve.py` `mlrig init` scaffolds; a custom image must export the
# same): prometheus-fastapi-instrumentator's names, `status` as "2xx"/"4xx"/"5xx".
CUSTOM_SERVER = ServerMetrics("http_request_duration_seconds", "http_requests_total")
# KServe's model server (python/kserve/kserve/metrics.py at v0.15) times each stage, labelled
# `model_name`; it counts no requests by status.
KSERVE_SERVER = ServerMetrics("request_predict_seconds")
# vLLM's engine metrics, served on KServe's /metrics (the Hugging Face server with the vllm
# backend runs the engine in process, and /metrics encodes the default registry).
VLLM_SERVER = ServerMetrics("vllm:e2e_request_latency_seconds")
# KServe's built-in runtimes on its python model server. `pytorch` is TorchServe, whose metrics
# are on another port and under other names: no alert or autoscaler reads them.
KSERVE_PYTHON_RUNTIMES = ("sklearn", "xgboost", "lightgbm", "huggingface")


def server_metrics(endpoint: Endpoint) -> ServerMetrics | None:
    """What the endpoint's model server exports, or None when mlrig reads none of it."""
    if endpoint.runtime == "custom":
        return CUSTOM_SERVER
    if endpoint.runtime == "vllm":
        return VLLM_SERVER
    if endpoint.runtime in KSERVE_PYTHON_RUNTIMES:
        return KSERVE_SERVER
    return None


def scales_on_concurrency(endpoint: Endpoint, *, monitoring: bool) -> bool:
    """Concurrency is measured in Prometheus: only with the monitoring add-on, and only for
    servers whose request histogram mlrig knows (the others scale on CPU)."""
    return monitoring and server_metrics(endpoint) is not None


# Routes the project's CloudWatch alarms reach (`project/alarms.py`): `email` routes subscribe to
# its alarm topic, `sns` routes are alarm actions. Every route type is also an Alertmanager
# receiver; the other types are only that.
ALARM_ROUTE_TYPES = ("email", "sns")


def gpu_metrics_missing(addons: Addons) -> list[str]:
    """The add-ons, by their bundle names, that the GPU-idle alert (`MlrigGpuIdle`) lacks: it reads
    the DCGM exporter's utilisation, which Prometheus scrapes through the platform's PodMonitor."""
    needed = (("dcgmExporter", addons.dcgm_exporter), ("monitoring", addons.monitoring))
    return [name for name, addon in needed if not addon.enabled]
