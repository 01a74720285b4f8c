"""Every derived name, tag and ARN in one place.

Components and rules never assemble names themselves: they call these functions, so that a
cross-environment grant (dev reading prod data) names exactly the bucket the prod stack creates,
and so that `rules/names.py` can prove every derived name fits its AWS limit before deploying.

The naming scheme cannot be ambiguous: names written in bundles (projects, environments, pools,
pipelines, registries, …) never contain `--` (see `bundle/model.py`), and every name derived
from a project joins its parts with `--` (`SEPARATOR`). So a derived name splits back into its
parts, and project `fraud` with pool `detection-gpu-train` (`fraud--detection-gpu-train`) can
never take the NodePool of project `fraud-detection` with pool `gpu-train`
(`fraud-detection--gpu-train`). Platform-derived names hold no `--` at all (the platform's own,
trusted names joined with `-`), so no project name can equal one of them either. Where a
service's charset forbids `--`, another separator that names cannot hold is used: `/` (ECR
repositories, secrets), `__` (Glue databases) and `:` (Kubernetes groups). The one exception is
RDS, whose identifiers allow neither (`database`); `rules/names.py` checks every derived name of
the whole bundle set for collisions, so that exception is caught before anything deploys.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

# Joins the parts of every project-derived name; names in bundles cannot contain it.
SEPARATOR = "--"


def join(*parts: str) -> str:
    """`join("fraud-detection", "prod", "ci-deployer")` → `fraud-detection--prod--ci-deployer`."""
    return SEPARATOR.join(parts)


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
    "k8s-object": 253,
    "placement-group": 255,
    "security-group": 255,
    "k8s-priority-class": 253,
}

# S3 refuses bucket names with these prefixes (and a few suffixes derived names never end with).
S3_RESERVED_PREFIXES: tuple[str, ...] = ("xn--", "sthree-", "amzn-s3-demo-")
# The API server refuses a PriorityClass whose name starts with this (it keeps the prefix for its
# own `system-node-critical` and `system-cluster-critical`).
PRIORITY_CLASS_RESERVED_PREFIX = "system-"


# The kinds of names `name_problem` judges by more than their length (a prefix their service
# reserves): a name of any other kind that fits its limit has no problem.
PREFIX_JUDGED: frozenset[str] = frozenset({"s3-bucket", "k8s-priority-class"})


def name_problem(limit_key: str, name: str) -> str | None:
    """Why a derived name cannot be used (too long, or a prefix its service reserves), or None."""
    limit = LIMITS[limit_key]
    if len(name) > limit:
        return f"derived {limit_key} name '{name}' is {len(name)} characters, over the limit of {limit}"
    if limit_key == "s3-bucket" and name.startswith(S3_RESERVED_PREFIXES):
        return f"derived {limit_key} name '{name}' starts with a prefix S3 reserves ({', '.join(S3_RESERVED_PREFIXES)})"
    if limit_key == "k8s-priority-class" and name.startswith(PRIORITY_CLASS_RESERVED_PREFIX):
        return (
            f"derived {limit_key} name '{name}' starts with '{PRIORITY_CLASS_RESERVED_PREFIX}', which Kubernetes "
            "keeps for its own PriorityClasses"
        )
    return None


# Longest account id and the data classes a project bucket can have, for length checks.
DATA_CLASSES: tuple[str, ...] = ("data", "artifacts", "logs", "access-logs")
# Databases a project may have: the MLflow backend store and the pgvector vector database.
DATABASES: tuple[str, ...] = ("mlflow", "vectors")
# Purpose of the admission policy that keeps ExternalSecrets inside the project's secrets.
EXTERNAL_SECRETS_SCOPE = "external-secrets-scope"
PUSH_SECRETS_DENIED = "push-secrets-denied"
# ... that keeps the namespace's SecretStores what mlrig made them (AWS Secrets Manager, no more).
SECRET_STORE_SCOPE = "secret-store-scope"
# Purpose of the admission policy that keeps the namespace's pods on its own nodes and priorities.
POD_PLACEMENT = "pod-placement"
# ... that keeps the custom metrics of the namespace's Argo workflows labelled with its own project
# and environment (the controller serves every namespace's metrics as one set of series).
WORKFLOW_METRICS = "workflow-metrics"
# ... that keeps the namespace's NetworkPolicies the platform's (its people and workloads may not
# write them), and the one that refuses Services redirecting other pods' traffic (`externalIPs`).
NETWORK_PERIMETER = "network-perimeter"
SERVICE_SCOPE = "service-scope"
# ... that lets only the platform write the Secret the platform's Alertmanager takes the project's
# receiver URLs from.
ALERT_ROUTES_LOCKED = "alert-routes-locked"
ADMISSION_POLICIES: tuple[str, ...] = (
    EXTERNAL_SECRETS_SCOPE,
    PUSH_SECRETS_DENIED,
    SECRET_STORE_SCOPE,
    POD_PLACEMENT,
    WORKFLOW_METRICS,
    NETWORK_PERIMETER,
    SERVICE_SCOPE,
    ALERT_ROUTES_LOCKED,
)
# Every Kubernetes group an EKS access entry maps a project persona to starts with this.
KUBERNETES_GROUP_PREFIX = "mlrig:"
PERSONAS: tuple[str, ...] = ("data-scientist", "ml-engineer", "ci-deployer", "workload")
# Cluster-scoped queueing objects of a project: Kueue WorkloadPriorityClasses and Kubernetes
# PriorityClasses, one per kind of work (named `<namespace>--<kind>`).
WORKLOAD_PRIORITY_KINDS: tuple[str, ...] = ("training", "batch-inference")
POD_PRIORITY_KINDS: tuple[str, ...] = ("serving",)
# The model hub as a volume (Mountpoint for S3), and the LocalQueue every project namespace has.
MODEL_CACHE = "model-hub"
LOCAL_QUEUE = "pipelines"
PLACEHOLDER_ACCOUNT = "000000000000"
# Workload identities besides one per pipeline; pipelines may not take these names.
RESERVED_WORKLOADS: tuple[str, ...] = (
    "serving",
    "tracking",
    "gateway",
    "feedback",
    "vector-admin",
    "model-hub",
    "model-import",
)
# The workload that mirrors the model hub's base models into the artifacts bucket.
MODEL_HUB = "model-hub"
# The identity of the model-deployment pipeline's import step under deploy-models: it reads the
# lower environment's champion and writes this environment's candidate, nothing else.
MODEL_IMPORT = "model-import"
# The administrator of a project's vector database: with OpenSearch its master user, the identity
# of the Job that maps the project's workload roles to OpenSearch security roles (fine-grained
# access control); with pgvector the identity of the Job that creates the reader role and
# generates its password.
VECTOR_ADMIN = "vector-admin"
# A pgvector store's reader: the Postgres role the project's model servers log in as (SELECT
# only), the Secrets Manager secret (purpose) holding its password, and the Job that creates it
# (as the master user) and generates that password once.
PGVECTOR_READER_ROLE = "vectors_reader"
VECTOR_DB_READER_SECRET = "vector-db/reader"
VECTOR_DB_ROLES_JOB = "vector-db-roles"
# The OpenSearch security roles mlrig defines on a project's domain, and the Job that maps them.
VECTOR_SECURITY_ROLES: tuple[str, ...] = ("writer", "reader")
VECTOR_ACCESS_JOB = "vector-access"
# What that Job says it maps (checked by `checks/opensearch_access.py`): the domain's name, and
# OpenSearch security role -> IAM role ARNs, as JSON.
OPENSEARCH_DOMAIN_ANNOTATION = "mlrig.io/opensearch-domain"
OPENSEARCH_ROLE_MAPPINGS_ANNOTATION = "mlrig.io/opensearch-role-mappings"
# pulumi-kubernetes replaces a Job carrying this annotation when it has not succeeded, so a Job
# that failed on one apply runs again on the next instead of failing its await for good.
REPLACE_UNREADY_ANNOTATION = "pulumi.com/replaceUnready"
# Karpenter neither consolidates nor drifts a node while a pod carrying this annotation runs on it
# (it still expires it): a pipeline step runs to its end instead of being evicted half-way.
DO_NOT_DISRUPT_ANNOTATION = "karpenter.sh/do-not-disrupt"
# pulumi-kubernetes forces its server-side apply of an object carrying this annotation: it takes
# back the fields another manager changed since, instead of failing with a conflict.
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
# A server's pod template carries the digest of the configuration file it reads from a ConfigMap:
# a changed configuration rolls its pods (a ConfigMap update alone reaches no running process).
CONFIG_DIGEST_ANNOTATION = "mlrig.io/config-digest"


def config_digest(data: Mapping[str, str]) -> str:
    """The value of `CONFIG_DIGEST_ANNOTATION` for a ConfigMap's `data`: the stack writes it on the
    pod template, and the deployability check recomputes it from the planned ConfigMap."""
    canonical = json.dumps(dict(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Field manager of the project release CI's image roll-outs (`kubectl patch --field-manager`).
RELEASE_FIELD_MANAGER = "mlrig-release"
# Field manager of the model CD pipeline's promote step (`kubectl patch --field-manager`), which
# points an InferenceService at a promoted model.
PROMOTE_FIELD_MANAGER = "mlrig-promote"
# Value of a record parameter (image tag, model URI) the stack created and its writer has not
# written yet: neither an image tag nor a model location, so it is never mistaken for a record.
NOT_RECORDED = "(none)"
# What a project object says it takes from a writer's record: JSON, field manager -> SSM parameter
# (checked by `checks/field_writers.py`).
RECORDED_FIELDS_ANNOTATION = "mlrig.io/recorded-fields"

# Tag keys the plan JSON and policies rely on.
TAG_PERSONA = "mlrig:persona"
TAG_DATA_CLASS = "mlrig:data-class"
# Tags mlrig sets on every AWS resource of a stack (`default_tags`), and the most it adds to a
# single resource on top of them (`mlrig:persona`, `mlrig:data-class`, `Name`): bundles' own tags
# must leave room for both under AWS's limit of 50 tags per resource.
DEFAULT_TAG_KEYS: tuple[str, ...] = ("project", "environment", "team", "cost-center", "managed-by")
MAX_RESOURCE_TAGS = 3
AWS_TAG_LIMIT = 50
# Tag key prefixes a bundle may not use: AWS reserves `aws:`; `mlrig:` tags drive mlrig itself;
# EKS tags what it owns with `eks:`.
RESERVED_TAG_PREFIXES: tuple[str, ...] = ("aws:", "mlrig:", "eks:")
# Tag keys under these domains (`<domain>/…`, subdomains too) are how Kubernetes, Karpenter and
# AWS's controllers find the AWS resources they use or own: every EC2NodeClass of a cluster takes
# every security group tagged `karpenter.sh/discovery: <cluster>`, the load balancer controller and
# the cloud provider the ones tagged `kubernetes.io/cluster/<cluster>`. A bundle's tags land on
# every resource of its stack (its security groups too), so such a tag would join a project's
# security group to every node of the cluster: other teams' and the platform's.
RESERVED_TAG_DOMAINS: tuple[str, ...] = ("kubernetes.io", "k8s.io", "karpenter.sh", "k8s.aws", "amazonaws.com")


# Characters AWS allows in a tag value besides Unicode letters, digits and spaces.
TAG_VALUE_PUNCTUATION = "_.:/=+-@"


def tag_value_allowed(value: str) -> bool:
    """Whether AWS accepts `value` as a tag value (`[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`): anything else
    (`#`, a newline, a bidi control) fails the resource's creation half-way through apply."""
    return all(c in TAG_VALUE_PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in value)


