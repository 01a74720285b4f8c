"""Karpenter scales GPU pools from zero: controller role via Pod Identity, node role with an
EC2_LINUX access entry, the interruption queue and its rules, the pinned Helm release."""

from __future__ import annotations

import json

from platform_helpers import helm_release, one

from mlrig.platform.karpenter import INTERRUPTION_EVENTS
from mlrig.platform.versions import KARPENTER


def test_the_controller_gets_its_role_through_pod_identity(example_plans):
    plan = example_plans["prod"]
    association = one(plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "karpenter")["inputs"]
    assert (association["namespace"], association["serviceAccount"]) == ("kube-system", "karpenter")
    role = next(r for r in plan.of_type("aws:iam/role:Role") if r["outputs"]["arn"] == association["roleArn"])
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}


def test_karpenter_nodes_join_through_an_ec2_linux_access_entry(example_plans):
    plan = example_plans["prod"]
    entry = one(plan, "aws:eks/accessEntry:AccessEntry", "karpenter-node")["inputs"]
    assert entry["type"] == "EC2_LINUX"
    assert entry["principalArn"] == plan.outputs["nodeRoleArn"]
    assert plan.outputs["nodeRoleName"] == "acme-ml-prod-karpenter-node"


def test_the_controller_may_pass_only_the_node_role_and_read_only_its_queue(example_plans):
    plan = example_plans["prod"]
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller")["inputs"]["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["AllowPassingInstanceRole"]["Resource"] == plan.outputs["nodeRoleArn"]
    queue = one(plan, "aws:sqs/queue:Queue")
    assert statements["AllowInterruptionQueueActions"]["Resource"] == queue["outputs"]["arn"]


