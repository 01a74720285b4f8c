"""What the servers mlrig scrapes export, at the versions it pins: metric names and their labels.

An alert reads a metric through a selector (`http_requests_total{status="5xx"}`). It fires only
when a scraped target exports that metric with those labels: a name nobody exports, or a label
the exporter never sets, selects nothing and the alert stays silent for ever. The check
(MLRIG-DEP-007, alerting.py) finds the pods each PodMonitor of the rule's namespace selects,
what server each pod runs (from its InferenceService or Deployment), and looks the selector up
here. Servers mlrig cannot identify get no verdict.

Sources (each at the pinned version):
- the project's own model server: prometheus-fastapi-instrumentator's defaults (`status` grouped
  as "2xx"/"4xx"/"5xx"), what the server `mlrig init` scaffolds exports;
- KServe's python model server v0.15 `python/kserve/kserve/metrics.py` (histograms labelled
  `model_name`; its HTTP middleware only logs timings, it counts no requests);
- vLLM 0.8.2 (the version KServe v0.15's huggingfaceserver locks) `vllm/v1/metrics/loggers.py`:
  labelled `model_name`, `vllm:request_success` also `finished_reason`;
- LiteLLM's `prometheus` callback, `litellm/types/integrations/prometheus.py`
  (`PrometheusMetricLabels`), served on the proxy's port;
- kube-state-metrics' Deployment metrics (labels `namespace`, `deployment`), scraped by
  kube-prometheus-stack itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import pins

# Labels Prometheus adds to every series of a PodMonitor's targets (the operator's relabelling).
TARGET_LABELS = frozenset({"namespace", "pod", "container", "endpoint", "job", "instance"})


@dataclass(frozen=True)
class Family:
    """A metric family: a counter or gauge (`histogram=False`) or a histogram."""

    name: str
    labels: frozenset[str]
    histogram: bool = False

    def series(self) -> dict[str, frozenset[str]]:
        """The series names it appears under, with their labels."""
        if not self.histogram:
            return {self.name: self.labels}
        return {
            f"{self.name}_bucket": self.labels | {"le"},
            f"{self.name}_sum": self.labels,
            f"{self.name}_count": self.labels,
        }


@dataclass(frozen=True)
class Exporter:
    """One kind of server and the metric families it exports."""

    name: str
    families: tuple[Family, ...] = ()

    def labels_of(self, metric: str) -> frozenset[str] | None:
        """The labels of `metric` as this server exports it, or None when it does not."""
        for family in self.families:
            found = family.series().get(metric)
            if found is not None:
                return found
        return None


def _families(labels: Iterable[str], *names: str, histogram: bool = False) -> tuple[Family, ...]:
    return tuple(Family(n, frozenset(labels), histogram) for n in names)


CUSTOM_SERVER = Exporter(
    "the project's model server (prometheus-fastapi-instrumentator)",
    (
        Family("http_requests_total", frozenset({"handler", "method", "status"})),
        Family("http_request_duration_seconds", frozenset({"handler", "method"}), histogram=True),
    ),
)
_KSERVE_FAMILIES = _families(
    ["model_name"],
    "request_preprocess_seconds",
    "request_predict_seconds",
    "request_postprocess_seconds",
    "request_explain_seconds",
    histogram=True,
)
KSERVE_SERVER = Exporter("KServe's model server (v0.15)", _KSERVE_FAMILIES)
VLLM_SERVER = Exporter(
    "vLLM 0.8 in KServe's Hugging Face server",
    (
        *_KSERVE_FAMILIES,
        Family("vllm:request_success_total", frozenset({"model_name", "finished_reason"})),
        *_families(
            ["model_name"],
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:prompt_tokens_total",
            "vllm:generation_tokens_total",
            "vllm:num_preemptions_total",
        ),
        *_families(
            ["model_name"],
            "vllm:e2e_request_latency_seconds",
            "vllm:time_to_first_token_seconds",
            "vllm:time_per_output_token_seconds",
            histogram=True,
        ),
    ),
)
# TorchServe (KServe's `pytorch` runtime) serves its metrics on another port, under other names.
TORCHSERVE = Exporter("TorchServe (metrics on another port)")
_LITELLM_KEY_LABELS = ("end_user", "hashed_api_key", "api_key_alias", "requested_model", "team", "team_alias", "user")
LITELLM = Exporter(
    "LiteLLM proxy (prometheus callback)",
    (
        Family("litellm_proxy_total_requests_metric_total", frozenset({*_LITELLM_KEY_LABELS, "status_code"})),
        Family(
            "litellm_proxy_failed_requests_metric_total",
            frozenset({*_LITELLM_KEY_LABELS, "exception_status", "exception_class"}),
        ),
        Family("litellm_request_total_latency_metric", frozenset({*_LITELLM_KEY_LABELS, "model"}), histogram=True),
    ),
)
LITELLM_WITHOUT_METRICS = Exporter("LiteLLM proxy without its prometheus callback")
KUBE_STATE_METRICS = Exporter(
    "kube-state-metrics",
    _families(
        ["namespace", "deployment"],
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas",
        "kube_deployment_status_replicas_available",
        "kube_deployment_status_replicas_unavailable",
    ),
)

# KServe model formats served by its python model server.
KSERVE_PYTHON_FORMATS = frozenset({"sklearn", "xgboost", "lightgbm", "huggingface"})
PREDICTOR_POD_LABEL = "serving.kserve.io/inferenceservice"
LITELLM_IMAGE = pins.LITELLM.image


def predictor_exporter(spec: Mapping[str, Any]) -> Exporter | None:
    """The server an InferenceService's predictor runs, from its spec."""
    predictor = spec.get("predictor") or {}
    if predictor.get("containers"):
        return CUSTOM_SERVER  # mlrig's contract for custom images (what `mlrig init` scaffolds)
    model = predictor.get("model") or {}
    model_format = str((model.get("modelFormat") or {}).get("name") or "")
    if model_format == "huggingface" and "--backend=vllm" in [str(a) for a in model.get("args") or []]:
        return VLLM_SERVER
    if model_format in KSERVE_PYTHON_FORMATS:
        return KSERVE_SERVER
    if model_format == "pytorch":
        return TORCHSERVE
    return None


def litellm_exporter(config: Mapping[str, Any]) -> Exporter:
    """LiteLLM exports metrics only with its `prometheus` callback."""
    settings = config.get("litellm_settings") or {}
    callbacks = [*(settings.get("callbacks") or []), *(settings.get("success_callback") or [])]
    return LITELLM if "prometheus" in callbacks else LITELLM_WITHOUT_METRICS


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (an empty selector selects everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = list(expression.get("values") or [])
        present = key in labels
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and present and labels.get(key) in values:
            return False
    return True