def reserved_tag_key(key: str) -> bool:
    """Whether a bundle may not set tag `key` (see RESERVED_TAG_PREFIXES, RESERVED_TAG_DOMAINS)."""
    folded = key.casefold().strip()
    if folded.startswith(RESERVED_TAG_PREFIXES):
        return True
    domain, slash, _ = folded.partition("/")
    return bool(slash) and any(domain == d or domain.endswith(f".{d}") for d in RESERVED_TAG_DOMAINS)


# --- Kubernetes namespaces mlrig itself installs into (platform add-ons and system components). ---
# The platform code creates them from these constants, and `tenancy.reserved_namespace` refuses
# them (and every `kube-*` namespace) as project names, so the list cannot drift.
KUBE_SYSTEM_NAMESPACE = "kube-system"
ARGO_NAMESPACE = "argo"
KSERVE_NAMESPACE = "kserve"
KEDA_NAMESPACE = "keda"
CERT_MANAGER_NAMESPACE = "cert-manager"
MONITORING_NAMESPACE = "monitoring"
EXTERNAL_SECRETS_NAMESPACE = "external-secrets"
INGRESS_NAMESPACE = "ingress"
KUEUE_NAMESPACE = "kueue-system"
# Mountpoint for S3 CSI driver v2 runs its Mountpoint Pods here (its chart creates the namespace).
MOUNTPOINT_NAMESPACE = "mount-s3"
PLATFORM_NAMESPACES: tuple[str, ...] = (
    KUBE_SYSTEM_NAMESPACE,
    ARGO_NAMESPACE,
    KSERVE_NAMESPACE,
    KEDA_NAMESPACE,
    CERT_MANAGER_NAMESPACE,
    MONITORING_NAMESPACE,
    EXTERNAL_SECRETS_NAMESPACE,
    INGRESS_NAMESPACE,
    KUEUE_NAMESPACE,
    MOUNTPOINT_NAMESPACE,
)
# Namespaces labelled so opt into Kueue: the platform's Kueue webhook manages pods there only.
KUEUE_OPT_IN_LABEL = "mlrig.io/kueue"
KUEUE_OPT_IN_VALUE = "enabled"
# Namespaces every Kubernetes cluster has, besides any `kube-*` one.
KUBERNETES_NAMESPACES: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease")
# Namespaces AWS itself creates in EKS clusters, outside mlrig: GuardDuty's runtime monitoring
# agent (which GuardDuty can deploy on its own), the CloudWatch Observability add-on, Fargate
# logging. A project there would take over (or keep out) the account's security monitoring.
AWS_EKS_NAMESPACES: tuple[str, ...] = ("amazon-guardduty", "amazon-cloudwatch", "aws-observability")


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def role_arn(account: str, region: str, role: str) -> str:
    """The one place an IAM role ARN is assembled."""
    return f"arn:{partition(region)}:iam::{account}:role/{role}"


