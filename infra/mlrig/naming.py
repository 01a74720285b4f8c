"""Every derived name, tag and ARN in one place.

Components and rules never assemble names themselves: they call these functions, so that a
cross-environment grant (dev reading prod data) names exactly the bucket the prod stack creates,
and so that `rules/names.py` can prove every derived name fits its AWS limit before deploying.
"""

from __future__ import annotations

from dataclasses import dataclass

# AWS and Kubernetes name limits that derived names must respect.
LIMITS: dict[str, int] = {
    "s3-bucket": 63,
    "iam-role": 64,
    "iam-policy": 128,
    "eks-cluster": 100,
    "eks-node-group": 63,
    "k8s-namespace": 63,
    "k8s-name": 63,
    "rds-instance": 63,
    "ecr-repository": 256,
    "firehose-stream": 64,
    "opensearch-domain": 28,
    "sqs-queue": 80,
    "eventbridge-rule": 64,
    "kms-alias": 256,
    "glue-database": 255,
    "secret": 512,
}

# Longest account id and the data classes a project bucket can have, for length checks.
DATA_CLASSES: tuple[str, ...] = ("data", "artifacts", "logs", "access-logs")
PERSONAS: tuple[str, ...] = ("data-scientist", "ml-engineer", "ci-deployer", "workload")
PLACEHOLDER_ACCOUNT = "000000000000"
# Workload identities besides one per pipeline; pipelines may not take these names.
RESERVED_WORKLOADS: tuple[str, ...] = ("serving", "tracking", "gateway", "feedback")

# Tag keys (DESIGN §5).
TAG_PERSONA = "mlrig:persona"
TAG_DATA_CLASS = "mlrig:data-class"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def stack_name(bundle: str, environment: str) -> str:
    return f"{bundle}.{environment}"


# --- tags -------------------------------------------------------------------------------------


def default_tags(
    *, project: str, environment: str, team: str, cost_center: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Provider default tags: every AWS resource of a stack carries them."""
    tags = dict(extra or {})
    tags.update(
        {
            "project": project,
            "environment": environment,
            "team": team,
            "cost-center": cost_center,
            "managed-by": "mlrig",
        }
    )
    return tags


# --- platform names ---------------------------------------------------------------------------


def cluster_name(platform: str, environment: str, isolation: str) -> str:
    """One cluster per environment, except `namespace` isolation: one shared cluster."""
    return platform if isolation == "namespace" else f"{platform}-{environment}"


def platform_resource(platform: str, environment: str, suffix: str) -> str:
    """`<platform>-<env>-<suffix>`, used for platform-owned AWS names (roles, queues, keys)."""
    return f"{platform}-{environment}-{suffix}"


def platform_deployer_role(platform: str, environment: str) -> str:
    return platform_resource(platform, environment, "platform-deployer")


def state_bucket(platform: str) -> str:
    return f"{platform}-pulumi-state"


def secrets_key_alias(platform: str) -> str:
    return f"alias/{platform}-pulumi-secrets"


# --- project names ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectNames:
    """Names of one project's resources in one environment."""

    project: str
    environment: str
    account: str
    region: str
    isolation: str

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    @property
    def namespace(self) -> str:
        return f"{self.project}-{self.environment}" if self.isolation == "namespace" else self.project

    def bucket(self, data_class: str) -> str:
        return f"{self.prefix}-{data_class}-{self.account}"

    def role(self, persona: str) -> str:
        return f"{self.prefix}-{persona}"

    def workload_role(self, workload: str) -> str:
        return f"{self.prefix}-wl-{workload}"

    def service_account(self, workload: str) -> str:
        """Kubernetes service account of a workload (a pipeline name or a RESERVED_WORKLOADS
        entry); EKS Pod Identity binds it to `workload_role(workload)`."""
        return f"wl-{workload}"

    def repository(self, registry: str) -> str:
        return f"{self.project}/{self.environment}/{registry}"

    def database(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    def opensearch_domain(self) -> str:
        return f"{self.prefix}-vec"

    def firehose(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    def glue_database(self) -> str:
        return f"{self.project}_{self.environment}".replace("-", "_")

    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    def secret(self, purpose: str) -> str:
        return f"mlrig/{self.project}/{self.environment}/{purpose}"

    # ARNs
    @property
    def partition(self) -> str:
        return partition(self.region)

    def bucket_arn(self, data_class: str) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket(data_class)}"

    def role_arn(self, persona: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role(persona)}"

    def workload_role_arn(self, workload: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.workload_role(workload)}"

    def repository_arn(self, registry: str) -> str:
        return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{self.repository(registry)}"

    def derived_names(self, *, pipelines: list[str], registries: list[str], opensearch: bool) -> list[tuple[str, str]]:
        """(limit key, name) of every AWS name this project derives, for length checks."""
        names: list[tuple[str, str]] = [("s3-bucket", self.bucket(c)) for c in DATA_CLASSES]
        names += [("iam-role", self.role(p)) for p in PERSONAS]
        names += [("iam-role", self.workload_role(p)) for p in pipelines]
        names += [("iam-role", self.workload_role(w)) for w in RESERVED_WORKLOADS]
        names += [("ecr-repository", self.repository(r)) for r in registries]
        names += [("rds-instance", self.database(p)) for p in ("mlflow", "vectors")]
        names += [("firehose-stream", self.firehose("feedback")), ("k8s-namespace", self.namespace)]
        if opensearch:
            names.append(("opensearch-domain", self.opensearch_domain()))
        return names
