"""The platform stack of one environment: `deploy_platform` registers its landing zone and exports
the outputs project stacks read (mlrig/outputs.py).

Isolation decides the topology:
- `account`: every environment gets its own VPC, cluster and GitHub OIDC provider, deployed
  through a provider that assumes the environment's deployment role in its account;
- `cluster`: one account, a VPC and cluster per environment; the account's single GitHub OIDC
  provider belongs to the shared owner's stack (see below);
- `namespace`: one shared VPC and cluster, owned by the stack of the first environment of the
  highest tier (normally prod), because changing a shared cluster is a prod change and must go
  through prod's approval. The other environments' stacks read it through a StackReference and
  create only their own parts (their deployment role); their projects get namespaces `<env>-…`.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from .. import naming, outputs
from ..bundle.model import ClusterSettings
from ..bundle.resolved import Platform, PlatformEnvironment
from ..providers import aws_provider, kubeconfig, kubernetes_provider
from ..settings import DeploySettings
from .addons import INGRESS_NAMESPACE, MONITORING_NAMESPACE, ClusterAddons, addon_flags
from .ci_identity import CiIdentity, CiTrust, ci_trust
from .cluster import Cluster
from .context import PlatformTarget
from .gpu import GpuAddons
from .karpenter import Karpenter
from .network import Network


def shared_owner(platform: Platform) -> str:
    return naming.shared_cluster_owner({name: env.tier for name, env in platform.environments.items()})


def owns_landing_zone(platform: Platform, environment: PlatformEnvironment) -> bool:
    return platform.isolation != "namespace" or environment.name == shared_owner(platform)


def platform_dependencies(platform: Platform, environment: PlatformEnvironment) -> list[str]:
    """Environments whose platform stack outputs this stack reads (StackReference), to plan or
    deploy first: the shared owner, for every other environment of a `namespace` platform."""
    return [] if owns_landing_zone(platform, environment) else [shared_owner(platform)]


def owns_github_provider(platform: Platform, environment: PlatformEnvironment) -> bool:
    """One GitHub OIDC provider per account: each environment's under `account` isolation, else
    the shared owner's."""
    return platform.isolation == "account" or environment.name == shared_owner(platform)


def platform_tags(platform: Platform, environment: PlatformEnvironment) -> dict[str, str]:
    extra = dict(platform.bundle.spec.tags)
    return naming.default_tags(
        project=platform.name,
        environment=environment.name,
        team="platform",
        cost_center=extra.get("cost-center", "platform"),
        extra=extra,
    )


def deployment_role_arn(platform: Platform, environment: PlatformEnvironment) -> str | None:
    """The role Pulumi (and kubectl) assume in the environment's account, under `account` isolation."""
    if platform.isolation != "account" or not environment.account:
        return None
    return naming.role_arn(environment.account, environment.region, environment.spec.deployment_role)


def _provider(platform: Platform, environment: PlatformEnvironment, *, assume_deployment_role: bool) -> aws.Provider:
    assume = platform.isolation == "account" and assume_deployment_role
    return aws_provider(
        f"{environment.stack}-aws",
        region=environment.region,
        default_tags=platform_tags(platform, environment),
        account=environment.account,
        assume_role=environment.spec.deployment_role if assume else None,
        session_name=f"mlrig-{environment.stack}",
    )


def _owner_reference(platform: Platform) -> pulumi.StackReference:
    owner = shared_owner(platform)
    return pulumi.StackReference(outputs.platform_stack_reference(platform.name, owner))


def _account_github_provider_arn(target: PlatformTarget) -> pulumi.Input[str]:
    """The account's GitHub OIDC provider, created by another stack of the same account."""
    env = target.env
    if env.account:
        return naming.github_oidc_provider_arn(env.account, env.region)
    caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=target.aws_provider))
    return caller.account_id.apply(lambda account: naming.github_oidc_provider_arn(account, env.region))


def _ci_identity(target: PlatformTarget, trust: CiTrust | None, permissions: str) -> CiIdentity | None:
    if trust is None:
        return None
    creates = owns_github_provider(target.platform, target.env)
    return CiIdentity(
        naming.platform_resource(target.platform.name, target.env.name, "ci"),
        target,
        trust,
        create_provider=creates,
        existing_provider_arn=None if creates else _account_github_provider_arn(target),
        permissions=permissions,
    )


def deploy_platform(
    platform: Platform, environment: PlatformEnvironment, settings: DeploySettings | None = None
) -> None:
    """Register the platform stack of `environment`. `settings.assume_deployment_role` decides
    whether, under `account` isolation, the provider assumes the environment's deployment role
    (CI previews run as the read-only preview role and must not)."""
    assume = (settings or DeploySettings()).assume_deployment_role
    target = PlatformTarget(platform, environment, _provider(platform, environment, assume_deployment_role=assume))
    if owns_landing_zone(platform, environment):
        _deploy_landing_zone(target, assume_deployment_role=assume)
    else:
        _deploy_tenant(target)


