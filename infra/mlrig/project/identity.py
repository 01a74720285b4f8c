"""Who may do what to a project's data: persona roles, workload roles, the CI deployer.

The access table (Table 1 of the Big Book of MLOps) lives here as data (`persona_access`, `workload_access`): a list of
bucket grants per identity. The same grants produce the IAM policies, the KMS key policy's
principals and the cross-account bucket policies, so the three cannot disagree.

Roles are created first (`Identity`), so that the key and bucket policies that name them can be
created next (`storage.py`), and the roles' own policies last (`AccessPolicies`), once the key
ARN is known.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import naming, promotion, tenancy
from ..bundle.model import Endpoint
from ..bundle.resolved import Project, ProjectEnvironment
from ..naming import ProjectNames
from . import vector_roles, vector_search
from .context import ProjectContext, persona_principals, project_names, reads_pgvector, uses_opensearch, workloads
from .filled_secrets import gateway_key_env, gateway_secret_purpose
from .model_locations import rollout_services

PERSONAS: tuple[str, ...] = ("data-scientist", "ml-engineer")
CI_DEPLOYER = "ci-deployer"
FEEDBACK = "feedback"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
BUCKET_CLASSES: tuple[str, ...] = ("data", "artifacts", "logs")
WHOLE_BUCKET = ""

S3_LIST_ACTIONS = ["s3:ListBucket", "s3:GetBucketLocation"]
S3_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
S3_WRITE_ACTIONS = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
KMS_READ_ACTIONS = ["kms:Decrypt", "kms:DescribeKey"]
KMS_WRITE_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
ECR_PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]


# --- the access table as data ------------------------------------------------------------------


@dataclass(frozen=True)
class BucketAccess:
    """Read and write rights of one identity on one bucket, by key prefix (`""` = whole bucket)."""

    names: ProjectNames  # the environment owning the bucket
    data_class: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()

    @property
    def bucket_arn(self) -> str:
        return self.names.bucket_arn(self.data_class)


def _read(names: ProjectNames, data_class: str, *prefixes: str) -> BucketAccess:
    return BucketAccess(names, data_class, read=prefixes or (WHOLE_BUCKET,))


def _read_write(names: ProjectNames, data_class: str, *prefixes: str) -> BucketAccess:
    chosen = prefixes or (WHOLE_BUCKET,)
    return BucketAccess(names, data_class, read=chosen, write=chosen)


def dev_may_read(project: Project, environment: ProjectEnvironment) -> bool:
    """Staging data is readable from dev; prod data only where the platform's tenancy allows it
    and that prod environment's `storage.prodReadAccessFromDev` does not narrow it (the data
    owner's side decides, within the platform's bound)."""
    if environment.tier == "prod":
        limits = tenancy.bounds(project.platform.bundle)
        return tenancy.dev_may_read_prod(limits, environment.spec.storage.prod_read_access_from_dev)
    return environment.tier == "staging"


def cross_environment_reads(project: Project, env: ProjectEnvironment, default_account: str) -> list[BucketAccess]:
    """What a dev persona reads outside its environment: data only, read only."""
    if env.tier != "dev":
        return []
    return [
        _read(project_names(project, other, default_account=default_account), "data")
        for other in project.environments.values()
        if other.name != env.name and dev_may_read(project, other)
    ]


def persona_access(project: Project, env: ProjectEnvironment, persona: str, default_account: str) -> list[BucketAccess]:
    """The access table: data scientists read+write dev, read staging, read prod; ML engineers read+write
    dev and staging, read prod. Nobody writes outside their own environment."""
    names = project_names(project, env, default_account=default_account)
    writes_here = env.tier == "dev" or (env.tier == "staging" and persona == "ml-engineer")
    own = [(_read_write if writes_here else _read)(names, data_class) for data_class in BUCKET_CLASSES]
    return own + cross_environment_reads(project, env, default_account)


def workload_access(names: ProjectNames, workload_type: str) -> list[BucketAccess]:
    """Least privilege per workload type, in the workload's own environment only."""
    models, tracking, hub = (naming.ARTIFACT_PREFIXES[k] for k in ("models", "tracking", "hub"))
    inference, metrics = naming.LOG_PREFIXES["inference"], naming.LOG_PREFIXES["metrics"]
    table: dict[str, list[BucketAccess]] = {
        "feature-refresh": [_read_write(names, "data")],
        "training": [_read(names, "data"), _read_write(names, "artifacts")],
        # Registry promotion: reads the candidate and the champion, writes the promoted model.
        "model-deployment": [_read(names, "data"), _read_write(names, "artifacts")],
        "batch-inference": [
            BucketAccess(names, "data", read=(WHOLE_BUCKET,), write=(naming.PREDICTIONS_PREFIX,)),
            _read(names, "artifacts"),
            BucketAccess(names, "logs", write=(inference,)),
        ],
        # Drift compares live inputs with the training data; metrics go to `metrics/`.
        "monitoring": [
            _read(names, "data"),
            BucketAccess(names, "logs", read=(WHOLE_BUCKET,), write=(metrics,)),
        ],
        # Human feedback (what Firehose lands in `logs/feedback/`) is fine-tuning's training signal.
        "fine-tuning": [
            _read(names, "data"),
            _read_write(names, "artifacts", models, tracking, hub),
            _read(names, "logs", naming.LOG_PREFIXES["feedback"]),
        ],
        "vector-index-refresh": [_read(names, "data")],
        "serving": [_read(names, "artifacts"), BucketAccess(names, "logs", write=(inference,))],
        "tracking": [_read_write(names, "artifacts", tracking)],
        # Spend logs of every request (LiteLLM's S3 callback); reads its provider keys too
        # (see `workload_extras`).
        "gateway": [BucketAccess(names, "logs", write=(naming.LOG_PREFIXES["gateway"],))],
        "feedback": [],  # puts records into the feedback stream (see `llm.py`)
        # The OpenSearch master user: the security API of the project's domain only.
        naming.VECTOR_ADMIN: [],
        # Mirrors base models into the hub, which serving and fine-tuning read.
        naming.MODEL_HUB: [_read_write(names, "artifacts", hub)],
    }
    return table[workload_type]


