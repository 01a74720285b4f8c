"""Online endpoints as KServe InferenceServices, with their rollout strategy and request logging.

The platform runs KServe in RawDeployment mode (no Knative, no service mesh), where an
InferenceService has no traffic split of its own. Gradual rollouts are therefore explicit:

- canary: `<name>-stable` and `<name>-canary` behind a KServe InferenceGraph `<name>` whose
  Splitter sends `percent` of the traffic to the canary. The CD pipeline's promote step points the
  canary's `storageUri` at the new model version and, once it is healthy, the stable one (see
  "The promoted model" below).
- ab: `<name>-a` and `<name>-b` behind an InferenceGraph `<name>` sending `percent` to B.
- shadow: `<name>` plus `<name>-shadow`; the inference logger replays `percent` of the primary's
  requests to the shadow and drops its responses (an explicit mirror).
- direct: one InferenceService `<name>`.

Autoscaling: KServe's RawDeployment HPA only knows CPU and memory, so endpoints use its KEDA
autoscaler class (the platform installs KEDA with KServe): a ScaledObject keeps each replica at
`targetConcurrency` in-flight requests, measured in Prometheus as the request rate times the mean
latency of the endpoint's model servers (Little's law), between `minReplicas` and `maxReplicas`.
Without the monitoring add-on there is no Prometheus to ask, and endpoints scale on CPU.

Request/response logging: KServe's logger (mode `all`) posts CloudEvents to the namespace's
`inference-logger` (Vector), which writes them as gzipped JSON lines to
`s3://<logs bucket>/inference/endpoint=<name>/date=<YYYY-MM-DD>/` — the inference tables.

Cold starts (`startup`): what a replica waits for is a node (Karpenter, minutes from zero), the
image, the weights and the engine's warm-up.

- Model cache: `vllm` and `huggingface` endpoints mount the model hub (`s3://<artifacts>/hub/`)
  through the Mountpoint for S3 CSI driver: a PersistentVolume with pod-level credentials (each
  pod reads with its own Pod Identity role, so one project's volume never opens another's
  bucket), bound to the PVC `model-hub`, and `storageUri: pvc://model-hub/<model>`. KServe mounts
  a PVC in place, so there is no copy step: the engine streams the weights from S3 (and a local
  cache on the node serves a restarted replica). Nothing is downloaded from outside AWS again, and
  nothing is held on a node that scales to zero.
- Pre-pulling: a DaemonSet per GPU pool pulls the endpoints' serving images onto every node of
  the pool as it joins, so a replica landing on a warm or shared node skips the pull.
- Readiness budget: a startup probe lets a replica load for `readiness_budget_seconds` (sized
  from `modelSizeGiB`) before it is restarted, instead of for ever or too soon.
- Scale to zero: with `minReplicas: 0` the KEDA query also asks for one replica during the
  endpoint's `awakeHoursUtc`; outside them an idle endpoint goes to zero and its GPU node empties.
  RawDeployment has no request buffer: at zero an endpoint answers nothing until its hours begin.

The promoted model: the promote step records the URI it points an InferenceService at in that
InferenceService's SSM parameter (`ProjectNames.model_uri_parameter`, created here with
`naming.NOT_RECORDED`, so that destroying the environment removes it), then patches the model
location with its own field manager. The stack builds the InferenceService with the recorded URI
(`release_records.py`), and forces its apply once it knows every value another writer writes in
it: the URI (recorded, or no promote step in the environment) and, for a custom server, the image
tag (recorded by the release CI). Until then it ignores the model location after creation and
never forces.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from .. import naming, observability, pins
from ..bundle.model import Addons, Endpoint
from ..observability import ServerMetrics, server_metrics
from ..settings import DEFAULT_IMAGE_TAG
from .context import ProjectContext
from .gateway import FEEDBACK
from .handoff import Prerequisites
from .kube import (
    VECTOR_IMAGE,
    addons_of,
    cluster_service_url,
    disruption_budget,
    metadata,
    restricted_container_security,
    restricted_pod_security,
    rolled_on_change,
    server_replicas,
    vector_collector_deployment,
)
from .model_locations import (
    OPENAI_API_BASE,
    SPLIT_VARIANTS,
    champion_uri,
    has_server,
    model_hub_uri,
    rollout_services,
)
from .monitoring_rules import ISVC_LABEL, prometheus_url
from .pipelines import deployment_pipeline
from .pools import PAUSE_IMAGE, find_pool, pools_selected, scheduling
from .queues import serving_priority_class
from .release_records import ReleaseRecords
from .vector_roles import READER_SECRET, has_reader
from .vector_search import connection_env_from, reads_connection

KSERVE_API = "serving.kserve.io/v1beta1"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
CONCURRENCY_WINDOW = "1m"
GRAPH_API = "serving.kserve.io/v1alpha1"
LOGGER = "inference-logger"
LOGGER_IMAGE = VECTOR_IMAGE
LOGGER_PORT = 8080
REQUEST_EVENT = "org.kubeflow.serving.inference.request"
# KServe model formats served by its built-in runtimes.
CPU_TARGET_PERCENT = 75
BUILTIN_FORMATS = {"sklearn", "xgboost", "lightgbm", "pytorch", "huggingface"}
STORAGE_URI_PATHS = ["spec.predictor.model.storageUri", "spec.predictor.containers[0].env[1].value"]


LARGE_MODEL_RUNTIMES = ("vllm", "huggingface")
MODEL_CACHE_CLAIM = naming.MODEL_CACHE
MOUNTPOINT_DRIVER = "s3.csi.aws.com"
# A static PersistentVolume needs a size; S3 has none, Mountpoint ignores it.
MODEL_CACHE_SIZE = "1Ti"


def model_cache_of(addons: Addons, endpoint: Endpoint) -> str:
    """`mount` or `download` (the bundle's choice, else mount for large-model runtimes when the
    platform runs the Mountpoint for S3 driver)."""
    if endpoint.startup.model_cache is not None:
        return endpoint.startup.model_cache
    mountable = endpoint.runtime in LARGE_MODEL_RUNTIMES and addons.mountpoint_s3.enabled
    return "mount" if mountable else "download"


def mounts_model_hub(ctx: ProjectContext, endpoint: Endpoint) -> bool:
    return model_cache_of(addons_of(ctx), endpoint) == "mount"


def model_uri(ctx: ProjectContext, endpoint: Endpoint) -> str:
    """Initial model location; the CD pipeline's promote step moves it to each new version."""
    if endpoint.runtime in LARGE_MODEL_RUNTIMES:
        model = endpoint.model or endpoint.name
        if mounts_model_hub(ctx, endpoint):
            return f"pvc://{MODEL_CACHE_CLAIM}/{model}"
        return model_hub_uri(ctx, model)
    return champion_uri(ctx, endpoint.model)