def account_root_arn(account: str, region: str) -> str:
    """The account principal: in a key or bucket policy it grants nothing by itself, it lets the
    account's IAM policies grant (narrowed further by `aws:PrincipalArn` conditions)."""
    return f"arn:{partition(region)}:iam::{account}:root"


def account_of_arn(arn: str) -> str:
    """The account id of an IAM ARN (`arn:<partition>:iam::<account>:…`)."""
    return arn.split(":")[4]


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


def state_bucket_key_alias(platform: str) -> str:
    """The KMS key the state bucket encrypts objects with at rest (SSE-KMS). Pulumi secrets inside
    the state are encrypted again, with their environment's own key."""
    return f"alias/{platform}-pulumi-state"


def secrets_key_alias(platform: str, environment: str) -> str:
    """The KMS key that encrypts the Pulumi secrets of one environment's stacks: one key per
    environment, so a role of one environment never decrypts another's secrets."""
    return f"alias/{platform}-{environment}-pulumi-secrets"


def operator_profile(platform: str, environment: str) -> str:
    """The AWS CLI profile the docs and `mlrig bootstrap` suggest for running Pulumi as an
    environment's deployment role (`account` isolation)."""
    return f"{platform}-{environment}"


def kms_alias_arn(account: str, region: str, alias: str) -> str:
    """`arn:aws:kms:<region>:<account>:alias/<name>`: KMS resolves it in the account it names,
    where an alias name resolves in the caller's account."""
    return f"arn:{partition(region)}:kms:{region}:{account}:{alias}"


