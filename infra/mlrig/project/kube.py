"""Shared shapes of the project's Kubernetes objects: labels, metadata, security contexts, and
which platform add-ons are installed."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import naming, pins
from ..bundle.model import Addons
from .context import ProjectContext
from .tracking import DatabaseConnection


def addons_of(ctx: ProjectContext) -> Addons:
    """Add-ons of the platform environment, from the resolved model (not the Output)."""
    cluster = ctx.env.platform_environment.spec.cluster or ctx.project.platform.bundle.spec.cluster
    return cluster.addons


def common_labels(ctx: ProjectContext, component: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/managed-by": "mlrig",
        "app.kubernetes.io/part-of": ctx.project.name,
        "mlrig.io/project": ctx.project.name,
        "mlrig.io/environment": ctx.env.name,
        "mlrig.io/tier": ctx.tier,
    }
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def metadata(
    ctx: ProjectContext,
    name: str,
    *,
    component: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, Any] | None = None,
    namespaced: bool = True,
) -> k8s.meta.v1.ObjectMetaArgsDict:
    meta: k8s.meta.v1.ObjectMetaArgsDict = {"name": name, "labels": {**common_labels(ctx, component), **(labels or {})}}
    if namespaced:
        meta["namespace"] = ctx.names.namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def restricted_container_security() -> dict[str, Any]:
    """Container securityContext meeting the `restricted` Pod Security Standard."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def run_to_completion_pod_annotations() -> dict[str, str]:
    """A pipeline step's pod: Karpenter waits for it to end before it consolidates or drifts its node
    (a changed pool, a cheaper node), instead of evicting a training run half-way."""
    return {naming.DO_NOT_DISRUPT_ANNOTATION: "true"}


def restricted_pod_security(user: int = 65532) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "fsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# --- Kubernetes quantities ---------------------------------------------------------------------


def cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


MEMORY_UNITS_GIB = {
    "Ki": 2**-20,
    "Mi": 2**-10,
    "Gi": 1,
    "Ti": 2**10,
    "K": 1e3 / 2**30,
    "M": 1e6 / 2**30,
    "G": 1e9 / 2**30,
    "T": 1e12 / 2**30,
}


def memory_gib(quantity: str) -> float:
    for unit, factor in MEMORY_UNITS_GIB.items():
        if quantity.endswith(unit):
            return float(quantity[: -len(unit)]) * factor
    return float(quantity) / 2**30


# --- secrets from AWS Secrets Manager ---------------------------------------------------------

EXTERNAL_SECRETS_API = "external-secrets.io/v1"
SECRET_STORE = "aws-secrets-manager"
SECRET_REFRESH = "1h"
# Database master secrets rotate (RDS: every seven days) and the old password stops working at
# once: readers see the new one within this interval (a GetSecretValue per interval and secret).
DATABASE_SECRET_REFRESH = "5m"


def secret_store_spec(ctx: ProjectContext) -> dict[str, Any]:
    """The namespace's SecretStore. No `auth` block: the External Secrets controller uses its
    own EKS Pod Identity credentials (the platform scopes them to `mlrig/*` secrets)."""
    return {"provider": {"aws": {"service": "SecretsManager", "region": ctx.names.region}}}


def database_secret_spec(connection: DatabaseConnection, target: str, template: Mapping[str, Any]) -> dict[str, Any]:
    """Sync a database's RDS-managed master secret (read by ARN: `username`, `password`) into
    the Secret `target`, shaped by `template`, whose values may use `{{ .username }}` and
    `{{ .password }}` beside the connection's (non-secret) host, port and database name."""
    return {
        "refreshInterval": DATABASE_SECRET_REFRESH,
        "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
        "target": {
            "name": target,
            "creationPolicy": "Owner",
            "template": {"engineVersion": "v2", "data": dict(template)},
        },
        "data": [
            {"secretKey": field, "remoteRef": {"key": connection.master_secret_arn, "property": field}}
            for field in ("username", "password")
        ],
    }


def image_of(ctx: ProjectContext, registry: str, tag: str) -> str:
    return ctx.names.image(registry, tag)


def cluster_service_url(ctx: ProjectContext, service: str, port: int) -> str:
    return f"http://{service}.{ctx.names.namespace}.svc.cluster.local:{port}"


def disruption_budget(
    ctx: ProjectContext,
    owner: pulumi.Resource,
    resource_name: str,
    app: str,
    labels: Mapping[str, str],
    replicas: int,
    *,
    depends_on: Sequence[pulumi.Resource] = (),
) -> None:
    """Keep one replica of a replicated server up through node drains (Karpenter consolidation,
    upgrades). Single-replica servers get none: a budget would block every drain. `depends_on`:
    what its server waits for (the namespace first), so it is created after and deleted before."""
    if replicas < 2:
        return
    k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata=metadata(ctx, app, labels=labels),
        # camelCase keys (the Kubernetes spelling) are not keys of the SDK's snake_case TypedDict.
        spec=cast(
            k8s.policy.v1.PodDisruptionBudgetSpecArgsDict,
            {"maxUnavailable": 1, "selector": {"matchLabels": dict(labels)}},
        ),
        opts=ctx.k8s_opts(owner, depends_on=depends_on),
    )


VECTOR_IMAGE = pins.VECTOR.reference


def server_replicas(ctx: ProjectContext) -> int:
    """Replicas of mlrig's own small servers: two in prod for availability, one elsewhere."""
    return 2 if ctx.tier == "prod" else 1


def vector_collector_deployment(
    ctx: ProjectContext,
    *,
    labels: Mapping[str, str],
    service_account: str,
    config_map: str,
    port: int,
    requests: Mapping[str, str],
    limits: Mapping[str, str],
) -> dict[str, Any]:
    """A Vector collector that receives HTTP events and ships them to AWS with the identity of
    `service_account` (inference logger, feedback collector)."""
    return {
        "replicas": server_replicas(ctx),
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "serviceAccountName": ctx.names.service_account(service_account),
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security(),
                "containers": [
                    {
                        "name": "vector",
                        "image": VECTOR_IMAGE,
                        "args": ["--config", "/etc/vector/vector.yaml"],
                        "ports": [{"name": "http", "containerPort": port}],
                        "env": [{"name": "AWS_REGION", "value": ctx.names.region}],
                        "resources": {"requests": dict(requests), "limits": dict(limits)},
                        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10},
                        "securityContext": restricted_container_security(),
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/vector", "readOnly": True},
                            {"name": "data", "mountPath": "/var/lib/vector"},
                        ],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": config_map}}, {"name": "data", "emptyDir": {}}],
            },
        },
    }


def rolled_on_change(deployment: dict[str, Any], data: pulumi.Input[Mapping[str, str]]) -> dict[str, Any]:
    """The Deployment with the digest of its ConfigMap's `data` on the pod template: LiteLLM and
    Vector read their file once, at start, so an updated ConfigMap alone changes nothing until
    the pods roll (`naming.CONFIG_DIGEST_ANNOTATION`; MLRIG-DEP-110 holds every server to it)."""
    rolled = copy.deepcopy(deployment)
    template_metadata = rolled["template"].setdefault("metadata", {})
    template_metadata["annotations"] = {
        **template_metadata.get("annotations", {}),
        naming.CONFIG_DIGEST_ANNOTATION: pulumi.Output.from_input(data).apply(naming.config_digest),
    }
    return rolled
