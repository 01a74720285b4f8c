"""Enforcement present: a NetworkPolicy only counts where the cluster's CNI enforces it.

The Amazon VPC CNI accepts NetworkPolicies but enforces them only when its add-on configuration
sets `enableNetworkPolicy: "true"` (aws/amazon-vpc-cni-k8s `charts/aws-vpc-cni/values.yaml`:
`enableNetworkPolicy: "false"`; EKS "Configure your cluster for Kubernetes network policies").
The add-on is in the platform stack: `mlrig plan` holds it; a project stack alone sees it only
if the platform exports `networkPolicyEnforced`.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import Violation, check
from .graph import StackGraph, json_value

ADDON = "aws:eks/addon:Addon"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
EXPORTED_FLAG = "networkPolicyEnforced"


def cni_enforces(graph: StackGraph) -> bool | None:
    """Whether the cluster's VPC CNI enforces NetworkPolicies; None when the graph cannot tell."""
    for addon in graph.everywhere(ADDON):
        if addon.inputs.get("addonName") != "vpc-cni":
            continue
        values = json_value(addon.inputs.get("configurationValues"))
        if values is None and addon.inputs.get("configurationValues") is not None:
            return None  # unknown until apply
        return isinstance(values, dict) and str(values.get("enableNetworkPolicy", "")).lower() == "true"
    flag = graph.reference_outputs().get(EXPORTED_FLAG)
    return flag if isinstance(flag, bool) else None


@check(
    "MLRIG-DEP-008",
    "NetworkPolicies exist only where the CNI enforces them",
    "The VPC CNI accepts NetworkPolicies but ignores them unless network-policy enforcement is enabled, "
    "so a default-deny policy isolates nothing.",
    applies_to=(NETWORK_POLICY, ADDON),
)
def network_policies_are_enforced(graph: StackGraph) -> Iterator[Violation]:
    policies = graph.of_type(NETWORK_POLICY)
    if not policies or cni_enforces(graph) is not False:
        return
    by_namespace: dict[str | None, list[str]] = {}
    for policy in policies:
        by_namespace.setdefault(policy.namespace, []).append(policy.k8s_name)
    for namespace, names in by_namespace.items():
        first = next(p for p in policies if p.namespace == namespace)
        yield Violation(
            first,
            f"{len(names)} NetworkPolicies in namespace {namespace} ({', '.join(sorted(names))}) are accepted but "
            "not enforced: the cluster's vpc-cni add-on does not set enableNetworkPolicy",
            'set the vpc-cni add-on\'s configurationValues to {"enableNetworkPolicy": "true"} in the platform',
        )
