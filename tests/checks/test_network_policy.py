"""MLRIG-DEP-008: NetworkPolicies only where the VPC CNI enforces them."""

from __future__ import annotations

import json

from .helpers import findings, k8s, record

DENY = k8s("NetworkPolicy", "networking.k8s.io/v1", "default-deny", {"podSelector": {}})


def cni(config: dict | None):
    inputs = {"addonName": "vpc-cni", **({"configurationValues": json.dumps(config)} if config is not None else {})}
    return record("aws:eks/addon:Addon", "vpc-cni", inputs)


def test_network_policies_on_a_cni_without_enforcement_fail():
    [found] = findings("MLRIG-DEP-008", DENY, context=(cni(None),))
    assert "not enforced" in found.message


def test_network_policies_on_an_enforcing_cni_pass():
    assert findings("MLRIG-DEP-008", DENY, context=(cni({"enableNetworkPolicy": "true"}),)) == []


def test_a_stack_that_cannot_see_its_cni_is_not_judged_unless_the_platform_exports_the_flag():
    assert findings("MLRIG-DEP-008", DENY) == []
    reference = record(
        "pulumi:pulumi:StackReference",
        "ref",
        {"name": "o/mlrig/acme.prod"},
        {"outputs": {"networkPolicyEnforced": False}},
    )
    assert findings("MLRIG-DEP-008", DENY, reference)
