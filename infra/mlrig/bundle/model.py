"""The typed bundle model: the single source of truth for bundle format v1.

`schemas/bundle.schema.json` is generated from these classes (see `schema.py`), so the schema
editors see and the model the program uses cannot drift. Every field carries a description, a
default (unless the bundle format makes it required) and an example; `tests/bundle/test_schema.py` enforces it.

Models are frozen and strict: YAML `"3"` is not the integer 3, unknown keys are errors.
Defaults that depend on other fields (a pool's disk size, a tier's NAT layout) are left `None`
here and derived by `defaults.py`, so the typed model the program sees is always concrete.
"""

# No `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation from its string when the models are built, at the start of every command; evaluated
# annotations cost nothing more (about 5% of `mlrig validate` of one file).

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model
from pydantic.alias_generators import to_camel

API_VERSION = "mlrig/v1"

# --- value types -------------------------------------------------------------------------------
# Each pattern has a human description in PATTERN_HINTS so errors say what is expected.

# No `--`: mlrig joins names with `--` (naming.SEPARATOR), so derived names stay unambiguous.
DNS_LABEL = r"^[a-z](-?[a-z0-9])*$"
ACCOUNT_ID = r"^[0-9]{12}$"
REGION = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$"
CIDR = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$"
GITHUB_OWNER = r"^@[A-Za-z0-9](-?[A-Za-z0-9])*(/[A-Za-z0-9._-]+)?$"
GITHUB_ORG = r"^[A-Za-z0-9](-?[A-Za-z0-9])*$"
REPOSITORY = r"^[A-Za-z0-9](-?[A-Za-z0-9])*/[A-Za-z0-9._-]+$"
PRINCIPAL_ARN = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(root|(user|role)/[A-Za-z0-9+=,.@_/-]+)$"
INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$"
CPU_QUANTITY = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
MEMORY_QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$"
# State settings reach the generated workflows: only characters a YAML scalar, a shell word and a
# GitHub expression all take literally (no spaces, quotes, `$`, `{`, `#`, newlines).
_URL_QUERY = r"(\?[A-Za-z0-9_]+=[A-Za-z0-9._-]+(&[A-Za-z0-9_]+=[A-Za-z0-9._-]+)*)?"
STATE_BACKEND = (
    r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._-]+)*/?"
    + _URL_QUERY
    + r"|https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._-]+)*/?"
    + r"|file://[A-Za-z0-9._/~-]+)$"
)
SECRETS_PROVIDER = (
    r"^awskms://alias/[A-Za-z0-9/_-]*\{environment\}[A-Za-z0-9/_-]*(\?region=[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9])?$"
)
BRANCH = r"^[A-Za-z0-9._/-]+$"
SEMVERISH = r"^v?[0-9]+(\.[0-9]+){1,2}([-+][0-9A-Za-z.-]+)?$"
K8S_VERSION = r"^1\.[0-9]{2}$"
TAG_KEY = r"^[A-Za-z0-9 _.:/=+@-]{1,128}$"
ROLE_NAME = r"^[A-Za-z0-9+=,.@_-]{1,64}$"
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
PYTHON_VERSION = r"^3\.[0-9]{1,2}$"
# A public DNS name such as hooks.example.com: lowercase labels, the last starting with a letter
# (so never an IPv4 address).
HOSTNAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
AWS_ORGANIZATION_ID = r"^o-[a-z0-9]{10,32}$"
CAPACITY_RESERVATION_ID = r"^cr-[0-9a-z]+$"
MIG_PROFILE = r"^[1-7]g\.[0-9]+gb$"
DATABASE_CLASS = r"^(db\.[a-z0-9-]+\.[a-z0-9]+|[a-z0-9-]+\.[a-z0-9]+\.search)$"

# --- size caps ---------------------------------------------------------------------------------
# A team's bundle is untrusted input, and every item of these lists becomes cloud resources:
# bounds no real team reaches keep a hostile bundle from planning thousands of them.
MAX_PIPELINES = 100
MAX_ENDPOINTS = 50
MAX_POOLS = 50
MAX_REGISTRIES = 50
MAX_ALERT_ROUTES = 20
MAX_PRINCIPALS = 100  # per persona
MAX_PARAMETERS = 100
MAX_QUALITY_METRICS = 50
MAX_LIST_ITEMS = 100  # other short lists: owners, checks, features, models, command arguments
MAX_INSTANCE_TYPES = 20
MAX_DATA_LAYERS = 20
MAX_ENVIRONMENTS = 20
MAX_TAGS = 50  # AWS's limit per resource; `rules/tenancy.py` also counts mlrig's own tags
MAX_REVIEWERS = 6  # GitHub's limit of required reviewers of an environment
MAX_TEXT = 1024  # free text (descriptions)
MAX_CAPACITY = 1000000  # nodes or GPUs a platform may let one project environment launch
MAX_NAME_TEXT = 256  # free-form names (models, features)

PATTERN_HINTS: dict[str, str] = {
    DNS_LABEL: "a DNS label: lowercase letters, digits and single '-' between them, starting with a letter",
    ACCOUNT_ID: "a 12-digit AWS account id, quoted so YAML keeps it a string",
    REGION: "an AWS region such as us-east-1",
    CIDR: "an IPv4 CIDR block such as 10.10.0.0/16",
    GITHUB_OWNER: "a GitHub user or team handle such as @acme/platform",
    GITHUB_ORG: "a GitHub organisation name such as acme",
    REPOSITORY: "a GitHub repository as org/name, such as acme/fraud-detection",
    PRINCIPAL_ARN: "an IAM user or role ARN such as arn:aws:iam::111111111111:role/alice",
    INSTANCE_TYPE: "an EC2 instance type such as g5.2xlarge",
    CPU_QUANTITY: "a Kubernetes CPU quantity such as 2 or 500m",
    MEMORY_QUANTITY: "a Kubernetes memory quantity such as 8Gi",
    STATE_BACKEND: "a Pulumi backend URL such as s3://acme-pulumi-state",
    SECRETS_PROVIDER: "an AWS KMS alias URL naming one key per environment through {environment}, such as "
    "awskms://alias/acme-{environment}-pulumi-secrets",
    BRANCH: "a git branch name",
    SEMVERISH: "a version such as 1.8.1",
    K8S_VERSION: "a Kubernetes minor version such as 1.34",
    TAG_KEY: "an AWS tag key: 1 to 128 letters, digits, spaces and _ . : / = + - @",
    ROLE_NAME: "an IAM role name: 1 to 64 letters, digits and + = , . @ _ -",
    IDENTIFIER: "a name such as learning_rate: a letter or '_', then letters, digits, '_', '.' or '-'",
    PYTHON_VERSION: "a Python version such as 3.12",
    HOSTNAME: "a public host name such as hooks.example.com (lowercase, not an IP address)",
    AWS_ORGANIZATION_ID: "an AWS Organizations id such as o-a1b2c3d4e5",
    CAPACITY_RESERVATION_ID: "an EC2 capacity reservation id such as cr-0123456789abcdef0",
    MIG_PROFILE: "a MIG profile such as 1g.10gb",
    DATABASE_CLASS: "an RDS instance class such as db.r6g.large, or an OpenSearch one such as r6g.large.search",
}

