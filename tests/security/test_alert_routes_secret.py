"""Only the platform writes the Secret the shared Alertmanager takes a project's receiver URLs from.

The project's AlertmanagerConfig names its webhook and Slack URLs by reference to the Secret
`alert-routes` of the project's namespace, which External Secrets fills from Secrets Manager (values
the platform team writes). Bundle validation holds webhook hosts to the platform's list, but the
Prometheus operator puts whatever that Secret holds into the Alertmanager configuration. A data
scientist in dev (`edit`) or the project's CI deployer (`admin`) may write Secrets and ExternalSecrets
in the namespace: before this policy they could put `http://<prometheus>.monitoring:9090/-/quit` (or any
in-cluster service, or any host) into it, directly or through an ExternalSecret whose template
targets it, then fail a pipeline: Alertmanager, in the monitoring namespace and past every project's
NetworkPolicies, POSTs there on every notification. The namespace's admission policy, evaluated here by
an independent CEL implementation, refuses that and admits the platform's own writes."""

from __future__ import annotations

import pytest

from .admission import named, objects, passes

POLICY = "fraud-detection--alert-routes-locked"
DATA_SCIENTIST = (
    "arn:aws:sts::111111111111:assumed-role/fraud-detection--dev--data-scientist/alice",
    ("mlrig:fraud-detection:data-scientist", "system:authenticated"),
)
CI_DEPLOYER = (
    "arn:aws:sts::111111111111:assumed-role/fraud-detection--dev--ci-deployer/gha",
    ("mlrig:fraud-detection:ci-deployer", "system:authenticated"),
)
PIPELINE_POD = (
    "system:serviceaccount:fraud-detection:fraud-detection--wl--train",
    ("system:serviceaccounts", "system:serviceaccounts:fraud-detection", "system:authenticated"),
)
EXTERNAL_SECRETS_CONTROLLER = (
    "system:serviceaccount:external-secrets:external-secrets",
    ("system:serviceaccounts", "system:serviceaccounts:external-secrets", "system:authenticated"),
)
QUIT = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090/-/quit"

FORGED_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "alert-routes", "namespace": "fraud-detection"},
    "stringData": {"route-0": QUIT},
}
TEMPLATED_INTO_IT = {
    "apiVersion": "external-secrets.io/v1",
    "kind": "ExternalSecret",
    "metadata": {"name": "harmless", "namespace": "fraud-detection"},
    "spec": {
        "secretStoreRef": {"name": "mlrig", "kind": "SecretStore"},
        "target": {"name": "alert-routes", "creationPolicy": "Merge", "template": {"data": {"route-0": QUIT}}},
        "data": [{"secretKey": "x", "remoteRef": {"key": "mlrig/fraud-detection/dev/llm-gateway/openai"}}],
    },
}


def test_the_policy_guards_secrets_and_external_secrets_of_the_projects_namespace(dev_plan, policy):
    binding = named(dev_plan, "ValidatingAdmissionPolicyBinding", POLICY)["spec"]
    assert binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "fraud-detection"
    }
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert {r["resources"][0]: set(r["operations"]) for r in rules} == {
        "secrets": {"CREATE", "UPDATE", "DELETE"},
        "externalsecrets": {"CREATE", "UPDATE", "DELETE"},
    }


@pytest.mark.parametrize("who", [DATA_SCIENTIST, CI_DEPLOYER, PIPELINE_POD], ids=["data-scientist", "ci", "pod"])
def test_nobody_acting_for_the_project_may_point_alertmanager_elsewhere(policy, who):
    username, groups = who
    for operation in ("CREATE", "UPDATE"):
        assert not passes(policy, FORGED_SECRET, operation, username=username, groups=groups)
        assert not passes(policy, TEMPLATED_INTO_IT, operation, username=username, groups=groups)


def test_nor_delete_the_secret_or_its_external_secret(dev_plan, policy):
    username, groups = DATA_SCIENTIST
    for old in (FORGED_SECRET, named(dev_plan, "ExternalSecret", "alert-routes")):
        assert not passes(policy, None, "DELETE", username=username, groups=groups, old_object=old)


def test_the_team_still_writes_its_other_secrets(policy):
    username, groups = DATA_SCIENTIST
    own = {**FORGED_SECRET, "metadata": {"name": "scratch", "namespace": "fraud-detection"}}
    assert passes(policy, own, "CREATE", username=username, groups=groups)
    assert passes(policy, None, "DELETE", username=username, groups=groups, old_object=own)


def test_the_platform_and_the_external_secrets_controller_write_it(dev_plan, policy):
    for external_secret in objects(dev_plan, "ExternalSecret"):
        assert passes(policy, external_secret, "CREATE")
    synced = {**FORGED_SECRET, "stringData": {"route-0": "https://hooks.slack.com/services/T/B/x"}}
    username, groups = EXTERNAL_SECRETS_CONTROLLER
    assert passes(policy, synced, "CREATE", username=username, groups=groups)
    assert passes(policy, synced, "UPDATE", username=username, groups=groups)
