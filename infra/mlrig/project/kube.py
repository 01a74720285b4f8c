"""Shared shapes of the project's Kubernetes objects: labels, metadata, security contexts, and
which platform add-ons are installed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import pins
from ..bundle.model import Addons
from .context import ProjectContext


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


def restricted_pod_security(user: int = 65532) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "fsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# --- secrets from AWS Secrets Manager ---------------------------------------------------------

EXTERNAL_SECRETS_API = "external-secrets.io/v1"
SECRET_STORE = "aws-secrets-manager"
SECRET_REFRESH = "1h"


def secret_store_spec(ctx: ProjectContext) -> dict[str, Any]:
    """The namespace's SecretStore. No `auth` block: the External Secrets controller uses its
    own EKS Pod Identity credentials (the platform scopes them to `mlrig/*` secrets)."""
    return {"provider": {"aws": {"service": "SecretsManager", "region": ctx.names.region}}}


def external_secret_spec(remote_key: str, target: str, *, template: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Sync every key of the JSON secret `remote_key` into the Kubernetes Secret `target`,
    optionally reshaped by a template (e.g. a connection URI built from its fields)."""
    target_spec: dict[str, Any] = {"name": target, "creationPolicy": "Owner"}
    if template:
        target_spec["template"] = {"engineVersion": "v2", "data": dict(template)}
    return {
        "refreshInterval": SECRET_REFRESH,
        "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
        "target": target_spec,
        "dataFrom": [{"extract": {"key": remote_key}}],
    }


def image_of(ctx: ProjectContext, registry: str, tag: str) -> str:
    return ctx.names.image(registry, tag)


def cluster_service_url(ctx: ProjectContext, service: str, port: int) -> str:
    return f"http://{service}.{ctx.names.namespace}.svc.cluster.local:{port}"


def disruption_budget(
    ctx: ProjectContext, owner: pulumi.Resource, resource_name: str, app: str, labels: Mapping[str, str], replicas: int
) -> None:
    """Keep one replica of a replicated server up through node drains (Karpenter consolidation,
    upgrades). Single-replica servers get none: a budget would block every drain."""
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
        opts=ctx.k8s_opts(owner),
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
