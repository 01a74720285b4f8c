"""What every project component receives: the resolved environment, its names, the platform's
outputs and the stack's providers. Components never read files, config or environment variables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import naming, outputs, promotion
from ..bundle.model import ProjectSpec
from ..bundle.resolved import Project, ProjectEnvironment
from ..hub import hub_models
from ..naming import ProjectNames
from ..providers import aws_resource_options


@dataclass(frozen=True)
class PlatformRef:
    """The platform environment's outputs, read through a StackReference."""

    cluster_name: pulumi.Output[Any]
    cluster_endpoint: pulumi.Output[Any]
    cluster_ca: pulumi.Output[Any]
    oidc_issuer_url: pulumi.Output[Any]
    vpc_id: pulumi.Output[Any]
    vpc_cidr: pulumi.Output[Any]
    private_subnet_ids: pulumi.Output[Any]
    database_subnet_group: pulumi.Output[Any]
    cluster_security_group_id: pulumi.Output[Any]
    node_role_name: pulumi.Output[Any]
    node_role_arn: pulumi.Output[Any]
    karpenter_discovery: pulumi.Output[Any]
    github_oidc_provider_arn: pulumi.Output[Any]
    addons: pulumi.Output[Any]
    monitoring_namespace: pulumi.Output[Any]
    ingress_namespace: pulumi.Output[Any]
    # The principal that runs Pulumi in this environment (administers the project's KMS key).
    deployment_role_arn: pulumi.Output[Any] | None = None

    @classmethod
    def from_stack_reference(cls, ref: pulumi.StackReference) -> PlatformRef:
        get = ref.require_output
        return cls(
            cluster_name=get(outputs.CLUSTER_NAME),
            cluster_endpoint=get(outputs.CLUSTER_ENDPOINT),
            cluster_ca=get(outputs.CLUSTER_CA),
            oidc_issuer_url=get(outputs.OIDC_ISSUER_URL),
            vpc_id=get(outputs.VPC_ID),
            vpc_cidr=get(outputs.VPC_CIDR),
            private_subnet_ids=get(outputs.PRIVATE_SUBNET_IDS),
            database_subnet_group=get(outputs.DATABASE_SUBNET_GROUP),
            cluster_security_group_id=get(outputs.CLUSTER_SECURITY_GROUP_ID),
            node_role_name=get(outputs.NODE_ROLE_NAME),
            node_role_arn=get(outputs.NODE_ROLE_ARN),
            karpenter_discovery=get(outputs.KARPENTER_DISCOVERY),
            github_oidc_provider_arn=get(outputs.GITHUB_OIDC_PROVIDER_ARN),
            addons=get(outputs.ADDONS),
            monitoring_namespace=get(outputs.MONITORING_NAMESPACE),
            ingress_namespace=get(outputs.INGRESS_NAMESPACE),
            deployment_role_arn=ref.get_output(outputs.DEPLOYMENT_ROLE_ARN),
        )


