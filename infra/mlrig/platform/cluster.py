"""Cluster: the EKS control plane (API access entries, KMS-encrypted secrets, control-plane logs),
its core add-ons with Pod Identity, and the small on-demand node group that runs cluster add-ons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import naming
from ..bundle.model import ClusterSettings
from ..instance_facts import facts_of
from .context import PlatformTarget, managed_policy_arn, pod_identity_trust, service_trust

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
# The system node group carries this taint and label; cluster add-ons tolerate and select them.
SYSTEM_TAINT_KEY = "CriticalAddonsOnly"
SYSTEM_LABEL = {"mlrig.io/node-role": "system"}
SYSTEM_TOLERATIONS: list[dict[str, str]] = [{"key": SYSTEM_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
# Read-only, without Secrets: what previews of pull requests may see of the cluster.
CLUSTER_VIEW_POLICY = "AmazonEKSViewPolicy"
# Core EKS add-ons; the ones that call AWS get a Pod Identity role with their managed policy.
CORE_ADDONS: dict[str, tuple[str, str] | None] = {
    "eks-pod-identity-agent": None,
    "vpc-cni": ("aws-node", "AmazonEKS_CNI_Policy"),
    "kube-proxy": None,
    "coredns": None,
    "aws-ebs-csi-driver": ("ebs-csi-controller-sa", "AmazonEBSCSIDriverPolicy"),
}
# Node networking comes before the nodes (with `bootstrapSelfManagedAddons: false` a node stays
# NotReady until the CNI runs on it); Deployments that need schedulable nodes come after them.
BEFORE_NODES = ("eks-pod-identity-agent", "vpc-cni", "kube-proxy")
# A managed node group boots one AMI type: Graviton instance types need the arm64 image (EKS
# rejects a node group whose instance types do not match its AMI type).
AMI_TYPES = {"amd64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


def system_ami_type(instance_types: Sequence[str]) -> str:
    """The AMI type of the system node group: its instance types' architecture (validation holds
    them to one)."""
    facts = facts_of(instance_types[0])
    return AMI_TYPES[facts.architecture if facts else "amd64"]


# The VPC CNI's network-policy agent enforces NetworkPolicies only when enabled: without it every
# NetworkPolicy (default-deny included) is accepted and ignored.
VPC_CNI_CONFIGURATION: dict[str, Any] = {"enableNetworkPolicy": "true"}
ADDON_CONFIGURATION: dict[str, dict[str, Any]] = {"vpc-cni": VPC_CNI_CONFIGURATION}


def _first_oidc_issuer(identities: Any) -> str:
    """The cluster's OIDC issuer URL, tolerant of the shape mocks give before the cluster exists."""
    try:
        first = identities[0]
        oidcs = first["oidcs"] if isinstance(first, dict) else first.oidcs
        item = oidcs[0]
        return str(item["issuer"] if isinstance(item, dict) else item.issuer)
    except (IndexError, KeyError, TypeError, AttributeError):
        return ""


class Cluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    arn: pulumi.Output[str]
    system_node_group: aws.eks.NodeGroup
    eks: aws.eks.Cluster

    def __init__(
        self,
        name: str,
        target: PlatformTarget,
        settings: ClusterSettings,
        *,
        private_subnet_ids: list[pulumi.Output[str]],
        admin_role_arns: list[pulumi.Input[str]],
        viewer_role_arns: Sequence[pulumi.Input[str]] = (),
    ) -> None:
        super().__init__("mlrig:platform:Cluster", name, None, pulumi.ResourceOptions(provider=target.aws_provider))
        self._target = target
        self._prefix = name
        cluster_name = target.cluster_name

        key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=target.aws_opts(self, stateful=True),
        )
        aws.kms.Alias(
            f"{name}-secrets",
            name=naming.cluster_secrets_key_alias(cluster_name),
            target_key_id=key.key_id,
            opts=target.aws_opts(self),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=naming.cluster_log_group(cluster_name),
            retention_in_days=settings.log_retention_days,
            opts=target.aws_opts(self, stateful=True),
        )
        role = self._role(
            "cluster", naming.cluster_role(cluster_name), service_trust("eks.amazonaws.com"), ["AmazonEKSClusterPolicy"]
        )

        self.eks = aws.eks.Cluster(
            name,
            name=cluster_name,
            version=settings.version,
            role_arn=role.arn,
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            # The add-ons below are managed explicitly, with Pod Identity roles.
            bootstrap_self_managed_addons=False,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=settings.endpoint_public_access,
                public_access_cidrs=settings.public_access_cidrs if settings.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn), resources=["secrets"]
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            # etcd holds every project's objects and secrets: a prod cluster is never deleted or
            # replaced by a change (a new subnet list or secrets key replaces it) or a stray
            # destroy. Protected but not retained: a deliberate destroy must delete it, or its
            # network interfaces would keep the VPC from being deleted.
            opts=pulumi.ResourceOptions.merge(
                target.aws_opts(self, depends_on=[log_group]), pulumi.ResourceOptions(protect=target.protect)
            ),
        )
        cluster = self.eks
        self.name = cluster.name
        self.arn = cluster.arn
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.data
        self.oidc_issuer_url = cluster.identities.apply(_first_oidc_issuer)
        self.security_group_id = cluster.vpc_config.cluster_security_group_id
        aws.ec2.Tag(
            f"{name}-sg-discovery",
            resource_id=self.security_group_id,
            key="karpenter.sh/discovery",
            value=naming.karpenter_discovery(cluster_name),
            opts=target.aws_opts(self),
        )
        for index, principal in enumerate(admin_role_arns):
            self._cluster_access(f"{name}-admin-{index}", principal, CLUSTER_ADMIN_POLICY)
        for index, principal in enumerate(viewer_role_arns):
            self._cluster_access(f"{name}-viewer-{index}", principal, CLUSTER_VIEW_POLICY)

        self.addons: dict[str, aws.eks.Addon] = {}
        self._core_addons(BEFORE_NODES, after=[])
        # With Karpenter, the system nodes are reserved for add-ons and everything else gets
        # Karpenter capacity; without it, they are the only nodes, so they take every pod.
        self.system_node_group = self._system_node_group(
            settings,
            private_subnet_ids,
            dedicated=settings.addons.karpenter.enabled,
            depends_on=[self.addons[a] for a in BEFORE_NODES],
        )
        self._core_addons([a for a in CORE_ADDONS if a not in BEFORE_NODES], after=[self.system_node_group])
        self.coredns = self.addons["coredns"]
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "securityGroupId": self.security_group_id,
            }
        )

    def _role(self, suffix: str, role_name: str, trust: str, managed: list[str]) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{self._prefix}-{suffix}", name=role_name, assume_role_policy=trust, opts=self._target.aws_opts(self)
        )
        for policy in managed:
            aws.iam.RolePolicyAttachment(
                f"{self._prefix}-{suffix}-{policy}",
                role=role.name,
                policy_arn=managed_policy_arn(self._target.partition, policy),
                opts=self._target.aws_opts(self),
            )
        return role

    def _cluster_access(self, name: str, principal_arn: pulumi.Input[str], policy: str) -> None:
        entry = aws.eks.AccessEntry(
            name,
            cluster_name=self.eks.name,
            principal_arn=principal_arn,
            type="STANDARD",
            opts=self._target.aws_opts(self),
        )
        aws.eks.AccessPolicyAssociation(
            name,
            cluster_name=self.eks.name,
            principal_arn=principal_arn,
            policy_arn=f"arn:{self._target.partition}:eks::aws:cluster-access-policy/{policy}",
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=self._target.aws_opts(self, depends_on=[entry]),
        )

    def _system_node_group(
        self,
        settings: ClusterSettings,
        subnet_ids: list[pulumi.Output[str]],
        *,
        dedicated: bool,
        depends_on: Sequence[pulumi.Resource],
    ) -> aws.eks.NodeGroup:
        group = settings.system_node_group
        cluster_name = self._target.cluster_name
        role = self._role(
            "system-node",
            naming.system_node_role(cluster_name),
            service_trust("ec2.amazonaws.com"),
            ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"],
        )
        return aws.eks.NodeGroup(
            f"{self._prefix}-system",
            cluster_name=self.eks.name,
            node_group_name_prefix=naming.system_node_group_prefix(cluster_name),
            node_role_arn=role.arn,
            subnet_ids=subnet_ids,
            ami_type=system_ami_type(group.instance_types),
            capacity_type="ON_DEMAND",
            instance_types=list(group.instance_types),
            disk_size=group.disk_gib,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min, max_size=group.max, desired_size=group.min
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels=SYSTEM_LABEL,
            taints=[aws.eks.NodeGroupTaintArgs(key=SYSTEM_TAINT_KEY, value="true", effect="NO_SCHEDULE")]
            if dedicated
            else [],
            opts=self._target.aws_opts(self, depends_on=depends_on),
        )

    def _core_addons(self, addons: Sequence[str], *, after: Sequence[pulumi.Resource]) -> None:
        """EKS add-ons `addons`, after `after`; the ones that call AWS get a Pod Identity role, and
        those wait for the Pod Identity agent, which must run before any of them."""
        for addon in addons:
            identity = CORE_ADDONS[addon]
            associations = None
            depends: list[pulumi.Resource] = list(after)
            if identity is not None:
                service_account, policy = identity
                role = self._role(
                    addon, naming.addon_role(self._target.cluster_name, addon), pod_identity_trust(), [policy]
                )
                associations = [
                    aws.eks.AddonPodIdentityAssociationArgs(role_arn=role.arn, service_account=service_account)
                ]
                depends.append(self.addons["eks-pod-identity-agent"])
            configuration = ADDON_CONFIGURATION.get(addon)
            self.addons[addon] = aws.eks.Addon(
                f"{self._prefix}-{addon}",
                cluster_name=self.eks.name,
                addon_name=addon,
                pod_identity_associations=associations,
                configuration_values=json.dumps(configuration) if configuration else None,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=self._target.aws_opts(self, depends_on=depends),
            )
