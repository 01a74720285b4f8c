"""Every container image and Helm chart mlrig pins, in one place, each with where it comes from.

A pin is reviewed together with its source on upgrade, and `mlrig pins check` verifies online
that each tag exists in its registry (it runs in the nightly drift workflow). Nothing else in the
package spells an image reference or a chart version: components read them from here.

A bundle's `addons.<name>.version` overrides a chart pin (`platform/versions.py:pinned`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImagePin:
    """A container image at a fixed tag."""

    name: str
    image: str  # registry host and repository, e.g. `ghcr.io/mlflow/mlflow`
    tag: str
    source: str  # where the tag and what it contains were checked

    @property
    def reference(self) -> str:
        return f"{self.image}:{self.tag}"

    @property
    def registry(self) -> str:
        """The registry host; `docker.io` for images named without one, as Docker resolves them."""
        first, _, rest = self.image.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return first
        return DOCKER_HUB

    @property
    def repository(self) -> str:
        """The repository inside its registry (Docker Hub's official images live in `library/`)."""
        first, _, rest = self.image.partition("/")
        if self.registry != DOCKER_HUB:
            return rest
        path = rest if first == DOCKER_HUB else self.image
        return path if "/" in path else f"library/{path}"


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at a fixed version: from an https chart repository, or an `oci://` reference."""

    name: str
    chart: str  # chart name in `repository`, or a full `oci://host/path` reference
    version: str
    repository: str | None  # https Helm repository; None for oci:// charts
    source: str
    # The Kubernetes minor versions this release supports (oldest, newest), where upstream
    # publishes a narrower range than mlrig's own minimum; checked by `cluster_version_supported`.
    kubernetes: tuple[int, int] | None = None

    @property
    def oci(self) -> bool:
        return self.chart.startswith("oci://")

    def at(self, version: str) -> ChartPin:
        return replace(self, version=version)


# The oldest Kubernetes minor version mlrig's own objects need: every project namespace is guarded
# by ValidatingAdmissionPolicies (`admissionregistration.k8s.io/v1`), which the API server serves
# from 1.30 on; on an older cluster the project stack cannot create them.
KUBERNETES_MINIMUM = 30

# --- container images ------------------------------------------------------------------------

MLFLOW = ImagePin(
    "mlflow",
    "ghcr.io/mlflow/mlflow",
    "v3.10.1-full",
    "mlflow/mlflow docker/README.md: the `-full` variant (extras + db: boto3, psycopg2, psycopg) is "
    "published from v3.9.0 on (docker/Dockerfile.full); v3.9.0-full itself was missing at release "
    "(mlflow/mlflow#20587), hence a later release. Tags are the git tag plus `-full`.",
)
LITELLM = ImagePin(
    "litellm",
    "ghcr.io/berriai/litellm",
    "v1.83.10-stable",
    "BerriAI/litellm stable release image (GHCR package berriai/litellm, `v<version>-stable` tags); "
    "without a database the proxy runs no Prisma migration and writes only to HOME (/tmp).",
)
VALKEY = ImagePin(
    "valkey",
    "valkey/valkey",
    "8.1.8-trixie",
    "valkey-io/valkey-container (Docker Hub valkey/valkey, BSD-3-Clause): versions.json pins 8.1 to "
    "8.1.8 on Debian trixie and generate-stackbrew-library.sh tags it `<version>-<suite>`. "
    "8.1/debian/Dockerfile creates the user `valkey` as uid 999, gid 999 and makes /data (its "
    "WORKDIR) writable; docker-entrypoint.sh drops root only when started as root and otherwise "
    "needs the working directory writable. The LLM gateway's shared counter store (Redis protocol).",
)
VECTOR = ImagePin(
    "vector",
    "timberio/vector",
    "0.53.0-distroless-static",
    "vectordotdev/vector v0.53.0, distribution/docker/distroless-static (Docker Hub timberio/vector).",
)
PAUSE = ImagePin(
    "pause",
    "registry.k8s.io/pause",
    "3.10",
    "kubernetes/kubernetes build/pause (registry.k8s.io/pause), the sandbox image of Kubernetes 1.31+.",
)

KSERVE_HUGGINGFACE_SERVER = ImagePin(
    "kserve-huggingfaceserver",
    "kserve/huggingfaceserver",
    "v0.15.0",
    "kserve/kserve v0.15.0 charts/kserve-resources/values.yaml `servingruntime.huggingfaceserver` "
    "(image kserve/huggingfaceserver, tag the KServe version): the image KServe's "
    "`kserve-huggingfaceserver` ClusterServingRuntime runs for `huggingface` and `vllm` endpoints. "
    "mlrig only pre-pulls it onto GPU pools; its tag follows the platform's KServe version.",
)
PYTHON = ImagePin(
    "python",
    "python",
    "3.12.11-slim-bookworm",
    "Docker Official Image python (docker-library/python), 3.12.11 on Debian bookworm, slim variant: "
    "the interpreter and standard library only. Runs the Job mapping workload roles to OpenSearch "
    "security roles (project/vector_search.py), whose program uses the standard library alone.",
)

POSTGRES = ImagePin(
    "postgres",
    "postgres",
    "16.10-alpine",
    "Docker Official Image postgres (docker-library/postgres), PostgreSQL 16.10 on Alpine: its `psql` "
    "runs the Job creating a pgvector store's reader role (project/vector_roles.py); 16 is the major "
    "version of mlrig's RDS databases (project/tracking.py).",
)

IMAGES: tuple[ImagePin, ...] = (MLFLOW, LITELLM, VALKEY, VECTOR, PAUSE, KSERVE_HUGGINGFACE_SERVER, PYTHON, POSTGRES)

# --- Helm charts of the cluster add-ons --------------------------------------------------------

KARPENTER = ChartPin(
    "karpenter",
    "oci://public.ecr.aws/karpenter/karpenter",
    "1.8.1",
    None,
    "aws/karpenter-provider-aws v1.8.1 charts/karpenter; v1.8 is the release line supporting EKS 1.34. "
    "Kubernetes 1.29 to 1.34: the compatibility matrix of karpenter.sh/docs/upgrading/compatibility for v1.8.",
    kubernetes=(29, 34),
)
NVIDIA_DEVICE_PLUGIN = ChartPin(
    "nvidia-device-plugin",
    "nvidia-device-plugin",
    "0.18.0",
    "https://nvidia.github.io/k8s-device-plugin",
    "NVIDIA/k8s-device-plugin v0.18.0 deployments/helm/nvidia-device-plugin.",
)
DCGM_EXPORTER = ChartPin(
    "dcgm-exporter",
    "dcgm-exporter",
    "4.1.1",
    "https://nvidia.github.io/dcgm-exporter/helm-charts",
    "NVIDIA/dcgm-exporter tag 4.2.3-4.1.1 deployment/ (chart 4.1.1).",
)
ARGO_WORKFLOWS = ChartPin(
    "argo-workflows",
    "argo-workflows",
    "0.45.15",
    "https://argoproj.github.io/argo-helm",
    "argoproj/argo-helm argo-workflows-0.45.15 (app v3.6.7).",
)
CERT_MANAGER = ChartPin(
    "cert-manager",
    "cert-manager",
    "v1.18.2",
    "https://charts.jetstack.io",
    "cert-manager/cert-manager v1.18.2 deploy/charts/cert-manager.",
)
KSERVE_CRD = ChartPin(
    "kserve-crd",
    "oci://ghcr.io/kserve/charts/kserve-crd",
    "v0.15.0",
    None,
    "kserve/kserve v0.15.0 charts/kserve-crd (Chart.yaml version v0.15.0).",
)
KSERVE = ChartPin(
    "kserve",
    "oci://ghcr.io/kserve/charts/kserve",
    "v0.15.0",
    None,
    "kserve/kserve v0.15.0 charts/kserve-resources (Chart.yaml name kserve, version v0.15.0).",
)
KEDA = ChartPin(
    "keda",
    "keda",
    "2.18.3",
    "https://kedacore.github.io/charts",
    "kedacore/charts v2.18.3 keda/ (app 2.18.3; KEDA supports the last three Kubernetes minors, 1.34 "
    "included). KServe v0.15 creates KEDA ScaledObjects for `serving.kserve.io/autoscalerClass: keda`.",
)
KUBE_PROMETHEUS_STACK = ChartPin(
    "kube-prometheus-stack",
    "kube-prometheus-stack",
    "79.7.1",
    "https://prometheus-community.github.io/helm-charts",
    "prometheus-community/helm-charts kube-prometheus-stack-79.7.1 (prometheus-operator v0.86.2).",
)
EXTERNAL_SECRETS = ChartPin(
    "external-secrets",
    "external-secrets",
    "2.9.0",
    "https://charts.external-secrets.io",
    "external-secrets/external-secrets v2.9.0 deploy/charts/external-secrets.",
)
METRICS_SERVER = ChartPin(
    "metrics-server",
    "metrics-server",
    "3.13.0",
    "https://kubernetes-sigs.github.io/metrics-server/",
    "kubernetes-sigs/metrics-server metrics-server-helm-chart-3.13.0.",
)

KUEUE = ChartPin(
    "kueue",
    "oci://registry.k8s.io/kueue/charts/kueue",
    "0.19.2",
    None,
    "kubernetes-sigs/kueue v0.19.2 (8eab6877) charts/kueue, published by hack/helm-chart-package.sh to "
    "registry.k8s.io/kueue/charts with the controller image registry.k8s.io/kueue/kueue:v0.19.2; "
    "CRDs served at kueue.x-k8s.io/v1beta2.",
)
EFA_DEVICE_PLUGIN = ChartPin(
    "aws-efa-k8s-device-plugin",
    "aws-efa-k8s-device-plugin",
    "v0.5.30",
    "https://aws.github.io/eks-charts",
    "aws/eks-charts stable/aws-efa-k8s-device-plugin (chart v0.5.30, app v0.5.20): a DaemonSet on "
    "the EFA-capable instance types it lists, requesting 10m CPU and 20Mi.",
)
MOUNTPOINT_S3_CSI = ChartPin(
    "aws-mountpoint-s3-csi-driver",
    "aws-mountpoint-s3-csi-driver",
    "2.7.0",
    "https://awslabs.github.io/mountpoint-s3-csi-driver",
    "awslabs/mountpoint-s3-csi-driver v2.7.0 charts/aws-mountpoint-s3-csi-driver: v2 supports pod-level "
    "credentials with EKS Pod Identity (`authenticationSource: pod`); its node DaemonSet tolerates every "
    "taint and requests 10m CPU and 40Mi.",
)

CHARTS: tuple[ChartPin, ...] = (
    KARPENTER,
    NVIDIA_DEVICE_PLUGIN,
    DCGM_EXPORTER,
    ARGO_WORKFLOWS,
    CERT_MANAGER,
    KSERVE_CRD,
    KSERVE,
    KEDA,
    KUBE_PROMETHEUS_STACK,
    EXTERNAL_SECRETS,
    METRICS_SERVER,
    KUEUE,
    EFA_DEVICE_PLUGIN,
    MOUNTPOINT_S3_CSI,
)
