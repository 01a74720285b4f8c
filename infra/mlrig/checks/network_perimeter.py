"""A namespace whose people may write its objects keeps the network perimeter the platform gave it.

Kubernetes' `edit` and `admin` roles include creating, changing and deleting NetworkPolicies and
Services. NetworkPolicies only add up, and the platform's namespaces have no ingress policies of
their own, so a project namespace's own `default-deny` and egress rules are what keeps its pods
from Alertmanager's API (silences of every team's alerts, alerts routed to another team's
receivers), Prometheus and every port in the VPC; a Service's `externalIPs` make kube-proxy on
every node send other namespaces' traffic to that address to the namespace's pods. So a project
namespace where a role binding grants `edit` or `admin` is sound only while an admission policy of
that namespace, bound with Deny, holds its NetworkPolicies on create, update and delete and its
Services on create and update (`project/workspace.py`, `<namespace>--network-perimeter` and
`<namespace>--service-scope`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from .. import naming
from . import Violation, check
from .graph import Resource, StackGraph, as_list, dig
from .workflow_metrics import denies_in

# ClusterRoles that write NetworkPolicies and Services in the namespace they are bound in.
WRITING_ROLES = frozenset({"edit", "admin", "cluster-admin"})
# What must be held, per API group and resource: the operations a writer could loosen it with.
HELD: dict[tuple[str, str], frozenset[str]] = {
    ("networking.k8s.io", "networkpolicies"): frozenset({"CREATE", "UPDATE", "DELETE"}),
    ("", "services"): frozenset({"CREATE", "UPDATE"}),
}


def held_operations(policy: Resource, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """The operations a policy holds, per (API group, resource) of `wanted`."""
    held: dict[tuple[str, str], set[str]] = {}
    for rule in as_list(dig(policy.spec, "matchConstraints", "resourceRules")):
        if not isinstance(rule, Mapping):
            continue
        operations = {str(o) for o in as_list(rule.get("operations"))}
        if "*" in operations:
            operations = {"CREATE", "UPDATE", "DELETE", "CONNECT"}
        groups = {str(g) for g in as_list(rule.get("apiGroups"))}
        resources = {str(r) for r in as_list(rule.get("resources"))}
        for group, resource in wanted:
            if (group in groups or "*" in groups) and (resource in resources or "*" in resources):
                held.setdefault((group, resource), set()).update(operations)
    return held


def guarded(graph: StackGraph, namespace: str, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """Operations on `wanted` resources that admission policies bound with Deny to `namespace` hold."""
    policies = {p.k8s_name: p for p in graph.kubernetes("ValidatingAdmissionPolicy")}
    found: dict[tuple[str, str], set[str]] = {}
    for binding in graph.kubernetes("ValidatingAdmissionPolicyBinding"):
        policy = policies.get(str(dig(binding.inputs, "spec", "policyName")))
        if policy is not None and denies_in(binding, namespace):
            for key, operations in held_operations(policy, wanted).items():
                found.setdefault(key, set()).update(operations)
    return found


def unguarded(graph: StackGraph, namespace: str, needed: Mapping[tuple[str, str], frozenset[str]] = HELD) -> list[str]:
    """`resource (OPERATION, …)` for each `needed` resource whose operations are not all held."""
    held = guarded(graph, namespace, needed)
    missing = []
    for (group, resource), operations in needed.items():
        left = sorted(operations - held.get((group, resource), set()))
        if left:
            missing.append(f"{resource} ({', '.join(left)})")
    return missing


@check(
    "MLRIG-SEC-013",
    "A namespace whose people may write its objects keeps the network perimeter the platform gave it",
    "edit and admin include NetworkPolicies and Services: without a policy holding them, whoever acts "
    "for the project deletes its default-deny and reaches the platform's namespaces (Alertmanager's "
    "API silences every team's alerts), or sets a Service's externalIPs so that kube-proxy on every "
    "node sends other teams' traffic (database connections, credential requests) to its pods.",
    applies_to=("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",),
)
def writable_namespaces_keep_their_perimeter(graph: StackGraph) -> Iterator[Violation]:
    for binding in graph.kubernetes("RoleBinding"):
        namespace = binding.namespace
        role = dig(binding.inputs, "roleRef", "name")
        if namespace is None or namespace in naming.PLATFORM_NAMESPACES or role not in WRITING_ROLES:
            continue
        missing = unguarded(graph, namespace)
        if missing:
            yield Violation(
                binding,
                f"RoleBinding {binding.k8s_name} grants {role} in {namespace}, but no admission policy of the "
                f"namespace bound with Deny holds its {'; '.join(missing)}",
                "bind the namespace's network-perimeter and service-scope admission policies (project/workspace.py)",
            )
