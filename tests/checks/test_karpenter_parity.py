"""MLRIG-UPS-001/002: Karpenter's roles against upstream's v1.8.1 reference policy (facts in the module)."""

from __future__ import annotations

from mlrig.checks.karpenter_parity import SOURCE, UPSTREAM_CONTROLLER, UPSTREAM_NODE_POLICIES

from .helpers import findings, policy, record

ASSOCIATION = record(
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "a",
    {"serviceAccount": "karpenter", "roleArn": "arn:aws:iam::1:role/c"},
)
ROLE = record("aws:iam/role:Role", "c", {"name": "c"}, {"arn": "arn:aws:iam::1:role/c"})


def upstream_statements(skip: str = ""):
    statements = []
    for s in UPSTREAM_CONTROLLER:
        if s.sid == skip:
            continue
        condition = (
            {"StringEquals": {k.replace("*", "demo"): "x" for k in s.condition_keys}} if s.condition_keys else None
        )
        statements.append(
            {
                "Sid": s.sid,
                "Effect": "Allow",
                "Action": list(s.actions),
                "Resource": "*",
                **({"Condition": condition} if condition else {}),
            }
        )
    return statements


def controller(statements):
    return record("aws:iam/rolePolicy:RolePolicy", "controller", {"role": "c", "policy": policy(statements)})


def test_the_upstream_facts_name_their_source_and_the_actions_karpenter_needs():
    assert "v1.8.1" in SOURCE and "cloudformation.yaml" in SOURCE
    actions = {a for s in UPSTREAM_CONTROLLER for a in s.actions}
    assert {"iam:ListInstanceProfiles", "iam:TagInstanceProfile", "ec2:CreateFleet", "eks:DescribeCluster"} <= actions
    assert len(UPSTREAM_CONTROLLER) == 17 and "AmazonSSMManagedInstanceCore" in UPSTREAM_NODE_POLICIES


def test_a_controller_policy_without_list_instance_profiles_fails():
    [found] = findings(
        "MLRIG-UPS-001",
        ASSOCIATION,
        ROLE,
        controller(upstream_statements(skip="AllowUnscopedInstanceProfileListAction")),
    )
    assert "iam:ListInstanceProfiles" in found.message


def test_the_upstream_policy_itself_passes_both_checks():
    assert findings("MLRIG-UPS-001", ASSOCIATION, ROLE, controller(upstream_statements())) == []
    assert findings("MLRIG-UPS-002", ASSOCIATION, ROLE, controller(upstream_statements())) == []


def test_tagging_instance_profiles_without_upstreams_resource_tag_conditions_is_broader():
    statements = upstream_statements(skip="AllowScopedInstanceProfileTagActions")
    creation = next(s for s in statements if s["Sid"] == "AllowScopedInstanceProfileCreationActions")
    creation["Action"] = ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"]
    [found] = findings("MLRIG-UPS-002", ASSOCIATION, ROLE, controller(statements))
    assert "iam:TagInstanceProfile" in found.message and "aws:ResourceTag" in found.message