DnsName = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=63)]
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID)]
Region = Annotated[str, StringConstraints(pattern=REGION)]
Cidr = Annotated[str, StringConstraints(pattern=CIDR)]
GithubOwner = Annotated[str, StringConstraints(pattern=GITHUB_OWNER)]
PrincipalArn = Annotated[str, StringConstraints(pattern=PRINCIPAL_ARN)]
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE)]
CpuQuantity = Annotated[str, StringConstraints(pattern=CPU_QUANTITY)]
MemoryQuantity = Annotated[str, StringConstraints(pattern=MEMORY_QUANTITY)]
Branch = Annotated[str, StringConstraints(pattern=BRANCH, max_length=255)]
ChartVersion = Annotated[str, StringConstraints(pattern=SEMVERISH)]
Cron = Annotated[str, StringConstraints(min_length=1, max_length=120)]  # parsed by rules/schedules.py
TagKey = Annotated[str, StringConstraints(pattern=TAG_KEY)]
TagValue = Annotated[str, StringConstraints(max_length=256)]
Percent = Annotated[int, Field(ge=0, le=100)]
ParameterValue = Annotated[str, StringConstraints(max_length=1024)] | int | float | bool
GithubOrg = Annotated[str, StringConstraints(pattern=GITHUB_ORG, max_length=39)]
Repository = Annotated[str, StringConstraints(pattern=REPOSITORY, max_length=140)]
Hostname = Annotated[str, StringConstraints(pattern=HOSTNAME, max_length=253)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
NameText = Annotated[str, StringConstraints(max_length=MAX_NAME_TEXT)]
CapacityReservationId = Annotated[str, StringConstraints(pattern=CAPACITY_RESERVATION_ID, max_length=64)]


def at_most(limit: int) -> Any:
    """A size cap on a list or map a team controls."""
    return Field(max_length=limit)


Tier = Literal["dev", "staging", "prod"]
Isolation = Literal["account", "cluster", "namespace"]
Capacity = Literal["spot", "on-demand"]
SharingMode = Literal["none", "time-slicing", "mig"]
PlacementGroupStrategy = Literal["none", "cluster"]
ModelCache = Literal["mount", "download"]
PipelineType = Literal[
    "feature-refresh",
    "training",
    "model-deployment",
    "batch-inference",
    "monitoring",
    "fine-tuning",
    "vector-index-refresh",
]
PIPELINE_TYPES: tuple[str, ...] = PipelineType.__args__  # type: ignore[attr-defined]
RolloutStrategy = Literal["canary", "ab", "shadow", "direct"]
VectorEngine = Literal["pgvector", "opensearch"]
Direction = Literal["maximize", "minimize"]
Approval = Literal["manual", "automatic"]
DeploymentPattern = Literal["deploy-code", "deploy-models"]
ServingRuntime = Literal["custom", "sklearn", "xgboost", "lightgbm", "pytorch", "huggingface", "vllm"]
DriftMethod = Literal["psi", "ks", "wasserstein", "jensen-shannon"]
AlertRouteType = Literal["slack", "email", "pagerduty", "sns", "webhook"]
GatewayProvider = Literal["openai", "anthropic", "azure-openai", "bedrock", "vertex-ai", "mistral", "cohere", "groq"]
Architecture = Literal["amd64", "arm64"]
NatLayout = Literal["single", "per-az"]


def spec_field(default: Any, description: str, example: Any, *, alias: str | None = None) -> Any:
    """A field with a default: every optional field documents its default and an example."""
    if isinstance(default, (list, dict)):
        frozen_default = default
        return Field(
            default_factory=lambda: type(frozen_default)(frozen_default),
            description=description,
            examples=[example],
            json_schema_extra={"default": default},
            alias=alias,
        )
    return Field(default=default, description=description, examples=[example], alias=alias)


def model_field(model: type[BaseModel], description: str, example: Any) -> Any:
    """A nested settings block whose own fields carry the defaults."""
    return Field(
        default_factory=model,
        description=description,
        examples=[example],
        json_schema_extra={"default": {}},
    )


def required(description: str, example: Any) -> Any:
    return Field(..., description=description, examples=[example])


class Strict(BaseModel):
    """Base of every bundle model: camelCase keys, no unknown keys, no coercion, immutable,
    finite numbers."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=False,
        # `.inf`, `.nan` and numbers too large for a float (1e400) are YAML numbers, but no
        # threshold, budget or parameter means them: a budget of infinity is no budget, and an
        # alert compared with NaN never fires.
        allow_inf_nan=False,
    )


# --- metadata ------------------------------------------------------------------------------------


class PlatformMetadata(Strict):
    name: DnsName = required(
        "Name of the platform (the organisation's MLOps platform). Stacks are named "
        "`<name>.<environment>`; projects refer to it in `spec.platform`.",
        "acme-ml",
    )
    owners: Annotated[list[GithubOwner], at_most(MAX_LIST_ITEMS)] = spec_field(
        [],
        "GitHub users or teams that own this bundle; they become its CODEOWNERS.",
        ["@acme/platform"],
    )
    description: Text = spec_field("", "Free text shown in plans and generated docs.", "Acme ML platform")


class ProjectMetadata(Strict):
    name: DnsName = required(
        "Name of the ML project. Stacks are named `<name>.<environment>`; namespaces, buckets, roles "
        "and repositories are derived from it, so keep it short.",
        "fraud-detection",
    )
    team: DnsName | None = spec_field(
        None, "Owning team, used in the `team` tag. Defaults to the project name.", "risk-ml"
    )
    owners: Annotated[list[GithubOwner], at_most(MAX_LIST_ITEMS)] = spec_field(
        [],
        "GitHub users or teams that own this bundle; they become its CODEOWNERS. At most 100.",
        ["@acme/risk-ml"],
    )
    cost_center: Annotated[str, StringConstraints(max_length=128)] | None = spec_field(
        None,
        "Cost centre for the `cost-center` tag. Defaults to `unassigned`.",
        "cc-1234",
    )
    description: Text = spec_field("", "Free text shown in plans and generated docs.", "Card fraud scoring")


# --- platform ----------------------------------------------------------------------------------


class StateSettings(Strict):
    account: AccountId | None = spec_field(
        None,
        "The AWS account that holds the state backend (the bucket and key `mlrig bootstrap` "
        "creates) and whose principals administer the platform: `mlrig bootstrap` runs with its "
        "credentials and refuses others. Under `account` isolation every environment's deployment "
        "role trusts it, so its administrators run bootstrap and each environment's first apply as "
        "that role; name a management or tooling account here. Default: under `account` isolation "
        "the account of the prod environment (the most trusted one; else staging, else dev); "
        "under `cluster` and `namespace` isolation the environments' account.",
        "444444444444",
    )
    backend: Annotated[str, StringConstraints(pattern=STATE_BACKEND, max_length=512)] | None = spec_field(
        None,
        "Pulumi state backend URL. Default: `s3://<platform>-pulumi-state` (created by `mlrig bootstrap`).",
        "s3://acme-pulumi-state",
    )
    secrets_provider: Annotated[str, StringConstraints(pattern=SECRETS_PROVIDER, max_length=256)] | None = spec_field(
        None,
        "Pulumi secrets provider of every stack, one KMS key per environment: `{environment}` stands for "
        "the environment's name, and the region defaults to the environment's. Written into each "
        "`Pulumi.<stack>.yaml` (as the alias ARN, `awskms:///arn:aws:kms:<region>:<account>:alias/...`, "
        "where the environment names its account: KMS resolves it in that account whatever "
        "account Pulumi runs in); `mlrig bootstrap` creates the keys. "
        "Default: `awskms://alias/<platform>-{environment}-pulumi-secrets`.",
        "awskms://alias/acme-ml-{environment}-pulumi-secrets",
    )


class GithubSettings(Strict):
    organization: Annotated[str, StringConstraints(pattern=GITHUB_ORG)] | None = spec_field(
        None,
        "GitHub organisation hosting the platform and project repositories. Without it, no "
        "GitHub OIDC deployment role is created.",
        "acme",
    )
    repository: Annotated[str, StringConstraints(pattern=REPOSITORY)] | None = spec_field(
        None,
        "The platform repository (this repository of bundles) as org/name; only it may deploy "
        "platform stacks. Default: `<organization>/<platform name>`.",
        "acme/ml-platform",
    )
    default_branch: Branch = spec_field("main", "Default branch: merges apply dev and staging stacks.", "main")
    release_branch: Branch = spec_field(
        "release", "Release branch: pushes apply prod stacks behind an approval.", "release"
    )
    prod_approvers: list[GithubOwner] = spec_field(
        [], "Required reviewers of the `prod` GitHub environment.", ["@acme/platform-leads"]
    )


class NetworkSettings(Strict):
    cidr: Cidr | None = spec_field(
        None,
        "VPC CIDR block (a /16 to /24). Default: `10.<10·(n+1)>.0.0/16` for the n-th "
        "environment (0-based), so defaults never overlap.",
        "10.10.0.0/16",
    )
    availability_zones: Annotated[int, Field(ge=2, le=6)] | None = spec_field(
        None,
        "Availability zones to span, at most as many as an EKS cluster can use in the region in "
        "every account (us-west-1: 2). Default: 3 in prod, 2 elsewhere (fewer where the region has fewer).",
        3,
    )
    nat_gateways: NatLayout | None = spec_field(
        None,
        "`single` NAT gateway (cheap) or one `per-az` (resilient). Default: per-az in prod, single elsewhere.",
        "per-az",
    )
    flow_logs: bool | None = spec_field(None, "VPC flow logs to CloudWatch. Default: on in prod, off elsewhere.", True)


class SystemNodeGroup(Strict):
    instance_types: Annotated[list[InstanceType], Field(min_length=1)] = spec_field(
        ["m6i.large"], "On-demand instance types of the node group that runs cluster add-ons.", ["m6i.large"]
    )
    min: Annotated[int, Field(ge=1, le=100)] = spec_field(2, "Minimum nodes.", 2)
    max: Annotated[int, Field(ge=1, le=100)] = spec_field(4, "Maximum nodes.", 4)
    disk_gib: Annotated[int, Field(ge=20, le=2000)] = spec_field(50, "Root volume size in GiB.", 50, alias="diskGiB")


class Addon(Strict):
    enabled: bool = spec_field(True, "Install this add-on.", True)
    version: ChartVersion | None = spec_field(
        None, "Helm chart version. Default: the version this mlrig release pins.", "1.8.1"
    )


class Addons(Strict):
    karpenter: Addon = model_field(Addon, "Karpenter node autoscaling (scales GPU pools from zero).", {"enabled": True})
    nvidia_device_plugin: Addon = model_field(
        Addon, "NVIDIA device plugin, exposing `nvidia.com/gpu` on GPU nodes.", {"enabled": True}
    )
    dcgm_exporter: Addon = model_field(Addon, "NVIDIA DCGM exporter for GPU metrics.", {"enabled": True})
    argo_workflows: Addon = model_field(
        Addon, "Argo Workflows, the engine that runs project pipelines.", {"enabled": True}
    )
    kserve: Addon = model_field(Addon, "KServe, the model serving engine.", {"enabled": True})
    monitoring: Addon = model_field(
        Addon, "kube-prometheus-stack: Prometheus, Alertmanager and Grafana.", {"enabled": True}
    )
    external_secrets: Addon = model_field(
        Addon, "External Secrets Operator, syncing AWS Secrets Manager into Kubernetes.", {"enabled": True}
    )
    metrics_server: Addon = model_field(
        Addon, "metrics-server for resource metrics and autoscaling.", {"enabled": True}
    )
    kueue: Addon = model_field(
        Addon,
        "Kueue: per-project GPU queues with quotas, borrowing between projects and all-or-nothing "
        "admission of multi-worker jobs. Projects opt their namespace in.",
        {"enabled": True},
    )
    efa_device_plugin: Addon = model_field(
        Addon, "AWS EFA device plugin, exposing `vpc.amazonaws.com/efa` on EFA-capable nodes.", {"enabled": True}
    )
    mountpoint_s3: Addon = model_field(
        Addon,
        "Mountpoint for Amazon S3 CSI driver: model endpoints read their weights from the model hub "
        "in S3 with their own identity, without copying them first (fast cold starts).",
        {"enabled": True},
    )


class ClusterSettings(Strict):
    version: Annotated[str, StringConstraints(pattern=K8S_VERSION)] = spec_field(
        "1.34", "EKS Kubernetes version.", "1.34"
    )
    endpoint_public_access: bool = spec_field(
        True,
        "Expose the API server endpoint publicly (restricted to `publicAccessCidrs`); CI "
        "runners on GitHub-hosted machines need it.",
        True,
    )
    public_access_cidrs: list[Cidr] = spec_field(
        ["0.0.0.0/0"], "CIDR blocks allowed to reach the public API endpoint.", ["203.0.113.0/24"]
    )
    log_retention_days: Annotated[int, Field(ge=1, le=3653)] = spec_field(
        90, "Retention of the control-plane logs in CloudWatch.", 90
    )
    system_node_group: SystemNodeGroup = model_field(
        SystemNodeGroup,
        "The small on-demand node group that runs cluster add-ons.",
        {"instanceTypes": ["m6i.large"], "min": 2, "max": 4},
    )
    addons: Addons = model_field(Addons, "Cluster add-ons, each switchable.", {"kserve": {"enabled": False}})


class EnvironmentSpec(Strict):
    tier: Tier = required(
        "Tier of the environment: `dev` (open, no guarantees), `staging` (mirrors prod, gates "
        "it), `prod` (business critical, changed only by automation).",
        "prod",
    )
    account: AccountId | None = spec_field(
        None,
        "AWS account of this environment. Required with `account` isolation (each "
        "environment its own account); otherwise the deploying credentials' account.",
        "333333333333",
    )
    region: Region = required("AWS region of this environment.", "us-east-1")
    deployment_role: Annotated[str, StringConstraints(pattern=ROLE_NAME)] = spec_field(
        "mlrig-deployer",
        "Role that Pulumi assumes in the environment's account under `account` isolation.",
        "mlrig-deployer",
    )
    network: NetworkSettings = model_field(NetworkSettings, "The environment's VPC.", {"cidr": "10.30.0.0/16"})
    cluster: ClusterSettings | None = spec_field(
        None,
        "Per-environment overrides of `spec.cluster`, deep-merged over it.",
        {"systemNodeGroup": {"max": 6}},
    )


class AlertTargets(Strict):
    webhook_hosts: Annotated[list[Hostname], at_most(MAX_LIST_ITEMS)] = spec_field(
        [],
        "Hosts that `webhook` alert routes may post to, over HTTPS. Default: none, so webhook "
        "routes are refused. In-cluster, link-local and IP-address hosts are never allowed. "
        "Slack and PagerDuty credentials stay in Secrets Manager; `sns` topics must live in the "
        "environment's own account.",
        ["hooks.example.com"],
    )


class ProjectAdmission(Strict):
    repository: Repository = required(
        "The project's repository; its `spec.repository` must be exactly this.", "acme/fraud-detection"
    )
    principals: Annotated[list[PrincipalArn], at_most(2 * MAX_PRINCIPALS)] = spec_field(
        [],
        "Every IAM principal the project may name in `spec.access` (in any environment's override too). Default: none.",
        ["arn:aws:iam::111111111111:role/AWSReservedSSO_DataScientist_0123456789abcdef"],
    )
    prod_approvers: Annotated[list[GithubOwner], at_most(MAX_REVIEWERS)] = spec_field(
        [],
        "Who may approve the project's prod deployments: its `ci.prodApprovers` must be among "
        "them (and default to all of them).",
        ["@acme/ml-leads"],
    )
    capacity_reservations: Annotated[list[CapacityReservationId], at_most(MAX_LIST_ITEMS)] = spec_field(
        [],
        "EC2 On-Demand Capacity Reservations and Capacity Blocks the project's pools may launch into "
        "(`compute.pools[].reservations.ids`). A reservation is paid for by whoever bought it, so a "
        "team uses only the ones admitted here. Default: none.",
        ["cr-0123456789abcdef0"],
    )
    team: DnsName | None = spec_field(
        None,
        "The project's `metadata.team` (its resources' `team` tag), when the platform fixes it. "
        "Default: the team's own choice.",
        "risk-ml",
    )
    cost_center: Annotated[str, StringConstraints(max_length=128)] | None = spec_field(
        None,
        "The project's `metadata.costCenter` (its resources' `cost-center` tag, who is charged), "
        "when the platform fixes it. Default: the team's own choice.",
        "cc-1234",
    )
    max_nodes: Annotated[int, Field(ge=0, le=MAX_CAPACITY)] | None = spec_field(
        None,
        "Most nodes the project's pools may launch in one environment (the sum of their Karpenter "
        "limits). Default: the platform's `tenancy.maxNodes`.",
        200,
    )
    max_gpus: Annotated[int, Field(ge=0, le=MAX_CAPACITY)] | None = spec_field(
        None,
        "Most physical GPUs the project's pools may launch in one environment. Default: the "
        "platform's `tenancy.maxGpus`.",
        128,
    )
    max_general_cpu: Annotated[int, Field(ge=0, le=MAX_CAPACITY)] | None = spec_field(
        None,
        "Most CPU cores the project may use on the shared general nodes in one environment. "
        "Default: the platform's `tenancy.maxGeneralCpu`.",
        512,
    )


class TenancySettings(Strict):
    github_organizations: Annotated[list[GithubOrg], at_most(MAX_LIST_ITEMS)] | None = spec_field(
        None,
        "GitHub organisations project repositories may belong to. Default: `[github.organization]` "
        "(none when that is unset: then only the admitted repositories bound projects).",
        ["acme"],
    )
    principal_accounts: Annotated[list[AccountId], at_most(MAX_LIST_ITEMS)] | None = spec_field(
        None,
        "AWS accounts persona principals (`spec.access`) may come from. Default: the accounts "
        "of the platform's environments.",
        ["111111111111"],
    )
    aws_organization_id: Annotated[str, StringConstraints(pattern=AWS_ORGANIZATION_ID)] | None = spec_field(
        None,
        "The AWS Organization of the platform's accounts. When set, persona roles also require "
        "`aws:PrincipalOrgID` to match. Default: no organisation condition.",
        "o-a1b2c3d4e5",
    )
    prod_read_access_from_dev: bool = spec_field(
        False,
        "Whether dev personas may read prod data (read-only) at all. A project may only narrow "
        "this (its `storage.prodReadAccessFromDev`).",
        True,
    )
    min_prod_approvers: Annotated[int, Field(ge=1, le=MAX_REVIEWERS)] = spec_field(
        1,
        "Minimum required reviewers of every project's `prod` GitHub environment (never 0).",
        1,
    )
    alerts: AlertTargets = model_field(AlertTargets, "Where project alerts may go.", {"webhookHosts": []})
    max_nodes: Annotated[int, Field(ge=0, le=MAX_CAPACITY)] = spec_field(
        200,
        "Most nodes one project's pools may launch in one environment (the sum of their Karpenter "
        "limits), unless its admission says otherwise (`projects.<name>.maxNodes`): a team's bundle "
        "alone never decides what the platform pays for.",
        200,
    )
    max_gpus: Annotated[int, Field(ge=0, le=MAX_CAPACITY)] = spec_field(
        128,
        "Most physical GPUs one project's pools may launch in one environment, unless its admission "
        "says otherwise (`projects.<name>.maxGpus`).",
        128,
    )
    max_general_cpu: Annotated[int, Field(ge=0, le=MAX_CAPACITY)] = spec_field(
        256,
        "Most CPU cores one project may use on the general nodes every project shares (and the "
        "platform's add-ons spill onto) in one environment: its endpoints and pipelines without a "
        "pool at their maximum, plus mlrig's own servers. Its namespace quota allows that much; "
        "`projects.<name>.maxGeneralCpu` overrides it for one project.",
        256,
    )
    projects: dict[DnsName, ProjectAdmission] = spec_field(
        {},
        "Admission: a project deploys only when admitted here, by name, with the fields that "
        "change who reaches it (repository, principals, prod approvers). This file is the "
        "platform team's, so a team cannot widen them in its own bundle.",
        {
            "fraud-detection": {
                "repository": "acme/fraud-detection",
                "principals": ["arn:aws:iam::111111111111:role/AWSReservedSSO_DataScientist_0123456789abcdef"],
                "prodApprovers": ["@acme/ml-leads"],
            }
        },
    )


class PlatformSpec(Strict):
    isolation: Isolation = spec_field(
        "cluster",
        "How environments are isolated: `account` (an AWS account each), `cluster` (a VPC "
        "and EKS cluster each in one account) or `namespace` (one shared cluster).",
        "account",
    )
    state: StateSettings = model_field(
        StateSettings,
        "Where Pulumi keeps state.",
        {"account": "444444444444", "backend": "s3://acme-pulumi-state"},
    )
    github: GithubSettings = model_field(
        GithubSettings, "GitHub organisation and platform repository.", {"organization": "acme"}
    )
    cluster: ClusterSettings = model_field(ClusterSettings, "EKS settings for every environment.", {"version": "1.34"})
    environments: Annotated[dict[DnsName, EnvironmentSpec], Field(min_length=1)] = required(
        "The environments, by name. Any names; `tier` decides the semantics.",
        {"dev": {"tier": "dev", "region": "us-east-1"}},
    )
    tenancy: TenancySettings = model_field(
        TenancySettings,
        "What projects may do: the bounds every Project bundle lives in, and which projects are admitted at all.",
        {"githubOrganizations": ["acme"], "projects": {"fraud-detection": {"repository": "acme/fraud-detection"}}},
    )
    tags: Annotated[dict[TagKey, TagValue], at_most(MAX_TAGS)] = spec_field(
        {},
        "Extra tags on every AWS resource. Keys may not start with `aws:`, `mlrig:` or `eks:`, nor "
        "name a Kubernetes, Karpenter or AWS controller domain (`kubernetes.io/…`, `karpenter.sh/…`).",
        {"department": "ml"},
    )


class PlatformBundle(Strict):
    api_version: Literal["mlrig/v1"] = required("Bundle format version.", "mlrig/v1")
    kind: Literal["Platform"] = required("Bundle kind.", "Platform")
    metadata: PlatformMetadata = required("Identity of the bundle.", {"name": "acme-ml"})
    spec: PlatformSpec = required("The platform.", {"environments": {"dev": {"tier": "dev", "region": "us-east-1"}}})


# --- project -------------------------------------------------------------------------------------


class AccessSettings(Strict):
    data_scientists: Annotated[list[PrincipalArn], at_most(MAX_PRINCIPALS)] = spec_field(
        [],
        "IAM principals who act as data scientists: read+write in dev, read in staging, "
        "read-only data, artifacts and logs in prod. Each must be admitted for the project in the "
        "platform's `tenancy.projects`, come from one of its `tenancy.principalAccounts`, and "
        "be a role or user (never an account's `:root`). At most 100.",
        ["arn:aws:iam::111111111111:role/ds-alice"],
    )
    ml_engineers: Annotated[list[PrincipalArn], at_most(MAX_PRINCIPALS)] = spec_field(
        [],
        "IAM principals who act as ML engineers: read+write in dev and staging, read-only in "
        "prod (prod changes go through CI). Bounded like `dataScientists`. At most 100.",
        ["arn:aws:iam::111111111111:role/mle-bob"],
    )


class StorageSettings(Strict):
    staging_retention_days: Annotated[int, Field(ge=1, le=365)] = spec_field(
        14, "Days after which staging data expires (staging data is temporary).", 14
    )
    prod_read_access_from_dev: bool | None = spec_field(
        None,
        "Dev personas may read prod data (read-only). Default: what the platform's "
        "`tenancy.prodReadAccessFromDev` allows (false unless the platform allows it); a project "
        "may only narrow it: `true` where the platform forbids it is an error.",
        False,
    )
    noncurrent_version_retention_days: Annotated[int, Field(ge=1, le=3650)] = spec_field(
        30, "Days old object versions are kept in versioned buckets.", 30
    )
    data_layers: Annotated[list[DnsName], Field(min_length=1, max_length=MAX_DATA_LAYERS)] = spec_field(
        ["bronze", "silver", "gold"], "Prefixes of the data bucket (medallion layers).", ["raw", "curated"]
    )


class RegistrySettings(Strict):
    keep_last_images: Annotated[int, Field(ge=1, le=10000)] = spec_field(
        50,
        "CI builds whose images are kept per repository (an image built for two architectures keeps "
        "both and the index that joins them); older ones expire.",
        100,
    )
    untagged_expiry_days: Annotated[int, Field(ge=1, le=365)] = spec_field(
        7, "Days after which untagged images expire.", 7
    )


class GpuSettings(Strict):
    count: Annotated[int, Field(ge=1, le=16)] = spec_field(
        1, "GPUs per node the pool's workloads may request; every instance type must have at least this many.", 1
    )


class GpuSharing(Strict):
    mode: SharingMode = spec_field(
        "none",
        "`none` (a pod gets whole GPUs), `time-slicing` (every GPU is advertised `replicas` times "
        "and pods take turns; memory and faults are not isolated) or `mig` (A100, H100 and H200 "
        "GPUs are cut into `profile` instances with their own memory and fault domain).",
        "time-slicing",
    )
    replicas: Annotated[int, Field(ge=2, le=16)] | None = spec_field(
        None, "time-slicing only: pods that share each GPU, 2–16.", 4
    )
    profile: Annotated[str, StringConstraints(pattern=MIG_PROFILE)] | None = spec_field(
        None,
        "mig only: the MIG profile every GPU of the pool's nodes is cut into, such as `1g.10gb` "
        "(7 per H100) or `3g.40gb` (2 per H100); it must exist for every instance type's GPU.",
        "1g.10gb",
    )


class CapacityReservations(Strict):
    ids: Annotated[list[CapacityReservationId], Field(min_length=1, max_length=30)] = required(
        "On-Demand Capacity Reservations or Capacity Blocks for ML to launch into first, by id; each "
        "must be admitted for the project by the platform (`tenancy.projects.<project>."
        "capacityReservations`).",
        ["cr-0123456789abcdef0"],
    )
    fallback: Annotated[list[Capacity], Field(max_length=2)] | None = spec_field(
        None,
        "What the pool launches, in order, once its reservations are used up (or expired): "
        "`[spot, on-demand]`, `[spot]`, … or `[]` for reserved capacity only. It starts with the "
        "pool's `capacity`. Default: `[<capacity>]`. `[on-demand, spot]` needs a second NodePool "
        "(Karpenter tries spot before on-demand within one) and Karpenter's limits hold per NodePool, "
        "so such a pool may launch twice its `max`: the platform's tenancy bounds count it so.",
        ["on-demand", "spot"],
    )


class PoolQueue(Strict):
    nominal_gpus: Annotated[int, Field(ge=0, le=100000)] | None = spec_field(
        None,
        "GPUs of this pool guaranteed to the project in its queue (as pods request them: shared "
        "GPUs count once per slice). GPUs above it are borrowed from other projects' idle shares "
        "and taken back when their owners need them. Default: every GPU `max` nodes hold, less "
        "what the pool's endpoints need at `maxReplicas` (serving is never queued).",
        4,
    )


class ComputePool(Strict):
    name: DnsName = required("Name of the pool; pipelines and endpoints refer to it.", "gpu-train")
    instance_types: Annotated[list[InstanceType], Field(min_length=1, max_length=MAX_INSTANCE_TYPES)] = spec_field(
        ["m6i.2xlarge", "m7i.2xlarge"],
        "EC2 instance types the autoscaler may launch. GPU pools need GPU instance families.",
        ["g5.2xlarge", "g6.2xlarge"],
    )
    gpu: GpuSettings | None = spec_field(
        None, "Makes this a GPU pool: nodes are tainted `nvidia.com/gpu`.", {"count": 1}
    )
    capacity: Capacity = spec_field("on-demand", "`spot` or `on-demand` capacity.", "spot")
    min: Annotated[int, Field(ge=0, le=1000)] = spec_field(0, "Nodes kept warm at all times (0 scales to zero).", 0)
    max: Annotated[int, Field(ge=0, le=1000)] = spec_field(4, "Upper bound on nodes.", 4)
    disk_gib: Annotated[int, Field(ge=20, le=16000)] | None = spec_field(
        None, "Root volume in GiB. Default: 200 for GPU pools, 100 otherwise.", 200, alias="diskGiB"
    )
    architecture: Architecture = spec_field("amd64", "CPU architecture of the nodes.", "amd64")
    sharing: GpuSharing = model_field(
        GpuSharing, "GPU pools only: how pods share the nodes' GPUs.", {"mode": "time-slicing", "replicas": 4}
    )
    reservations: CapacityReservations | None = spec_field(
        None,
        "Capacity already paid for: EC2 On-Demand Capacity Reservations or Capacity Blocks for ML "
        "the pool launches into first (Karpenter's `reserved` capacity type), then `fallback`. "
        "Default: none.",
        {"ids": ["cr-0123456789abcdef0"], "fallback": ["on-demand", "spot"]},
    )
    efa: bool = spec_field(
        False,
        "Elastic Fabric Adapter for multi-node training: GPU steps request the nodes' EFA interfaces "
        "(Karpenter then attaches them), and the nodes join a security group that lets EFA traffic "
        "flow between them. Every instance type must support EFA.",
        True,
    )
    placement_group: PlacementGroupStrategy = spec_field(
        "none",
        "`cluster` creates a cluster placement group for the pool (lowest latency between its "
        "nodes). With Karpenter 1.8 instances land in it only through capacity reservations made "
        "in the group, so it needs `reservations`.",
        "cluster",
    )
    queue: PoolQueue = model_field(PoolQueue, "The pool's share in the project's queue.", {"nominalGpus": 4})


class QueuePriorities(Strict):
    training: Annotated[int, Field(ge=0, le=1000000)] = spec_field(
        1000, "Priority of training and fine-tuning steps in the project's queue.", 1000
    )
    batch_inference: Annotated[int, Field(ge=0, le=1000000)] = spec_field(
        100,
        "Priority of batch inference (and the other pooled pipeline steps) in the project's queue: "
        "lower than training, so training preempts it when the queue is full.",
        100,
    )
    serving: Annotated[int, Field(ge=0, le=1000000)] = spec_field(
        10000,
        "Pod priority of endpoint replicas on a pool: serving is never queued, and a replica that "
        "finds its pool full preempts the project's queued pods there.",
        10000,
    )


class Queueing(Strict):
    enabled: bool | None = spec_field(
        None,
        "Admit pipeline steps on the project's pools through a Kueue queue (needs the platform's "
        "`kueue` add-on). Default: on when the project has a GPU pool.",
        True,
    )
    borrowing_limit: Annotated[int, Field(ge=0, le=100000)] | None = spec_field(
        None,
        "GPUs the project may borrow from other projects' idle shares in its environment on top of "
        "its pools' `queue.nominalGpus`. Default: no limit (every idle GPU of the environment).",
        8,
    )
    priorities: QueuePriorities = model_field(
        QueuePriorities, "Priorities of training, batch inference and serving.", {"training": 1000}
    )


class ComputeSettings(Strict):
    pools: Annotated[list[ComputePool], at_most(MAX_POOLS)] = spec_field(
        [],
        "Node pools of the project, merged by `name` in overrides. At most 50.",
        [{"name": "gpu-train", "instanceTypes": ["g5.2xlarge"], "gpu": {"count": 1}, "capacity": "spot"}],
    )
    queueing: Queueing = model_field(
        Queueing, "Queues and fair sharing of the project's GPUs (Kueue).", {"borrowingLimit": 8}
    )


class Resources(Strict):
    cpu: CpuQuantity = spec_field("1", "CPU request (and limit) per pod.", "4")
    memory: MemoryQuantity = spec_field("4Gi", "Memory request and limit per pod.", "16Gi")
    gpu: Annotated[int, Field(ge=0, le=16)] = spec_field(0, "GPUs per pod (`nvidia.com/gpu`); needs a GPU pool.", 1)


class Pipeline(Strict):
    type: PipelineType = required(
        "What the pipeline does: feature-refresh, training, model-deployment, batch-inference, "
        "monitoring, fine-tuning or vector-index-refresh.",
        "training",
    )
    schedule: Cron | None = spec_field(
        None,
        "5-field cron schedule (UTC). Default by type: feature-refresh `0 2 * * *`, training "
        "`0 3 * * 0`, batch-inference `0 5 * * *`, monitoring `0 * * * *`, "
        "vector-index-refresh `0 4 * * *`; model-deployment and fine-tuning run when triggered. "
        "Dev schedules are created suspended.",
        "0 3 * * 0",
    )
    image: DnsName | None = spec_field(
        None, "Registry (an entry of `registries`) holding the image. Default: the first registry.", "training"
    )
    pool: DnsName | None = spec_field(
        None, "Compute pool (a `compute.pools` name) to run on. Default: the cluster's general nodes.", "gpu-train"
    )
    command: Annotated[list[Text], at_most(MAX_LIST_ITEMS)] = spec_field(
        [], "Container command. Default: the image's entrypoint.", ["python", "-m", "train"]
    )
    resources: Resources = model_field(Resources, "Resources per step pod.", {"cpu": "4", "memory": "16Gi", "gpu": 1})
    parameters: Annotated[
        dict[Annotated[str, StringConstraints(pattern=IDENTIFIER, max_length=128)], ParameterValue],
        at_most(MAX_PARAMETERS),
    ] = spec_field({}, "Parameters passed to the pipeline. At most 100.", {"epochs": 10})
    timeout_minutes: Annotated[int, Field(ge=1, le=10080)] = spec_field(
        240, "Maximum run time before the run fails.", 120
    )
    retries: Annotated[int, Field(ge=0, le=10)] = spec_field(2, "Retries of a failed step.", 1)
    expected_minutes: Annotated[int, Field(ge=1, le=10080)] | None = spec_field(
        None,
        "Typical run time in minutes, for `mlrig cost` (runs per month × this × the pool's price). "
        "Default by type: feature-refresh 30, training 120, model-deployment 15, batch-inference 30, "
        "monitoring 10, fine-tuning 240, vector-index-refresh 30.",
        90,
    )
    staging_data_fraction: Annotated[float, Field(gt=0, le=1)] = spec_field(
        0.1, "Fraction of the data used when the pipeline runs in staging.", 0.1
    )
    workers: Annotated[int, Field(ge=1, le=256)] = spec_field(
        1, "Parallel workers (distributed training and fine-tuning).", 4
    )
    base_model: NameText | None = spec_field(
        None, "fine-tuning only: the base model in the model hub.", "meta-llama/Llama-3.1-8B-Instruct"
    )
    mode: Literal["batch", "streaming"] = spec_field("batch", "batch-inference only: `batch` or `streaming`.", "batch")


class Comparison(Strict):
    metric: Annotated[str, StringConstraints(pattern=IDENTIFIER)] = spec_field(
        "auc", "Metric that decides whether the candidate beats the champion.", "f1"
    )
    direction: Direction = spec_field("maximize", "Whether higher (`maximize`) or lower is better.", "maximize")
    min_improvement: Annotated[float, Field(ge=0)] = spec_field(
        0.0, "Minimum improvement over the current production model.", 0.01
    )
    baseline_threshold: float | None = spec_field(
        None,
        "Threshold the candidate must reach on first deploy (no champion yet). Default: none.",
        0.8,
    )


class ModelDeploymentSettings(Strict):
    compliance_checks: Annotated[list[DnsName], at_most(MAX_LIST_ITEMS)] = spec_field(
        ["schema", "signature", "model-card"],
        "Checks the candidate must pass before comparison.",
        ["schema", "bias", "pii-scan"],
    )
    comparison: Comparison = model_field(Comparison, "Champion vs challenger comparison.", {"metric": "auc"})
    approval: Approval = spec_field(
        "manual", "`manual` suspends for a human before promotion; `automatic` promotes.", "manual"
    )


class Rollout(Strict):
    strategy: RolloutStrategy = spec_field(
        "direct",
        "`canary` (percent of traffic to the new revision), `ab` (percent to variant B), "
        "`shadow` (percent mirrored, responses dropped) or `direct`.",
        "canary",
    )
    percent: Percent = spec_field(10, "Traffic share for the strategy, 0–100.", 10)


class AwakeHours(Strict):
    start: Annotated[int, Field(ge=0, le=23)] = required("First hour (UTC) the endpoint is kept up.", 8)
    end: Annotated[int, Field(ge=1, le=24)] = required("Hour (UTC) from which it may scale to zero again.", 18)


class Autoscaling(Strict):
    min_replicas: Annotated[int, Field(ge=0, le=1000)] = spec_field(
        1,
        "Minimum replicas. 0 scales to zero when idle outside `awakeHoursUtc` (needs the monitoring "
        "add-on): without a request buffer, an endpoint at zero answers nothing until it is woken.",
        1,
    )
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = spec_field(3, "Maximum replicas.", 10)
    target_concurrency: Annotated[int, Field(ge=1, le=10000)] = spec_field(
        10, "In-flight requests per replica that trigger scaling.", 10
    )
    awake_hours_utc: AwakeHours | None = spec_field(
        None,
        "With `minReplicas: 0`: the daily hours (UTC) the endpoint keeps at least one replica and "
        "comes back from zero by itself. Default: none.",
        {"start": 8, "end": 18},
    )


class Startup(Strict):
    model_size_gib: Annotated[int, Field(ge=1, le=2000)] | None = spec_field(
        None,
        "Size of the model weights in GiB; sizes the readiness budget (how long a replica may take "
        "to load before it is restarted). Default: 16 for `vllm` and `huggingface`, 1 otherwise.",
        16,
        alias="modelSizeGiB",
    )
    model_cache: ModelCache | None = spec_field(
        None,
        "`mount`: read the weights in place from the model hub in S3 (Mountpoint for S3), so a "
        "replica that comes back from zero starts without a copy step; `download`: KServe's "
        "storage initializer copies them into the pod first. Default: `mount` for `vllm` and "
        "`huggingface` when the platform runs the `mountpointS3` add-on, else `download`.",
        "mount",
    )
    pre_pull: bool | None = spec_field(
        None,
        "Pull the serving image onto every node of the endpoint's GPU pool as it joins, so a new "
        "replica on a warm or shared node skips the pull. Default: on for endpoints on GPU pools.",
        True,
    )


class Endpoint(Strict):
    name: DnsName = required(
        "Name of the endpoint. KServe derives `<name>-predictor-<namespace>` (a host's DNS label) and "
        "`isvc.<name>-predictor` (a pod label) from each of its InferenceServices (`<name>-stable`, "
        "`-canary`, `-a`, `-b` or `-shadow` with a split or shadow rollout), 63 characters at most each.",
        "scorer",
    )
    image: DnsName | None = spec_field(
        None, "Registry holding the server image (custom runtime). Default: the first registry.", "serving"
    )
    runtime: ServingRuntime = spec_field("custom", "Serving runtime; `vllm` serves LLMs on GPU.", "sklearn")
    model: NameText | None = spec_field(
        None, "Registered model (or hub model for `vllm`) served. Default: the project name.", "fraud-model"
    )
    pool: DnsName | None = spec_field(None, "Compute pool to run on.", "gpu-serve")
    resources: Resources = model_field(Resources, "Resources per replica.", {"cpu": "2", "memory": "4Gi"})
    rollout: Rollout = model_field(Rollout, "Gradual rollout of new revisions.", {"strategy": "canary", "percent": 10})
    autoscaling: Autoscaling = model_field(Autoscaling, "Replica bounds.", {"minReplicas": 1, "maxReplicas": 5})
    request_logging: bool = spec_field(True, "Log requests and responses to the logs bucket (inference tables).", True)
    startup: Startup = model_field(
        Startup, "Cold starts: model cache, image pre-pulling and the readiness budget.", {"modelSizeGiB": 16}
    )


class ServingSettings(Strict):
    endpoints: Annotated[list[Endpoint], at_most(MAX_ENDPOINTS)] = spec_field(
        [], "Online endpoints, merged by `name` in overrides. At most 50.", [{"name": "scorer", "image": "serving"}]
    )


class DriftSettings(Strict):
    threshold: Annotated[float, Field(ge=0, le=1)] = spec_field(
        0.2, "Drift score above which an alert fires (and retraining, with `retrainOnDrift`).", 0.2
    )
    method: DriftMethod = spec_field("psi", "Drift statistic.", "psi")
    features: Annotated[list[NameText], at_most(MAX_LIST_ITEMS)] = spec_field(
        [], "Features to watch. Default: all.", ["amount", "merchant"]
    )


class QualityMetric(Strict):
    name: Annotated[str, StringConstraints(pattern=IDENTIFIER)] = required("Metric name.", "auc")
    threshold: float = required("Alert when the metric crosses this value.", 0.75)
    direction: Direction = spec_field(
        "maximize", "`maximize`: alert below the threshold; `minimize`: above.", "maximize"
    )


class AlertRoute(Strict):
    type: AlertRouteType = required("Channel type.", "slack")
    target: Annotated[str, StringConstraints(min_length=1, max_length=512)] = required(
        "Channel, address, service key secret name or topic ARN.", "#fraud-alerts"
    )


class GpuIdleAlert(Strict):
    below_percent: Annotated[int, Field(ge=1, le=100)] = spec_field(
        5, "A GPU is idle while its utilisation (DCGM `DCGM_FI_DEV_GPU_UTIL`) stays below this percentage.", 10
    )
    for_minutes: Annotated[int, Field(ge=5, le=10080)] = spec_field(
        60, "Alert when a GPU of the project's pools has been idle this long.", 30
    )


class MonitoringSettings(Strict):
    schedule: Cron = spec_field("0 * * * *", "Schedule of the monitoring pipeline.", "*/30 * * * *")
    drift: DriftSettings = model_field(DriftSettings, "Data drift detection.", {"threshold": 0.2})
    quality: Annotated[list[QualityMetric], at_most(MAX_QUALITY_METRICS)] = spec_field(
        [], "Model quality metrics with alert thresholds. At most 50.", [{"name": "auc", "threshold": 0.75}]
    )
    latency_p99_ms: Annotated[int, Field(ge=1, le=600000)] = spec_field(
        1000, "Serving p99 latency alert threshold in ms.", 250
    )
    error_rate: Annotated[float, Field(ge=0, le=1)] = spec_field(
        0.01, "Serving error-rate alert threshold (fraction of requests).", 0.02
    )
    alerts: Annotated[list[AlertRoute], at_most(MAX_ALERT_ROUTES)] = spec_field(
        [],
        "Where alerts go, within the platform's `tenancy.alerts` bounds. At most 20.",
        [{"type": "slack", "target": "#fraud-alerts"}],
    )
    retrain_on_drift: bool = spec_field(False, "Submit the training pipeline when drift exceeds the threshold.", True)
    gpu_idle: GpuIdleAlert = model_field(
        GpuIdleAlert, "Alert on GPUs of the project's pools that sit idle.", {"belowPercent": 5, "forMinutes": 60}
    )


class ModelHubSettings(Strict):
    enabled: bool = spec_field(True, "Keep a mirror of base models in the artifacts bucket.", True)
    models: Annotated[list[NameText], at_most(MAX_LIST_ITEMS)] = spec_field(
        [], "Base models to mirror.", ["meta-llama/Llama-3.1-8B-Instruct"]
    )


class VectorDatabaseSettings(Strict):
    engine: VectorEngine = spec_field("pgvector", "`pgvector` (RDS PostgreSQL) or `opensearch`.", "pgvector")
    instance_class: Annotated[str, StringConstraints(pattern=DATABASE_CLASS, max_length=64)] | None = spec_field(
        None,
        "Database instance class. Default: db.t4g.medium (pgvector) / t3.medium.search "
        "(opensearch) outside prod, db.r6g.large / r6g.large.search in prod.",
        "db.r6g.large",
    )
    storage_gib: Annotated[int, Field(ge=10, le=16000)] = spec_field(
        50, "Allocated storage in GiB.", 100, alias="storageGiB"
    )
    dimensions: Annotated[int, Field(ge=1, le=16000)] = spec_field(1536, "Embedding dimensions.", 1024)


class ProviderLimits(Strict):
    requests_per_minute: Annotated[int, Field(ge=1)] | None = spec_field(
        None,
        "Requests per minute to each of the provider's models (LiteLLM counts a provider's route per model "
        "it resolves to), counted once for all gateway replicas. Default: unlimited.",
        600,
    )
    tokens_per_minute: Annotated[int, Field(ge=1)] | None = spec_field(
        None,
        "Tokens per minute to each of the provider's models; each gateway replica stops at its share "
        "(the limit divided by `replicas`). Default: unlimited.",
        200000,
    )
    monthly_budget_usd: Annotated[float, Field(gt=0)] | None = spec_field(
        None,
        "Spend cap in USD per 30-day window, counted for all gateway replicas in the gateway's store; "
        "it starts over when the store's pod is replaced. Default: none.",
        500.0,
    )


class GatewaySettings(Strict):
    providers: Annotated[list[GatewayProvider], at_most(MAX_LIST_ITEMS)] = spec_field(
        [], "Third-party LLM API providers reachable through the gateway.", ["openai", "anthropic"]
    )
    limits: dict[GatewayProvider, ProviderLimits] = spec_field(
        {}, "Per-provider rate limits and budgets.", {"openai": {"requestsPerMinute": 600, "monthlyBudgetUsd": 500}}
    )
    requests_per_minute: Annotated[int, Field(ge=1)] | None = spec_field(
        None,
        "Refused by validation: LiteLLM limits a whole proxy only per virtual key, which needs its database, "
        "and the gateway runs without one. Set `limits.<provider>.requestsPerMinute` instead.",
        1000,
    )
    monthly_budget_usd: Annotated[float, Field(gt=0)] | None = spec_field(
        None,
        "Refused by validation: LiteLLM keeps a proxy-wide budget only in its database, which the gateway "
        "does not run. Set `limits.<provider>.monthlyBudgetUsd` instead.",
        1000.0,
    )
    replicas: Annotated[int, Field(ge=1, le=50)] = spec_field(
        2,
        "Gateway replicas. Each one past the second adds its limits (2 cores, 2 GiB) to the namespace quota "
        "and counts against the platform's `maxGeneralCpu`.",
        2,
    )


class FeedbackSettings(Strict):
    enabled: bool = spec_field(False, "Capture human feedback into the logs bucket.", True)
    retention_days: Annotated[int, Field(ge=1, le=3650)] = spec_field(365, "Days feedback records are kept.", 365)


class LlmSettings(Strict):
    model_hub: ModelHubSettings | None = spec_field(
        None, "Mirror of base models.", {"models": ["mistralai/Mistral-7B-v0.3"]}
    )
    vector_database: VectorDatabaseSettings | None = spec_field(
        None, "Vector database (operationally like a feature store).", {"engine": "pgvector"}
    )
    gateway: GatewaySettings | None = spec_field(
        None, "Gateway to third-party LLM APIs with central credentials.", {"providers": ["openai"]}
    )
    feedback: FeedbackSettings = model_field(FeedbackSettings, "Human feedback capture.", {"enabled": True})


class CiSettings(Strict):
    default_branch: Branch = spec_field("main", "Merges here deploy to staging.", "main")
    release_branch: Branch = spec_field("release", "Pushes here deploy to prod.", "release")
    prod_approvers: Annotated[list[GithubOwner], at_most(MAX_REVIEWERS)] = spec_field(
        [],
        "Required reviewers of the `prod` GitHub environment: a subset of the approvers the "
        "platform admits for the project (`tenancy.projects.<project>.prodApprovers`). "
        "Default: all of those. At most 6 (GitHub's limit).",
        ["@acme/ml-leads"],
    )
    manage_repository: bool = spec_field(
        True, "Provision the repository's environments, variables, branch protection and workflows.", True
    )
    python_version: Annotated[str, StringConstraints(pattern=PYTHON_VERSION)] = spec_field(
        "3.11", "Python version of the project's CI.", "3.12"
    )


class ProjectSpecBase(Strict):
    """Everything a project environment can override."""

    deployment_pattern: DeploymentPattern = spec_field(
        "deploy-code",
        "`deploy-code` (code is promoted, every environment trains its own models) or `deploy-models` (the "
        "model is trained in the dev tier only; staging and prod run no training: their model-deployment "
        "pipeline imports the champion of the environment one tier below, then checks, compares, approves and "
        "promotes it). The same in every environment.",
        "deploy-code",
    )
    access: AccessSettings = model_field(AccessSettings, "Principals per persona.", {"dataScientists": []})
    storage: StorageSettings = model_field(StorageSettings, "Storage semantics.", {"stagingRetentionDays": 14})
    registries: Annotated[list[DnsName], at_most(MAX_REGISTRIES)] = spec_field(
        [], "Container image repositories (ECR), one per image family. At most 50.", ["training", "serving"]
    )
    registry: RegistrySettings = model_field(
        RegistrySettings, "Image retention of every registry.", {"keepLastImages": 50}
    )
    compute: ComputeSettings = model_field(ComputeSettings, "Compute pools.", {"pools": []})
    pipelines: Annotated[dict[DnsName, Pipeline], at_most(MAX_PIPELINES)] = spec_field(
        {}, "Pipelines by name. At most 100.", {"train": {"type": "training", "image": "training", "pool": "gpu-train"}}
    )
    model_deployment: ModelDeploymentSettings = model_field(
        ModelDeploymentSettings, "How the model-deployment pipeline gates promotion.", {"approval": "manual"}
    )
    serving: ServingSettings = model_field(ServingSettings, "Online serving.", {"endpoints": []})
    monitoring: MonitoringSettings = model_field(
        MonitoringSettings, "Monitoring and retraining.", {"retrainOnDrift": True}
    )
    llm: LlmSettings = model_field(LlmSettings, "LLMOps additions.", {"feedback": {"enabled": True}})
    ci: CiSettings = model_field(CiSettings, "CI/CD of the project repository.", {"defaultBranch": "main"})
    tags: Annotated[dict[TagKey, TagValue], at_most(MAX_TAGS)] = spec_field(
        {},
        "Extra tags on every AWS resource. Keys may not start with `aws:`, `mlrig:` or `eks:`, nor name a Kubernetes, "
        "Karpenter or AWS controller domain (`kubernetes.io/…`, `karpenter.sh/…`), and with "
        "the platform's tags and mlrig's own they must stay within AWS's 50 tags per resource.",
        {"data-owner": "risk"},
    )


class ProjectSpec(ProjectSpecBase):
    platform: DnsName = required("Name of the Platform bundle this project deploys into.", "acme-ml")
    repository: Repository = required(
        "The project's ML code repository as org/name; its CI deploys the project. It must be "
        "the repository the platform admits for the project (`tenancy.projects`), belong to one "
        "of the platform's `tenancy.githubOrganizations`, and be no other project's nor the "
        "platform's repository.",
        "acme/fraud-detection",
    )
    environments: Annotated[dict[DnsName, dict[str, Any]], at_most(MAX_ENVIRONMENTS)] = spec_field(
        {},
        "Per-environment overrides, deep-merged over the spec: maps merge key by key, lists of "
        "named items (pools, endpoints) merge by `name`, other lists replace.",
        {"prod": {"compute": {"pools": [{"name": "gpu-train", "max": 16}]}}},
    )


class ProjectBundle(Strict):
    api_version: Literal["mlrig/v1"] = required("Bundle format version.", "mlrig/v1")
    kind: Literal["Project"] = required("Bundle kind.", "Project")
    metadata: ProjectMetadata = required("Identity of the bundle.", {"name": "fraud-detection"})
    spec: ProjectSpec = required("The project.", {"platform": "acme-ml", "repository": "acme/fraud-detection"})


BUNDLE_MODELS: dict[str, type[Strict]] = {"Platform": PlatformBundle, "Project": ProjectBundle}

OVERRIDABLE_KEYS: dict[str, str] = {
    (field.alias or to_camel(name)): name for name, field in ProjectSpecBase.model_fields.items()
}  # camelCase key -> field name


@cache
def single_field_model(key: str) -> tuple[str, type[Strict]]:
    """(field name, a model holding only that field) for a top-level key of an environment
    override, so an override revalidates just the blocks it touches. Raises KeyError for keys
    an override cannot hold."""
    name = OVERRIDABLE_KEYS[key]
    field = ProjectSpecBase.model_fields[name]
    model: type[Strict] = create_model(f"Override_{name}", __base__=Strict, **{name: (field.annotation, field)})  # type: ignore[call-overload]
    return name, model
