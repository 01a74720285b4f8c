"""MLRIG-SEC-009: a model server that only reads a database is not given its master credentials."""

from __future__ import annotations

from mlrig.checks import catalogue

from .helpers import findings, k8s, record

MASTER = "arn:aws:secretsmanager:us-east-1:333333333333:secret:rds!db-1234-abcdef"
DATABASE = record(
    "aws:rds/instance:Instance",
    "vectors",
    {"manageMasterUserPassword": True},
    {"masterUserSecrets": [{"secretArn": MASTER}]},
)


def external_secret(name: str, key: str):
    data = [{"secretKey": f, "remoteRef": {"key": key, "property": f}} for f in ("username", "password")]
    return k8s("ExternalSecret", "external-secrets.io/v1", name, {"target": {"name": name}, "data": data})


def rag_server(secret: str):
    container = {"name": "kserve-container", "image": "x", "envFrom": [{"secretRef": {"name": secret}}]}
    return k8s("InferenceService", "serving.kserve.io/v1beta1", "assistant", {"predictor": {"containers": [container]}})


def test_a_rag_server_reading_the_vector_stores_master_credentials_is_reported():
    [found] = findings("MLRIG-SEC-009", DATABASE, external_secret("vector-db", MASTER), rag_server("vector-db"))
    assert "vector-db" in found.message and "master credentials" in found.message


def test_a_rag_server_with_a_reader_roles_credentials_passes():
    reader = external_secret("vector-db-reader", "mlrig/demo/prod/vector-db/reader")
    assert (
        findings(
            "MLRIG-SEC-009", DATABASE, external_secret("vector-db", MASTER), reader, rag_server("vector-db-reader")
        )
        == []
    )


def test_a_model_server_with_master_credentials_fails_the_plan():
    assert catalogue()["MLRIG-SEC-009"].enforcement == "mandatory"