@dataclass(frozen=True)
class ProjectContext:
    project: Project
    env: ProjectEnvironment
    names: ProjectNames
    platform: PlatformRef
    aws_provider: aws.Provider
    k8s_provider: k8s.Provider

    @property
    def tier(self) -> str:
        return self.env.tier

    @property
    def protect(self) -> bool:
        """Prod stateful resources are protected and retained on delete."""
        return self.env.tier == "prod"

    @property
    def empties_on_delete(self) -> bool:
        """Whether deleting a bucket or registry deletes its objects and images too. Outside prod a
        stack (or a registry a team removes) must be destroyable: AWS refuses to delete a bucket or
        repository that is not empty. Prod's are protected and retained instead."""
        return self.env.tier != "prod"

    @property
    def secret_recovery_days(self) -> int:
        """How long a deleted secret can be restored. Its name stays taken meanwhile, so outside
        prod it is deleted at once: a gateway provider or alert route removed and added back, or a
        dev stack destroyed and applied again, would otherwise fail to create it for days. Prod
        secrets are protected and retained; 30 days if one is ever deleted deliberately."""
        return 30 if self.env.tier == "prod" else 0

    def aws_opts(
        self, parent: pulumi.Resource, *, stateful: bool = False, depends_on: Sequence[pulumi.Resource] = ()
    ) -> pulumi.ResourceOptions:
        return aws_resource_options(parent, self.aws_provider, protect=self.protect and stateful, depends_on=depends_on)

    def persona_principals(self, persona: str) -> list[str]:
        """Principals of `spec.access` acting as a persona in this environment. A persona without
        principals gets no role: a role nobody can assume would need a placeholder trust policy."""
        return persona_principals(self.env, persona)

    def names_for(self, environment: ProjectEnvironment) -> ProjectNames:
        """Names of this project in another environment, for cross-environment grants."""
        return project_names(self.project, environment, default_account=self.names.account)

    def workloads(self) -> dict[str, str]:
        """Workload identities of this environment: pipeline name -> pipeline type, plus the
        reserved workloads (`serving`, `tracking`, `gateway`, `feedback`, `vector-admin`,
        `model-hub`, `model-import`) this environment runs."""
        return workloads(self.env)

    def k8s_opts(
        self, parent: pulumi.Resource, *, depends_on: Sequence[pulumi.Resource] = ()
    ) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=self.k8s_provider, depends_on=list(depends_on))


PERSONA_ACCESS_FIELDS: dict[str, str] = {"data-scientist": "data_scientists", "ml-engineer": "ml_engineers"}


def persona_principals(environment: ProjectEnvironment, persona: str) -> list[str]:
    field = PERSONA_ACCESS_FIELDS.get(persona)
    return list(getattr(environment.spec.access, field)) if field else []


def project_names(project: Project, environment: ProjectEnvironment, *, default_account: str) -> ProjectNames:
    """`default_account` is used when the platform names no account (all environments share the
    deploying account under `cluster` and `namespace` isolation)."""
    platform_env = environment.platform_environment
    return ProjectNames(
        project=project.name,
        environment=environment.name,
        account=platform_env.account or default_account,
        region=platform_env.region,
        isolation=project.platform.isolation,
    )


def workloads(environment: ProjectEnvironment) -> dict[str, str]:
    spec = environment.spec
    found: dict[str, str] = {name: pipeline.type for name, pipeline in spec.pipelines.items()}
    if spec.serving.endpoints:
        found["serving"] = "serving"
    found["tracking"] = "tracking"
    if spec.llm.gateway is not None and spec.llm.gateway.providers:
        found["gateway"] = "gateway"
    if spec.llm.feedback.enabled:  # the collector that puts feedback records into Firehose
        found["feedback"] = "feedback"
    # OpenSearch: the master user, mapping workloads to OpenSearch roles; pgvector: the Job that
    # creates the model servers' reader role and generates its password.
    if uses_opensearch(environment) or reads_pgvector(spec):
        found[naming.VECTOR_ADMIN] = naming.VECTOR_ADMIN
    if mirrored_models(environment):  # copies the base models into the model hub
        found[naming.MODEL_HUB] = naming.MODEL_HUB
    if promotion.imports(environment):  # deploy-models: reads the lower environment's champion
        found[naming.MODEL_IMPORT] = naming.MODEL_IMPORT
    return found


def mirrored_models(environment: ProjectEnvironment) -> list[str]:
    return hub_models(environment.spec)


def reads_pgvector(spec: ProjectSpec) -> bool:
    """Whether the project's own model servers (custom endpoints: the RAG API) query a pgvector
    store: they log in as its reader role (project/vector_roles.py)."""
    vector_database = spec.llm.vector_database
    uses = vector_database is not None and vector_database.engine == "pgvector"
    return uses and any(e.runtime == "custom" for e in spec.serving.endpoints)


def uses_opensearch(environment: ProjectEnvironment) -> bool:
    vector_database = environment.spec.llm.vector_database
    return vector_database is not None and vector_database.engine == "opensearch"
