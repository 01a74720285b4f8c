"""The program of one project stack (`<project>.<env>`): the reference architecture of one team in
one environment, on top of the platform environment it reads through a StackReference."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from .. import naming, outputs
from ..bundle.resolved import Project, ProjectEnvironment
from ..providers import aws_provider, kubeconfig, kubernetes_provider
from ..settings import DeploySettings
from .alarms import Alarms
from .context import PlatformRef, ProjectContext, project_names
from .github_repo import provision_project_repository
from .handoff import AwsHandoff, Prerequisites
from .identity import AccessPolicies, Identity
from .kubernetes_side import build_kubernetes_side
from .llm import LlmServices
from .registries import Registries
from .release_records import read_release_records
from .storage import Storage
from .tracking import TrackingStore

PROJECT_COMPONENT = "mlrig:project:Project"


class ProjectStack(pulumi.ComponentResource):
    """Root of a project stack: every resource of the stack is below it."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(PROJECT_COMPONENT, name, None, opts)


def stack_tags(project: Project, environment: ProjectEnvironment) -> dict[str, str]:
    metadata = project.bundle.metadata
    extra = {**project.platform.bundle.spec.tags, **environment.spec.tags}
    return naming.default_tags(
        project=project.name,
        environment=environment.name,
        team=metadata.team or project.name,
        cost_center=metadata.cost_center or "unassigned",
        extra=extra,
    )


def build_aws_provider(
    project: Project, environment: ProjectEnvironment, *, assume_deployment_role: bool = True
) -> aws.Provider:
    platform_env = environment.platform_environment
    account_isolation = project.platform.isolation == "account" and assume_deployment_role
    return aws_provider(
        f"{environment.stack}-aws",
        region=platform_env.region,
        default_tags=stack_tags(project, environment),
        account=platform_env.account,
        assume_role=platform_env.spec.deployment_role if account_isolation else None,
        session_name=f"mlrig-{environment.stack}",
    )


def caller_of(provider: aws.Provider) -> aws.GetCallerIdentityResult:
    """The credentials Pulumi runs with in this environment."""
    return aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider))


def deployment_role_arn(environment: ProjectEnvironment, account: str) -> str:
    """The role Pulumi assumes in the environment's account under `account` isolation."""
    platform_env = environment.platform_environment
    return naming.role_arn(account, platform_env.region, platform_env.spec.deployment_role)


def administrators_of(
    project: Project,
    environment: ProjectEnvironment,
    platform: PlatformRef,
    account: str,
    caller_arn: str,
    *,
    caller_applies: bool,
) -> pulumi.Input[list[str]]:
    """Who administers the project key: whoever runs Pulumi for this environment, so that KMS's
    lockout check passes on CreateKey and PutKeyPolicy. Under `account` isolation every apply runs
    as the environment's deployment role. Otherwise CI applies as the platform's deployment role,
    and a person applying with their own credentials (`caller_applies`) is added beside it;
    read-only previews (`caller_applies` false) never change the list."""
    if project.platform.isolation == "account":
        return [deployment_role_arn(environment, account)]
    caller = naming.iam_principal_of(caller_arn)
    if platform.deployment_role_arn is None:
        return [caller]

    def chosen(deployment_role: str | None) -> list[str]:
        found = {deployment_role} if deployment_role else set()
        if caller_applies or not found:
            found.add(caller)
        return sorted(found)

    return platform.deployment_role_arn.apply(chosen)