def model_import_access(project: Project, env: ProjectEnvironment, default_account: str) -> list[BucketAccess]:
    """deploy-models: the import step reads the champion of the environment it promotes from (that
    prefix of its artifacts bucket, nothing else there) and writes this environment's candidate.
    A higher environment reads a lower one's models; it never writes there."""
    source = promotion.promotion_source(project, env)
    if source is None:
        return []
    own = project_names(project, env, default_account=default_account)
    lower = project_names(project, source, default_account=default_account)
    champion, candidate = naming.model_prefix(project.name, "champion"), naming.model_prefix(project.name, "candidate")
    return [BucketAccess(lower, "artifacts", read=(champion,)), _read_write(own, "artifacts", candidate)]


def workload_grants(
    project: Project, env: ProjectEnvironment, workload_type: str, default_account: str
) -> list[BucketAccess]:
    """The bucket grants of a workload of `workload_type` in `env`."""
    if workload_type == naming.MODEL_IMPORT:
        return model_import_access(project, env, default_account)
    return workload_access(project_names(project, env, default_account=default_account), workload_type)


def model_importers(project: Project, env: ProjectEnvironment, default_account: str) -> list[str]:
    """Role ARNs of the import steps that read `env`'s champion (deploy-models): the key policy
    and, across accounts, the artifacts bucket policy must let them in too."""
    return sorted(
        project_names(project, importer, default_account=default_account).workload_role_arn(naming.MODEL_IMPORT)
        for importer in promotion.importers_of(project, env)
    )


# --- policy documents --------------------------------------------------------------------------