def test_interruptions_reach_an_encrypted_queue_through_four_eventbridge_rules(example_plans):
    plan = example_plans["prod"]
    queue = one(plan, "aws:sqs/queue:Queue")
    assert queue["inputs"]["sqsManagedSseEnabled"] is True
    patterns = [json.loads(r["inputs"]["eventPattern"]) for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")]
    assert sorted(p["detail-type"][0] for p in patterns) == sorted(
        e["detail-type"][0] for e in INTERRUPTION_EVENTS.values()
    )
    assert len(patterns) == 4
    targets = plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 4 and {t["inputs"]["arn"] for t in targets} == {queue["outputs"]["arn"]}
    policy = json.loads(one(plan, "aws:sqs/queuePolicy:QueuePolicy")["inputs"]["policy"])
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


def test_the_karpenter_release_is_pinned_and_knows_its_cluster_and_queue(example_plans):
    plan = example_plans["dev"]
    release = helm_release(plan, "karpenter")["inputs"]
    assert release["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert release["version"] == KARPENTER.version
    settings = release["values"]["settings"]
    assert settings == {
        "clusterName": "acme-ml-dev",
        "interruptionQueue": one(plan, "aws:sqs/queue:Queue")["outputs"]["name"],
        # pools with capacity reservations use the `reserved` capacity type
        "featureGates": {"reservedCapacity": True},
    }


def test_a_general_cpu_node_pool_uses_the_node_role_and_discovery_tags(example_plans):
    plan = example_plans["dev"]
    node_class = one(plan, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")["inputs"]["spec"]
    assert node_class["role"] == plan.outputs["nodeRoleName"]
    assert node_class["subnetSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "acme-ml-dev"}}]
    assert node_class["metadataOptions"]["httpTokens"] == "required"
    pool = one(plan, "kubernetes:karpenter.sh/v1:NodePool")["inputs"]["spec"]
    assert pool["template"]["spec"]["nodeClassRef"]["name"] == "default"
    tag = one(plan, "aws:ec2/tag:Tag")["inputs"]
    assert (tag["key"], tag["value"]) == ("karpenter.sh/discovery", "acme-ml-dev")


# --- the controller policy is the upstream reference of the pinned release ------------------------
# Facts from karpenter-provider-aws v1.8.1,
# website/content/en/v1.8/getting-started/getting-started-with-karpenter/cloudformation.yaml
# (KarpenterControllerPolicy): per Sid, its actions, its resources (`{ec2}` =
# arn:<partition>:ec2:<region>, `{account}` = the account) and its condition keys with values
# (`{cluster}`, `{region}` substituted).
UPSTREAM_V1_8_1: dict[str, dict] = {
    "AllowScopedEC2InstanceAccessActions": {
        "Action": {"ec2:RunInstances", "ec2:CreateFleet"},
        "Resource": {
            "{ec2}::image/*",
            "{ec2}::snapshot/*",
            "{ec2}:*:security-group/*",
            "{ec2}:*:subnet/*",
            "{ec2}:*:capacity-reservation/*",
        },
        "Condition": {},
    },
    "AllowScopedEC2LaunchTemplateAccessActions": {
        "Action": {"ec2:RunInstances", "ec2:CreateFleet"},
        "Resource": {"{ec2}:*:launch-template/*"},
        "Condition": {
            "StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
            "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
        },
    },
    "AllowScopedEC2InstanceActionsWithTags": {
        "Action": {"ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"},
        "Resource": {
            "{ec2}:*:fleet/*",
            "{ec2}:*:instance/*",
            "{ec2}:*:volume/*",
            "{ec2}:*:network-interface/*",
            "{ec2}:*:launch-template/*",
            "{ec2}:*:spot-instances-request/*",
            "{ec2}:*:capacity-reservation/*",
        },
        "Condition": {
            "StringEquals": {
                "aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                "aws:RequestTag/eks:eks-cluster-name": "{cluster}",
            },
            "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
        },
    },
    "AllowScopedResourceCreationTagging": {
        "Action": {"ec2:CreateTags"},
        "Resource": {
            "{ec2}:*:fleet/*",
            "{ec2}:*:instance/*",
            "{ec2}:*:volume/*",
            "{ec2}:*:network-interface/*",
            "{ec2}:*:launch-template/*",
            "{ec2}:*:spot-instances-request/*",
        },
        "Condition": {
            "StringEquals": {
                "aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                "aws:RequestTag/eks:eks-cluster-name": "{cluster}",
                "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
            },
            "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
        },
    },
    "AllowScopedResourceTagging": {
        "Action": {"ec2:CreateTags"},
        "Resource": {"{ec2}:*:instance/*"},
        "Condition": {
            "StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
            "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": "{cluster}"},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
        },
    },
    "AllowScopedDeletion": {
        "Action": {"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"},
        "Resource": {"{ec2}:*:instance/*", "{ec2}:*:launch-template/*"},
        "Condition": {
            "StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
            "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
        },
    },
    "AllowRegionalReadActions": {
        "Action": {
            "ec2:DescribeCapacityReservations",
            "ec2:DescribeImages",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceTypeOfferings",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSpotPriceHistory",
            "ec2:DescribeSubnets",
        },
        "Resource": {"*"},
        "Condition": {"StringEquals": {"aws:RequestedRegion": "{region}"}},
    },
    "AllowSSMReadActions": {
        "Action": {"ssm:GetParameter"},
        "Resource": {"arn:aws:ssm:{region}::parameter/aws/service/*"},
        "Condition": {},
    },
    "AllowPricingReadActions": {"Action": {"pricing:GetProducts"}, "Resource": {"*"}, "Condition": {}},
    "AllowInterruptionQueueActions": {
        "Action": {"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"},
        "Resource": {"{queue}"},
        "Condition": {},
    },
    "AllowPassingInstanceRole": {
        "Action": {"iam:PassRole"},
        "Resource": {"{node_role}"},
        "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
    },
    "AllowScopedInstanceProfileCreationActions": {
        "Action": {"iam:CreateInstanceProfile"},
        "Resource": {"arn:aws:iam::{account}:instance-profile/*"},
        "Condition": {
            "StringEquals": {
                "aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                "aws:RequestTag/eks:eks-cluster-name": "{cluster}",
                "aws:RequestTag/topology.kubernetes.io/region": "{region}",
            },
            "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
        },
    },
    "AllowScopedInstanceProfileTagActions": {
        "Action": {"iam:TagInstanceProfile"},
        "Resource": {"arn:aws:iam::{account}:instance-profile/*"},
        "Condition": {
            "StringEquals": {
                "aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                "aws:ResourceTag/topology.kubernetes.io/region": "{region}",
                "aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                "aws:RequestTag/eks:eks-cluster-name": "{cluster}",
                "aws:RequestTag/topology.kubernetes.io/region": "{region}",
            },
            "StringLike": {
                "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
            },
        },
    },
    "AllowScopedInstanceProfileActions": {
        "Action": {"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"},
        "Resource": {"arn:aws:iam::{account}:instance-profile/*"},
        "Condition": {
            "StringEquals": {
                "aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                "aws:ResourceTag/topology.kubernetes.io/region": "{region}",
            },
            "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
        },
    },
    "AllowInstanceProfileReadActions": {
        "Action": {"iam:GetInstanceProfile"},
        "Resource": {"arn:aws:iam::{account}:instance-profile/*"},
        "Condition": {},
    },
    "AllowUnscopedInstanceProfileListAction": {
        "Action": {"iam:ListInstanceProfiles"},
        "Resource": {"*"},
        "Condition": {},
    },
    "AllowAPIServerEndpointDiscovery": {
        "Action": {"eks:DescribeCluster"},
        "Resource": {"arn:aws:eks:{region}:{account}:cluster/{cluster}"},
        "Condition": {},
    },
}


def _as_set(value) -> set[str]:
    return set(value) if isinstance(value, list) else {value}


def _substitute(value, facts: dict[str, str]):
    if isinstance(value, str):
        return value.format(**facts)
    if isinstance(value, list):
        return [_substitute(v, facts) for v in value]
    if isinstance(value, set):
        return {_substitute(v, facts) for v in value}
    return {_substitute(k, facts): _substitute(v, facts) for k, v in value.items()}


def test_the_controller_policy_is_upstreams_v1_8_1_reference_statement_by_statement(example_plans):
    """Nothing missing (iam:ListInstanceProfiles: without it a deleted pool's EC2NodeClass never
    finishes terminating), nothing broader (instance-profile tagging keeps its resource-tag scope)."""
    plan = example_plans["prod"]
    cluster = "acme-ml-prod"
    facts = {
        "ec2": "arn:aws:ec2:us-east-1",
        "region": "us-east-1",
        "account": "333333333333",
        "cluster": cluster,
        "queue": one(plan, "aws:sqs/queue:Queue")["outputs"]["arn"],
        "node_role": plan.outputs["nodeRoleArn"],
    }
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller")["inputs"]["policy"])
    ours = {s["Sid"]: s for s in policy["Statement"]}
    assert set(ours) == set(UPSTREAM_V1_8_1)
    for sid, upstream in UPSTREAM_V1_8_1.items():
        expected = _substitute(upstream, facts)
        statement = ours[sid]
        assert statement["Effect"] == "Allow", sid
        assert _as_set(statement["Action"]) == expected["Action"], sid
        assert _as_set(statement["Resource"]) == expected["Resource"], sid
        assert statement.get("Condition", {}) == expected["Condition"], sid
