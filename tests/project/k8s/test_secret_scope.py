"""Secrets stay within their project: the namespace's admission policy, evaluated by an
independent CEL implementation, admits mlrig's own ExternalSecrets and denies any that would copy
another project's (or environment's) secrets into the namespace."""

from __future__ import annotations

import copy
from typing import Any

import celpy
import pytest

from .conftest import named, objects

POLICY = "fraud-detection--external-secrets-scope"


def admitted(policy: dict[str, Any], external_secret: dict[str, Any]) -> bool:
    environment = celpy.Environment()
    activation = {"object": celpy.json_to_cel(external_secret)}
    return all(
        bool(environment.program(environment.compile(rule["expression"])).evaluate(activation))
        for rule in policy["spec"]["validations"]
    )


@pytest.fixture(scope="module")
def dev_plan(project_plan):
    return project_plan("fraud-detection", "dev")


@pytest.fixture(scope="module")
def policy(dev_plan):
    return named(dev_plan, "ValidatingAdmissionPolicy", POLICY)


def test_the_policy_applies_to_the_projects_namespace_only(dev_plan, policy):
    binding = named(dev_plan, "ValidatingAdmissionPolicyBinding", POLICY)["spec"]
    assert binding["policyName"] == POLICY and binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "fraud-detection"
    }
    assert policy["spec"]["failurePolicy"] == "Fail"


@pytest.mark.parametrize(("project", "environment"), [("fraud-detection", "dev"), ("rag-assistant", "prod")])
def test_mlrigs_own_external_secrets_are_admitted(project_plan, project, environment):
    plan = project_plan(project, environment)
    own_policy = named(plan, "ValidatingAdmissionPolicy", f"{project}--external-secrets-scope")
    secrets = objects(plan, "ExternalSecret")
    assert secrets
    for secret in secrets:
        assert admitted(own_policy, secret), secret["metadata"]["name"]


def hostile_variants(secret: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def changed(edit) -> dict[str, Any]:
        variant = copy.deepcopy(secret)
        edit(variant["spec"])
        return variant

    return {
        "another project's secret": changed(
            lambda s: s.update(dataFrom=[{"extract": {"key": "mlrig/rag-assistant/dev/vector-db"}}])
        ),
        "the prod environment's secret": changed(
            lambda s: s.update(dataFrom=[{"extract": {"key": "mlrig/fraud-detection/prod/mlflow-db"}}])
        ),
        "a secret by ARN": changed(
            lambda s: s.update(
                data=[
                    {
                        "secretKey": "k",
                        "remoteRef": {"key": "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlrig/x"},
                    }
                ]
            )
        ),
        "a search over all secrets": changed(lambda s: s.update(dataFrom=[{"find": {"name": {"regexp": ".*"}}}])),
        "the platform's ClusterSecretStore": changed(
            lambda s: s.update(secretStoreRef={"name": "aws-secrets-manager", "kind": "ClusterSecretStore"})
        ),
        "another store per entry": changed(
            lambda s: s.update(
                data=[
                    {
                        "secretKey": "k",
                        "remoteRef": {"key": "mlrig/fraud-detection/dev/mlflow-db"},
                        "sourceRef": {"storeRef": {"name": "other", "kind": "ClusterSecretStore"}},
                    }
                ]
            )
        ),
    }


@pytest.mark.parametrize(
    "attack",
    [
        "another project's secret",
        "the prod environment's secret",
        "a secret by ARN",
        "a search over all secrets",
        "the platform's ClusterSecretStore",
        "another store per entry",
    ],
)
def test_a_data_scientist_in_dev_cannot_pull_secrets_from_outside_the_project_environment(dev_plan, policy, attack):
    own = named(dev_plan, "ExternalSecret", "mlflow-db")
    assert admitted(policy, own)
    assert not admitted(policy, hostile_variants(own)[attack])


def test_only_this_environments_database_master_secrets_may_be_read_by_arn(project_plan, dev_plan, policy):
    """RDS names its managed secrets (`rds!db-…`), so they cannot live under the project prefix:
    the policy admits exactly this environment's ones, by ARN, and no other RDS secret."""
    own = named(dev_plan, "ExternalSecret", "mlflow-db")
    assert admitted(policy, own)
    prod_master = project_plan("fraud-detection", "prod").outputs["trackingDatabaseSecret"]
    other_project = project_plan("rag-assistant", "dev").outputs["trackingDatabaseSecret"]
    for foreign in (prod_master, other_project, "rds!db-00000000-0000-0000-0000-000000000000"):
        variant = copy.deepcopy(own)
        for entry in variant["spec"]["data"]:
            entry["remoteRef"]["key"] = foreign
        assert not admitted(policy, variant), foreign


def test_no_push_secret_may_be_created_in_a_project_namespace(dev_plan):
    """PushSecrets write to Secrets Manager with the controller's identity."""
    policy = named(dev_plan, "ValidatingAdmissionPolicy", "fraud-detection--push-secrets-denied")
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["pushsecrets"]
    push = {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "spec": {}}
    assert not admitted(policy, push)
    binding = named(dev_plan, "ValidatingAdmissionPolicyBinding", "fraud-detection--push-secrets-denied")["spec"]
    assert binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "fraud-detection"
    }
