"""Cluster add-ons as pinned Helm releases, each switchable in the bundle: Argo Workflows (pipelines),
KServe with cert-manager (serving), kube-prometheus-stack (monitoring), External Secrets Operator
(API keys from AWS Secrets Manager, `mlrig/*` only) and metrics-server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from .. import gpu_sharing, naming
from ..bundle.model import Addons
from .cluster import SYSTEM_TOLERATIONS, Cluster
from .context import PlatformTarget, pod_identity_trust, policy_document
from .versions import (
    ARGO_WORKFLOWS,
    CERT_MANAGER,
    EXTERNAL_SECRETS,
    KEDA,
    KSERVE,
    KSERVE_CRD,
    KUBE_PROMETHEUS_STACK,
    KUEUE,
    METRICS_SERVER,
    MOUNTPOINT_S3_CSI,
    Chart,
    pinned,
)

# Namespaces are named in naming.py, where project names are checked against them.
ARGO_NAMESPACE = naming.ARGO_NAMESPACE
KSERVE_NAMESPACE = naming.KSERVE_NAMESPACE
KEDA_NAMESPACE = naming.KEDA_NAMESPACE
CERT_MANAGER_NAMESPACE = naming.CERT_MANAGER_NAMESPACE
MONITORING_NAMESPACE = naming.MONITORING_NAMESPACE
EXTERNAL_SECRETS_NAMESPACE = naming.EXTERNAL_SECRETS_NAMESPACE
EXTERNAL_SECRETS_SERVICE_ACCOUNT = "external-secrets"
EXTERNAL_SECRETS_API = "external-secrets.io/v1"
PUSH_SECRET_API = "external-secrets.io/v1alpha1"
GENERATORS_API = "generators.external-secrets.io/v1alpha1"
CLUSTER_SECRET_STORE = "aws-secrets-manager"
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_PURPOSE = "grafana-admin"
# Only the platform's own namespaces may use the cluster-wide store; projects use their
# namespace's SecretStore, which an admission policy keeps to their own secrets.
CLUSTER_SECRET_STORE_NAMESPACES = [MONITORING_NAMESPACE]
# Reserved for the ingress controller project endpoints are exposed through.
INGRESS_NAMESPACE = naming.INGRESS_NAMESPACE
# Add-on controllers may run on the tainted system nodes as well as on Karpenter capacity.
TOLERATE_SYSTEM = {"tolerations": SYSTEM_TOLERATIONS}
SECRET_READ_ACTIONS = [
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecretVersionIds",
]
# What a PushSecret needs to create a secret once and leave it alone afterwards (IfNotExists).
SECRET_SEED_ACTIONS = [
    "secretsmanager:CreateSecret",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:TagResource",
]


def external_secrets_statements(
    partition: str, region: str, account: str, seeded_secrets: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Read `mlrig/*` (projects' secrets) and the master-user secrets RDS manages for project
    databases; decrypt them through Secrets Manager; create (once) the platform's own generated
    secrets (`seeded_secrets`). Which project may sync which secret is decided per namespace by an
    admission policy (project/workspace.py), not here: the controller serves every namespace."""
    arn = f"arn:{partition}:secretsmanager:{region}:{account}:secret:"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadMlrigSecrets",
            "Effect": "Allow",
            "Action": SECRET_READ_ACTIONS,
            "Resource": f"{arn}{naming.platform_secrets_prefix()}*",
        },
        {
            "Sid": "ReadDatabaseMasterSecrets",
            "Effect": "Allow",
            "Action": SECRET_READ_ACTIONS,
            "Resource": f"{arn}{naming.RDS_MANAGED_SECRET_PREFIX}*",
        },
        {
            # Project secrets are encrypted with project keys whose policies delegate use to IAM.
            "Sid": "DecryptThroughSecretsManager",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": f"arn:{partition}:kms:{region}:{account}:key/*",
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        },
    ]
    if seeded_secrets:
        statements.append(
            {
                "Sid": "SeedPlatformSecrets",
                "Effect": "Allow",
                "Action": SECRET_SEED_ACTIONS,
                "Resource": [naming.platform_secret_arn_pattern(partition, region, account, n) for n in seeded_secrets],
            }
        )
    return statements


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
        "kueue": addons.kueue.enabled,
        "efaDevicePlugin": addons.efa_device_plugin.enabled,
        "mountpointS3": addons.mountpoint_s3.enabled,
    }


def prometheus_values(*, grafana_admin_secret: bool) -> dict[str, Any]:
    """kube-prometheus-stack: every monitor and rule of every namespace; each AlertmanagerConfig
    matches only alerts of its own namespace (explicitly `OnNamespace`: with `None` one team's
    routes would receive every team's alerts); Grafana's admin from a synced Secret."""
    values: dict[str, Any] = {
        "prometheus": {
            "prometheusSpec": {
                # Pick up every ServiceMonitor/PodMonitor (DCGM, Argo, project endpoints).
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "retention": "15d",
            }
        },
        "alertmanager": {"alertmanagerSpec": {"alertmanagerConfigMatcherStrategy": {"type": "OnNamespace"}}},
        # The admission-webhook patch job runs before any Karpenter node exists.
        "prometheusOperator": {**TOLERATE_SYSTEM, "admissionWebhooks": {"patch": TOLERATE_SYSTEM}},
    }
    if grafana_admin_secret:
        values["grafana"] = {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"}
        }
    return values


# --- Kueue ---------------------------------------------------------------------------------------

KUEUE_NAMESPACE = naming.KUEUE_NAMESPACE
KUEUE_API = "kueue.x-k8s.io/v1beta2"
# How long an admitted job may take for all its pods to run before Kueue evicts it, frees its
# quota and requeues it: long enough for Karpenter to launch GPU nodes from zero (3–5 minutes,
# more for p4d/p5), short enough that a job stuck half-scheduled (one worker's node never came:
# no capacity) does not hold its GPUs for hours.
KUEUE_PODS_READY_TIMEOUT = "20m"


def kueue_configuration() -> dict[str, Any]:
    """Kueue's controller configuration (v1beta2), the chart's defaults changed only where mlrig
    needs it:

    - `managedJobsNamespaceSelector`: only namespaces a project opted in (label `mlrig.io/kueue:
      enabled`) are managed; the chart's webhooks use the same selector, so no pod of another
      namespace (kube-system, the platform's add-ons, projects without queues) ever waits for it;
    - `integrations.frameworks: [pod]`: Argo Workflows has no Kueue integration; its step pods are
      admitted as plain pods (one Workload per step, a pod group for a multi-worker step). The
      Deployment/StatefulSet integrations stay off, so serving is never queued;
    - `waitForPodsReady`: all-or-nothing in practice, not only in quota: a job whose pods do not
      all run within the timeout is evicted and requeued, releasing what it holds;
    - `resources.excludeResourcePrefixes`: EFA interfaces are a node's NICs, not a quota.
    """
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {"matchLabels": {naming.KUEUE_OPT_IN_LABEL: naming.KUEUE_OPT_IN_VALUE}},
        "waitForPodsReady": {
            "timeout": KUEUE_PODS_READY_TIMEOUT,
            "blockAdmission": False,
            "requeuingStrategy": {"timestamp": "Eviction", "backoffBaseSeconds": 60, "backoffMaxSeconds": 3600},
        },
        "integrations": {"frameworks": ["pod"]},
        "resources": {"excludeResourcePrefixes": ["vpc.amazonaws.com/efa"]},
    }


def kueue_values(*, prometheus: bool) -> dict[str, Any]:
    """The Kueue chart (0.19.2): its configuration, and the feature gate that keeps team-chosen
    priorities inside each team's queue: with `PrioritySortingWithinCohort` off, workloads that
    borrow are ordered by age, not by a priority another team picked."""
    return {
        "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(kueue_configuration(), sort_keys=False)},
        "controllerManager": {
            "featureGates": [{"name": "PrioritySortingWithinCohort", "enabled": False}],
            **TOLERATE_SYSTEM,
        },
        "enablePrometheus": prometheus,
    }


def shared_gpu_flavor_spec() -> dict[str, Any]:
    """The flavor whole GPUs of every project are counted in, so that the projects of one cohort
    can lend each other idle GPUs: it matches nodes of pools without sharing only (a time-sliced
    or MIG pool's slices are counted in the pool's own flavor)."""
    return {"nodeLabels": {gpu_sharing.SHARING_LABEL: "none"}}


# --- Mountpoint for Amazon S3 ---------------------------------------------------------------------


def mountpoint_values() -> dict[str, Any]:
    """The CSI driver v2: its node DaemonSet runs everywhere (the chart tolerates every taint),
    Mountpoint Pods in `mount-s3`. No driver-level credentials: mlrig's volumes use
    `authenticationSource: pod`, so each pod reads S3 with its own Pod Identity role."""
    return {
        "node": {"tolerateAllTaints": True},
        "mountpointPod": {"namespace": naming.MOUNTPOINT_NAMESPACE, "createNamespace": True},
    }


def argo_values(*, service_monitor: bool) -> dict[str, Any]:
    """Argo Workflows; its controller serves the pipelines' custom metrics (failures, drift) on
    /metrics, scraped through a ServiceMonitor when monitoring is installed."""
    return {
        "controller": {
            **TOLERATE_SYSTEM,
            "workflowNamespaces": [],
            "metricsConfig": {"enabled": True},
            "serviceMonitor": {"enabled": service_monitor},
        },
        "server": {**TOLERATE_SYSTEM, "authModes": ["client"]},
        "singleNamespace": False,
    }


def cert_manager_values() -> dict[str, Any]:
    """cert-manager, for KServe's webhook certificates only. Its chart aggregates Issuers and
    Certificates into `edit` and `admin` by default, and an Issuer makes the controller, in the
    platform's namespace and past every project's NetworkPolicies, call the servers it names: an
    ACME issuer's directory (any URL) names the URLs the controller then POSTs to, so a data
    scientist in dev could make it POST to Prometheus' lifecycle API (`/-/quit` stops every
    team's alerting) or any in-cluster service. No project needs its own issuer: the aggregation
    is off."""
    return {
        "crds": {"enabled": True},
        "global": {"rbac": {"aggregateClusterRoles": False}},
        **TOLERATE_SYSTEM,
        "webhook": TOLERATE_SYSTEM,
        "cainjector": TOLERATE_SYSTEM,
        "startupapicheck": TOLERATE_SYSTEM,
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
        self._namespaces: dict[str, k8s.core.v1.Namespace] = {}
        self.monitoring = None

        self._namespace(INGRESS_NAMESPACE)
        store = self._external_secrets(cluster, addons) if addons.external_secrets.enabled else None
        if addons.monitoring.enabled:
            monitoring_namespace = self._namespace(MONITORING_NAMESPACE)
            # With External Secrets, Grafana's admin password is generated in-cluster, kept in
            # Secrets Manager and synced from there; without it, the chart generates one in-cluster.
            # Never in Pulumi state either way.
            admin = [self._grafana_admin(monitoring_namespace, store)] if store is not None else []
            self.monitoring = self._release(
                "kube-prometheus-stack",
                KUBE_PROMETHEUS_STACK,
                addons.monitoring.version,
                monitoring_namespace,
                prometheus_values(grafana_admin_secret=store is not None),
                depends_on=admin,
            )
        if addons.argo_workflows.enabled:
            self._release(
                "argo-workflows",
                ARGO_WORKFLOWS,
                addons.argo_workflows.version,
                self._namespace(ARGO_NAMESPACE),
                argo_values(service_monitor=self.monitoring is not None),
                # The ServiceMonitor needs the Prometheus operator's CRD.
                depends_on=[self.monitoring] if self.monitoring is not None else [],
            )
        if addons.kserve.enabled:
            self._kserve(addons)
        if addons.kueue.enabled:
            self._kueue(addons)
        if addons.mountpoint_s3.enabled:
            self._release(
                "aws-mountpoint-s3-csi-driver",
                MOUNTPOINT_S3_CSI,
                addons.mountpoint_s3.version,
                naming.KUBE_SYSTEM_NAMESPACE,
                mountpoint_values(),
            )
        if addons.metrics_server.enabled:
            self._release(
                "metrics-server",
                METRICS_SERVER,
                addons.metrics_server.version,
                naming.KUBE_SYSTEM_NAMESPACE,
                {**TOLERATE_SYSTEM},
            )
        self.register_outputs({"monitoringNamespace": MONITORING_NAMESPACE})

    def _grafana_admin(self, namespace: str, store: pulumi.Resource) -> pulumi.Resource:
        """A Password generator seeds `mlrig-platform/<platform>/<env>/grafana-admin` in Secrets
        Manager once (a PushSecret with `IfNotExists`, so a rotated value stays); an
        ExternalSecret syncs it into the Secret Grafana reads."""
        target = self._target
        remote = naming.platform_secret(target.platform.name, target.env.name, GRAFANA_ADMIN_PURPOSE)
        opts = pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[store, *self._in(namespace)])
        generator = k8s.apiextensions.CustomResource(
            f"{self._prefix}-grafana-admin-generator",
            api_version=GENERATORS_API,
            kind="Password",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": namespace},
            spec={"length": 32, "digits": 8, "symbols": 0, "noUpper": False, "allowRepeat": True},
            opts=opts,
        )
        seed = k8s.apiextensions.CustomResource(
            f"{self._prefix}-grafana-admin-seed",
            api_version=PUSH_SECRET_API,
            kind="PushSecret",
            metadata={"name": f"{GRAFANA_ADMIN_SECRET}-seed", "namespace": namespace},
            spec={
                "updatePolicy": "IfNotExists",
                "deletionPolicy": "None",
                "refreshInterval": "1h",
                "secretStoreRefs": [{"name": CLUSTER_SECRET_STORE, "kind": "ClusterSecretStore"}],
                "selector": {
                    "generatorRef": {"apiVersion": GENERATORS_API, "kind": "Password", "name": GRAFANA_ADMIN_SECRET}
                },
                "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": remote}}}],
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[generator])),
        )
        return k8s.apiextensions.CustomResource(
            f"{self._prefix}-grafana-admin",
            api_version=EXTERNAL_SECRETS_API,
            kind="ExternalSecret",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": namespace},
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"name": CLUSTER_SECRET_STORE, "kind": "ClusterSecretStore"},
                "target": {
                    "name": GRAFANA_ADMIN_SECRET,
                    "creationPolicy": "Owner",
                    "template": {
                        "engineVersion": "v2",
                        "data": {"admin-user": "admin", "admin-password": "{{ .password }}"},
                    },
                },
                "data": [{"secretKey": "password", "remoteRef": {"key": remote}}],
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[seed])),
        )

    def _namespace(self, name: str) -> str:
        """Create namespace `name`; releases and objects put into it wait for it (`_in`)."""
        self._namespaces[name] = k8s.core.v1.Namespace(
            f"{self._prefix}-ns-{name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                labels={"app.kubernetes.io/managed-by": "mlrig", "pod-security.kubernetes.io/warn": "restricted"},
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=self._depends),
        )
        return name

    def _in(self, namespace: str) -> list[pulumi.Resource]:
        """The Namespace resource of `namespace` when this component creates it (not kube-system)."""
        created = self._namespaces.get(namespace)
        return [created] if created is not None else []

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
            opts=pulumi.ResourceOptions(
                parent=self, provider=self._provider, depends_on=[*self._depends, *self._in(namespace), *depends_on]
            ),
        )

    def _kueue(self, addons: Addons) -> None:
        """Kueue and the flavor every project's whole GPUs are counted in (projects add their own
        ClusterQueues, flavors and LocalQueues)."""
        release = self._release(
            "kueue",
            KUEUE,
            addons.kueue.version,
            self._namespace(KUEUE_NAMESPACE),
            kueue_values(prometheus=self.monitoring is not None),
            # Its ServiceMonitor needs the Prometheus operator's CRD.
            depends_on=[self.monitoring] if self.monitoring is not None else [],
        )
        k8s.apiextensions.CustomResource(
            f"{self._prefix}-shared-gpu-flavor",
            api_version=KUEUE_API,
            kind="ResourceFlavor",
            metadata={"name": naming.shared_gpu_flavor(self._target.platform.name)},
            spec=shared_gpu_flavor_spec(),
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[release]),
        )

    def _kserve(self, addons: Addons) -> None:
        """KServe in RawDeployment mode (plain Deployments, no Knative/Istio); its webhooks need
        cert-manager certificates, so cert-manager comes first; KEDA scales endpoints on their
        request concurrency (KServe creates a ScaledObject per `autoscalerClass: keda` endpoint)."""
        cert_manager = self._release(
            "cert-manager", CERT_MANAGER, None, self._namespace(CERT_MANAGER_NAMESPACE), cert_manager_values()
        )
        keda = self._release("keda", KEDA, None, self._namespace(KEDA_NAMESPACE), {**TOLERATE_SYSTEM})
        namespace = self._namespace(KSERVE_NAMESPACE)
        crds = self._release("kserve-crd", KSERVE_CRD, addons.kserve.version, namespace, {})
        self._release(
            "kserve",
            KSERVE,
            addons.kserve.version,
            namespace,
            {"kserve": {"controller": {"deploymentMode": "RawDeployment", **TOLERATE_SYSTEM}}},
            depends_on=[cert_manager, crds, keda],
        )

    def _external_secrets(self, cluster: Cluster, addons: Addons) -> pulumi.Resource:
        """The External Secrets Operator with its Pod Identity role; returns the ClusterSecretStore."""
        target = self._target
        aws_opts = target.aws_opts(self)
        role = aws.iam.Role(
            f"{self._prefix}-external-secrets",
            name=naming.addon_role(target.cluster_name, "external-secrets"),
            assume_role_policy=pod_identity_trust(),
            opts=aws_opts,
        )
        seeded = (
            [naming.platform_secret(target.platform.name, target.env.name, GRAFANA_ADMIN_PURPOSE)]
            if addons.monitoring.enabled
            else []
        )
        aws.iam.RolePolicy(
            f"{self._prefix}-external-secrets",
            role=role.id,
            policy=policy_document(
                external_secrets_statements(target.partition, target.env.region, target.env.account or "*", seeded)
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
        return k8s.apiextensions.CustomResource(
            f"{self._prefix}-secret-store",
            api_version=EXTERNAL_SECRETS_API,
            kind="ClusterSecretStore",
            metadata={"name": CLUSTER_SECRET_STORE},
            spec={
                "provider": {"aws": {"service": "SecretsManager", "region": target.env.region}},
                "conditions": [{"namespaces": CLUSTER_SECRET_STORE_NAMESPACES}],
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[release]),
        )