def resources(endpoint: Endpoint) -> dict[str, Any]:
    amounts: dict[str, Any] = {"cpu": endpoint.resources.cpu, "memory": endpoint.resources.memory}
    if endpoint.resources.gpu:
        amounts["nvidia.com/gpu"] = str(endpoint.resources.gpu)
    return {"requests": dict(amounts), "limits": dict(amounts)}


# --- readiness budget ------------------------------------------------------------------------------

STARTUP_PROBE_PERIOD = 10
# Seconds to read one GiB of weights and load it: streamed from S3 through Mountpoint (~130 MiB/s
# per replica at the low end of what a GPU instance's network gives), or from the local copy the
# storage initializer made (the copy itself runs before the containers start, outside the probe).
SECONDS_PER_GIB = {"mount": 8, "download": 4}
ENGINE_WARMUP_SECONDS = 120  # server start, CUDA context, vLLM's CUDA graph capture
BUDGET_SAFETY = 1.5
MIN_BUDGET_SECONDS = 300


def readiness_budget_seconds(addons: Addons, endpoint: Endpoint) -> int:
    """How long a replica may take from container start to listening before it is restarted."""
    size = endpoint.startup.model_size_gib or 1
    expected = ENGINE_WARMUP_SECONDS + size * SECONDS_PER_GIB[model_cache_of(addons, endpoint)]
    return max(MIN_BUDGET_SECONDS, int(expected * BUDGET_SAFETY))