def policy_document(statements: Sequence[dict[str, Any]]) -> pulumi.Output[str]:
    """A policy document; statements may hold Outputs (ARNs of resources being created)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _object_arns(access: BucketAccess, prefixes: Iterable[str]) -> list[str]:
    return [f"{access.bucket_arn}/{prefix}*" for prefix in prefixes]


def _sid(*parts: str) -> str:
    return "".join(p.replace("-", " ").title().replace(" ", "") for p in parts)


def s3_statements(accesses: Sequence[BucketAccess]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for access in accesses:
        tag = _sid(access.names.environment, access.data_class)
        listable = access.read or access.write
        if WHOLE_BUCKET in listable:
            statements.append(
                {"Sid": f"List{tag}", "Effect": "Allow", "Action": S3_LIST_ACTIONS, "Resource": access.bucket_arn}
            )
        else:  # only its prefixes are listed; s3:prefix is not a condition of GetBucketLocation
            statements += [
                {
                    "Sid": f"Locate{tag}",
                    "Effect": "Allow",
                    "Action": "s3:GetBucketLocation",
                    "Resource": access.bucket_arn,
                },
                {
                    "Sid": f"List{tag}",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": access.bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in listable]}},
                },
            ]
        if access.read:
            statements.append(
                {
                    "Sid": f"Read{tag}",
                    "Effect": "Allow",
                    "Action": S3_READ_ACTIONS,
                    "Resource": _object_arns(access, access.read),
                }
            )
        if access.write:
            statements.append(
                {
                    "Sid": f"Write{tag}",
                    "Effect": "Allow",
                    "Action": S3_WRITE_ACTIONS,
                    "Resource": _object_arns(access, access.write),
                }
            )
    return statements


def kms_statements(
    accesses: Sequence[BucketAccess], own: ProjectNames, own_key_arn: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """The own key by ARN; other environments' keys by alias (their ARNs are random)."""
    statements: list[dict[str, Any]] = []
    own_accesses = [a for a in accesses if a.names == own]
    if own_accesses:
        writes = any(a.write for a in own_accesses)
        statements.append(
            {
                "Sid": "UseProjectKey",
                "Effect": "Allow",
                "Action": KMS_WRITE_ACTIONS if writes else KMS_READ_ACTIONS,
                "Resource": own_key_arn,
            }
        )
    for other in sorted({a.names for a in accesses if a.names != own}, key=lambda n: n.environment):
        statements.append(
            {
                "Sid": f"Decrypt{_sid(other.environment)}Data",
                "Effect": "Allow",
                "Action": KMS_READ_ACTIONS,
                "Resource": naming.kms_key_arn_pattern(other),
                "Condition": {
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": other.kms_alias()},
                    "StringEquals": {"kms:ViaService": f"s3.{other.region}.amazonaws.com"},
                },
            }
        )
    return statements


def gateway_statements(ctx: ProjectContext, key_arn: Any) -> list[dict[str, Any]]:
    """The gateway reads the API keys of its keyed providers, and calls Bedrock (which takes no
    key: it authenticates the pod's own AWS identity) when Bedrock is a provider."""
    assert ctx.env.spec.llm.gateway is not None
    providers = ctx.env.spec.llm.gateway.providers
    keyed = [p for p in providers if gateway_key_env(p) is not None]
    statements: list[dict[str, Any]] = []
    if keyed:
        statements += [
            {
                "Sid": "ReadProviderKeys",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": [naming.secret_arn_pattern(ctx.names, gateway_secret_purpose(p)) for p in keyed],
            },
            {"Sid": "DecryptProviderKeys", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key_arn},
        ]
    if "bedrock" in providers:
        statements.append(
            {
                "Sid": "InvokeBedrockModels",
                "Effect": "Allow",
                "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                "Resource": naming.bedrock_model_arns(ctx.names),
            }
        )
    return statements


def trust_principals(principals: Sequence[str], conditions: dict[str, dict[str, str]] | None = None) -> str:
    """The persona role's trust, as validation measures it against IAM's size quota."""
    return tenancy.persona_trust_policy(principals, conditions or {})


def trust_service(service: str, *, tag_session: bool = False, source_account: str | None = None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole",
    }
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def trust_pod_identity(
    account: str, cluster_name: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    """EKS Pod Identity, for exactly one service account: without conditions any association
    in the account (another namespace, another cluster) could be pointed at this role. EKS
    sends the cluster, namespace and service account as request tags of its AssumeRole; the
    source account is checked as well (confused deputy)."""
    return policy_document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": account,
                        "aws:RequestTag/eks-cluster-name": cluster_name,
                        "aws:RequestTag/kubernetes-namespace": namespace,
                        "aws:RequestTag/kubernetes-service-account": service_account,
                    }
                },
            }
        ]
    )


def trust_github(provider_arn: pulumi.Input[str], repository: str, environment: str) -> pulumi.Output[str]:
    """Only jobs of the project's repository bound to this environment's GitHub environment."""
    host = naming.GITHUB_OIDC_HOST
    return policy_document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:aud": "sts.amazonaws.com",
                        f"{host}:sub": naming.github_environment_subject(repository, environment),
                    },
                },
            }
        ]
    )


def trust_own_ci(account: str, region: str) -> pulumi.Output[str]:
    """Without a GitHub organisation the platform creates no GitHub OIDC provider, and a trust in
    an empty provider is refused by IAM at the first apply. The CI deployer then trusts its own
    account: only principals whose IAM policies allow `sts:AssumeRole` on it (the organisation's
    own CI system, administrators) reach it."""
    return policy_document(
        [
            {
                "Effect": "Allow",
                "Principal": {"AWS": naming.account_root_arn(account, region)},
                "Action": "sts:AssumeRole",
            }
        ]
    )


