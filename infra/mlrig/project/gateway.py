"""LLMOps in the namespace: the gateway to third-party LLM APIs and human-feedback capture.

Gateway: a LiteLLM proxy (Deployment + Service + ConfigMap). Provider keys live in AWS Secrets
Manager (`mlrig/<project>/<env>/llm-gateway/<provider>`, the key as the secret string), filled by
a person after the first apply (`mlrig secrets`), and reach the pods through one ExternalSecret
per provider; Bedrock uses the gateway's Pod Identity instead of a key. Until a key is filled its
Secret does not exist: the pods reference each one as optional, so the gateway starts (and the
apply completes) without them, and serves a provider once its key is there and the pods restart.
Rate limits (`rpm`/`tpm`) and monthly budgets come from `llm.gateway`; every request's spend is
logged to `s3://<logs bucket>/llm-gateway/` — per project, so cost is attributed to the project,
team and cost centre by construction.

Shared counters: LiteLLM keeps its rate-limit counters and provider spend in each process's memory
unless its router names a Redis. With several replicas, and across the restarts every config
change rolls, each pod would count alone and forget. When a provider has a limit or a budget, the
gateway gets its own small store (Valkey, Redis-protocol) in the namespace, which the router's
`redis_host` points at: request counts are shared exactly, spend within a second, and both outlive
the gateway's pods. The store keeps them on an emptyDir with an append-only file: a container
restart keeps them, a deleted pod (a node replaced, the store's spec changed) starts from zero.

Feedback: a small collector (Vector) accepting JSON POSTs on `http://feedback-collector/` and
forwarding them to the project's Firehose stream, which lands them in the logs bucket
partitioned by date.
"""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import yaml

from .. import naming, pins, tenancy
from ..bundle.model import Endpoint, GatewaySettings
from .context import ProjectContext
from .filled_secrets import (
    GATEWAY_PROVIDER_SETTINGS,
    GATEWAY_PROVIDERS,
    gateway_key_env,
    gateway_secret_purpose,
    gateway_secret_variables,
)
from .handoff import Prerequisites
from .kube import (
    EXTERNAL_SECRETS_API,
    SECRET_REFRESH,
    SECRET_STORE,
    addons_of,
    disruption_budget,
    metadata,
    restricted_container_security,
    restricted_pod_security,
    rolled_on_change,
    vector_collector_deployment,
)
from .model_locations import OPENAI_API_BASE, SPLIT_VARIANTS, rollout_services

GATEWAY = "llm-gateway"
GATEWAY_IMAGE = pins.LITELLM.reference
GATEWAY_PORT = 4000
FEEDBACK = "feedback-collector"
FEEDBACK_PORT = 8080
BUDGET_PERIOD = "30d"
# LiteLLM's model prefix and the environment variable holding each provider's key.
PROVIDERS = GATEWAY_PROVIDERS
# The LiteLLM model parameter each provider setting fills.
LITELLM_SETTING = {"AZURE_API_BASE": "api_base"}
GATEWAY_LABELS = {"app.kubernetes.io/name": GATEWAY}
# The gateway's shared counter store (rate-limit windows, provider spend).
STORE = "llm-gateway-store"
STORE_IMAGE = pins.VALKEY.reference
STORE_PORT = 6379
STORE_USER = 999  # the image's `valkey` user and group (pins.VALKEY)
STORE_LABELS = {"app.kubernetes.io/name": STORE}
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
# Well under the container's memory limit, leaving room for the fork of an append-only-file rewrite.
# Every key LiteLLM writes has a TTL; `volatile-ttl` drops the one-minute rate windows before the
# 30-day spend.
STORE_MAX_MEMORY = "96mb"
# LiteLLM 1.83.10 enforces a deployment's `rpm`/`tpm` only with this pre-call check
# (router_utils/pre_call_checks/model_rate_limit_check.py); under `simple-shuffle` they are otherwise
# just the weights of the random pick.
ENFORCE_RATE_LIMITS = "enforce_model_rate_limits"
FEEDBACK_LABELS = {"app.kubernetes.io/name": FEEDBACK}


