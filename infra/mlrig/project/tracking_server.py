"""The project's MLflow tracking server and model registry in its namespace.

Artifacts go to `s3://<artifacts bucket>/mlflow/` with the `tracking` workload's Pod Identity;
the backend store URI is assembled by an ExternalSecret from the master secret RDS manages for
the database (`username`, `password`) and its address, so no credential ever passes through
Pulumi.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import naming, pins
from .context import ProjectContext
from .kube import (
    EXTERNAL_SECRETS_API,
    addons_of,
    cluster_service_url,
    database_secret_spec,
    disruption_budget,
    metadata,
    restricted_container_security,
    restricted_pod_security,
)
from .tracking import DatabaseConnection

# The `-full` variant carries the PostgreSQL drivers and boto3: the container needs nothing else.
MLFLOW_IMAGE = pins.MLFLOW.reference
SERVICE = "mlflow"
PORT = 5000
DB_SECRET = "mlflow-db"
BACKEND_URI_KEY = "MLFLOW_BACKEND_STORE_URI"
# The same Secret, mounted: the kubelet updates the file when the External Secrets Operator syncs a
# rotated password (RDS rotates it every seven days), while the environment keeps the value the
# container started with.
DB_SECRET_MOUNT = "/var/run/mlrig/mlflow-db"


def liveness_script(mount: str = DB_SECRET_MOUNT, port: int = PORT) -> str:
    """The liveness probe: MLflow answers `/health`, and the database credentials it started with
    are still the current ones. After a rotation the probe fails, the kubelet restarts the
    container, and the new container reads the new URI from the Secret."""
    return (
        "import os, sys, urllib.request\n"
        f"if open('{mount}/{BACKEND_URI_KEY}').read() != os.environ['{BACKEND_URI_KEY}']:\n"
        "    sys.exit('the database credentials rotated: restarting to use the new ones')\n"
        f"request = urllib.request.Request('http://localhost:{port}/health', headers={{'Host': 'localhost:{port}'}})\n"
        "urllib.request.urlopen(request, timeout=4)\n"
    )


def backend_uri_template(connection: DatabaseConnection) -> pulumi.Output[str]:
    """The backend store URI as an External Secrets template: the driver named explicitly
    (psycopg2, in the `-full` image), credentials from the RDS-managed secret."""
    return pulumi.Output.concat(
        "postgresql+psycopg2://{{ .username | urlquery }}:{{ .password | urlquery }}@",
        connection.host,
        f":{connection.port}/{connection.dbname}",
    )


LABELS = {"app.kubernetes.io/name": "mlflow"}


def tracking_uri(ctx: ProjectContext) -> str:
    """What pipelines and notebooks set as MLFLOW_TRACKING_URI."""
    return cluster_service_url(ctx, SERVICE, PORT)


def artifacts_destination(ctx: ProjectContext) -> str:
    return f"s3://{ctx.names.bucket('artifacts')}/{naming.ARTIFACT_PREFIXES['tracking']}"


def allowed_hosts(ctx: ProjectContext) -> list[str]:
    """Host headers MLflow's security middleware (3.5+) accepts: the Service's in-cluster names,
    with and without the port (it compares exactly), and localhost for the kubelet's probes."""
    namespace = ctx.names.namespace
    names = [
        SERVICE,
        f"{SERVICE}.{namespace}",
        f"{SERVICE}.{namespace}.svc",
        f"{SERVICE}.{namespace}.svc.cluster.local",
    ]
    return [*names, *(f"{name}:{PORT}" for name in names), f"localhost:{PORT}"]


def server_args(ctx: ProjectContext) -> list[str]:
    return [
        "mlflow", "server",
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "--backend-store-uri", f"$({BACKEND_URI_KEY})",
        "--artifacts-destination", artifacts_destination(ctx),
        "--serve-artifacts",
        "--allowed-hosts", ",".join(allowed_hosts(ctx)),
    ]  # fmt: skip


def replicas(ctx: ProjectContext) -> int:
    return 2 if ctx.tier == "prod" else 1


def deployment_spec(ctx: ProjectContext) -> dict[str, Any]:
    probe = {
        "httpGet": {"path": "/health", "port": "http", "httpHeaders": [{"name": "Host", "value": f"localhost:{PORT}"}]},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    return {
        "replicas": replicas(ctx),
        "selector": {"matchLabels": LABELS},
        "template": {
            "metadata": {"labels": LABELS},
            "spec": {
                "serviceAccountName": ctx.names.service_account("tracking"),
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security(),
                "containers": [
                    {
                        "name": "mlflow",
                        "image": MLFLOW_IMAGE,
                        "command": server_args(ctx),
                        "ports": [{"name": "http", "containerPort": PORT}],
                        "env": [
                            {"name": "HOME", "value": "/tmp"},
                            {"name": "AWS_REGION", "value": ctx.names.region},
                            {
                                "name": BACKEND_URI_KEY,
                                "valueFrom": {"secretKeyRef": {"name": DB_SECRET, "key": BACKEND_URI_KEY}},
                            },
                        ],
                        "resources": {
                            "requests": {"cpu": "500m", "memory": "1Gi"},
                            "limits": {"cpu": "2", "memory": "2Gi"},
                        },
                        "readinessProbe": probe,
                        "livenessProbe": {
                            "exec": {"command": ["python", "-c", liveness_script()]},
                            "initialDelaySeconds": 30,
                            "periodSeconds": 20,
                            "timeoutSeconds": 5,
                            "failureThreshold": 3,
                        },
                        "securityContext": restricted_container_security(),
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "db-credentials", "mountPath": DB_SECRET_MOUNT, "readOnly": True},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "tmp", "emptyDir": {}},
                    {"name": "db-credentials", "secret": {"secretName": DB_SECRET, "defaultMode": 0o440}},
                ],
            },
        },
    }


class TrackingServer(pulumi.ComponentResource):
    """MLflow Deployment + Service, its backend store URI synced from Secrets Manager."""

    uri: str

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        database: DatabaseConnection,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:TrackingServer", name, None, opts)
        after = list(depends_on)
        if addons_of(ctx).external_secrets.enabled:
            secret = k8s.apiextensions.CustomResource(
                f"{name}-db-secret",
                api_version=EXTERNAL_SECRETS_API,
                kind="ExternalSecret",
                metadata=metadata(ctx, DB_SECRET, component="tracking"),
                spec=database_secret_spec(database, DB_SECRET, {BACKEND_URI_KEY: backend_uri_template(database)}),
                opts=ctx.k8s_opts(self, depends_on=after),
            )
            after = [*after, secret]
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata(ctx, SERVICE, component="tracking", labels=LABELS),
            spec=cast(k8s.apps.v1.DeploymentSpecArgsDict, deployment_spec(ctx)),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        disruption_budget(ctx, self, f"{name}-disruption-budget", SERVICE, LABELS, replicas(ctx), depends_on=after)
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata(ctx, SERVICE, component="tracking", labels=LABELS),
            spec=cast(
                k8s.core.v1.ServiceSpecArgsDict,
                {"selector": LABELS, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
            ),
            opts=ctx.k8s_opts(self, depends_on=list(depends_on)),
        )
        self.uri = tracking_uri(ctx)
        self.register_outputs({"trackingUri": self.uri})
