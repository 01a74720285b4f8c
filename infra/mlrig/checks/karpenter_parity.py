"""Upstream parity: Karpenter's controller and node roles grant what the pinned Karpenter needs.

The reference is the policy Karpenter publishes for its version: aws/karpenter-provider-aws v1.8.1
(commit 1ad0d78f8fa452cf27f4cf607377dd092489e2a0),
`website/content/en/v1.8/getting-started/getting-started-with-karpenter/cloudformation.yaml`,
resources `KarpenterControllerPolicy` and `KarpenterNodeRole`. Its statements are written below as
facts: the actions of each Sid and the condition keys that scope them (cluster names replaced by
`*`). A missing action is a feature that fails at run time (e.g. without `iam:ListInstanceProfiles`
the EC2NodeClass finalizer never completes, so deleting a pool hangs); a granted action scoped by
fewer condition keys than upstream's is broader than upstream.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass

from . import Violation, check
from .graph import Resource, StackGraph, as_list, json_value

KARPENTER_VERSION = "v1.8.1"
SOURCE = (
    "aws/karpenter-provider-aws v1.8.1 website/content/en/v1.8/getting-started/"
    "getting-started-with-karpenter/cloudformation.yaml"
)


@dataclass(frozen=True)
class UpstreamStatement:
    sid: str
    actions: tuple[str, ...]
    condition_keys: frozenset[str]


UPSTREAM_CONTROLLER: tuple[UpstreamStatement, ...] = (
    UpstreamStatement("AllowScopedEC2InstanceAccessActions", ("ec2:RunInstances", "ec2:CreateFleet"), frozenset()),
    UpstreamStatement(
        "AllowScopedEC2LaunchTemplateAccessActions",
        ("ec2:RunInstances", "ec2:CreateFleet"),
        frozenset({"aws:ResourceTag/kubernetes.io/cluster/*", "aws:ResourceTag/karpenter.sh/nodepool"}),
    ),
    UpstreamStatement(
        "AllowScopedEC2InstanceActionsWithTags",
        ("ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"),
        frozenset(
            {
                "aws:RequestTag/kubernetes.io/cluster/*",
                "aws:RequestTag/eks:eks-cluster-name",
                "aws:RequestTag/karpenter.sh/nodepool",
            }
        ),
    ),
    UpstreamStatement(
        "AllowScopedResourceCreationTagging",
        ("ec2:CreateTags",),
        frozenset(
            {
                "aws:RequestTag/kubernetes.io/cluster/*",
                "aws:RequestTag/eks:eks-cluster-name",
                "ec2:CreateAction",
                "aws:RequestTag/karpenter.sh/nodepool",
            }
        ),
    ),
    UpstreamStatement(
        "AllowScopedResourceTagging",
        ("ec2:CreateTags",),
        frozenset(
            {
                "aws:ResourceTag/kubernetes.io/cluster/*",
                "aws:ResourceTag/karpenter.sh/nodepool",
                "aws:RequestTag/eks:eks-cluster-name",
                "aws:TagKeys",
            }
        ),
    ),
    UpstreamStatement(
        "AllowScopedDeletion",
        ("ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"),
        frozenset({"aws:ResourceTag/kubernetes.io/cluster/*", "aws:ResourceTag/karpenter.sh/nodepool"}),
    ),
    UpstreamStatement(
        "AllowRegionalReadActions",
        (
            "ec2:DescribeCapacityReservations",
            "ec2:DescribeImages",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceTypeOfferings",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSpotPriceHistory",
            "ec2:DescribeSubnets",
        ),
        frozenset({"aws:RequestedRegion"}),
    ),
    UpstreamStatement("AllowSSMReadActions", ("ssm:GetParameter",), frozenset()),
    UpstreamStatement("AllowPricingReadActions", ("pricing:GetProducts",), frozenset()),
    UpstreamStatement(
        "AllowInterruptionQueueActions", ("sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"), frozenset()
    ),
    UpstreamStatement("AllowPassingInstanceRole", ("iam:PassRole",), frozenset({"iam:PassedToService"})),
    UpstreamStatement(
        "AllowScopedInstanceProfileCreationActions",
        ("iam:CreateInstanceProfile",),
        frozenset(
            {
                "aws:RequestTag/kubernetes.io/cluster/*",
                "aws:RequestTag/eks:eks-cluster-name",
                "aws:RequestTag/topology.kubernetes.io/region",
                "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass",
            }
        ),
    ),
    UpstreamStatement(
        "AllowScopedInstanceProfileTagActions",
        ("iam:TagInstanceProfile",),
        frozenset(
            {
                "aws:ResourceTag/kubernetes.io/cluster/*",
                "aws:ResourceTag/topology.kubernetes.io/region",
                "aws:RequestTag/kubernetes.io/cluster/*",
                "aws:RequestTag/eks:eks-cluster-name",
                "aws:RequestTag/topology.kubernetes.io/region",
                "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass",
                "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass",
            }
        ),
    ),
    UpstreamStatement(
        "AllowScopedInstanceProfileActions",
        ("iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"),
        frozenset(
            {
                "aws:ResourceTag/kubernetes.io/cluster/*",
                "aws:ResourceTag/topology.kubernetes.io/region",
                "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass",
            }
        ),
    ),
    UpstreamStatement("AllowInstanceProfileReadActions", ("iam:GetInstanceProfile",), frozenset()),
    UpstreamStatement("AllowUnscopedInstanceProfileListAction", ("iam:ListInstanceProfiles",), frozenset()),
    UpstreamStatement("AllowAPIServerEndpointDiscovery", ("eks:DescribeCluster",), frozenset()),
)
# KarpenterNodeRole's managed policies. The CNI policy is not needed on the node when the vpc-cni
# add-on gets its own credentials (Pod Identity or IRSA for `aws-node`).
UPSTREAM_NODE_POLICIES = (
    "AmazonEKS_CNI_Policy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
CONTROLLER_SERVICE_ACCOUNT = "karpenter"


def normalise_key(key: str) -> str:
    return re.sub(r"kubernetes\.io/cluster/[^/]+$", "kubernetes.io/cluster/*", key)


def condition_keys(statement: dict) -> frozenset[str]:
    keys: set[str] = set()
    for operator in (statement.get("Condition") or {}).values():
        if isinstance(operator, dict):
            keys.update(normalise_key(k) for k in operator)
    return frozenset(keys)


def grants(statement: dict, action: str) -> bool:
    return statement.get("Effect") == "Allow" and any(
        fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in as_list(statement.get("Action"))
    )


def controller_policies(graph: StackGraph) -> list[Resource]:
    """Inline policies of the role Karpenter's service account uses (Pod Identity), else of any role
    whose policy lets it launch fleets."""
    roles = {
        str(a.inputs.get("roleArn"))
        for a in graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a.inputs.get("serviceAccount") == CONTROLLER_SERVICE_ACCOUNT
    }
    names = {
        str(r.inputs.get("name"))
        for r in graph.of_type("aws:iam/role:Role")
        if r.get("arn") in roles and r.inputs.get("name")
    }
    policies = [p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if str(p.inputs.get("role")) in names]
    if policies:
        return policies
    return [
        p
        for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if any(grants(s, "ec2:CreateFleet") for s in _statements(p))
    ]


def _statements(policy: Resource) -> list[dict]:
    document = json_value(policy.inputs.get("policy"))
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


@check(
    "MLRIG-UPS-001",
    "Karpenter's roles grant every action upstream's policy for the pinned version grants",
    "An action Karpenter calls but may not use fails at run time: without iam:ListInstanceProfiles the "
    "EC2NodeClass finalizer never completes and deleting a pool or the stack hangs.",
    applies_to=("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"),
)
def karpenter_grants_upstream_actions(graph: StackGraph) -> Iterator[Violation]:
    for policy in controller_policies(graph):
        statements = _statements(policy)
        if not statements:
            continue
        for upstream in UPSTREAM_CONTROLLER:
            missing = [a for a in upstream.actions if not any(grants(s, a) for s in statements)]
            if missing:
                yield Violation(
                    policy,
                    f"Karpenter's controller policy lacks {', '.join(missing)} (upstream Sid {upstream.sid}, "
                    f"Karpenter {KARPENTER_VERSION})",
                    f"add the statement {upstream.sid} as in {SOURCE}",
                )
    yield from _node_role_parity(graph)


def _node_role_parity(graph: StackGraph) -> Iterator[Violation]:
    node_roles = {str(c.spec.get("role")) for c in graph.kubernetes("EC2NodeClass") if c.spec.get("role")}
    cni_has_own_identity = any(
        a.inputs.get("addonName") == "vpc-cni" and a.inputs.get("podIdentityAssociations")
        for a in graph.of_type("aws:eks/addon:Addon")
    )
    wanted = [p for p in UPSTREAM_NODE_POLICIES if not (p == "AmazonEKS_CNI_Policy" and cni_has_own_identity)]
    for role in graph.of_type("aws:iam/role:Role"):
        if role.inputs.get("name") not in node_roles:
            continue
        attached = {
            str(a.inputs.get("policyArn") or "").rsplit("/", 1)[-1]
            for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a.inputs.get("role") == role.inputs.get("name")
        }
        missing = [p for p in wanted if p not in attached]
        if missing:
            yield Violation(
                role,
                f"Karpenter's node role {role.inputs.get('name')} lacks the managed policies {', '.join(missing)} "
                f"(upstream KarpenterNodeRole, Karpenter {KARPENTER_VERSION})",
                "attach them to the node role",
            )


@check(
    "MLRIG-UPS-002",
    "Karpenter's controller policy is no broader than upstream's",
    "A permission upstream scopes by cluster and node-class tags but mlrig grants unscoped lets the "
    "controller (or anything that assumes its role) act on other clusters' instances and profiles.",
    enforcement="advisory",
    applies_to=("aws:iam/rolePolicy:RolePolicy",),
)
def karpenter_no_broader_than_upstream(graph: StackGraph) -> Iterator[Violation]:
    by_action: dict[str, list[UpstreamStatement]] = {}
    for upstream in UPSTREAM_CONTROLLER:
        for action in upstream.actions:
            by_action.setdefault(action.lower(), []).append(upstream)
    for policy in controller_policies(graph):
        for statement in _statements(policy):
            if statement.get("Effect") != "Allow":
                continue
            keys = condition_keys(statement)
            for action in as_list(statement.get("Action")):
                references = by_action.get(str(action).lower())
                if references is None:
                    yield Violation(
                        policy,
                        f"statement {statement.get('Sid') or '(no Sid)'} grants {action}, which upstream's policy "
                        f"for Karpenter {KARPENTER_VERSION} does not",
                        "remove it, or say in a comment why Karpenter needs it",
                    )
                    continue
                if not any(reference.condition_keys <= keys for reference in references):
                    loosest = min(references, key=lambda r: len(r.condition_keys - keys))
                    lacking = sorted(loosest.condition_keys - keys)
                    yield Violation(
                        policy,
                        f"statement {statement.get('Sid') or '(no Sid)'} grants {action} without the condition "
                        f"keys upstream's {loosest.sid} requires: {', '.join(lacking)}",
                        f"scope it as {SOURCE} does",
                    )
