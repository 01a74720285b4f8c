"""MLRIG-DEP-003: nothing Pulumi awaits waits for a secret value nobody sets."""

from __future__ import annotations

from .helpers import findings, k8s, record

SECRET = record(
    "aws:secretsmanager/secret:Secret",
    "openai",
    {"name": "mlrig/demo/prod/openai"},
    {"arn": "arn:aws:secretsmanager:us-east-1:1:secret:mlrig/demo/prod/openai-AbCdEf"},
)
SYNC = k8s(
    "ExternalSecret",
    "external-secrets.io/v1",
    "keys",
    {"target": {"name": "keys"}, "data": [{"secretKey": "K", "remoteRef": {"key": "mlrig/demo/prod/openai"}}]},
)


def gateway(optional: bool = False, annotations: dict | None = None):
    ref = {"name": "keys", **({"optional": True} if optional else {})}
    spec = {"template": {"spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": ref}]}]}}}
    return k8s("Deployment", "apps/v1", "gateway", spec, **({"annotations": annotations} if annotations else {}))


def test_an_awaited_deployment_needing_a_secret_created_without_a_value_fails():
    [found] = findings("MLRIG-DEP-003", SECRET, SYNC, gateway())
    assert "mlrig/demo/prod/openai" in found.message and "never start" in found.message


def test_a_secret_with_a_version_is_fine():
    version = record("aws:secretsmanager/secretVersion:SecretVersion", "v", {"secretId": SECRET["outputs"]["arn"]})
    assert findings("MLRIG-DEP-003", SECRET, version, SYNC, gateway()) == []


def test_an_optional_reference_or_a_skipped_await_is_fine():
    assert findings("MLRIG-DEP-003", SECRET, SYNC, gateway(optional=True)) == []
    assert findings("MLRIG-DEP-003", SECRET, SYNC, gateway(annotations={"pulumi.com/skipAwait": "true"})) == []


def test_a_secret_marked_and_documented_as_filled_by_a_person_is_accepted():
    marked = record(
        "aws:secretsmanager/secret:Secret",
        "openai",
        {
            "name": "mlrig/demo/prod/openai",
            "description": "set with aws secretsmanager put-secret-value",
            "tags": {"mlrig:filled-by": "platform-team"},
        },
    )
    assert findings("MLRIG-DEP-003", marked, SYNC, gateway()) == []
