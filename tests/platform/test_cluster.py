"""The EKS cluster: API access entries, KMS envelope encryption, control-plane logs, Pod Identity
core add-ons, the system node group — and prod's stateful parts protected."""

from __future__ import annotations

import json

from platform_helpers import helm_release, one

from mlrig.platform.cluster import CONTROL_PLANE_LOGS

CLUSTER = "aws:eks/cluster:Cluster"


def test_the_cluster_authenticates_through_access_entries_at_the_bundles_version(example_plans, minimal_plan):
    cluster = one(example_plans["prod"], CLUSTER)["inputs"]
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert cluster["version"] == "1.34"
    assert one(minimal_plan, CLUSTER)["inputs"]["version"] == "1.33"


def test_kubernetes_secrets_are_envelope_encrypted_with_a_rotating_key(example_plans):
    plan = example_plans["prod"]
    cluster = one(plan, CLUSTER)["inputs"]
    key = one(plan, "aws:kms/key:Key")
    assert cluster["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster["encryptionConfig"]["provider"]["keyArn"] == key["outputs"]["arn"]
    assert key["inputs"]["enableKeyRotation"] is True


def test_every_control_plane_log_goes_to_a_log_group_with_retention(example_plans):
    plan = example_plans["dev"]
    cluster = one(plan, CLUSTER)
    assert (
        sorted(cluster["inputs"]["enabledClusterLogTypes"]) == sorted(CONTROL_PLANE_LOGS)
        and len(CONTROL_PLANE_LOGS) == 5
    )
    group = one(plan, "aws:cloudwatch/logGroup:LogGroup", "control-plane")
    assert group["inputs"]["name"] == "/aws/eks/acme-ml-dev/cluster"
    assert group["inputs"]["retentionInDays"] == 90
    assert group["urn"] in cluster["options"]["dependsOn"], "the group exists before EKS would create its own"


def test_core_add_ons_are_installed_and_the_ones_calling_aws_use_pod_identity(example_plans):
    plan = example_plans["dev"]
    addons = {a["inputs"]["addonName"]: a["inputs"] for a in plan.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    roles = {r["outputs"]["arn"]: r for r in plan.of_type("aws:iam/role:Role")}
    for addon, account in (("vpc-cni", "aws-node"), ("aws-ebs-csi-driver", "ebs-csi-controller-sa")):
        (association,) = addons[addon]["podIdentityAssociations"]
        assert association["serviceAccount"] == account
        trust = json.loads(roles[association["roleArn"]]["inputs"]["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert not [
        r
        for r in plan.resources
        if r["type"] == "aws:iam/openIdConnectProvider:OpenIdConnectProvider" and "oidc.eks" in str(r["inputs"])
    ], "no IRSA provider"


def test_a_small_on_demand_system_node_group_is_reserved_for_cluster_add_ons(example_plans):
    group = one(example_plans["prod"], "aws:eks/nodeGroup:NodeGroup")["inputs"]
    assert group["capacityType"] == "ON_DEMAND"
    assert group["scalingConfig"] == {"minSize": 3, "maxSize": 6, "desiredSize": 3}  # prod override
    assert group["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    assert group["labels"] == {"mlrig.io/node-role": "system"}
    assert one(example_plans["dev"], "aws:eks/nodeGroup:NodeGroup")["inputs"]["scalingConfig"]["minSize"] == 2


def test_the_platform_deployer_role_is_a_cluster_admin_through_an_access_entry(example_plans):
    plan = example_plans["staging"]
    deployer = plan.outputs["deploymentRoleArn"]
    (association,) = [
        a
        for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if a["inputs"]["principalArn"] == deployer
    ]
    assert association["inputs"]["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert association["inputs"]["accessScope"] == {"type": "cluster"}


def test_prod_keys_and_log_groups_are_protected_and_retained(example_plans):
    stateful = ("aws:kms/key:Key", "aws:cloudwatch/logGroup:LogGroup")
    prod = [r for r in example_plans["prod"].resources if r["type"] in stateful]
    assert len(prod) == 3  # secrets key, control-plane logs, flow logs
    for resource in prod:
        assert resource["options"]["protect"] and resource["options"]["retainOnDelete"], resource["name"]


def test_the_prod_cluster_is_neither_replaced_nor_destroyed_by_a_change(example_plans):
    """Its etcd holds every project's objects: a new subnet list or secrets key would replace it.
    Not retained: a deliberate destroy deletes it, else its interfaces would keep the VPC alive."""
    [cluster] = example_plans["prod"].of_type("aws:eks/cluster:Cluster")
    assert cluster["options"]["protect"] and not cluster["options"]["retainOnDelete"]
    for env in ("dev", "staging"):
        [cluster] = example_plans[env].of_type("aws:eks/cluster:Cluster")
        assert not cluster["options"]["protect"]


def test_dev_and_staging_can_be_torn_down(example_plans):
    for env in ("dev", "staging"):
        assert not [r["name"] for r in example_plans[env].resources if r["options"]["protect"]]


def test_without_karpenter_the_system_nodes_take_every_workload(static_plan):
    group = one(static_plan, "aws:eks/nodeGroup:NodeGroup")["inputs"]
    assert group.get("taints", []) == []
    assert static_plan.of_type("kubernetes:karpenter.sh/v1:NodePool") == []
    assert static_plan.outputs["nodeRoleArn"] == "" and static_plan.outputs["addons"]["karpenter"] is False


def test_the_vpc_cni_enforces_network_policies(every_plan):
    """Without the network-policy agent every NetworkPolicy (default-deny included) is accepted
    by the API server and ignored: namespace isolation would not exist."""
    for plan in every_plan:
        for addon in plan.of_type("aws:eks/addon:Addon"):
            if addon["inputs"]["addonName"] == "vpc-cni":
                assert json.loads(addon["inputs"]["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_system_nodes_join_after_the_cni_and_karpenter_starts_after_cluster_dns(example_plans):
    plan = example_plans["dev"]
    addons = {a["inputs"]["addonName"]: a for a in plan.of_type("aws:eks/addon:Addon")}
    node_group = one(plan, "aws:eks/nodeGroup:NodeGroup")
    for before in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert addons[before]["urn"] in node_group["options"]["dependsOn"], before
    for after in ("coredns", "aws-ebs-csi-driver"):
        assert node_group["urn"] in addons[after]["options"]["dependsOn"], after
    karpenter = helm_release(plan, "karpenter")
    assert addons["coredns"]["urn"] in karpenter["options"]["dependsOn"]
