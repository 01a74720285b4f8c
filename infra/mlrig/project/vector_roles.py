"""Least privilege on a pgvector store: the project's model servers log in as a reader role.

RDS creates one database user, the master user, which owns the database and may write, drop and
grant; its password is the RDS-managed secret (`rds!db-…`), rotated by RDS every seven days. The
index refresh (the store's writer) keeps using it. The project's own model servers (the RAG API)
only query the store, so they log in as `vectors_reader` instead, which may SELECT the tables of
schema `public` and nothing else. Its life:

- **Password.** Pulumi creates the Secrets Manager secret `mlrig/<project>/<env>/vector-db/reader`
  (project key) without a value, so the password never passes through Pulumi or its state. The
  Job below generates it on its first run (Secrets Manager `PutSecretValue`) and reads it on every
  later run; nothing rotates it, so RDS rotating the master password never touches the reader.
- **Role.** A Job (`vector-db-roles-<digest>`) runs as the `vector-admin` workload, whose role may
  read and write that one secret and nothing else. Its first container (Python, standard library)
  gets or generates the password; the second (`psql`) connects with the master credentials (their
  own ExternalSecret `vector-db-admin`, which External Secrets re-syncs within five minutes of a
  rotation) and creates the role if missing, sets its password and grants SELECT on the existing
  tables plus default privileges on the tables the master user creates later. Every statement is
  idempotent. Pulumi awaits the Job; a run that fails (the database still starting, the master
  secret just rotated) is retried by its `backoffLimit`, and a Job that never succeeded is replaced
  on the next apply (`replaceUnready`). The name is a digest of the Job's spec, which names the
  master secret's ARN, so a re-created database gets its role again.
- **Delivery.** The ExternalSecret `vector-db-reader` (after the Job) syncs the password into the
  Secret the model servers read with `envFrom`: `host`, `port`, `dbname`, `username`, `password`,
  the keys the master `vector-db` Secret has.
- **Network.** The Job's pod reaches PostgreSQL through the namespace's `allow-postgres-in-vpc`
  egress, Secrets Manager and STS through `allow-https-egress`, its credentials through
  `allow-pod-identity-agent` (workspace.py).
- **Rotating the reader's password.** Put a new value in the secret, then replace the Job
  (`pulumi up --replace <its URN>`); the servers get the new password within the ExternalSecret's
  refresh interval and fail new connections until then.
- **Deleting.** When the project stops serving from pgvector, the Job, the ExternalSecret and the
  secret go; the role stays in the database (nothing connects as it any more). `DROP ROLE
  vectors_reader` as the master user removes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import naming, pins
from ..bundle.model import ProjectSpec
from ..naming import ProjectNames
from .context import ProjectContext, reads_pgvector
from .kube import (
    EXTERNAL_SECRETS_API,
    SECRET_STORE,
    addons_of,
    database_secret_spec,
    metadata,
    restricted_container_security,
    restricted_pod_security,
)
from .tracking import DatabaseConnection

READER_SECRET = "vector-db-reader"  # the Kubernetes Secret the model servers read
ADMIN_SECRET = "vector-db-admin"  # the master credentials, for the Job only
PASSWORD_DIR = "/run/mlrig"
PASSWORD_FILE = f"{PASSWORD_DIR}/reader-password"
DIGEST_LENGTH = 10
JOB_DEADLINE_SECONDS = 1200
# Retried with the Job controller's back-off (10 s, 20 s, ... capped at 6 min): together more
# than the five minutes External Secrets may take to bring a rotated master password.
JOB_BACKOFF_LIMIT = 6
JOB_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}}


# The tag saying who gives a secret created without a value its value (checks/secrets_lifecycle.py).
FILLED_BY_TAG = "mlrig:filled-by"


def generated_secret_purposes(spec: ProjectSpec) -> list[str]:
    """Secrets Manager secrets the stack creates without a value that the roles Job fills."""
    return [naming.VECTOR_DB_READER_SECRET] if reads_pgvector(spec) else []


def has_reader(ctx: ProjectContext) -> bool:
    """Whether the namespace gets the reader role (its servers are made, and External Secrets
    delivers the password)."""
    addons = addons_of(ctx)
    return reads_pgvector(ctx.env.spec) and addons.kserve.enabled and addons.external_secrets.enabled


def identity_statements(names: ProjectNames, key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """The `vector-admin` workload's rights with pgvector: the reader's password secret only."""
    return [
        {
            "Sid": "GenerateReaderPassword",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
            ],
            "Resource": naming.secret_arn_pattern(names, naming.VECTOR_DB_READER_SECRET),
        },
        {
            "Sid": "EncryptReaderPassword",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{names.region}.amazonaws.com"}},
        },
    ]


# The first container's program (Python's standard library: the pinned image has nothing else):
# the reader's password from Secrets Manager, generated and stored there on the first run.
PASSWORD_SCRIPT = r"""
import datetime, hashlib, hmac, json, os, secrets, sys, time, urllib.error, urllib.request, uuid

