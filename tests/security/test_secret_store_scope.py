"""A project's SecretStore stays what mlrig made it.

The External Secrets chart aggregates SecretStores into `edit`, so a data scientist in dev could
rewrite the namespace's store `aws-secrets-manager`: the ExternalSecret policy pins which store an
ExternalSecret names, never what that store is. A `webhook` store made the controller, running in
the platform's namespace, GET or POST any URL (the platform's Prometheus and Alertmanager, which
no NetworkPolicy guards from it) and write the answer into the data scientist's namespace. The
namespace's admission policy, evaluated here by an independent CEL implementation, now admits the
store mlrig writes and refuses every other shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .admission import named, passes

POLICY = "fraud-detection--secret-store-scope"


@pytest.fixture(scope="module")
def own_store(dev_plan):
    return named(dev_plan, "SecretStore", "aws-secrets-manager")


def test_the_policy_guards_every_secret_store_of_the_projects_namespace(dev_plan, policy):
    binding = named(dev_plan, "ValidatingAdmissionPolicyBinding", POLICY)["spec"]
    assert binding["policyName"] == POLICY and binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "fraud-detection"
    }
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["secretstores"] and policy["spec"]["failurePolicy"] == "Fail"


@pytest.mark.parametrize(("project", "environment"), [("fraud-detection", "dev"), ("rag-assistant", "prod")])
def test_mlrigs_own_secret_store_is_passes(project_plan, project, environment):
    plan = project_plan(project, environment)
    own_policy = named(plan, "ValidatingAdmissionPolicy", f"{project}--secret-store-scope")
    assert passes(own_policy, named(plan, "SecretStore", "aws-secrets-manager"))


WEBHOOK = {
    "url": "http://alertmanager-operated.monitoring:9093/api/v2/silences",
    "method": "POST",
    "body": '{"matchers": [{"name": "namespace", "value": "rag-assistant", "isRegex": false}]}',
    "result": {"jsonPath": "$"},
}
HOSTILE: dict[str, dict[str, Any]] = {
    "a webhook store (SSRF from the controller)": {"webhook": WEBHOOK},
    "a Kubernetes store reading another namespace": {
        "kubernetes": {"remoteNamespace": "rag-assistant", "server": {"url": "https://kubernetes.default"}}
    },
    "an AWS store assuming another role": {
        "aws": {"service": "SecretsManager", "region": "us-east-1", "role": "arn:aws:iam::111111111111:role/x"}
    },
    "an AWS store with a prefix": {"aws": {"service": "SecretsManager", "region": "us-east-1", "prefix": "mlrig/"}},
    "an AWS store in another region": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}},
    "Parameter Store": {"aws": {"service": "ParameterStore", "region": "us-east-1"}},
    "a second provider beside AWS": {
        "aws": {"service": "SecretsManager", "region": "us-east-1"},
        "webhook": WEBHOOK,
    },
}


@pytest.mark.parametrize("attack", list(HOSTILE))
def test_a_data_scientist_in_dev_cannot_turn_the_secret_store_into_something_else(policy, own_store, attack):
    assert passes(policy, own_store)
    store = copy.deepcopy(own_store)
    store["spec"] = {"provider": copy.deepcopy(HOSTILE[attack])}
    assert not passes(policy, store)


def test_another_controller_class_is_refused(policy, own_store):
    store = copy.deepcopy(own_store)
    store["spec"]["controller"] = "elsewhere"
    assert not passes(policy, store)
