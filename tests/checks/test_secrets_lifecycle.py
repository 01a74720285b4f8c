"""MLRIG-DEP-003: nothing Pulumi awaits waits for a secret value nobody sets; MLRIG-DEP-111: nor for a
Secret nobody creates."""

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


# --- MLRIG-DEP-009: rotating secrets restart their long-running readers ---------------------------

RDS_MASTER = "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-0a1b2c3d-ab12cd"
DB_SYNC = k8s(
    "ExternalSecret",
    "external-secrets.io/v1",
    "db",
    {
        "target": {"name": "db"},
        "data": [{"secretKey": k, "remoteRef": {"key": RDS_MASTER, "property": k}} for k in ("username", "password")],
    },
)


def server(kind: str = "Deployment", *, mounted: bool = False, probe: str = "", annotations: dict | None = None):
    container: dict = {
        "name": "app",
        "env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "uri"}}}],
    }
    pod: dict = {"containers": [container]}
    if mounted:
        pod["volumes"] = [{"name": "creds", "secret": {"secretName": "db"}}]
        container["volumeMounts"] = [{"name": "creds", "mountPath": "/var/run/db"}]
    if probe:
        container["livenessProbe"] = {"exec": {"command": ["python", "-c", probe]}}
    template: dict = {"spec": pod, **({"metadata": {"annotations": annotations}} if annotations else {})}
    return k8s(kind, "apps/v1", "server", {"template": template})


def test_a_server_reading_an_rds_managed_password_from_its_environment_is_never_restarted():
    [found] = findings("MLRIG-DEP-009", DB_SYNC, server())
    assert "rotates" in found.message and found.message.count(RDS_MASTER) == 1
    [found] = findings("MLRIG-DEP-009", DB_SYNC, server("StatefulSet", mounted=True))  # a mount alone restarts nothing
    assert "'db'" in found.message


def test_a_server_whose_liveness_probe_reads_the_mounted_secret_restarts_on_rotation():
    probe = "import os, sys; sys.exit(open('/var/run/db/uri').read() != os.environ['DB'])"
    assert findings("MLRIG-DEP-009", DB_SYNC, server(mounted=True, probe=probe)) == []


def test_a_server_annotated_for_reloader_restarts_on_rotation():
    assert findings("MLRIG-DEP-009", DB_SYNC, server(annotations={"secret.reloader.stakater.com/reload": "db"})) == []
    assert findings("MLRIG-DEP-009", DB_SYNC, server(annotations={"reloader.stakater.com/auto": "true"})) == []


def test_secrets_that_do_not_rotate_and_short_lived_pods_are_fine():
    still = k8s(
        "ExternalSecret",
        "external-secrets.io/v1",
        "db",
        {"target": {"name": "db"}, "data": [{"secretKey": "uri", "remoteRef": {"key": "mlrig/demo/prod/db"}}]},
    )
    assert findings("MLRIG-DEP-009", still, server()) == []
    job = k8s("Job", "batch/v1", "once", {"template": server()["inputs"]["spec"]["template"]})
    assert findings("MLRIG-DEP-009", DB_SYNC, job) == []


def test_a_secret_rotated_by_a_secret_rotation_counts_as_rotating():
    still = k8s(
        "ExternalSecret",
        "external-secrets.io/v1",
        "db",
        {"target": {"name": "db"}, "data": [{"secretKey": "uri", "remoteRef": {"key": "mlrig/demo/prod/db"}}]},
    )
    rotation = record(
        "aws:secretsmanager/secretRotation:SecretRotation",
        "rotate",
        {"secretId": SECRET["outputs"]["arn"].replace("openai", "db")},
    )
    secret = record(
        "aws:secretsmanager/secret:Secret",
        "db",
        {"name": "mlrig/demo/prod/db"},
        {"arn": SECRET["outputs"]["arn"].replace("openai", "db")},
    )
    [found] = findings("MLRIG-DEP-009", secret, rotation, still, server())
    assert "mlrig/demo/prod/db" in found.message


# --- MLRIG-DEP-111: a Secret an awaited pod needs is created by something ------------------------


def test_an_awaited_deployment_needing_a_secret_nothing_creates_fails():
    """A project on a platform without the External Secrets Operator: the ExternalSecret that would
    make the tracking server's database Secret was never planned, and MLflow never started."""
    [found] = findings("MLRIG-DEP-111", gateway())
    assert "needs Secret 'keys', which no resource creates" in found.message
    assert "optional: true" in found.hint


def test_a_secret_an_external_secret_syncs_or_the_stack_declares_is_created():
    assert findings("MLRIG-DEP-111", SYNC, gateway()) == []
    declared = k8s("Secret", "v1", "keys", {})
    assert findings("MLRIG-DEP-111", declared, gateway()) == []
    assert findings("MLRIG-DEP-111", gateway(), context=(declared,)) == []  # the platform's stack made it


def test_an_optional_secret_a_skipped_await_or_another_namespaces_secret():
    assert findings("MLRIG-DEP-111", gateway(optional=True)) == []
    assert findings("MLRIG-DEP-111", gateway(annotations={"pulumi.com/skipAwait": "true"})) == []
    elsewhere = k8s("Secret", "v1", "keys", {}, namespace="other")
    assert len(findings("MLRIG-DEP-111", elsewhere, gateway())) == 1
