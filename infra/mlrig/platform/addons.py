"""Cluster add-ons as pinned Helm releases, each switchable in the bundle: Argo Workflows (pipelines),
KServe with cert-manager (serving), kube-prometheus-stack (monitoring), External Secrets Operator
(API keys from AWS Secrets Manager, `mlrig/*` only) and metrics-server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import naming
from ..bundle.model import Addons
from .cluster import SYSTEM_TOLERATIONS, Cluster
from .context import PlatformTarget, pod_identity_trust, policy_document
from .versions import (
    ARGO_WORKFLOWS,
    CERT_MANAGER,
    EXTERNAL_SECRETS,
    KSERVE,
    KSERVE_CRD,
    KUBE_PROMETHEUS_STACK,
    METRICS_SERVER,
    Chart,
    pinned,
)

# Namespaces are named in naming.py, where project names are checked against them.
ARGO_NAMESPACE = naming.ARGO_NAMESPACE
KSERVE_NAMESPACE = naming.KSERVE_NAMESPACE
CERT_MANAGER_NAMESPACE = naming.CERT_MANAGER_NAMESPACE
MONITORING_NAMESPACE = naming.MONITORING_NAMESPACE
EXTERNAL_SECRETS_NAMESPACE = naming.EXTERNAL_SECRETS_NAMESPACE
EXTERNAL_SECRETS_SERVICE_ACCOUNT = "external-secrets"
CLUSTER_SECRET_STORE = "aws-secrets-manager"
GRAFANA_ADMIN_SECRET = "grafana-admin"
# Reserved for the ingress controller project endpoints are exposed through.
INGRESS_NAMESPACE = naming.INGRESS_NAMESPACE
# Add-on controllers may run on the tainted system nodes as well as on Karpenter capacity.
TOLERATE_SYSTEM = {"tolerations": SYSTEM_TOLERATIONS}


def external_secrets_statements(partition: str, region: str, account: str) -> list[dict[str, Any]]:
    """Read secrets under `mlrig/` only: API keys projects keep in Secrets Manager."""
    prefix = naming.platform_secrets_prefix()
    return [
        {
            "Sid": "ReadMlrigSecrets",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:GetSecretValue",
                "secretsmanager:DescribeSecret",
                "secretsmanager:ListSecretVersionIds",
            ],
            "Resource": f"arn:{partition}:secretsmanager:{region}:{account}:secret:{prefix}*",
        }
    ]


def addon_flags(addons: Addons) -> dict[str, bool]:
    """Which add-ons are installed, exported for project stacks (camelCase, like the bundle)."""
    return {
        "karpenter": addons.karpenter.enabled,
        "nvidiaDevicePlugin": addons.nvidia_device_plugin.enabled,
        "dcgmExporter": addons.dcgm_exporter.enabled,
        "argoWorkflows": addons.argo_workflows.enabled,
        "kserve": addons.kserve.enabled,
        "monitoring": addons.monitoring.enabled,
        "externalSecrets": addons.external_secrets.enabled,
        "metricsServer": addons.metrics_server.enabled,
    }


class ClusterAddons(pulumi.ComponentResource):
    monitoring: k8s.helm.v3.Release | None

    def __init__(
        self,
        name: str,
        target: PlatformTarget,
        cluster: Cluster,
        addons: Addons,
        *,
        k8s_provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__("mlrig:platform:ClusterAddons", name, None, pulumi.ResourceOptions(provider=k8s_provider))
        self._prefix = name
        self._target = target
        self._provider = k8s_provider
        self._depends = list(depends_on)
        self.monitoring = None

        self._namespace(INGRESS_NAMESPACE)
        if addons.monitoring.enabled:
            monitoring_namespace = self._namespace(MONITORING_NAMESPACE)
            admin_secret = self._grafana_admin(monitoring_namespace)
            self.monitoring = self._release(
                "kube-prometheus-stack",
                KUBE_PROMETHEUS_STACK,
                addons.monitoring.version,
                monitoring_namespace,
                {
                    "prometheus": {
                        "prometheusSpec": {
                            # Pick up every ServiceMonitor/PodMonitor (DCGM, project endpoints).
                            "serviceMonitorSelectorNilUsesHelmValues": False,
                            "podMonitorSelectorNilUsesHelmValues": False,
                            "ruleSelectorNilUsesHelmValues": False,
                            "retention": "15d",
                        }
                    },
                    # Never the chart's default admin password: a generated one, kept as a secret.
                    "grafana": {
                        "admin": {
                            "existingSecret": GRAFANA_ADMIN_SECRET,
                            "userKey": "admin-user",
                            "passwordKey": "admin-password",
                        }
                    },
                    "prometheusOperator": TOLERATE_SYSTEM,
                },
                depends_on=[admin_secret],
            )
        if addons.argo_workflows.enabled:
            self._release(
                "argo-workflows",
                ARGO_WORKFLOWS,
                addons.argo_workflows.version,
                self._namespace(ARGO_NAMESPACE),
                {
                    "controller": {**TOLERATE_SYSTEM, "workflowNamespaces": []},
                    "server": {**TOLERATE_SYSTEM, "authModes": ["client"]},
                    "singleNamespace": False,
                },
            )
        if addons.kserve.enabled:
            self._kserve(addons)
        if addons.external_secrets.enabled:
            self._external_secrets(cluster, addons)
        if addons.metrics_server.enabled:
            self._release(
                "metrics-server",
                METRICS_SERVER,
                addons.metrics_server.version,
                naming.KUBE_SYSTEM_NAMESPACE,
                {**TOLERATE_SYSTEM},
            )
        self.register_outputs({"monitoringNamespace": MONITORING_NAMESPACE})

    def _grafana_admin(self, namespace: str) -> k8s.core.v1.Secret:
        password = random.RandomPassword(
            f"{self._prefix}-grafana-admin", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        return k8s.core.v1.Secret(
            f"{self._prefix}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=namespace),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=self._depends),
        )

    def _namespace(self, name: str) -> str:
        k8s.core.v1.Namespace(
            f"{self._prefix}-ns-{name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                labels={"app.kubernetes.io/managed-by": "mlrig", "pod-security.kubernetes.io/warn": "restricted"},
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=self._depends),
        )
        return name

    def _release(
        self,
        release: str,
        pin: Chart,
        version: str | None,
        namespace: str,
        values: dict[str, Any],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> k8s.helm.v3.Release:
        chart = pinned(pin, version)
        return k8s.helm.v3.Release(
            f"{self._prefix}-{release}",
            name=release,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository) if chart.repository else None,
            namespace=namespace,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[*self._depends, *depends_on]),
        )

    def _kserve(self, addons: Addons) -> None:
        """KServe in RawDeployment mode (plain Deployments, no Knative/Istio); its webhooks need
        cert-manager certificates, so cert-manager comes first."""
        cert_manager = self._release(
            "cert-manager",
            CERT_MANAGER,
            None,
            self._namespace(CERT_MANAGER_NAMESPACE),
            {"crds": {"enabled": True}, **TOLERATE_SYSTEM, "webhook": TOLERATE_SYSTEM, "cainjector": TOLERATE_SYSTEM},
        )
        namespace = self._namespace(KSERVE_NAMESPACE)
        crds = self._release("kserve-crd", KSERVE_CRD, addons.kserve.version, namespace, {})
        self._release(
            "kserve",
            KSERVE,
            addons.kserve.version,
            namespace,
            {"kserve": {"controller": {"deploymentMode": "RawDeployment"}}},
            depends_on=[cert_manager, crds],
        )

    def _external_secrets(self, cluster: Cluster, addons: Addons) -> None:
        target = self._target
        aws_opts = target.aws_opts(self)
        role = aws.iam.Role(
            f"{self._prefix}-external-secrets",
            name=naming.addon_role(target.cluster_name, "external-secrets"),
            assume_role_policy=pod_identity_trust(),
            opts=aws_opts,
        )
        aws.iam.RolePolicy(
            f"{self._prefix}-external-secrets",
            role=role.id,
            policy=policy_document(
                external_secrets_statements(target.partition, target.env.region, target.env.account or "*")
            ),
            opts=aws_opts,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{self._prefix}-external-secrets",
            cluster_name=cluster.name,
            namespace=EXTERNAL_SECRETS_NAMESPACE,
            service_account=EXTERNAL_SECRETS_SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=aws_opts,
        )
        release = self._release(
            "external-secrets",
            EXTERNAL_SECRETS,
            addons.external_secrets.version,
            self._namespace(EXTERNAL_SECRETS_NAMESPACE),
            {
                "installCRDs": True,
                "serviceAccount": {"name": EXTERNAL_SECRETS_SERVICE_ACCOUNT},
                **TOLERATE_SYSTEM,
                "webhook": TOLERATE_SYSTEM,
                "certController": TOLERATE_SYSTEM,
            },
            depends_on=[association],
        )
        k8s.apiextensions.CustomResource(
            f"{self._prefix}-secret-store",
            api_version="external-secrets.io/v1",
            kind="ClusterSecretStore",
            metadata={"name": CLUSTER_SECRET_STORE},
            spec={"provider": {"aws": {"service": "SecretsManager", "region": target.env.region}}},
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[release]),
        )
