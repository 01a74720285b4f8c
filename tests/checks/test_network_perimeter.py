"""MLRIG-SEC-013: a namespace whose people may write its objects keeps the network perimeter the platform gave it."""

from __future__ import annotations

from mlrig.checks import catalogue
from mlrig.project.workspace import network_perimeter_policy_spec, service_scope_policy_spec

from .helpers import findings, k8s

ADMISSION = "admissionregistration.k8s.io/v1"
RBAC = "rbac.authorization.k8s.io/v1"


def role_binding(role: str = "edit", namespace: str = "demo"):
    record = k8s("RoleBinding", RBAC, "mlrig-data-scientist", {}, namespace=namespace)
    record["inputs"]["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
    return record


def policy(name: str, spec):
    return k8s("ValidatingAdmissionPolicy", ADMISSION, name, spec, namespace=None)


def binding(name: str, namespace: str = "demo", actions: tuple[str, ...] = ("Deny",)):
    spec = {
        "policyName": name,
        "validationActions": list(actions),
        "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
    }
    return k8s("ValidatingAdmissionPolicyBinding", ADMISSION, name, spec, namespace=None)


def guards(perimeter=None, services=None, **binding_options):
    return (
        policy("demo--network-perimeter", perimeter or network_perimeter_policy_spec()),
        binding("demo--network-perimeter", **binding_options),
        policy("demo--service-scope", services or service_scope_policy_spec()),
        binding("demo--service-scope", **binding_options),
    )


def test_edit_in_a_namespace_without_the_policies_is_reported():
    # A data scientist could delete default-deny and reach Alertmanager's API.
    [found] = findings("MLRIG-SEC-013", role_binding("edit"))
    assert "networkpolicies (CREATE, DELETE, UPDATE)" in found.message and "services (CREATE, UPDATE)" in found.message


def test_admin_is_held_like_edit():
    assert findings("MLRIG-SEC-013", role_binding("admin"))


def test_a_network_policy_guard_without_delete_does_not_hold_default_deny():
    spec = network_perimeter_policy_spec()
    spec["matchConstraints"]["resourceRules"][0]["operations"] = ["CREATE", "UPDATE"]
    [found] = findings("MLRIG-SEC-013", role_binding(), *guards(perimeter=spec))
    assert "networkpolicies (DELETE)" in found.message and "services" not in found.message


def test_policies_that_only_warn_or_are_bound_elsewhere_do_not_guard():
    assert findings("MLRIG-SEC-013", role_binding(), *guards(actions=("Warn", "Audit")))
    assert findings("MLRIG-SEC-013", role_binding(), *guards(namespace="other"))


def test_a_namespace_guarded_by_both_policies_passes():
    assert findings("MLRIG-SEC-013", role_binding(), *guards()) == []


def test_a_read_only_namespace_needs_no_guard():
    assert findings("MLRIG-SEC-013", role_binding("view")) == []


def test_an_unguarded_namespace_fails_the_plan():
    assert catalogue()["MLRIG-SEC-013"].enforcement == "mandatory"