def startup_probe(ctx: ProjectContext, endpoint: Endpoint) -> dict[str, Any]:
    """KServe's model servers (and vLLM) listen only once the model is loaded: the port opening is
    the end of loading. KServe adds its own readiness probe; this one bounds the loading."""
    budget = readiness_budget_seconds(addons_of(ctx), endpoint)
    return {
        "tcpSocket": {"port": 8080},
        "periodSeconds": STARTUP_PROBE_PERIOD,
        "failureThreshold": -(-budget // STARTUP_PROBE_PERIOD),
    }


def model_server(ctx: ProjectContext, endpoint: Endpoint, image_tag: str, served_name: str, uri: str) -> dict[str, Any]:
    """The predictor's `model` (built-in runtime) or `containers` (custom image), loading `uri`."""
    probe = startup_probe(ctx, endpoint)
    if endpoint.runtime == "vllm":
        return {
            "model": {
                "modelFormat": {"name": "huggingface"},
                "args": ["--backend=vllm", f"--model_name={served_name}"],
                "storageUri": uri,
                "resources": resources(endpoint),
                "startupProbe": probe,
            }
        }
    if endpoint.runtime in BUILTIN_FORMATS:
        return {
            "model": {
                "modelFormat": {"name": endpoint.runtime},
                "storageUri": uri,
                "resources": resources(endpoint),
                "startupProbe": probe,
            }
        }
    image = ctx.names.image(endpoint.image or "", image_tag)
    return {
        "containers": [
            {
                "name": "kserve-container",
                "image": image,
                # MODEL_URI stays env[1]: the promote step owns it (STORAGE_URI_PATHS).
                "env": [
                    {"name": "MODEL_NAME", "value": served_name},
                    {"name": "MODEL_URI", "value": uri},
                    *feedback_env(ctx),
                ],
                # A RAG server reads the vector database the index refresh writes: OpenSearch's
                # address (vector_search.py), or pgvector's reader connection (vector_roles.py).
                **({"envFrom": vector_env_from(ctx)} if vector_env_from(ctx) else {}),
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": resources(endpoint),
                "securityContext": restricted_container_security(),
                "startupProbe": probe,
            }
        ]
    }


def feedback_env(ctx: ProjectContext) -> list[dict[str, Any]]:
    """Where a custom server (the app users answer) posts human feedback: the collector that
    forwards it to the feedback stream, when the project captures feedback."""
    if not ctx.env.spec.llm.feedback.enabled:
        return []
    return [{"name": "MLRIG_FEEDBACK_URL", "value": cluster_service_url(ctx, FEEDBACK, 80) + "/"}]


def vector_env_from(ctx: ProjectContext) -> list[dict[str, Any]]:
    """How a custom server reaches the vector database (nothing without one)."""
    if reads_connection(ctx, "serving"):
        return connection_env_from()
    if has_reader(ctx):  # pgvector: as its reader role (SELECT only), never the master user
        return [{"secretRef": {"name": READER_SECRET}}]
    return []


def scales_on_concurrency(ctx: ProjectContext, endpoint: Endpoint) -> bool:
    return observability.scales_on_concurrency(endpoint, monitoring=addons_of(ctx).monitoring.enabled)


def concurrency_query(ctx: ProjectContext, metrics: ServerMetrics, isvc_name: str) -> str:
    """In-flight requests of one InferenceService, summed over its replicas: request rate times
    mean latency (Little's law) from its model server's request-duration histogram."""
    selector = f'namespace="{ctx.names.namespace}", {ISVC_LABEL}="{isvc_name}"'
    return f"sum(rate({metrics.latency}_sum{{{selector}}}[{CONCURRENCY_WINDOW}]))"


def awake_query(endpoint: Endpoint, load: str) -> str:
    """With `minReplicas: 0`: the in-flight requests, or `targetConcurrency` (one replica's worth)
    during the awake hours, whichever is larger; outside them an idle endpoint measures 0 and KEDA
    scales it to zero. The two are told apart by a label so that `max` sees both."""
    hours = endpoint.autoscaling.awake_hours_utc
    if endpoint.autoscaling.min_replicas > 0 or hours is None:
        return load
    target = endpoint.autoscaling.target_concurrency
    awake = f"(vector({target}) and on() (hour() >= {hours.start} and hour() < {hours.end}))"
    return f'max(label_replace({load}, "signal", "load", "", "") or label_replace({awake}, "signal", "awake", "", ""))'


def autoscaling_spec(ctx: ProjectContext, endpoint: Endpoint, isvc_name: str) -> dict[str, Any]:
    """Replica bounds, and what drives scaling between them (see the module docstring)."""
    autoscaling = endpoint.autoscaling
    metrics = server_metrics(endpoint)
    if metrics is None or not scales_on_concurrency(ctx, endpoint):
        # The HPA needs at least one replica.
        bounds = {"minReplicas": max(autoscaling.min_replicas, 1), "maxReplicas": autoscaling.max_replicas}
        return {**bounds, "scaleMetric": "cpu", "scaleTarget": CPU_TARGET_PERCENT}
    # KEDA scales to zero when the query measures nothing (validation requires awake hours then).
    zero = autoscaling.min_replicas == 0 and autoscaling.awake_hours_utc is not None
    bounds = {"minReplicas": 0 if zero else max(autoscaling.min_replicas, 1), "maxReplicas": autoscaling.max_replicas}
    external = {
        "metric": {
            "backend": "prometheus",
            "serverAddress": prometheus_url(ctx),
            "query": awake_query(endpoint, concurrency_query(ctx, metrics, isvc_name)),
        },
        # KEDA divides the total by this target per replica (AverageValue).
        "target": {"type": "Value", "value": str(autoscaling.target_concurrency)},
    }
    return {**bounds, "autoScaling": {"metrics": [{"type": "External", "external": external}]}}


def autoscaler_annotations(ctx: ProjectContext, endpoint: Endpoint) -> dict[str, str]:
    annotations = {DEPLOYMENT_MODE: "RawDeployment"}
    if scales_on_concurrency(ctx, endpoint):
        annotations[AUTOSCALER_CLASS] = "keda"
    return annotations


def predictor(
    ctx: ProjectContext,
    endpoint: Endpoint,
    image_tag: str,
    served_name: str,
    isvc_name: str,
    *,
    log: bool,
    uri: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        **autoscaling_spec(ctx, endpoint, isvc_name),
        "serviceAccountName": ctx.names.service_account("serving"),
        **scheduling(ctx, endpoint.pool),
        **model_server(ctx, endpoint, image_tag, served_name, uri or model_uri(ctx, endpoint)),
    }
    priority = serving_priority_class(ctx, endpoint)
    if priority:
        spec["priorityClassName"] = priority
    if log:
        spec["logger"] = {"mode": "all", "url": cluster_service_url(ctx, LOGGER, 80)}
    return spec


def inference_services(
    ctx: ProjectContext, endpoint: Endpoint, image_tag: str, model_uris: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """InferenceService specs by name, for the endpoint's rollout strategy; each loads the model
    URI the promote step recorded for it (`model_uris`), else the endpoint's initial one."""
    strategy = endpoint.rollout.strategy
    log = endpoint.request_logging or strategy == "shadow"  # the shadow mirror rides on the logger
    recorded = model_uris or {}

    def isvc(isvc_name: str, *, logged: bool = log) -> dict[str, Any]:
        uri = recorded.get(isvc_name)
        return {"predictor": predictor(ctx, endpoint, image_tag, endpoint.name, isvc_name, log=logged, uri=uri)}

    return {name: isvc(name, logged=log and role != "shadow") for role, name in rollout_services(endpoint).items()}


# --- the other writers of an InferenceService -------------------------------------------------------


def promotes_models(ctx: ProjectContext) -> bool:
    """Whether a promote step may point this environment's InferenceServices at another model:
    its model CD pipeline runs on Argo (the Role `promote-model` exists only then)."""
    return addons_of(ctx).argo_workflows.enabled and deployment_pipeline(ctx.env.spec) is not None


def recorded_fields(ctx: ProjectContext, endpoint: Endpoint, isvc_name: str) -> dict[str, str]:
    """Field manager -> SSM parameter, for each writer besides the stack that writes a field of
    the InferenceService, and the record the stack reads that field's value from: the promote
    step (the model location) and, for a custom server, the release CI (the image)."""
    names = ctx.names
    fields = {naming.PROMOTE_FIELD_MANAGER: names.model_uri_parameter(isvc_name)}
    if registry_of(endpoint) is not None:
        fields[naming.RELEASE_FIELD_MANAGER] = names.image_tag_parameter()
    return fields


def knows_model_uri(ctx: ProjectContext, records: ReleaseRecords, isvc_name: str) -> bool:
    """The stack knows the model URI the InferenceService runs: recorded by the promote step, or
    its own (no promote step may change it)."""
    return isvc_name in records.model_uris or not promotes_models(ctx)


def forces_apply(ctx: ProjectContext, endpoint: Endpoint, records: ReleaseRecords, isvc_name: str) -> bool:
    """Whether the stack forces its apply of the InferenceService: only when it writes exactly what
    every other writer last wrote there (the model URI, and a custom server's image tag), so that
    forcing takes the atomic lists back without putting back an older model or image."""
    image_known = registry_of(endpoint) is None or records.image_tag is not None
    return image_known and knows_model_uri(ctx, records, isvc_name)


def isvc_annotations(
    ctx: ProjectContext, endpoint: Endpoint, records: ReleaseRecords, isvc_name: str
) -> dict[str, str]:
    annotations = {
        **autoscaler_annotations(ctx, endpoint),
        "mlrig.io/traffic-percent": str(traffic_percent(endpoint, isvc_name)),
        naming.RECORDED_FIELDS_ANNOTATION: json.dumps(recorded_fields(ctx, endpoint, isvc_name), sort_keys=True),
    }
    if forces_apply(ctx, endpoint, records, isvc_name):
        annotations[naming.PATCH_FORCE_ANNOTATION] = "true"
    return annotations


def traffic_percent(endpoint: Endpoint, isvc_name: str) -> int:
    """Share of the endpoint's traffic an InferenceService receives (shadows get copies)."""
    variants = SPLIT_VARIANTS.get(endpoint.rollout.strategy)
    if variants is None:
        return 0 if isvc_name.endswith("-shadow") else 100
    second = isvc_name == f"{endpoint.name}-{variants[1]}"
    return endpoint.rollout.percent if second else 100 - endpoint.rollout.percent


def served_model_name(endpoint: Endpoint, isvc_name: str) -> str:
    """The model name an InferenceService's server answers to: the endpoint's name where mlrig
    sets it (`--model_name` of vLLM, `MODEL_NAME` of a custom server), else KServe's default for
    its built-in runtimes, the InferenceService's own name."""
    return isvc_name if endpoint.runtime in BUILTIN_FORMATS else endpoint.name


def predictor_service_url(ctx: ProjectContext, isvc_name: str) -> str:
    """The in-cluster address KServe gives an InferenceService's predictor in RawDeployment mode:
    the Service `<isvc>-predictor`, port 80."""
    return f"http://{isvc_name}-predictor.{ctx.names.namespace}.svc.cluster.local"


# vLLM (KServe's Hugging Face server with the vllm backend) serves an OpenAI model only: its v1
# `:predict` answers "does not support inference"; the chat API is what its clients call.
OPENAI_CHAT_PATH = f"{OPENAI_API_BASE}/chat/completions"


def inference_path(endpoint: Endpoint, isvc_name: str) -> str:
    """The request path of an InferenceService's model: the chat API for vLLM, else KServe's v1
    predict path under the name its server answers to."""
    if endpoint.runtime == "vllm":
        return OPENAI_CHAT_PATH
    return f"/v1/models/{served_model_name(endpoint, isvc_name)}:predict"


def inference_url(ctx: ProjectContext, endpoint: Endpoint, isvc_name: str) -> str:
    return predictor_service_url(ctx, isvc_name) + inference_path(endpoint, isvc_name)


def split_graph_spec(ctx: ProjectContext, endpoint: Endpoint) -> dict[str, Any]:
    """The Splitter forwards each request's body to its step's `serviceUrl`. Left empty, KServe
    fills it with `/v1/models/<InferenceService name>:predict`, which no variant serves: a custom
    server answers to the endpoint's name, vLLM has no v1 predict. So the URL is set here."""
    first, second = SPLIT_VARIANTS[endpoint.rollout.strategy]
    return {
        "nodes": {
            "root": {
                "routerType": "Splitter",
                "steps": [
                    {
                        "name": variant,
                        "serviceName": f"{endpoint.name}-{variant}",
                        "serviceUrl": inference_url(ctx, endpoint, f"{endpoint.name}-{variant}"),
                        "weight": traffic_percent(endpoint, f"{endpoint.name}-{variant}"),
                    }
                    for variant in (first, second)
                ],
            }
        }
    }


# --- the inference logger -------------------------------------------------------------------------


# A mirror is best effort. Vector's defaults (a sink retries without end, a full buffer blocks)
# would let a shadow that is down, crashing or scaled to zero hold back the one source every sink
# reads: the inference tables of every endpoint of the project would stop with it. So the mirror
# drops what it cannot deliver.
SHADOW_DELIVERY: dict[str, Any] = {
    "buffer": {"type": "memory", "max_events": 500, "when_full": "drop_newest"},
    "request": {"retry_attempts": 2, "timeout_secs": 30},
}


def logger_config(ctx: ProjectContext, endpoints: Sequence[Endpoint], key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Vector: KServe CloudEvents in, inference tables out, plus the shadow mirrors."""
    config: dict[str, Any] = {
        "data_dir": "/var/lib/vector",
        "sources": {
            "kserve": {
                "type": "http_server",
                "address": f"0.0.0.0:{LOGGER_PORT}",
                "decoding": {"codec": "bytes"},
                "headers": [
                    "ce-id",
                    "ce-type",
                    "ce-source",
                    "ce-time",
                    "ce-inferenceservicename",
                    "ce-component",
                    "ce-endpoint",
                ],
            }
        },
        "transforms": {
            "records": {
                "type": "remap",
                "inputs": ["kserve"],
                "source": '.endpoint = string(."ce-inferenceservicename") ?? "unknown"',
            }
        },
        "sinks": {
            "inference_tables": {
                "type": "aws_s3",
                "inputs": ["records"],
                "bucket": ctx.names.bucket("logs"),
                "region": ctx.names.region,
                "key_prefix": naming.LOG_PREFIXES["inference"] + "endpoint={{ endpoint }}/date=%F/",
                "compression": "gzip",
                "encoding": {"codec": "json"},
                "framing": {"method": "newline_delimited"},
                # The project key, as the bucket's default: without the key id S3 would use the
                # AWS-managed aws/s3 key, outside the project's key policy.
                "server_side_encryption": "aws:kms",
                "ssekms_key_id": key_arn,
                "batch": {"timeout_secs": 60},
            }
        },
    }
    for endpoint in endpoints:
        if endpoint.rollout.strategy != "shadow" or endpoint.rollout.percent == 0:
            continue
        key = endpoint.name.replace("-", "_")
        config["transforms"][f"shadow_{key}"] = {
            "type": "filter",
            "inputs": ["kserve"],
            "condition": f'."ce-inferenceservicename" == "{endpoint.name}" && ."ce-type" == "{REQUEST_EVENT}"',
        }
        # `ratio` (Vector 0.46+), not `rate` (1 in N): a rate cannot say 30 % or 70 %, and rounded
        # 100/percent mirrored 33 % and 100 % of the requests instead.
        config["transforms"][f"shadow_{key}_sample"] = {
            "type": "sample",
            "inputs": [f"shadow_{key}"],
            "ratio": endpoint.rollout.percent / 100,
        }
        config["sinks"][f"shadow_{key}"] = {
            "type": "http",
            "inputs": [f"shadow_{key}_sample"],
            "uri": inference_url(ctx, endpoint, f"{endpoint.name}-shadow"),
            "method": "post",
            "encoding": {"codec": "text"},
            **SHADOW_DELIVERY,
        }
    return config


LOGGER_LABELS = {"app.kubernetes.io/name": LOGGER}


def logger_deployment(ctx: ProjectContext) -> dict[str, Any]:
    # Writes the logs bucket's `inference/` prefix with the serving workload's identity.
    return vector_collector_deployment(
        ctx,
        labels=LOGGER_LABELS,
        service_account="serving",
        config_map=LOGGER,
        port=LOGGER_PORT,
        requests={"cpu": "100m", "memory": "256Mi"},
        limits={"cpu": "1", "memory": "512Mi"},
    )


# --- model cache and image pre-pulling --------------------------------------------------------------


def model_cache_volume_spec(ctx: ProjectContext, cache_gib: int) -> dict[str, Any]:
    """The model hub (`s3://<artifacts>/hub/`) as a read-only volume. `authenticationSource: pod`:
    Mountpoint reads with the credentials of the pod that mounts it (the `serving` workload's
    role), never the driver's, so the volume opens only what that role may read."""
    names = ctx.names
    return {
        "capacity": {"storage": MODEL_CACHE_SIZE},
        "accessModes": ["ReadOnlyMany"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "claimRef": {"namespace": names.namespace, "name": MODEL_CACHE_CLAIM},
        "mountOptions": [
            "read-only",
            "allow-other",
            f"prefix {naming.ARTIFACT_PREFIXES['hub']}",
            f"region {names.region}",
        ],
        "csi": {
            "driver": MOUNTPOINT_DRIVER,
            "volumeHandle": names.model_cache_volume(),
            "volumeAttributes": {
                "bucketName": names.bucket("artifacts"),
                "authenticationSource": "pod",
                "stsRegion": names.region,
                # A node-local cache: a replica restarted on the same node reads from disk.
                "cache": "emptyDir",
                "cacheEmptyDirSizeLimit": f"{cache_gib}Gi",
            },
        },
    }


def model_cache_claim_spec(ctx: ProjectContext) -> dict[str, Any]:
    return {
        "accessModes": ["ReadOnlyMany"],
        "storageClassName": "",
        "volumeName": ctx.names.model_cache_volume(),
        "resources": {"requests": {"storage": MODEL_CACHE_SIZE}},
    }


def serving_image(ctx: ProjectContext, endpoint: Endpoint, image_tag: str) -> str | None:
    """The image a replica pulls, when mlrig knows it: the project's (custom runtime) or KServe's
    Hugging Face server (`vllm`, `huggingface`, at the platform's KServe version)."""
    if endpoint.runtime == "custom":
        return ctx.names.image(endpoint.image, image_tag) if endpoint.image else None
    if endpoint.runtime in LARGE_MODEL_RUNTIMES:
        pin = pins.KSERVE_HUGGINGFACE_SERVER
        version = addons_of(ctx).kserve.version
        return f"{pin.image}:{version}" if version else pin.reference
    return None


def registry_of(endpoint: Endpoint) -> str | None:
    """The project registry a replica pulls its image from (custom runtime only; the built-in
    runtimes' images are KServe's)."""
    return endpoint.image if endpoint.runtime == "custom" else None


def prepull_registries(ctx: ProjectContext) -> dict[str, list[str]]:
    """The project registries each GPU pool's pre-pull pods pull from (see `prepull_images`)."""
    return _prepulled_by_pool(ctx, registry_of)


def prepull_images(ctx: ProjectContext, image_tag: str) -> dict[str, list[str]]:
    """Images to pre-pull, by GPU pool."""
    return _prepulled_by_pool(ctx, lambda endpoint: serving_image(ctx, endpoint, image_tag))


def _prepulled_by_pool(ctx: ProjectContext, value_of: Callable[[Endpoint], str | None]) -> dict[str, list[str]]:
    """`value_of` each endpoint that pre-pulls onto a GPU pool, by pool, without repeats, in order."""
    found: dict[str, list[str]] = {}
    for endpoint in ctx.env.spec.serving.endpoints:
        pool = find_pool(ctx, endpoint.pool)
        value = value_of(endpoint)
        if pool is None or pool.gpu is None or not endpoint.startup.pre_pull or value is None:
            continue
        values = found.setdefault(pool.name, [])
        if value not in values:
            values.append(value)
    return found


PREPULL_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}}


def prepull_daemonset(ctx: ProjectContext, pool_name: str, images: list[str]) -> dict[str, Any]:
    """One pod per node of the pool whose init containers are the serving images: the kubelet
    pulls each before running it (`sh -c true`: serving images need a shell), then a pause
    container holds the pod, so the images stay in use and are never garbage-collected."""
    labels = {"app.kubernetes.io/name": "image-prepull", "mlrig.io/pool": pool_name}
    return {
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security(),
                "terminationGracePeriodSeconds": 0,
                **scheduling(ctx, pool_name),
                "initContainers": [
                    {
                        "name": f"pull-{i}",
                        "image": image,
                        "command": ["sh", "-c", "true"],
                        "resources": PREPULL_RESOURCES,
                        "securityContext": restricted_container_security(),
                    }
                    for i, image in enumerate(images)
                ],
                "containers": [
                    {
                        "name": "pause",
                        "image": PAUSE_IMAGE,
                        "resources": PREPULL_RESOURCES,
                        "securityContext": restricted_container_security(),
                    }
                ],
            },
        },
    }


