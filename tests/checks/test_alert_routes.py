"""MLRIG-SEC-014: the URLs the shared Alertmanager posts a project's alerts to come from a Secret only the platform writes."""

from __future__ import annotations

from mlrig.checks import catalogue
from mlrig.project.workspace import alert_routes_policy_spec

from .helpers import findings, k8s

ADMISSION = "admissionregistration.k8s.io/v1"
POLICY = "demo--alert-routes-locked"


def routes(receiver=None):
    receiver = receiver or {
        "name": "webhook-0",
        "webhookConfigs": [{"urlSecret": {"name": "alert-routes", "key": "route-0"}}],
    }
    spec = {"route": {"receiver": receiver["name"]}, "receivers": [receiver]}
    return k8s("AlertmanagerConfig", "monitoring.coreos.com/v1alpha1", "mlrig-alert-routes", spec)


def guard(spec=None, namespace: str = "demo", actions: tuple[str, ...] = ("Deny",)):
    policy = k8s(
        "ValidatingAdmissionPolicy", ADMISSION, POLICY, spec or alert_routes_policy_spec("alert-routes"), namespace=None
    )
    binding_spec = {
        "policyName": POLICY,
        "validationActions": list(actions),
        "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
    }
    return policy, k8s("ValidatingAdmissionPolicyBinding", ADMISSION, POLICY, binding_spec, namespace=None)


def test_a_webhook_url_from_an_unguarded_secret_is_reported():
    [found] = findings("MLRIG-SEC-014", routes())
    assert "alert-routes" in found.message and "secrets (CREATE, DELETE, UPDATE)" in found.message


def test_a_slack_url_counts_like_a_webhook_url():
    slack = {
        "name": "slack-0",
        "slackConfigs": [{"channel": "#x", "apiURL": {"name": "alert-routes", "key": "route-0"}}],
    }
    assert findings("MLRIG-SEC-014", routes(slack))


def test_a_guard_that_leaves_external_secrets_out_is_reported():
    spec = alert_routes_policy_spec("alert-routes")
    spec["matchConstraints"]["resourceRules"] = spec["matchConstraints"]["resourceRules"][:1]
    [found] = findings("MLRIG-SEC-014", routes(), *guard(spec))
    assert "externalsecrets" in found.message and "secrets (" not in found.message.replace("externalsecrets", "")


def test_a_guard_that_only_warns_or_is_bound_elsewhere_does_not_hold():
    assert findings("MLRIG-SEC-014", routes(), *guard(actions=("Audit",)))
    assert findings("MLRIG-SEC-014", routes(), *guard(namespace="other"))


def test_routes_guarded_by_the_namespaces_policy_pass():
    assert findings("MLRIG-SEC-014", routes(), *guard()) == []


def test_routes_without_url_secrets_need_no_guard():
    email = {"name": "email-0", "emailConfigs": [{"to": "ml@acme.example"}]}
    assert findings("MLRIG-SEC-014", routes(email)) == []


def test_an_unguarded_route_fails_the_plan():
    assert catalogue()["MLRIG-SEC-014"].enforcement == "mandatory"