def _deploy_landing_zone(target: PlatformTarget, *, assume_deployment_role: bool) -> None:
    platform, env = target.platform, target.env
    settings: ClusterSettings = env.spec.cluster or platform.bundle.spec.cluster
    addons = settings.addons
    name = target.cluster_name
    permissions = "assume" if platform.isolation == "account" else "admin"
    ci = _ci_identity(target, ci_trust(platform.bundle.spec.github, platform.name, env.name), permissions)

    network = Network(f"{name}-network", target, env.spec.network, cluster_name=name)
    cluster = Cluster(
        name,
        target,
        settings,
        private_subnet_ids=network.private_subnet_ids,
        admin_role_arns=[ci.role_arn] if ci else [],
        viewer_role_arns=[ci.preview_role_arn] if ci else [],
    )
    k8s_provider = kubernetes_provider(
        f"{name}-k8s",
        kubeconfig=kubeconfig(
            cluster.name,
            cluster.endpoint,
            cluster.certificate_authority,
            env.region,
            deployment_role_arn(platform, env) if assume_deployment_role else None,
        ),
    )
    karpenter = (
        Karpenter(f"{name}-karpenter", target, cluster, k8s_provider=k8s_provider, version=addons.karpenter.version)
        if addons.karpenter.enabled
        else None
    )
    # Add-on pods need nodes: the system nodes, and (with Karpenter) the default NodePool that
    # Karpenter provisions general capacity from; Helm waits for them only 300 s.
    ready: list[pulumi.Resource] = [cluster.system_node_group] + (
        [karpenter.release, karpenter.default_node_pool] if karpenter else []
    )
    cluster_addons = ClusterAddons(
        f"{name}-addons", target, cluster, addons, k8s_provider=k8s_provider, depends_on=ready
    )
    GpuAddons(f"{name}-gpu", addons, k8s_provider=k8s_provider, monitoring=cluster_addons.monitoring, depends_on=ready)

    exports: dict[str, Any] = {
        outputs.CLUSTER_NAME: cluster.name,
        outputs.CLUSTER_ENDPOINT: cluster.endpoint,
        outputs.CLUSTER_CA: cluster.certificate_authority,
        outputs.CLUSTER_VERSION: settings.version,
        outputs.CLUSTER_SECURITY_GROUP_ID: cluster.security_group_id,
        outputs.OIDC_ISSUER_URL: cluster.oidc_issuer_url,
        outputs.VPC_ID: network.vpc_id,
        outputs.VPC_CIDR: network.vpc_cidr,
        outputs.PRIVATE_SUBNET_IDS: network.private_subnet_ids,
        outputs.PUBLIC_SUBNET_IDS: network.public_subnet_ids,
        outputs.DATABASE_SUBNET_GROUP: network.database_subnet_group_name,
        outputs.NODE_ROLE_NAME: karpenter.node_role_name if karpenter else "",
        outputs.NODE_ROLE_ARN: karpenter.node_role_arn if karpenter else "",
        outputs.KARPENTER_DISCOVERY: naming.karpenter_discovery(name),
        outputs.GITHUB_OIDC_PROVIDER_ARN: ci.provider_arn if ci else "",
        outputs.ACCOUNT_ID: env.account or "",
        outputs.REGION: env.region,
        outputs.ENVIRONMENT_NAMESPACE_PREFIX: naming.namespace_prefix(env.name, platform.isolation),
        outputs.ADDONS: addon_flags(addons),
        outputs.MONITORING_NAMESPACE: MONITORING_NAMESPACE if addons.monitoring.enabled else "",
        outputs.INGRESS_NAMESPACE: INGRESS_NAMESPACE,
        outputs.DEPLOYMENT_ROLE_ARN: ci.role_arn if ci else "",
    }
    for key, value in exports.items():
        pulumi.export(key, value)


# Outputs a tenant environment re-exports from the shared owner's stack unchanged.
SHARED_OUTPUTS = tuple(
    key
    for key in outputs.ALL
    if key not in (outputs.ENVIRONMENT_NAMESPACE_PREFIX, outputs.DEPLOYMENT_ROLE_ARN, outputs.GITHUB_OIDC_PROVIDER_ARN)
)


def _deploy_tenant(target: PlatformTarget) -> None:
    """A non-owner environment under `namespace` isolation: the shared cluster is read, not made."""
    platform, env = target.platform, target.env
    owner = _owner_reference(platform)
    ci = _ci_identity(target, ci_trust(platform.bundle.spec.github, platform.name, env.name), "scoped")
    for key in SHARED_OUTPUTS:
        pulumi.export(key, owner.get_output(key))
    pulumi.export(
        outputs.GITHUB_OIDC_PROVIDER_ARN, ci.provider_arn if ci else owner.get_output(outputs.GITHUB_OIDC_PROVIDER_ARN)
    )
    pulumi.export(outputs.ENVIRONMENT_NAMESPACE_PREFIX, naming.namespace_prefix(env.name, platform.isolation))
    pulumi.export(outputs.DEPLOYMENT_ROLE_ARN, ci.role_arn if ci else "")