def deploy_project(project: Project, environment: ProjectEnvironment, settings: DeploySettings | None = None) -> None:
    """Register the project stack of `environment`. `settings` come from the entry point: the image
    tag CI pushed, and whether to assume the deployment role (CI previews run read-only and don't)."""
    settings = settings or DeploySettings()
    platform_env = environment.platform_environment
    provider = build_aws_provider(project, environment, assume_deployment_role=settings.assume_deployment_role)
    caller = caller_of(provider)
    account = platform_env.account or caller.account_id  # no account named: the caller's
    names = project_names(project, environment, default_account=account)
    reference = pulumi.StackReference(outputs.platform_stack_reference(project.platform.name, environment.name))
    platform = PlatformRef.from_stack_reference(reference)
    # Under `account` isolation `aws eks get-token` must act as the environment's deployment role.
    assume = project.platform.isolation == "account" and settings.assume_deployment_role
    token_role = deployment_role_arn(environment, account) if assume else None
    k8s = kubernetes_provider(
        f"{environment.stack}-k8s",
        kubeconfig=kubeconfig(
            platform.cluster_name,
            platform.cluster_endpoint,
            platform.cluster_ca,
            platform_env.region,
            role_arn=token_role,
        ),
    )
    root = ProjectStack(environment.stack)
    ctx = ProjectContext(
        project=project, env=environment, names=names, platform=platform, aws_provider=provider, k8s_provider=k8s
    )
    component = pulumi.ResourceOptions(parent=root)

    identity = Identity("identity", ctx, opts=component)
    administrators = administrators_of(
        project, environment, platform, account, caller.arn, caller_applies=settings.assume_deployment_role
    )
    storage = Storage("storage", ctx, administrators, identity.roles, opts=component)
    access = AccessPolicies("access", ctx, identity, storage.key.arn, opts=component)
    registries = Registries("registries", ctx, identity, storage.key.arn, opts=component)
    tracking = TrackingStore("tracking", ctx, storage.key.arn, opts=component)
    llm = LlmServices("llm", ctx, identity, storage, opts=component)
    alarms = Alarms("alarms", ctx, storage.key.arn, tracking, llm, opts=component)

    handoff = AwsHandoff(
        key_arn=storage.key.arn,
        tracking_database=tracking.connection,
        vector_database=llm.vector_connection,
        vector_search_endpoint=llm.opensearch.endpoint if llm.opensearch is not None else None,
        access_roles=[*identity.access_roles, *access.access_role_policies],
        prerequisites=pod_prerequisites(
            ctx, identity, access, [storage, tracking, llm, *alarms.route_secrets.values()], registries
        ),
    )
    records = read_release_records(ctx)
    build_kubernetes_side(ctx, root, handoff, image_tag=settings.image_tag, records=records)
    # The GitHub side: this environment's GitHub environment and variables (staging/prod tiers):
    # the CI deployer's role ARN and the repositories.
    ci_side = [identity.ci_deployer, access.deploy_policy, registries]
    provision_project_repository(ctx, opts=pulumi.ResourceOptions(parent=root, depends_on=ci_side))
    root.register_outputs({})
    export_outputs(ctx, identity, storage, registries, tracking, llm, alarms)


def pod_prerequisites(
    ctx: ProjectContext,
    identity: Identity,
    access: AccessPolicies,
    shared: Sequence[pulumi.Resource],
    registries: Registries,
) -> Prerequisites:
    """What the project's pods need in AWS before they start. `shared` are the components whose
    size does not grow with the project (the key and buckets, the databases, the LLM services, the
    alert routes' secrets); each workload needs its own identity besides, never the other
    workloads', and pulls from the repository of its own registry, never the others' (up to 50)."""
    return Prerequisites(
        shared=tuple(shared),
        by_workload={
            workload: (*identity.workload_dependencies(workload), *access.workload_dependencies(workload))
            for workload in ctx.workloads()
        },
        by_registry=dict(registries.pulled_from),
    )


def export_outputs(
    ctx: ProjectContext,
    identity: Identity,
    storage: Storage,
    registries: Registries,
    tracking: TrackingStore,
    llm: LlmServices,
    alarms: Alarms,
) -> None:
    names = ctx.names
    pulumi.export("namespace", names.namespace)
    pulumi.export("accountId", names.account)
    pulumi.export("kmsKeyArn", storage.key.arn)
    pulumi.export("buckets", {c: b.bucket for c, b in storage.buckets.items()})
    pulumi.export("glueDatabase", storage.glue_database.name)
    pulumi.export("personaRoleArns", {p: r.arn for p, r in identity.personas.items()})
    pulumi.export("workloadRoleArns", {w: r.arn for w, r in identity.workloads.items()})
    pulumi.export("ciDeployerRoleArn", identity.ci_deployer.arn)
    pulumi.export("repositoryUrls", {r: repo.repository_url for r, repo in registries.repositories.items()})
    pulumi.export("trackingArtifactRoot", f"s3://{names.bucket('artifacts')}/mlflow/")
    # The RDS-managed master secret (username, password), by ARN.
    pulumi.export("trackingDatabaseSecret", tracking.connection.master_secret_arn)
    pulumi.export("trackingDatabaseEndpoint", tracking.database.address)
    if llm.vector_connection is not None:
        pulumi.export("vectorDatabaseSecret", llm.vector_connection.master_secret_arn)
    if llm.opensearch is not None:
        pulumi.export("vectorDatabaseEndpoint", llm.opensearch.endpoint)
    if llm.gateway_secrets:
        pulumi.export("gatewaySecrets", {p: s.name for p, s in llm.gateway_secrets.items()})
    if llm.feedback_stream is not None:
        pulumi.export("feedbackStream", llm.feedback_stream.name)
    pulumi.export("alertTopicArn", alarms.topic.arn)
