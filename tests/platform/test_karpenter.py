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
