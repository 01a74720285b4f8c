"""Karpenter: node autoscaling that scales GPU pools up from zero.

Controller role through Pod Identity, a node role registered with an `EC2_LINUX` access entry
(Karpenter creates instance profiles itself), the SQS interruption queue with its EventBridge
rules, the Helm release, and a default CPU NodePool for general workloads. Project GPU pools are
NodePools that project stacks add against the same EC2NodeClass discovery tag and node role.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import naming
from .cluster import SYSTEM_LABEL, SYSTEM_TOLERATIONS, Cluster
from .context import PlatformTarget, managed_policy_arn, pod_identity_trust, policy_document, service_trust
from .versions import KARPENTER, pinned

NAMESPACE = naming.KUBE_SYSTEM_NAMESPACE
SERVICE_ACCOUNT = "karpenter"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore")
# EventBridge events Karpenter handles before AWS takes a node away.
INTERRUPTION_EVENTS: dict[str, dict[str, list[str]]] = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
DEFAULT_NODE_CLASS = "default"
GENERAL_NODE_POOL = "general"


# What Karpenter creates when it launches a node (scoped by request and resource tags).
LAUNCHED_RESOURCE_KINDS = (
    "fleet",
    "instance",
    "volume",
    "network-interface",
    "launch-template",
    "spot-instances-request",
)
# The controller policy follows the upstream reference of the pinned release statement by
# statement (karpenter-provider-aws v1.8.1, website/content/en/v1.8/getting-started/
# getting-started-with-karpenter/cloudformation.yaml); tests/platform/test_karpenter.py holds
# that reference as facts.
PASSED_TO_EC2 = ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]


def controller_statements(
    *,
    partition: str,
    region: str,
    account: str,
    cluster: str,
    cluster_arn: pulumi.Input[str],
    queue_arn: pulumi.Input[str],
    node_role_arn: pulumi.Input[str],
) -> list[dict[str, Any]]:
    """Karpenter's controller policy, scoped to this cluster's tags, region and queue."""
    ec2 = f"arn:{partition}:ec2:{region}"
    cluster_tag = f"kubernetes.io/cluster/{cluster}"
    owned = {f"aws:RequestTag/{cluster_tag}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster}
    owned_resource = {f"aws:ResourceTag/{cluster_tag}": "owned"}
    profile = f"arn:{partition}:iam::{account}:instance-profile/*"
    profile_in_region = {**owned_resource, "aws:ResourceTag/topology.kubernetes.io/region": region}
    return [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
            ],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": f"{ec2}:*:launch-template/*",
            "Condition": {"StringEquals": owned_resource, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Resource": [f"{ec2}:*:{kind}/*" for kind in (*LAUNCHED_RESOURCE_KINDS, "capacity-reservation")],
            "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": [f"{ec2}:*:{kind}/*" for kind in LAUNCHED_RESOURCE_KINDS],
            "Condition": {
                "StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:*:instance/*",
            "Condition": {
                "StringEquals": owned_resource,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Condition": {"StringEquals": owned_resource, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AllowSSMReadActions",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            # AWS public parameters have no account: the account segment is empty.
            "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
        },
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            "Resource": queue_arn,
        },
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": node_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": PASSED_TO_EC2}},
        },
        {
            "Sid": "AllowScopedInstanceProfileCreationActions",
            "Effect": "Allow",
            "Action": ["iam:CreateInstanceProfile"],
            "Resource": profile,
            "Condition": {
                "StringEquals": {**owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            # Tagging only profiles this cluster already owns, with this cluster's tags.
            "Sid": "AllowScopedInstanceProfileTagActions",
            "Effect": "Allow",
            "Action": ["iam:TagInstanceProfile"],
            "Resource": profile,
            "Condition": {
                "StringEquals": {**profile_in_region, **owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileActions",
            "Effect": "Allow",
            "Action": [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Resource": profile,
            "Condition": {
                "StringEquals": profile_in_region,
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "AllowInstanceProfileReadActions",
            "Effect": "Allow",
            "Action": "iam:GetInstanceProfile",
            "Resource": profile,
        },
        {
            # The EC2NodeClass finalizer and instance-profile garbage collection list profiles:
            # without it, deleting a pool (or the stack) leaves its EC2NodeClass terminating forever.
            "Sid": "AllowUnscopedInstanceProfileListAction",
            "Effect": "Allow",
            "Action": "iam:ListInstanceProfiles",
            "Resource": "*",
        },
        {
            "Sid": "AllowAPIServerEndpointDiscovery",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": cluster_arn,
        },
    ]


def queue_policy_statements(queue_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "EventBridgeDeliversInterruptions",
            "Effect": "Allow",
            "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        },
        {
            "Sid": "DenyHTTP",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]


class Karpenter(pulumi.ComponentResource):
    node_role_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    release: k8s.helm.v3.Release
    default_node_pool: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        target: PlatformTarget,
        cluster: Cluster,
        *,
        k8s_provider: k8s.Provider,
        version: str | None,
    ) -> None:
        super().__init__("mlrig:platform:Karpenter", name, None, pulumi.ResourceOptions(provider=target.aws_provider))
        self._target = target
        self._prefix = name
        cluster_name = target.cluster_name
        partition = target.partition

        node_role = aws.iam.Role(
            f"{name}-node",
            name=naming.karpenter_node_role(cluster_name),
            assume_role_policy=service_trust("ec2.amazonaws.com"),
            opts=target.aws_opts(self),
        )
        for policy in NODE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=node_role.name,
                policy_arn=managed_policy_arn(partition, policy),
                opts=target.aws_opts(self),
            )
        aws.eks.AccessEntry(
            f"{name}-node",
            cluster_name=cluster.name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            opts=target.aws_opts(self),
        )
        self.node_role_name = node_role.name
        self.node_role_arn = node_role.arn

        queue = self._interruption_queue(cluster_name)
        controller = aws.iam.Role(
            f"{name}-controller",
            name=naming.karpenter_controller_role(cluster_name),
            assume_role_policy=pod_identity_trust(),
            opts=target.aws_opts(self),
        )
        aws.iam.RolePolicy(
            f"{name}-controller",
            role=controller.id,
            policy=policy_document(
                controller_statements(
                    partition=partition,
                    region=target.env.region,
                    account=target.env.account or "*",
                    cluster=cluster_name,
                    cluster_arn=cluster.arn,
                    queue_arn=queue.arn,
                    node_role_arn=node_role.arn,
                )
            ),
            opts=target.aws_opts(self),
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-controller",
            cluster_name=cluster.name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=controller.arn,
            opts=target.aws_opts(self),
        )
        chart = pinned(KARPENTER, version)
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="karpenter",
            chart=chart.chart,
            version=chart.version,
            namespace=NAMESPACE,
            values={
                "settings": {
                    "clusterName": cluster_name,
                    "interruptionQueue": queue.name,
                    # Pools with `reservations` use the `reserved` capacity type and their
                    # EC2NodeClass's capacityReservationSelectorTerms: beta in 1.8 and on by
                    # default, set here so an older `version` override does not silently drop it.
                    "featureGates": {"reservedCapacity": True},
                },
                "serviceAccount": {"name": SERVICE_ACCOUNT},
                "replicas": 2,
                "nodeSelector": SYSTEM_LABEL,
                "tolerations": SYSTEM_TOLERATIONS,
            },
            opts=pulumi.ResourceOptions(
                # Its pods resolve the API endpoint and AWS APIs through cluster DNS.
                parent=self,
                provider=k8s_provider,
                depends_on=[association, cluster.system_node_group, cluster.coredns],
            ),
        )
        self.default_node_pool = self._default_node_pool(cluster_name, node_role.name, k8s_provider)
        self.register_outputs(
            {"nodeRoleName": self.node_role_name, "nodeRoleArn": self.node_role_arn, "queue": queue.name}
        )

    def _interruption_queue(self, cluster_name: str) -> aws.sqs.Queue:
        target = self._target
        queue = aws.sqs.Queue(
            f"{self._prefix}-interruptions",
            name=naming.karpenter_interruption_queue(cluster_name),
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            opts=target.aws_opts(self),
        )
        aws.sqs.QueuePolicy(
            f"{self._prefix}-interruptions",
            queue_url=queue.url,
            policy=policy_document(queue_policy_statements(queue.arn)),
            opts=target.aws_opts(self),
        )
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{self._prefix}-{event}",
                name=naming.karpenter_rule(cluster_name, event),
                event_pattern=json.dumps(pattern),
                opts=target.aws_opts(self),
            )
            aws.cloudwatch.EventTarget(
                f"{self._prefix}-{event}",
                rule=rule.name,
                arn=queue.arn,
                target_id="karpenter-interruption-queue",
                opts=target.aws_opts(self),
            )
        return queue

    def _default_node_pool(
        self, cluster_name: str, node_role_name: pulumi.Output[str], provider: k8s.Provider
    ) -> k8s.apiextensions.CustomResource:
        """General-purpose CPU capacity (spot first) for add-ons' workloads and CPU pipelines."""
        opts = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[self.release])
        discovery = [{"tags": {"karpenter.sh/discovery": naming.karpenter_discovery(cluster_name)}}]
        k8s.apiextensions.CustomResource(
            f"{self._prefix}-node-class",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata={"name": DEFAULT_NODE_CLASS},
            spec={
                "role": node_role_name,
                "amiSelectorTerms": [{"alias": "al2023@latest"}],
                "subnetSelectorTerms": discovery,
                "securityGroupSelectorTerms": discovery,
                # IMDSv2 only, one hop: pods cannot borrow the node's credentials.
                "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1, "httpEndpoint": "enabled"},
                "blockDeviceMappings": [
                    {"deviceName": "/dev/xvda", "ebs": {"volumeSize": "100Gi", "volumeType": "gp3", "encrypted": True}}
                ],
            },
            opts=opts,
        )
        return k8s.apiextensions.CustomResource(
            f"{self._prefix}-general",
            api_version="karpenter.sh/v1",
            kind="NodePool",
            metadata={"name": GENERAL_NODE_POOL},
            spec={
                "template": {
                    "spec": {
                        "nodeClassRef": {
                            "group": "karpenter.k8s.aws",
                            "kind": "EC2NodeClass",
                            "name": DEFAULT_NODE_CLASS,
                        },
                        "requirements": [
                            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]},
                            {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
                        ],
                        "expireAfter": "720h",
                    }
                },
                "limits": {"cpu": "1000"},
                "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
            },
            opts=opts,
        )