# --- project names ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectNames:
    """Names of one project's resources in one environment."""

    project: str
    environment: str
    account: str
    region: str
    isolation: str

    # Computed once per instance (most names start with them); a cached_property writes the
    # instance's __dict__ directly, which a frozen dataclass allows.
    @cached_property
    def prefix(self) -> str:
        return join(self.project, self.environment)

    @cached_property
    def namespace(self) -> str:
        return join(self.project, self.environment) if self.isolation == "namespace" else self.project

    def bucket(self, data_class: str) -> str:
        return join(self.prefix, data_class, self.account)

    def role(self, persona: str) -> str:
        return join(self.prefix, persona)

    def workload_role(self, workload: str) -> str:
        return join(self.prefix, "wl", workload)

    def service_account(self, workload: str) -> str:
        """Kubernetes service account of a workload (a pipeline name or a RESERVED_WORKLOADS
        entry); EKS Pod Identity binds it to `workload_role(workload)`."""
        return f"wl-{workload}"

    def repository(self, registry: str) -> str:
        return f"{self.project}/{self.environment}/{registry}"

    def database(self, purpose: str) -> str:
        """RDS identifiers may not hold `--`: the one derived name joined with `-` (its
        uniqueness is checked across the bundle set by `rules/names.py`)."""
        return f"{self.project}-{self.environment}-{purpose}"

    def opensearch_domain(self) -> str:
        return join(self.prefix, "vec")

    def opensearch_domain_arn(self) -> str:
        return f"arn:{self.partition}:es:{self.region}:{self.account}:domain/{self.opensearch_domain()}"

    def vector_index_prefix(self) -> str:
        """The project's indices in its OpenSearch domain are named `<project>-…`: the security
        roles mlrig maps its workloads to reach these indices only, never the domain's own."""
        return f"{self.project}-"

    def vector_security_role(self, access: str) -> str:
        """OpenSearch security role (`writer`, `reader`) of the project's indices."""
        return f"mlrig-vectors-{access}"

    def vector_access_job(self, digest: str) -> str:
        """The Job mapping workload roles to OpenSearch security roles, named after a digest of
        what it maps: a changed mapping is a new Job (Jobs are immutable), an unchanged one is
        not run again."""
        return f"{VECTOR_ACCESS_JOB}-{digest}"

    def vector_roles_job(self, digest: str) -> str:
        """The Job creating a pgvector store's reader role, named after a digest of what it runs
        (and of the database's master secret, new when the database is): see `vector_access_job`."""
        return f"{VECTOR_DB_ROLES_JOB}-{digest}"

    def firehose(self, purpose: str) -> str:
        return join(self.prefix, purpose)

    def kubernetes_group(self, persona: str) -> str:
        """Kubernetes group an EKS access entry maps a persona role to. Named after the namespace,
        so that under `namespace` isolation dev and prod groups of one project differ."""
        return f"{KUBERNETES_GROUP_PREFIX}{self.namespace}:{persona}"

    def node_pool(self, pool: str) -> str:
        """Karpenter NodePool / EC2NodeClass name: cluster-scoped, so unique per namespace."""
        return join(self.namespace, pool)

    def cluster_queue(self) -> str:
        """Kueue ClusterQueue of the project environment: cluster-scoped, so named after the
        namespace (a LocalQueue in the namespace points at it)."""
        return self.namespace

    def resource_flavor(self, pool: str) -> str:
        """Kueue ResourceFlavor of one pool (its nodes' labels and taints): cluster-scoped."""
        return join(self.namespace, pool)

    def pool_gpu_flavor(self, pool: str) -> str:
        """Kueue ResourceFlavor of a shared pool's GPU slices (time-slicing, MIG): its slices are
        not the environment's whole GPUs, so they are counted apart and never lent."""
        return join(self.namespace, pool, "gpu")

    def workload_priority_class(self, kind: str) -> str:
        """Kueue WorkloadPriorityClass (`training`, `batch-inference`): cluster-scoped."""
        return join(self.namespace, kind)

    def priority_class(self, kind: str) -> str:
        """Kubernetes PriorityClass of the project's pods of one kind (`serving`): cluster-scoped."""
        return join(self.namespace, kind)

    def placeholder_priority_class(self) -> str:
        """PriorityClass (cluster-scoped) of the pause pods that keep a pool's warm nodes."""
        return f"{self.namespace}-placeholder"

    def model_cache_volume(self) -> str:
        """PersistentVolume (cluster-scoped) through which endpoints mount the model hub."""
        return join(self.namespace, MODEL_CACHE)

    def placement_group(self, pool: str) -> str:
        return join(self.prefix, pool)

    def efa_security_group(self, pool: str) -> str:
        return join(self.prefix, pool, "efa")

    def admission_policy(self, purpose: str) -> str:
        """ValidatingAdmissionPolicy (and its binding) guarding the namespace: cluster-scoped."""
        return join(self.namespace, purpose)

    def image(self, registry: str, tag: str) -> str:
        """Image reference in the environment's ECR repository of `registry`."""
        return f"{ecr_registry(self.account, self.region)}/{self.repository(registry)}:{tag}"

    def glue_database(self) -> str:
        """Glue allows no `-`: hyphens become `_`, and the parts are joined with `__`."""
        return "__".join(part.replace("-", "_") for part in (self.project, self.environment))

    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    def secret(self, purpose: str) -> str:
        return f"mlrig/{self.project}/{self.environment}/{purpose}"

    def release_parameters(self) -> str:
        """SSM parameter path under which the project's release CI records what it rolled out."""
        return f"/mlrig/{self.project}/{self.environment}/release"

    def image_tag_parameter(self) -> str:
        """SSM parameter holding the image tag the project's CI last rolled out in this
        environment: the project stack builds its images with it, so both write the same tag. The
        stack creates it (and `pulumi destroy` deletes it); the CI only overwrites its value."""
        return f"{self.release_parameters()}/rolled-image-tag"

    def legacy_image_tag_parameter(self) -> str:
        """Where the CI recorded the tag before the stack owned the record: a parameter the CI
        created, read only while the stack's own record holds nothing."""
        return f"{self.release_parameters()}/image-tag"

    def model_uri_parameters(self) -> str:
        """SSM parameter path under which the promote step records the model URI of each
        InferenceService it points at a promoted model."""
        return f"{self.release_parameters()}/model-uri"

    def model_uri_parameter(self, inference_service: str) -> str:
        """SSM parameter holding the model URI the promote step last pointed `inference_service`
        at: the project stack builds the InferenceService with it, so both write the same URI."""
        return f"{self.model_uri_parameters()}/{inference_service}"

    # ARNs
    @property
    def partition(self) -> str:
        return partition(self.region)

    def bucket_arn(self, data_class: str) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket(data_class)}"

    def role_arn(self, persona: str) -> str:
        return role_arn(self.account, self.region, self.role(persona))

    def workload_role_arn(self, workload: str) -> str:
        return role_arn(self.account, self.region, self.workload_role(workload))

    def image_tag_parameter_arn(self) -> str:
        return f"arn:{self.partition}:ssm:{self.region}:{self.account}:parameter{self.image_tag_parameter()}"

    def model_uri_parameter_arn(self, inference_service: str) -> str:
        return f"arn:{self.partition}:ssm:{self.region}:{self.account}:parameter{self.model_uri_parameter(inference_service)}"

    def repository_arn(self, registry: str) -> str:
        return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{self.repository(registry)}"

    def derived_names(
        self, *, pipelines: Sequence[str], registries: Sequence[str], opensearch: bool, pools: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        """(limit key, name) of every name this project derives, for length checks and for the
        bundle set's collision check. Names the project may derive are all listed (both
        databases, say), so that a collision is found before the feature is switched on."""
        return self.joined_names(pipelines=pipelines, opensearch=opensearch, pools=pools) + self.unjoined_names(
            registries=registries
        )

    def joined_names(
        self, *, pipelines: Sequence[str], opensearch: bool, pools: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        """Of `derived_names`, those joining the prefix or the namespace with more parts: each
        starts with `<project>--`."""
        names: list[tuple[str, str]] = [("s3-bucket", self.bucket(c)) for c in DATA_CLASSES]
        names += [("iam-role", self.role(p)) for p in PERSONAS]
        names += [("iam-role", self.workload_role(p)) for p in pipelines]
        names += [("iam-role", self.workload_role(w)) for w in RESERVED_WORKLOADS]
        names += [("iam-role", firehose_delivery_role(self, "feedback"))]
        names += [("firehose-stream", self.firehose("feedback"))]
        names += [("k8s-name", self.node_pool(pool)) for pool in pools]
        names += [("k8s-name", join(self.node_pool(pool), "fallback")) for pool in pools]
        names += [("k8s-object", self.pool_gpu_flavor(pool)) for pool in pools]
        names += [("k8s-object", self.workload_priority_class(k)) for k in WORKLOAD_PRIORITY_KINDS]
        names += [("k8s-object", self.priority_class(k)) for k in POD_PRIORITY_KINDS]
        names += [("k8s-object", self.model_cache_volume())]
        names += [("k8s-object", self.admission_policy(p)) for p in ADMISSION_POLICIES]
        if opensearch:
            names.append(("opensearch-domain", self.opensearch_domain()))
        return names

    def unjoined_names(self, *, registries: Sequence[str]) -> list[tuple[str, str]]:
        """Of `derived_names`, the others: the namespace itself and the names with another
        separator or a fixed prefix (repositories, databases, the KMS alias, Glue, secrets)."""
        names = [("ecr-repository", self.repository(r)) for r in registries]
        names += [("rds-instance", self.database(p)) for p in DATABASES]
        names += [("k8s-namespace", self.namespace), ("k8s-object", self.cluster_queue())]
        names += [("kms-alias", self.kms_alias()), ("glue-database", self.glue_database())]
        names += [("secret", self.secret(""))]
        return names


# --- platform landing zone (added for the platform stacks) ------------------------------------


def shared_cluster_owner(environments: dict[str, str]) -> str:
    """Under `namespace` isolation, the environment whose stack owns the shared VPC and cluster:
    the first environment of the highest tier (prod > staging > dev), so that changing the shared
    cluster goes through the most guarded pipeline. `environments` maps name -> tier, in order."""
    rank = {"prod": 2, "staging": 1, "dev": 0}
    best = max(rank[tier] for tier in environments.values())
    return next(name for name, tier in environments.items() if rank[tier] == best)


def namespace_prefix(environment: str, isolation: str) -> str:
    """Prefix of an environment's Kubernetes namespaces: only a shared cluster needs one."""
    return f"{environment}-" if isolation == "namespace" else ""


def karpenter_discovery(cluster: str) -> str:
    """Value of the `karpenter.sh/discovery` tag on the subnets and security groups Karpenter uses."""
    return cluster


def kueue_cohort(platform: str, environment: str) -> str:
    """The Kueue cohort of one platform environment: its projects' ClusterQueues lend each other
    their idle GPUs (under `namespace` isolation environments share a cluster, not a cohort)."""
    return f"{platform}-{environment}"


def shared_gpu_flavor(platform: str) -> str:
    """The ResourceFlavor that counts whole GPUs in every cohort of the platform's cluster(s):
    platform-owned, one per cluster (so one under `namespace` isolation too)."""
    return f"{platform}-gpu"


def karpenter_interruption_queue(cluster: str) -> str:
    return f"{cluster}-karpenter"


def karpenter_rule(cluster: str, event: str) -> str:
    return f"{cluster}-karpenter-{event}"[: LIMITS["eventbridge-rule"]]


def karpenter_node_role(cluster: str) -> str:
    return f"{cluster}-karpenter-node"


def karpenter_controller_role(cluster: str) -> str:
    return f"{cluster}-karpenter-controller"


def cluster_role(cluster: str) -> str:
    return f"{cluster}-cluster"


def system_node_role(cluster: str) -> str:
    return f"{cluster}-system-node"


def system_node_group(cluster: str) -> str:
    return f"{cluster}-system"


# EKS node group names are at most 63 characters; Pulumi appends 26 to a name prefix.
NODE_GROUP_NAME_MAX = 63
GENERATED_SUFFIX_LENGTH = 26


def system_node_group_prefix(cluster: str) -> str:
    """The system node group's name prefix: Pulumi completes it with a unique suffix, so a
    replacement (new instance types, disk size, AMI type) is created beside the old group before
    that one is deleted, instead of colliding with its fixed name."""
    return f"{system_node_group(cluster)}-"[: NODE_GROUP_NAME_MAX - GENERATED_SUFFIX_LENGTH]


def addon_role(cluster: str, addon: str) -> str:
    """Pod Identity role of a cluster add-on (vpc-cni, ebs-csi, external-secrets)."""
    return f"{cluster}-{addon}"[: LIMITS["iam-role"]]


def cluster_log_group(cluster: str) -> str:
    """EKS writes control-plane logs to this fixed log group name."""
    return f"/aws/eks/{cluster}/cluster"


def cluster_secrets_key_alias(cluster: str) -> str:
    return f"alias/{cluster}-eks-secrets"


def flow_log_group(platform: str, environment: str) -> str:
    return f"/mlrig/{platform}/{environment}/vpc-flow-logs"


def flow_log_role(platform: str, environment: str) -> str:
    return platform_resource(platform, environment, "flow-logs")


def final_snapshot(database: str, suffix: str) -> str:
    """A database's final snapshot, named for that database alone (it outlives it): the
    identifier, then a random suffix made with the database. RDS allows 255 characters."""
    return f"{database}-final-{suffix}"


def database_subnet_group(platform: str, environment: str) -> str:
    return platform_resource(platform, environment, "databases")


def platform_secrets_prefix() -> str:
    """Secrets Manager names the External Secrets Operator may read: `mlrig/*` only."""
    return "mlrig/"


def platform_secret(platform: str, environment: str, purpose: str) -> str:
    """A secret of the platform itself (the Grafana admin password). Outside `mlrig/<project>/…`,
    so no project's ExternalSecret may name it."""
    return f"mlrig-platform/{platform}/{environment}/{purpose}"


def platform_secret_arn_pattern(partition: str, region: str, account: str, name: str) -> str:
    """Secrets Manager appends `-` and six random characters to a secret's ARN."""
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-??????"


# RDS names the master-user secrets it manages `rds!db-<uuid>` (`rds!cluster-…` for clusters).
RDS_MANAGED_SECRET_PREFIX = "rds!db-"


def state_bucket_of(backend: str | None, platform: str) -> str:
    """The S3 bucket of a `s3://bucket/prefix?query` backend URL, or the default state bucket."""
    if backend and backend.startswith("s3://"):
        return backend[len("s3://") :].split("?", 1)[0].split("/", 1)[0]
    return state_bucket(platform)


GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


def github_oidc_provider_arn(account: str, region: str) -> str:
    return f"arn:{partition(region)}:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}"


# --- project stacks, AWS side (added for the project stacks) -----------------------------------

# Fixed prefixes inside the project buckets (the storage layout users and pipelines rely on).
ARTIFACT_PREFIXES: dict[str, str] = {"models": "models/", "tracking": "mlflow/", "hub": "hub/"}


# Two variants behind an InferenceGraph: (first, second) suffixes; `percent` goes to the second.
SPLIT_VARIANTS: dict[str, tuple[str, str]] = {"canary": ("stable", "canary"), "ab": ("a", "b")}
# KServe (RawDeployment) names an InferenceService's Deployment, Service and autoscaler
# `<name>-predictor` and labels its pods `app: isvc.<name>-predictor` (constants.go
# `PredictorServiceName`, `GetRawServiceLabel`); a label value holds at most 63 characters.
KSERVE_PREDICTOR_SUFFIX = "-predictor"
KSERVE_POD_LABEL_PREFIX = "isvc."
LABEL_VALUE_LIMIT = 63
# Argo names a CronWorkflow's runs `<name>-<10-digit timestamp>` and refuses a CronWorkflow whose
# name leaves no room for it (workflow/validate `ValidateCronWorkflow`).
ARGO_CRON_NAME_LIMIT = 52


def rollout_service_names(endpoint: str, strategy: str) -> dict[str, str]:
    """An endpoint's InferenceServices by their part in the rollout: `stable`/`canary`, `a`/`b`,
    `primary`/`shadow`, or `primary` alone. A split rollout's InferenceGraph is `endpoint` itself."""
    if strategy in SPLIT_VARIANTS:
        return {variant: f"{endpoint}-{variant}" for variant in SPLIT_VARIANTS[strategy]}
    if strategy == "shadow":
        return {"primary": endpoint, "shadow": f"{endpoint}-shadow"}
    return {"primary": endpoint}


def kserve_predictor(inference_service: str) -> str:
    """The Deployment and Service KServe makes for an InferenceService's predictor."""
    return inference_service + KSERVE_PREDICTOR_SUFFIX


def kserve_pod_label(inference_service: str) -> str:
    """The `app` label KServe puts on the predictor's pods (and selects them by)."""
    return KSERVE_POD_LABEL_PREFIX + kserve_predictor(inference_service)


def kserve_host_label(component: str, namespace: str) -> str:
    """The first DNS label of the host KServe (RawDeployment) derives for a predictor
    (`<service>-predictor`) or an InferenceGraph (`<graph>`) from its default domain template
    `{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}`; KServe fails the reconcile of a component
    whose host is no valid domain name (raw_kube_reconciler.go `createRawURL`), so each label holds
    at most 63 characters."""
    return f"{component}-{namespace}"


def kserve_derived_labels(endpoint: str, strategy: str, namespace: str | None) -> list[tuple[str, str]]:
    """(what, value) of every pod label and host DNS label KServe derives from an endpoint's
    InferenceServices and InferenceGraph, each limited to 63 characters. Without a namespace (the
    platform is unknown), the pod labels only."""
    found: list[tuple[str, str]] = []
    for service in rollout_service_names(endpoint, strategy).values():
        found.append(("pod label", kserve_pod_label(service)))
        if namespace is not None:
            found.append(("host", kserve_host_label(kserve_predictor(service), namespace)))
    if strategy in SPLIT_VARIANTS:
        found.append(("pod label", KSERVE_POD_LABEL_PREFIX + endpoint))
        if namespace is not None:
            found.append(("host", kserve_host_label(endpoint, namespace)))
    return found


def model_prefix(model: str, stage: str) -> str:
    """`models/<model>/<stage>/` in the artifacts bucket: `champion` (what the model-deployment
    pipeline promoted) or `candidate` (what it imported under deploy-models)."""
    return f"{ARTIFACT_PREFIXES['models']}{model}/{stage}/"


LOG_PREFIXES: dict[str, str] = {
    "inference": "inference/",
    "metrics": "metrics/",
    "feedback": "feedback/",
    "gateway": "llm-gateway/",
}
PREDICTIONS_PREFIX = "predictions/"


def project_role_arn(names: ProjectNames, role_name: str) -> str:
    return role_arn(names.account, names.region, role_name)


def kms_key_arn_pattern(names: ProjectNames) -> str:
    """Every key of the environment's account and region; narrowed by `kms:ResourceAliases`."""
    return f"arn:{names.partition}:kms:{names.region}:{names.account}:key/*"


def secret_arn_pattern(names: ProjectNames, purpose: str) -> str:
    """Secrets Manager appends `-` and six random characters to a secret's ARN."""
    return f"arn:{names.partition}:secretsmanager:{names.region}:{names.account}:secret:{names.secret(purpose)}-??????"


def bedrock_model_arns(names: ProjectNames) -> list[str]:
    """What the gateway may invoke on Bedrock: foundation models (in any region, as cross-region
    inference profiles route there) and the inference profiles of the environment's account."""
    return [
        f"arn:{names.partition}:bedrock:*::foundation-model/*",
        f"arn:{names.partition}:bedrock:{names.region}:{names.account}:inference-profile/*",
    ]


def project_topic(names: ProjectNames, purpose: str) -> str:
    return join(names.prefix, purpose)


def project_security_group(names: ProjectNames, purpose: str) -> str:
    return join(names.prefix, purpose)


def project_alarm(names: ProjectNames, signal: str) -> str:
    return join(names.prefix, signal)


def cloudwatch_namespace(names: ProjectNames) -> str:
    """CloudWatch metric namespace the monitoring pipeline publishes to."""
    return f"mlrig/{names.project}/{names.environment}"


# --- CI identities (GitHub OIDC) ----------------------------------------------------------------
# The generated workflows and the roles' trust policies must agree on these names and subjects.


def platform_deployer_role_arn(platform: str, environment: str, account: str, region: str) -> str:
    """The role the platform repository's apply jobs assume (GitHub environment `<environment>`)."""
    return role_arn(account, region, platform_deployer_role(platform, environment))


def platform_preview_role(platform: str, environment: str) -> str:
    """Read-only role of pull-request previews and nightly drift detection: a pull request can
    change its own workflow, so it must never reach a role that can apply."""
    return platform_resource(platform, environment, "platform-preview")


def platform_preview_role_arn(platform: str, environment: str, account: str, region: str) -> str:
    return role_arn(account, region, platform_preview_role(platform, environment))


def github_environment_subject(repository: str, environment: str) -> str:
    """OIDC `sub` of a job that runs in a GitHub environment (apply jobs)."""
    return f"repo:{repository}:environment:{environment}"


def github_branch_subject(repository: str, branch: str) -> str:
    """OIDC `sub` of a job on a branch without an environment (scheduled drift detection)."""
    return f"repo:{repository}:ref:refs/heads/{branch}"


# The platform repository's GitHub environment of the nightly drift jobs that refresh project
# stacks administering project repositories: it holds the GitHub App key those jobs mint a
# read-only token with. `--` keeps it apart from every platform environment name (DNS labels).
DRIFT_GITHUB_ENVIRONMENT = "mlrig--drift"


def ecr_registry(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


def firehose_delivery_role(names: ProjectNames, purpose: str) -> str:
    """The role a Firehose stream assumes to deliver into the project's buckets (a service role,
    distinct from the `feedback` workload that puts records into the stream)."""
    return join(names.prefix, f"firehose-{purpose}")


def alert_route_secret(route_type: str, target: str) -> str | None:
    """Secret purpose (`ProjectNames.secret(...)`) holding an alert route's credential: the Slack
    webhook URL, the PagerDuty routing key named by the route's target, or a webhook's full URL
    (its tokens never sit in a bundle or a plan; the secret is named after a digest of the
    route's declared `https://host/path`). None: the route has no credential."""
    if route_type == "slack":
        return "alerts/slack"
    if route_type == "pagerduty":
        return f"alerts/{target}"
    if route_type == "webhook":
        return f"alerts/webhook-{hashlib.sha256(target.encode()).hexdigest()[:12]}"
    return None


def iam_principal_of(caller_arn: str) -> str:
    """The IAM principal behind a caller ARN (`sts get-caller-identity`): an assumed-role
    session becomes its role's ARN (without path: sessions do not carry it), others stay."""
    parts = caller_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
    return caller_arn