SERVICE = "secretsmanager"
ATTEMPTS = 8


def credentials():
    uri = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if uri:  # EKS Pod Identity
        with open(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]) as file:
            token = file.read().strip()
        with urllib.request.urlopen(urllib.request.Request(uri, headers={"Authorization": token}), timeout=10) as r:
            found = json.load(r)
        return found["AccessKeyId"], found["SecretAccessKey"], found.get("Token")
    env = os.environ
    return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN")


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(host, target, body, region, creds, now):
    access_key, secret_key, token = creds
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    payload = hashlib.sha256(body).hexdigest()
    headers = {"content-type": "application/x-amz-json-1.1", "host": host, "x-amz-date": stamp,
               "x-amz-target": f"secretsmanager.{target}"}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(["POST", "/", "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload])
    scope = f"{day}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), SERVICE), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def call(target, payload):
    region = os.environ["AWS_REGION"]
    host = f"secretsmanager.{region}.amazonaws.com"
    body = json.dumps(payload).encode()
    headers = signed_headers(host, target, body, region, credentials(), datetime.datetime.now(datetime.timezone.utc))
    request = urllib.request.Request(f"https://{host}/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


def reader_password(secret_id, call=call, sleep=time.sleep):
    for attempt in range(ATTEMPTS):
        try:
            status, found = call("GetSecretValue", {"SecretId": secret_id})
        except OSError as error:
            status, found = 0, {"Message": str(error)}
        if status == 200 and found.get("SecretString"):
            return found["SecretString"]
        if status == 400 and str(found.get("__type", "")).endswith("ResourceNotFoundException"):
            # Created without a value: generate the password, once (the token makes a retry the same put).
            put, answer = call("PutSecretValue", {"SecretId": secret_id, "SecretString": secrets.token_urlsafe(32),
                                                  "ClientRequestToken": str(uuid.uuid4())})
            if put == 200:
                continue
            status, found = put, answer
        print(f"{secret_id}: {status} {found.get('__type', '')} {found.get('Message', '')}; retrying",
              file=sys.stderr, flush=True)
        sleep(min(5 * 2**attempt, 60))
    sys.exit(f"{secret_id}: no password")


if __name__ == "__main__":
    password = reader_password(os.environ["MLRIG_READER_SECRET"])
    with open(os.environ["MLRIG_PASSWORD_FILE"], "w") as file:
        file.write(password)
    print("reader password ready", flush=True)
"""

# The second container's SQL, run by psql as the master user. Every statement can run again.
# RDS's master user is no superuser: PostgreSQL 16 lets it set LOGIN, CREATEDB, CREATEROLE and the
# password of a role it created, but not SUPERUSER, REPLICATION or BYPASSRLS, even to switch them
# off. A role it creates has none of them; one that does (made by someone else) stops the Job.
ROLES_SQL = f"""\\set ON_ERROR_STOP on
\\set password `cat {PASSWORD_FILE}`
SELECT length(:'password') < 16 AS short \\gset
\\if :short
DO $$ BEGIN RAISE EXCEPTION 'the reader password is missing or short: the init container writes it'; END $$;
\\endif
SELECT format('CREATE ROLE %I LOGIN', :'reader') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader')
\\gexec
SELECT rolsuper OR rolreplication OR rolbypassrls AS privileged FROM pg_roles WHERE rolname = :'reader' \\gset
\\if :privileged
DO $$ BEGIN RAISE EXCEPTION 'the reader role has SUPERUSER, REPLICATION or BYPASSRLS: drop it, then run the Job again'; END $$;
\\endif
ALTER ROLE :"reader" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'password';
GRANT CONNECT ON DATABASE :"dbname" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"master" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
"""
PSQL_COMMAND = (
    'printf "%s\\n" "$MLRIG_ROLES_SQL" | psql --no-psqlrc -v reader="$MLRIG_READER_ROLE" -v master="$PGUSER" '
    '-v dbname="$PGDATABASE"'
)


def admin_secret_template(database: DatabaseConnection) -> dict[str, Any]:
    """libpq's environment, for psql: the master user over TLS."""
    return {
        "PGHOST": database.host,
        "PGPORT": str(database.port),
        "PGDATABASE": database.dbname,
        "PGUSER": "{{ .username }}",
        "PGPASSWORD": "{{ .password }}",
        "PGSSLMODE": "require",
    }


def reader_secret_spec(ctx: ProjectContext, database: DatabaseConnection) -> dict[str, Any]:
    """The reader's connection, with the keys of the master `vector-db` Secret."""
    return {
        "refreshInterval": "5m",
        "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
        "target": {
            "name": READER_SECRET,
            "creationPolicy": "Owner",
            "template": {
                "engineVersion": "v2",
                "data": {
                    "host": database.host,
                    "port": str(database.port),
                    "dbname": database.dbname,
                    "username": naming.PGVECTOR_READER_ROLE,
                    "password": "{{ .password }}",
                },
            },
        },
        "data": [{"secretKey": "password", "remoteRef": {"key": ctx.names.secret(naming.VECTOR_DB_READER_SECRET)}}],
    }


def job_spec(ctx: ProjectContext, master_secret_arn: str) -> dict[str, Any]:
    names = ctx.names
    scratch = [{"name": "password", "mountPath": PASSWORD_DIR}, {"name": "tmp", "mountPath": "/tmp"}]
    return {
        "backoffLimit": JOB_BACKOFF_LIMIT,
        "activeDeadlineSeconds": JOB_DEADLINE_SECONDS,
        "template": {
            "metadata": {"labels": {"mlrig.io/workload": naming.VECTOR_ADMIN}},
            "spec": {
                "serviceAccountName": names.service_account(naming.VECTOR_ADMIN),
                "restartPolicy": "Never",
                "securityContext": restricted_pod_security(),
                "initContainers": [
                    {
                        "name": "reader-password",
                        "image": pins.PYTHON.reference,
                        "command": ["python3", "-c", PASSWORD_SCRIPT],
                        "env": [
                            {"name": "AWS_REGION", "value": names.region},
                            {"name": "MLRIG_READER_SECRET", "value": names.secret(naming.VECTOR_DB_READER_SECRET)},
                            {"name": "MLRIG_PASSWORD_FILE", "value": PASSWORD_FILE},
                            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                        ],
                        "resources": JOB_RESOURCES,
                        "securityContext": restricted_container_security(),
                        "volumeMounts": scratch,
                    }
                ],
                "containers": [
                    {
                        "name": "reader-role",
                        "image": pins.POSTGRES.reference,
                        "command": ["sh", "-c", PSQL_COMMAND],
                        "env": [
                            {"name": "MLRIG_READER_ROLE", "value": naming.PGVECTOR_READER_ROLE},
                            {"name": "MLRIG_ROLES_SQL", "value": ROLES_SQL},
                            # Not read by psql: a re-created database (a new master secret) is a new Job.
                            {"name": "MLRIG_MASTER_SECRET", "value": master_secret_arn},
                            {"name": "HOME", "value": "/tmp"},
                        ],
                        "envFrom": [{"secretRef": {"name": ADMIN_SECRET}}],
                        "resources": JOB_RESOURCES,
                        "securityContext": restricted_container_security(),
                        "volumeMounts": scratch,
                    }
                ],
                "volumes": [
                    {"name": "password", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                ],
            },
        },
    }


def digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:DIGEST_LENGTH]


class VectorDatabaseRoles(pulumi.ComponentResource):
    """The reader role of a pgvector store and the Secret its readers get (see the module
    docstring). `reader_secret` is what the model servers wait for."""

    reader_secret: pulumi.Resource

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        database: DatabaseConnection,
        *,
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`depends_on`: what the Job's pod needs (the `vector-admin` role, its policy and Pod
        Identity association, its service account; the reader's secret and the database)."""
        super().__init__("mlrig:project:VectorDatabaseRoles", name, None, opts)
        admin = k8s.apiextensions.CustomResource(
            f"{name}-admin-secret",
            api_version=EXTERNAL_SECRETS_API,
            kind="ExternalSecret",
            metadata=metadata(ctx, ADMIN_SECRET, component="vector-db"),
            spec=database_secret_spec(database, ADMIN_SECRET, admin_secret_template(database)),
            opts=ctx.k8s_opts(self, depends_on=depends_on),
        )
        spec = database.master_secret_arn.apply(lambda arn: job_spec(ctx, arn))
        job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=spec.apply(
                lambda s: metadata(
                    ctx,
                    ctx.names.vector_roles_job(digest(s)),
                    component="vector-db",
                    annotations={naming.REPLACE_UNREADY_ANNOTATION: "true"},
                )
            ),
            spec=cast(Any, spec),
            opts=ctx.k8s_opts(self, depends_on=[*depends_on, admin]),
        )
        self.reader_secret = k8s.apiextensions.CustomResource(
            f"{name}-reader-secret",
            api_version=EXTERNAL_SECRETS_API,
            kind="ExternalSecret",
            metadata=metadata(ctx, READER_SECRET, component="vector-db"),
            spec=reader_secret_spec(ctx, database),
            opts=ctx.k8s_opts(self, depends_on=[*depends_on, job]),
        )
        self.register_outputs({"readerRole": naming.PGVECTOR_READER_ROLE})