# --- who uses the key, who reads across accounts -----------------------------------------------


@dataclass(frozen=True)
class KeyUsers:
    """Role ARNs that use a project key. `readers` and `writers` are roles of the key's own stack
    (they exist before the key: it depends on them); `foreign_readers` are roles another
    environment's stack creates, which the key policy may name only through conditions."""

    readers: tuple[str, ...]
    writers: tuple[str, ...]
    foreign_readers: tuple[str, ...] = ()


def persona_roles(project: Project, env: ProjectEnvironment, default_account: str) -> dict[str, str]:
    """Persona -> role ARN, for the personas of `env` that have principals."""
    names = project_names(project, env, default_account=default_account)
    return {p: names.role_arn(p) for p in PERSONAS if persona_principals(env, p)}


def key_users(project: Project, env: ProjectEnvironment, default_account: str) -> KeyUsers:
    """Role ARNs that may use this environment's project key: exactly those holding a grant on
    one of its buckets, in this environment or from another one."""
    names = project_names(project, env, default_account=default_account)
    readers: set[str] = set()
    writers: set[str] = set()
    foreign: set[str] = set()

    def classify(arn: str, accesses: Iterable[BucketAccess]) -> None:
        mine = [a for a in accesses if a.names == names]
        if any(a.write for a in mine):
            writers.add(arn)
        elif mine:
            readers.add(arn)

    for environment in project.environments.values():
        for persona, arn in persona_roles(project, environment, default_account).items():
            accesses = persona_access(project, environment, persona, default_account)
            if environment.name == env.name:
                classify(arn, accesses)
            elif any(a.names == names for a in accesses):
                assert not any(a.write for a in accesses if a.names == names), "nobody writes across environments"
                foreign.add(arn)
    for workload, workload_type in workloads(env).items():
        classify(names.workload_role_arn(workload), workload_grants(project, env, workload_type, default_account))
        if workload_type == "gateway":  # reads its provider keys, encrypted with the project key
            readers.add(names.workload_role_arn(workload))
    if env.spec.llm.feedback.enabled:
        writers.add(naming.project_role_arn(names, naming.firehose_delivery_role(names, FEEDBACK)))
    foreign.update(model_importers(project, env, default_account))
    return KeyUsers(tuple(sorted(readers)), tuple(sorted(writers)), tuple(sorted(foreign)))


def cross_account_data_readers(project: Project, env: ProjectEnvironment, default_account: str) -> list[str]:
    """Persona roles of other accounts that read this environment's data bucket: the bucket
    policy must let them in too (cross-account access needs both sides)."""
    names = project_names(project, env, default_account=default_account)
    readers: list[str] = []
    for environment in project.environments.values():
        other = project_names(project, environment, default_account=default_account)
        if other.account == names.account:
            continue
        for persona, arn in persona_roles(project, environment, default_account).items():
            if any(a.names == names for a in persona_access(project, environment, persona, default_account)):
                readers.append(arn)
    return sorted(readers)


def other_stack_principals(role_arns: Sequence[str], region: str) -> dict[str, Any]:
    """`Principal` and `Condition` that admit exactly `role_arns`, roles another stack creates,
    without naming them as principals: KMS and S3 reject a policy whose principal does not exist
    yet, so naming them would make this stack depend on the other stack having been applied
    first. The account principals delegate to those accounts' IAM policies; `aws:PrincipalArn`
    keeps it to these roles."""
    accounts = sorted({naming.account_of_arn(arn) for arn in role_arns})
    return {
        "Principal": {"AWS": [naming.account_root_arn(account, region) for account in accounts]},
        "Condition": {"ArnEquals": {"aws:PrincipalArn": sorted(role_arns)}},
    }


# --- components --------------------------------------------------------------------------------