class Serving(pulumi.ComponentResource):
    """InferenceServices (and A-B graphs) of every endpoint, and the inference logger."""

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        image_tag: str = DEFAULT_IMAGE_TAG,
        records: ReleaseRecords | None = None,
        key_arn: pulumi.Input[str],
        needs: Prerequisites,
        vector_secret: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`needs`: what the objects wait for; the model servers and the inference logger run as
        the `serving` workload, the pre-pull pods as nobody (they only pull images). Each
        endpoint's objects wait besides for its own pool and image repository only, never the
        other endpoints'. `records`: the image tag and model URIs the other writers recorded
        (`image_tag` is then the recorded tag)."""
        super().__init__("mlrig:project:Serving", name, None, opts)
        records = records or ReleaseRecords()
        endpoints = ctx.env.spec.serving.endpoints
        after = needs.of("serving")
        if any(e.request_logging or e.rollout.strategy == "shadow" for e in endpoints):
            self._logger(name, ctx, endpoints, key_arn, after)
        cached = [e for e in endpoints if mounts_model_hub(ctx, e)]
        if cached:
            after = [*after, self._model_cache(name, ctx, cached, after)]
        pulled = prepull_registries(ctx)
        for pool_name, images in prepull_images(ctx, image_tag).items():
            placed = needs.placed(pools=[pool_name], registries=pulled.get(pool_name, ()))
            k8s.apps.v1.DaemonSet(
                f"{name}-{pool_name}-prepull",
                metadata=metadata(ctx, f"prepull-{pool_name}", component="serving"),
                spec=cast(k8s.apps.v1.DaemonSetSpecArgsDict, prepull_daemonset(ctx, pool_name, images)),
                opts=ctx.k8s_opts(self, depends_on=[*needs.shared, *placed]),
            )
        for endpoint in endpoints:
            if not has_server(endpoint):
                pulumi.log.warn(
                    f"endpoint {endpoint.name!r} needs an image (the project has no registries); skipped", self
                )
                continue
            services = inference_services(ctx, endpoint, image_tag, records.model_uris)
            # The endpoint's own pool (and the serving priority class there) and repository.
            placed = needs.placed(
                pools=pools_selected(services),
                registries=[registry_of(endpoint)],
                serving_priority=serving_priority_class(ctx, endpoint) is not None,
            )
            # A custom server reading pgvector waits for its reader's connection Secret.
            reads = [vector_secret] if vector_secret is not None and endpoint.runtime == "custom" else []
            mine = [*after, *placed, *reads]
            for isvc_name, isvc_spec in services.items():
                self._model_uri_parameter(name, ctx, isvc_name)
                # Until the promote step recorded a URI, the stack leaves the one it set alone; where
                # no promote step may write it, the bundle's model is the one (a renamed model applies).
                known = knows_model_uri(ctx, records, isvc_name)
                ignored = pulumi.ResourceOptions(ignore_changes=[] if known else STORAGE_URI_PATHS)
                k8s.apiextensions.CustomResource(
                    f"{name}-{isvc_name}",
                    api_version=KSERVE_API,
                    kind="InferenceService",
                    metadata=metadata(
                        ctx,
                        isvc_name,
                        component="serving",
                        labels={"mlrig.io/endpoint": endpoint.name},
                        annotations=isvc_annotations(ctx, endpoint, records, isvc_name),
                    ),
                    spec=isvc_spec,
                    opts=pulumi.ResourceOptions.merge(ctx.k8s_opts(self, depends_on=mine), ignored),
                )
            if endpoint.rollout.strategy in SPLIT_VARIANTS:
                k8s.apiextensions.CustomResource(
                    f"{name}-{endpoint.name}-graph",
                    api_version=GRAPH_API,
                    kind="InferenceGraph",
                    metadata=metadata(
                        ctx, endpoint.name, component="serving", labels={"mlrig.io/endpoint": endpoint.name}
                    ),
                    spec=split_graph_spec(ctx, endpoint),
                    opts=ctx.k8s_opts(self, depends_on=mine),
                )
        self.register_outputs({"endpoints": [e.name for e in endpoints]})

    def _model_uri_parameter(self, name: str, ctx: ProjectContext, isvc_name: str) -> aws.ssm.Parameter:
        """Where the promote step records the InferenceService's model URI. The stack owns the
        parameter's life (created with the endpoint, deleted with it or the environment); the
        promote step owns its value (`put-parameter --overwrite`), which the stack never resets."""
        parameter = ctx.names.model_uri_parameter(isvc_name)
        return aws.ssm.Parameter(
            f"{name}-{isvc_name}-model-uri",
            name=parameter,
            type="String",
            insecure_value=naming.NOT_RECORDED,
            description=f"Model URI the promote step last pointed InferenceService {isvc_name} at",
            opts=pulumi.ResourceOptions.merge(
                ctx.aws_opts(self), pulumi.ResourceOptions(ignore_changes=["insecureValue"])
            ),
        )

    def _model_cache(
        self, name: str, ctx: ProjectContext, endpoints: Sequence[Endpoint], after: list[pulumi.Resource]
    ) -> pulumi.Resource:
        cache_gib = max((e.startup.model_size_gib or 1) for e in endpoints) * 2
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-model-cache-volume",
            metadata=metadata(ctx, ctx.names.model_cache_volume(), component="serving", namespaced=False),
            spec=cast(k8s.core.v1.PersistentVolumeSpecArgsDict, model_cache_volume_spec(ctx, cache_gib)),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        return k8s.core.v1.PersistentVolumeClaim(
            f"{name}-model-cache-claim",
            metadata=metadata(ctx, MODEL_CACHE_CLAIM, component="serving"),
            spec=cast(k8s.core.v1.PersistentVolumeClaimSpecArgsDict, model_cache_claim_spec(ctx)),
            opts=ctx.k8s_opts(self, depends_on=[*after, volume]),
        )

    def _logger(
        self,
        name: str,
        ctx: ProjectContext,
        endpoints: Sequence[Endpoint],
        key_arn: pulumi.Input[str],
        after: list[pulumi.Resource],
    ) -> None:
        rendered = pulumi.Output.from_input(key_arn).apply(
            lambda arn: yaml.safe_dump(logger_config(ctx, endpoints, arn), sort_keys=False)
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-logger-config",
            metadata=metadata(ctx, LOGGER, component="serving", labels=LOGGER_LABELS),
            data={"vector.yaml": rendered},
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        k8s.apps.v1.Deployment(
            f"{name}-logger",
            metadata=metadata(ctx, LOGGER, component="serving", labels=LOGGER_LABELS),
            spec=cast(
                k8s.apps.v1.DeploymentSpecArgsDict,
                rolled_on_change(logger_deployment(ctx), rendered.apply(lambda text: {"vector.yaml": text})),
            ),
            opts=ctx.k8s_opts(self, depends_on=[*after, config]),
        )
        disruption_budget(
            ctx,
            self,
            f"{name}-logger-disruption-budget",
            LOGGER,
            LOGGER_LABELS,
            server_replicas(ctx),
            depends_on=after,
        )
        k8s.core.v1.Service(
            f"{name}-logger-service",
            metadata=metadata(ctx, LOGGER, component="serving", labels=LOGGER_LABELS),
            spec=cast(
                k8s.core.v1.ServiceSpecArgsDict,
                {"selector": LOGGER_LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            ),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