def model_entry(provider: str, gateway: GatewaySettings) -> dict[str, Any]:
    prefix, key_env = PROVIDERS[provider]
    params: dict[str, Any] = {"model": f"{prefix}/*"}
    if key_env:
        params["api_key"] = f"os.environ/{key_env}"
    for variable in GATEWAY_PROVIDER_SETTINGS.get(provider, ()):
        params[LITELLM_SETTING[variable]] = f"os.environ/{variable}"
    limits = gateway.limits.get(provider)  # type: ignore[call-overload]
    if limits is not None:
        if limits.requests_per_minute:
            params["rpm"] = limits.requests_per_minute
        if limits.tokens_per_minute:
            params["tpm"] = tokens_per_replica(limits.tokens_per_minute, gateway.replicas)
    return {"model_name": f"{prefix}/*", "litellm_params": params}


def tokens_per_replica(tokens_per_minute: int, replicas: int) -> int:
    """Each replica's share of a per-minute token limit. LiteLLM 1.83.10 counts requests in the
    shared store (an atomic increment), but checks tokens against the replica's own in-memory count
    (`local_only=True`): with the limit split, the replicas together never pass it."""
    return max(1, tokens_per_minute // replicas)


def rate_limited(gateway: GatewaySettings) -> bool:
    return any(
        limits.requests_per_minute or limits.tokens_per_minute
        for provider, limits in gateway.limits.items()
        if provider in gateway.providers
    )


def counts_in_store(gateway: GatewaySettings) -> bool:
    """Whether the gateway has anything to count across replicas: a provider's rate limit or budget.
    (The overall budget and rate are not enforced by LiteLLM without its database.)"""
    return any(
        limits.requests_per_minute or limits.tokens_per_minute or limits.monthly_budget_usd
        for provider, limits in gateway.limits.items()
        if provider in gateway.providers
    )


def store_host(ctx: ProjectContext) -> str:
    return f"{STORE}.{ctx.names.namespace}.svc.cluster.local"


# Placeholder key for the project's own LLM endpoints, which take none: the route names its key, so
# no provider key from the gateway's environment (OPENAI_API_KEY) is ever sent to them.
HOSTED_API_KEY = "none"
# LiteLLM's provider for an OpenAI-compatible vLLM server (`hosted_vllm/<served model name>`).
HOSTED_PROVIDER = "hosted_vllm"


def hosted_api_base(ctx: ProjectContext, endpoint: Endpoint) -> str:
    """Where the gateway reaches one of the project's vLLM endpoints (its OpenAI API): the
    endpoint's InferenceGraph when its traffic is split (the graph posts every request to its
    variants' chat API), else its predictor's Service."""
    services = rollout_services(endpoint)
    service = endpoint.name if endpoint.rollout.strategy in SPLIT_VARIANTS else f"{services['primary']}-predictor"
    return f"http://{service}.{ctx.names.namespace}.svc.cluster.local{OPENAI_API_BASE}"


def hosted_model_entries(ctx: ProjectContext) -> list[dict[str, Any]]:
    """The project's own LLM endpoints behind the gateway, under their endpoint names: clients call
    them through the same budgets, logs and API as the third-party models."""
    return [
        {
            "model_name": endpoint.name,
            "litellm_params": {
                # vLLM serves the endpoint's name (`--model_name`). LiteLLM's `hosted_vllm` provider
                # (OpenAI API), not `openai`: a route's provider is what a provider budget counts
                # and blocks, so an exhausted OpenAI budget must not take the project's own LLM away.
                "model": f"{HOSTED_PROVIDER}/{endpoint.name}",
                "api_base": hosted_api_base(ctx, endpoint),
                "api_key": HOSTED_API_KEY,
            },
        }
        for endpoint in ctx.env.spec.serving.endpoints
        if endpoint.runtime == "vllm" and addons_of(ctx).kserve.enabled
    ]


def gateway_config(ctx: ProjectContext, gateway: GatewaySettings) -> dict[str, Any]:
    metadata_ = ctx.project.bundle.metadata
    provider_budgets = {
        PROVIDERS[p][0]: {"budget_limit": limits.monthly_budget_usd, "time_period": BUDGET_PERIOD}
        for p, limits in gateway.limits.items()
        if p in gateway.providers and limits.monthly_budget_usd
    }
    router: dict[str, Any] = {"routing_strategy": "simple-shuffle"}
    if counts_in_store(gateway):
        # The router's DualCache writes through to this store (router.py: `redis_host` and
        # `redis_port` both set); rate windows and provider spend are then the same for every replica.
        router["redis_host"] = store_host(ctx)
        router["redis_port"] = STORE_PORT
    if rate_limited(gateway):
        router["optional_pre_call_checks"] = [ENFORCE_RATE_LIMITS]
    if provider_budgets:
        router["provider_budget_config"] = provider_budgets
    settings: dict[str, Any] = {
        "success_callback": ["s3"],
        "failure_callback": ["s3"],
        "s3_callback_params": {
            "s3_bucket_name": ctx.names.bucket("logs"),
            "s3_region_name": ctx.names.region,
            # The prefix the gateway's role may write (identity.py, workload_access).
            "s3_path": naming.LOG_PREFIXES["gateway"].rstrip("/"),
        },
        # `/metrics` on the API port: requests counted by model and status, which the project's
        # LLM error-rate alerts read (monitoring_rules.py). OSS since LiteLLM 1.80 (BerriAI/litellm#16689).
        "callbacks": ["prometheus"],
        # Scraped by the platform's Prometheus, which holds no gateway key; LiteLLM >= 1.85
        # would otherwise answer it 401.
        "require_auth_for_metrics_endpoint": False,
        "drop_params": True,
    }
    # `llm.gateway.monthlyBudgetUsd` is not written: LiteLLM keeps a proxy-wide `max_budget` only
    # in its database (proxy_server.py, `prisma_client is not None and litellm.max_budget > 0`), and
    # its in-process fallback never counts a chat completion. The README says so.
    return {
        "model_list": [*(model_entry(p, gateway) for p in gateway.providers), *hosted_model_entries(ctx)],
        "router_settings": router,
        "litellm_settings": settings,
        # Exported into the proxy's environment: who pays for this gateway, for audits.
        "environment_variables": {
            "MLRIG_PROJECT": ctx.project.name,
            "MLRIG_TEAM": metadata_.team or ctx.project.name,
            "MLRIG_COST_CENTER": metadata_.cost_center or "unassigned",
        },
    }


def provider_key_secret(provider: str) -> str:
    """The Kubernetes Secret one provider's key is synced into."""
    return f"{GATEWAY}-{provider}"


def keyed_providers(gateway: GatewaySettings) -> list[tuple[str, str]]:
    """(provider, environment variable) of the providers that authenticate with a key."""
    return [(p, key_env) for p in gateway.providers if (key_env := gateway_key_env(p)) is not None]


def key_secret_spec(ctx: ProjectContext, provider: str, key_env: str) -> dict[str, Any]:
    """One ExternalSecret per provider: a key nobody has filled yet leaves only its own Secret
    missing, not the others'. A provider that also needs settings (its endpoint) keeps a JSON
    object in its secret, each variable a property of it."""
    remote = ctx.names.secret(gateway_secret_purpose(provider))
    variables = gateway_secret_variables(provider)
    if len(variables) > 1:
        data = [{"secretKey": v, "remoteRef": {"key": remote, "property": v}} for v in variables]
    else:
        data = [{"secretKey": key_env, "remoteRef": {"key": remote}}]
    return {
        "refreshInterval": SECRET_REFRESH,
        "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
        "target": {"name": provider_key_secret(provider), "creationPolicy": "Owner"},
        "data": data,
    }


# LiteLLM without a database runs no Prisma migration; it writes only under HOME and its cache,
# both on the writable /tmp volume, so the root filesystem stays read-only. The admin UI (which
# rewrites its files at startup) is not served: the gateway is an API.
GATEWAY_ENVIRONMENT = {
    "HOME": "/tmp",
    "XDG_CACHE_HOME": "/tmp/.cache",
    "DISABLE_ADMIN_UI": "True",
}


def gateway_deployment(ctx: ProjectContext, gateway: GatewaySettings) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/health/liveliness", "port": "http"}, "periodSeconds": 15, "timeoutSeconds": 5}
    return {
        "replicas": gateway.replicas,
        "selector": {"matchLabels": GATEWAY_LABELS},
        "template": {
            "metadata": {"labels": GATEWAY_LABELS},
            "spec": {
                "serviceAccountName": ctx.names.service_account("gateway"),
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security(),
                "containers": [
                    {
                        "name": "litellm",
                        "image": GATEWAY_IMAGE,
                        "args": ["--config", "/etc/litellm/config.yaml", "--port", str(GATEWAY_PORT)],
                        "ports": [{"name": "http", "containerPort": GATEWAY_PORT}],
                        "env": [
                            *({"name": k, "value": v} for k, v in GATEWAY_ENVIRONMENT.items()),
                            {"name": "AWS_REGION", "value": ctx.names.region},
                        ],
                        # Optional: the pods start before anyone has filled a provider key.
                        "envFrom": [
                            {"secretRef": {"name": provider_key_secret(p), "optional": True}}
                            for p, _ in keyed_providers(gateway)
                        ],
                        "resources": {
                            "requests": {"cpu": "500m", "memory": "1Gi"},
                            "limits": dict(tenancy.GATEWAY_LIMITS),
                        },
                        "readinessProbe": {**probe, "httpGet": {"path": "/health/readiness", "port": "http"}},
                        "livenessProbe": {**probe, "initialDelaySeconds": 30},
                        "securityContext": restricted_container_security(),
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/litellm", "readOnly": True},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": GATEWAY}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                ],
            },
        },
    }


def store_arguments() -> list[str]:
    """Valkey as a counter store: the append-only file on the pod's emptyDir (fsync every second)
    keeps the counters through a container restart; no RDB snapshots."""
    return [
        "valkey-server",
        "--port",
        str(STORE_PORT),
        "--dir",
        "/data",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory",
        STORE_MAX_MEMORY,
        "--maxmemory-policy",
        "volatile-ttl",
    ]


def store_placement(ctx: ProjectContext) -> tuple[dict[str, str], dict[str, str]]:
    """(nodeSelector, pod annotations) of the store. With Karpenter, its pod keeps its node: on
    on-demand capacity (no spot reclaim) and `do-not-disrupt` (no consolidation or drift), since
    each move empties the spend it holds. Node expiry (`expireAfter` of the general pool) still
    replaces it. Without Karpenter the system node group takes every pod and replaces nodes only on
    upgrades."""
    if not addons_of(ctx).karpenter.enabled:
        return {}, {}
    return {CAPACITY_TYPE_LABEL: "on-demand"}, {naming.DO_NOT_DISRUPT_ANNOTATION: "true"}


def store_deployment(ctx: ProjectContext) -> dict[str, Any]:
    """One Valkey pod: the counters must be one. `Recreate`: a new pod never runs beside the old one
    with counters of its own."""
    node_selector, annotations = store_placement(ctx)
    pod_metadata: dict[str, Any] = {"labels": STORE_LABELS}
    if annotations:
        pod_metadata["annotations"] = annotations
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod_security(STORE_USER),
        "containers": [
            {
                "name": "valkey",
                "image": STORE_IMAGE,
                "args": store_arguments(),
                "ports": [{"name": "redis", "containerPort": STORE_PORT}],
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
                "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 20, "initialDelaySeconds": 10},
                "securityContext": restricted_container_security(),
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    if node_selector:
        pod["nodeSelector"] = node_selector
    return {
        "replicas": 1,
        "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": STORE_LABELS},
        "template": {"metadata": pod_metadata, "spec": pod},
    }


def feedback_config(ctx: ProjectContext) -> dict[str, Any]:
    return {
        "data_dir": "/var/lib/vector",
        "sources": {
            "feedback": {"type": "http_server", "address": f"0.0.0.0:{FEEDBACK_PORT}", "decoding": {"codec": "json"}}
        },
        "sinks": {
            "firehose": {
                "type": "aws_kinesis_firehose",
                "inputs": ["feedback"],
                "stream_name": ctx.names.firehose("feedback"),
                "region": ctx.names.region,
                "encoding": {"codec": "json"},
            }
        },
    }


def feedback_deployment(ctx: ProjectContext) -> dict[str, Any]:
    return vector_collector_deployment(
        ctx,
        labels=FEEDBACK_LABELS,
        service_account="feedback",
        config_map=FEEDBACK,
        port=FEEDBACK_PORT,
        requests={"cpu": "50m", "memory": "128Mi"},
        limits={"cpu": "500m", "memory": "256Mi"},
    )


class LlmWorkloads(pulumi.ComponentResource):
    """The LLM gateway (when `llm.gateway` is set) and the feedback collector (when enabled)."""

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        needs: Prerequisites,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`needs`: what the objects wait for; the gateway runs as the `gateway` workload, the
        collector as `feedback`."""
        super().__init__("mlrig:project:LlmWorkloads", name, None, opts)
        self._ctx = ctx
        self._name = name
        llm = ctx.env.spec.llm
        if llm.gateway is not None:
            self._gateway(llm.gateway, needs.of("gateway"))
        if llm.feedback.enabled:
            self._feedback(needs.of("feedback"))
        self.register_outputs({})

    def _app(
        self,
        app: str,
        labels: dict[str, str],
        config: dict[str, Any],
        config_file: str,
        deployment: dict[str, Any],
        port: int,
        after: list[pulumi.Resource],
    ) -> None:
        ctx = self._ctx
        config_text = yaml.safe_dump(config, sort_keys=False)
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-{app}-config",
            metadata=metadata(ctx, app, component="llm", labels=labels),
            data={config_file: config_text},
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        k8s.apps.v1.Deployment(
            f"{self._name}-{app}",
            metadata=metadata(ctx, app, component="llm", labels=labels),
            spec=cast(k8s.apps.v1.DeploymentSpecArgsDict, rolled_on_change(deployment, {config_file: config_text})),
            opts=ctx.k8s_opts(self, depends_on=[*after, config_map]),
        )
        disruption_budget(
            ctx, self, f"{self._name}-{app}-disruption-budget", app, labels, deployment["replicas"], depends_on=after
        )
        k8s.core.v1.Service(
            f"{self._name}-{app}-service",
            metadata=metadata(ctx, app, component="llm", labels=labels),
            spec=cast(
                k8s.core.v1.ServiceSpecArgsDict,
                {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": port}]},
            ),
            opts=ctx.k8s_opts(self, depends_on=after),
        )

    def _gateway(self, gateway: GatewaySettings, after: list[pulumi.Resource]) -> None:
        ctx = self._ctx
        if addons_of(ctx).external_secrets.enabled:
            # Not awaited by anything: the Deployment reads these Secrets optionally.
            for provider, key_env in keyed_providers(gateway):
                k8s.apiextensions.CustomResource(
                    f"{self._name}-gateway-key-{provider}",
                    api_version=EXTERNAL_SECRETS_API,
                    kind="ExternalSecret",
                    metadata=metadata(ctx, provider_key_secret(provider), component="llm", labels=GATEWAY_LABELS),
                    spec=key_secret_spec(ctx, provider, key_env),
                    opts=ctx.k8s_opts(self, depends_on=after),
                )
        store = self._store(after) if counts_in_store(gateway) else []
        self._app(
            GATEWAY,
            GATEWAY_LABELS,
            gateway_config(ctx, gateway),
            "config.yaml",
            gateway_deployment(ctx, gateway),
            GATEWAY_PORT,
            [*after, *store],
        )

    def _store(self, after: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """The shared counter store and its Service; the gateway waits for it (and is deleted
        before it)."""
        ctx = self._ctx
        deployment = store_deployment(ctx)
        server = k8s.apps.v1.Deployment(
            f"{self._name}-gateway-store",
            metadata=metadata(ctx, STORE, component="llm", labels=STORE_LABELS),
            spec=cast(k8s.apps.v1.DeploymentSpecArgsDict, deployment),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        # One replica: no budget (it would block every drain); `disruption_budget` decides so.
        disruption_budget(
            ctx, self, f"{self._name}-gateway-store-disruption-budget", STORE, STORE_LABELS, deployment["replicas"]
        )
        service = k8s.core.v1.Service(
            f"{self._name}-gateway-store-service",
            metadata=metadata(ctx, STORE, component="llm", labels=STORE_LABELS),
            spec=cast(
                k8s.core.v1.ServiceSpecArgsDict,
                {"selector": STORE_LABELS, "ports": [{"name": "redis", "port": STORE_PORT, "targetPort": "redis"}]},
            ),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        return [server, service]

    def _feedback(self, after: list[pulumi.Resource]) -> None:
        ctx = self._ctx
        self._app(
            FEEDBACK,
            FEEDBACK_LABELS,
            feedback_config(ctx),
            "vector.yaml",
            feedback_deployment(ctx),
            FEEDBACK_PORT,
            after,
        )