class Identity(pulumi.ComponentResource):
    """The project's roles in one environment: personas, workloads (EKS Pod Identity), the
    Firehose delivery role of the feedback stream and the CI deployer. Policies are attached by `AccessPolicies`."""

    personas: dict[str, aws.iam.Role]
    workloads: dict[str, aws.iam.Role]
    feedback: aws.iam.Role | None
    ci_deployer: aws.iam.Role
    associations: dict[str, aws.eks.PodIdentityAssociation]

    def __init__(self, name: str, ctx: ProjectContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlrig:project:Identity", name, None, opts)
        self._ctx = ctx
        names = ctx.names
        conditions = tenancy.persona_trust_conditions(tenancy.bounds(ctx.project.platform.bundle))
        self.personas = {
            persona: self._role(
                names.role(persona), persona, trust_principals(ctx.persona_principals(persona), conditions)
            )
            for persona in PERSONAS
            if ctx.persona_principals(persona)
        }
        self.workloads = {
            workload: self._role(
                names.workload_role(workload),
                "workload",
                trust_pod_identity(
                    names.account, ctx.platform.cluster_name, names.namespace, names.service_account(workload)
                ),
            )
            for workload in ctx.workloads()
        }
        self.associations = {workload: self._pod_identity(workload, role) for workload, role in self.workloads.items()}
        self.feedback = (
            self._role(
                naming.firehose_delivery_role(names, FEEDBACK),
                "workload",
                trust_service("firehose.amazonaws.com", source_account=names.account),
            )
            if ctx.env.spec.llm.feedback.enabled
            else None
        )
        github = ctx.project.platform.bundle.spec.github.organization is not None
        self.ci_deployer = self._role(
            names.role(CI_DEPLOYER),
            CI_DEPLOYER,
            trust_github(ctx.platform.github_oidc_provider_arn, ctx.project.bundle.spec.repository, ctx.env.name)
            if github
            else trust_own_ci(names.account, names.region),
        )
        self.register_outputs(
            {
                "personaRoleArns": {p: r.arn for p, r in self.personas.items()},
                "workloadRoleArns": {w: r.arn for w, r in self.workloads.items()},
                "ciDeployerRoleArn": self.ci_deployer.arn,
            }
        )

    @property
    def roles(self) -> list[aws.iam.Role]:
        extra = [self.feedback] if self.feedback else []
        return [*self.personas.values(), *self.workloads.values(), *extra, self.ci_deployer]

    @property
    def access_roles(self) -> list[aws.iam.Role]:
        """The roles people and CI reach the cluster with (through EKS access entries)."""
        return [*self.personas.values(), self.ci_deployer]

    def workload_dependencies(self, workload: str) -> list[pulumi.Resource]:
        """What a pod of `workload` needs from this component before it starts: the workload's
        role, and the Pod Identity association that hands it to the pod's service account (EKS
        injects credentials only into pods created once the association exists)."""
        return [self.workloads[workload], self.associations[workload]]

    def _role(self, role_name: str, persona: str, trust: pulumi.Input[str]) -> aws.iam.Role:
        return aws.iam.Role(
            role_name,
            name=role_name,
            assume_role_policy=trust,
            max_session_duration=3600,
            tags={naming.TAG_PERSONA: persona},
            opts=self._ctx.aws_opts(self),
        )

    def _pod_identity(self, workload: str, role: aws.iam.Role) -> aws.eks.PodIdentityAssociation:
        names = self._ctx.names
        return aws.eks.PodIdentityAssociation(
            f"{names.workload_role(workload)}-pod-identity",
            cluster_name=self._ctx.platform.cluster_name,
            namespace=names.namespace,
            service_account=names.service_account(workload),
            role_arn=role.arn,
            opts=self._ctx.aws_opts(self),
        )


class AccessPolicies(pulumi.ComponentResource):
    """The roles' identity policies: the access table, made concrete with the key's ARN.
    `access_role_policies` are those of the persona and CI deployer roles (`deploy_policy` the
    CI deployer's), `workload_policies` those of each workload's role."""

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        identity: Identity,
        key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:AccessPolicies", name, None, opts)
        self._ctx = ctx
        names = ctx.names
        account = names.account
        self.access_role_policies: list[aws.iam.RolePolicy] = []
        self.workload_policies: dict[str, aws.iam.RolePolicy] = {}
        for persona, role in identity.personas.items():
            accesses = persona_access(ctx.project, ctx.env, persona, account)
            policy = self._attach(
                names.role(persona),
                role,
                "data-access",
                s3_statements(accesses) + kms_statements(accesses, names, key_arn),
            )
            self.access_role_policies.append(policy)
        for workload, workload_type in ctx.workloads().items():
            accesses = workload_grants(ctx.project, ctx.env, workload_type, account)
            statements = s3_statements(accesses) + kms_statements(accesses, names, key_arn)
            statements += workload_extras(ctx, workload, workload_type, key_arn)
            if statements:
                self.workload_policies[workload] = self._attach(
                    names.workload_role(workload), identity.workloads[workload], "workload-access", statements
                )
        if identity.feedback is not None:
            self._attach(
                naming.firehose_delivery_role(names, FEEDBACK),
                identity.feedback,
                "firehose-delivery",
                feedback_statements(names, key_arn),
            )
        self.deploy_policy = self._attach(
            names.role(CI_DEPLOYER), identity.ci_deployer, "deploy", ci_deployer_statements(ctx)
        )
        self.access_role_policies.append(self.deploy_policy)
        self.register_outputs({})

    def workload_dependencies(self, workload: str) -> list[pulumi.Resource]:
        """The policy of `workload`'s role, when it has one: what its pods may do once started."""
        policy = self.workload_policies.get(workload)
        return [policy] if policy is not None else []

    def _attach(
        self, role_name: str, role: aws.iam.Role, purpose: str, statements: list[dict[str, Any]]
    ) -> aws.iam.RolePolicy:
        return aws.iam.RolePolicy(
            f"{role_name}-{purpose}",
            role=role.name,
            name=purpose,
            policy=policy_document(statements),
            opts=self._ctx.aws_opts(self),
        )


def workload_extras(
    ctx: ProjectContext, workload: str, workload_type: str, key_arn: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """Non-S3 rights of a workload: metrics for monitoring, provider secrets for the gateway, the
    OpenSearch vector database for its clients and its master user, the pgvector reader's password
    secret for the Job that creates the reader role."""
    names = ctx.names
    vectors = vector_search.identity_statements(names, workload, workload_type) if uses_opensearch(ctx.env) else []
    if workload == naming.VECTOR_ADMIN and reads_pgvector(ctx.env.spec):
        vectors += vector_roles.identity_statements(names, key_arn)
    return vectors + _service_extras(ctx, workload_type, key_arn)


def _service_extras(ctx: ProjectContext, workload_type: str, key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    names = ctx.names
    if workload_type == "monitoring":
        return [
            {
                "Sid": "PublishMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",  # PutMetricData has no resource type; the namespace is pinned
                "Condition": {"StringEquals": {"cloudwatch:namespace": naming.cloudwatch_namespace(names)}},
            }
        ]
    if workload_type == "gateway" and ctx.env.spec.llm.gateway is not None:
        return gateway_statements(ctx, key_arn)
    if workload_type == "model-deployment":
        return promote_statements(names, ctx.env.spec.serving.endpoints)
    return []


def promote_statements(names: ProjectNames, endpoints: Sequence[Endpoint]) -> list[dict[str, Any]]:
    """The promote step records the model URI of each InferenceService it points at a promoted
    model, in that InferenceService's parameter (String: no key to use), and no other."""
    parameters = sorted(
        names.model_uri_parameter_arn(isvc) for endpoint in endpoints for isvc in rollout_services(endpoint).values()
    )
    if not parameters:
        return []
    return [{"Sid": "RecordPromotedModels", "Effect": "Allow", "Action": "ssm:PutParameter", "Resource": parameters}]


def feedback_statements(names: ProjectNames, key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Firehose's S3 destination needs to list the bucket and its uploads, and write `feedback/`."""
    bucket = names.bucket_arn("logs")
    prefix = naming.LOG_PREFIXES["feedback"]
    return [
        {
            "Sid": "LocateLogsBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": bucket,
        },
        {
            "Sid": "WriteFeedback",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            "Resource": f"{bucket}/{prefix}*",
        },
        {
            "Sid": "EncryptFeedback",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{names.region}.amazonaws.com"}},
        },
    ]


def ci_deployer_statements(ctx: ProjectContext) -> list[dict[str, Any]]:
    """Pushes images to this environment's repositories, records the tag it rolls out (read by
    the project stack, so both write the same image) and reaches the cluster to submit
    pipelines (its Kubernetes rights come from its EKS access entry)."""
    names = ctx.names
    cluster_arn = pulumi.Output.concat(
        f"arn:{names.partition}:eks:{names.region}:{names.account}:cluster/", ctx.platform.cluster_name
    )
    statements: list[dict[str, Any]] = [
        {"Sid": "DescribeCluster", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": cluster_arn},
    ]
    registries = ctx.env.spec.registries
    if registries:
        statements += [
            # GetAuthorizationToken has no resource type: it only returns a login token.
            {"Sid": "LoginToRegistry", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Sid": "PushImages",
                "Effect": "Allow",
                "Action": ECR_PUSH_ACTIONS,
                "Resource": [names.repository_arn(r) for r in registries],
            },
            {
                "Sid": "RecordRolledImageTag",
                "Effect": "Allow",
                "Action": "ssm:PutParameter",
                "Resource": names.image_tag_parameter_arn(),
            },
        ]
    return statements
