"""The RAG server reads pgvector as a reader role (SELECT only), never as the master user; the
role is made by an idempotent, retried Job holding the master credentials, and its password is
generated once into Secrets Manager and delivered by External Secrets."""

from __future__ import annotations

import json
import re

from mlrig import naming, pins
from mlrig.checks import catalogue, run_check
from mlrig.checks.graph import StackGraph
from mlrig.project import vector_roles

from .conftest import Graph, named, objects


def resource(plan, type_suffix: str, k8s_name: str | None = None) -> dict:
    (found,) = [
        r
        for r in plan.resources
        if r["type"].endswith(type_suffix)
        and (k8s_name is None or (r["inputs"].get("metadata") or {}).get("name") == k8s_name)
    ]
    return found


def roles_job(plan) -> dict:
    (job,) = [j for j in objects(plan, "Job") if j["metadata"]["name"].startswith(naming.VECTOR_DB_ROLES_JOB)]
    return job


def test_the_rag_server_reads_pgvector_as_its_reader_role_never_as_the_master_user(project_plan):
    plan = project_plan("rag-assistant", "prod")
    for isvc in objects(plan, "InferenceService"):
        for container in isvc["spec"]["predictor"].get("containers", []):
            assert container["envFrom"] == [{"secretRef": {"name": "vector-db-reader"}}]
    reader = named(plan, "ExternalSecret", "vector-db-reader")["spec"]
    assert reader["target"]["template"]["data"]["username"] == naming.PGVECTOR_READER_ROLE
    assert [d["remoteRef"]["key"] for d in reader["data"]] == ["mlrig/rag-assistant/prod/vector-db/reader"]
    # The keys the master Secret had: the server's contract does not change.
    assert set(reader["target"]["template"]["data"]) == {"host", "port", "dbname", "username", "password"}
    graph = StackGraph.of(plan.stack, plan.resources)
    assert run_check(catalogue()["MLRIG-SEC-009"], graph) == []


def test_rds_rotating_the_master_password_never_touches_the_readers_secret(project_plan):
    plan = project_plan("rag-assistant", "prod")
    reader = named(plan, "ExternalSecret", "vector-db-reader")["spec"]
    assert not any("rds!" in d["remoteRef"]["key"] for d in reader["data"])
    (secret,) = [
        s
        for s in plan.of_type("aws:secretsmanager/secret:Secret")
        if s["inputs"]["name"].endswith(naming.VECTOR_DB_READER_SECRET)
    ]
    # No value from Pulumi (it never sees the password), no rotation: the Job generates it once.
    assert not [
        v
        for v in plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        if v["inputs"]["secretId"] in (secret["outputs"].get("arn"), secret.get("id"))
    ]
    assert not plan.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    assert secret["inputs"]["tags"][vector_roles.FILLED_BY_TAG] == naming.VECTOR_DB_ROLES_JOB


def test_the_index_refresh_keeps_writing_with_the_master_credentials(project_plan):
    plan = project_plan("rag-assistant", "prod")
    master = named(plan, "ExternalSecret", "vector-db")["spec"]
    assert all(":secret:rds!" in d["remoteRef"]["key"] for d in master["data"])
    refresh = [t for t in objects(plan, "WorkflowTemplate") if "vector-db" in json.dumps(t["spec"])]
    assert refresh and all('"vector-db-reader"' not in json.dumps(t["spec"]) for t in refresh)


def test_the_reader_role_is_made_by_a_retried_job_with_the_master_credentials(project_plan):
    plan = project_plan("rag-assistant", "staging")
    job = roles_job(plan)
    assert job["metadata"]["annotations"][naming.REPLACE_UNREADY_ANNOTATION] == "true"
    assert job["spec"]["backoffLimit"] >= 6 and job["spec"]["activeDeadlineSeconds"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"wl-{naming.VECTOR_ADMIN}" and pod["restartPolicy"] == "Never"
    (password,) = pod["initContainers"]
    (role,) = pod["containers"]
    assert password["image"] == pins.PYTHON.reference and role["image"] == pins.POSTGRES.reference
    assert role["envFrom"] == [{"secretRef": {"name": "vector-db-admin"}}]
    admin = named(plan, "ExternalSecret", "vector-db-admin")["spec"]
    assert all(":secret:rds!" in d["remoteRef"]["key"] for d in admin["data"])
    assert admin["target"]["template"]["data"]["PGSSLMODE"] == "require"
    # A re-created database (a new master secret) is a new Job, so it gets its role again.
    env = {e["name"]: e["value"] for e in role["env"]}
    assert env["MLRIG_MASTER_SECRET"] == admin["data"][0]["remoteRef"]["key"]


def test_the_roles_sql_can_run_again_and_grants_nothing_but_reading():
    sql = vector_roles.ROLES_SQL
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader')" in sql
    assert "\\gexec" in sql and "\\set ON_ERROR_STOP on" in sql
    grants = re.findall(r"GRANT ([A-Z, ]+) ON", sql)
    assert set(grants) == {"CONNECT", "USAGE", "SELECT"}
    assert "NOCREATEDB NOCREATEROLE" in sql
    # Attributes RDS's master user may not touch (test_vector_roles_postgres.py runs this SQL).
    assert "NOSUPERUSER" not in sql and "NOREPLICATION" not in sql
    # Tables the writer (the master user) creates later are readable too.
    assert 'ALTER DEFAULT PRIVILEGES FOR ROLE :"master"' in sql
    # The password reaches psql from the in-memory volume, never the command line.
    assert f"`cat {vector_roles.PASSWORD_FILE}`" in sql and "password" not in vector_roles.PSQL_COMMAND


def test_the_objects_wait_in_order_password_secret_then_job_then_reader_secret_then_server(project_plan):
    plan = project_plan("rag-assistant", "prod")
    graph = Graph(plan)
    job = resource(plan, ":Job", roles_job(plan)["metadata"]["name"])
    admin = resource(plan, ":ExternalSecret", "vector-db-admin")
    reader = resource(plan, ":ExternalSecret", "vector-db-reader")
    assert admin["urn"] in graph.depends_on(job["urn"])
    assert job["urn"] in graph.depends_on(reader["urn"])
    for isvc in graph.kind("InferenceService"):
        if isvc["inputs"]["spec"]["predictor"].get("containers"):
            assert reader["urn"] in graph.depends_on(isvc["urn"])
    identity = [r["urn"] for r in plan.resources if r["name"].endswith("--wl--vector-admin-workload-access")]
    assert identity and identity[0] in graph.depends_on(job["urn"])


def test_the_jobs_pod_may_reach_postgres_secrets_manager_and_its_credentials(project_plan):
    plan = project_plan("rag-assistant", "prod")
    egress = {
        p["metadata"]["name"]: p["spec"]
        for p in objects(plan, "NetworkPolicy")
        if "Egress" in p["spec"]["policyTypes"] and p["spec"]["podSelector"] == {}
    }
    ports = {
        port["port"] for spec in egress.values() for rule in spec.get("egress", []) for port in rule.get("ports", [])
    }
    assert {5432, 443, 80, 53} <= ports


def test_the_vector_admin_role_may_only_get_and_put_the_readers_password(project_plan):
    plan = project_plan("rag-assistant", "prod")
    (policy,) = [
        json.loads(r["inputs"]["policy"])
        for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
        if r["name"].endswith("--wl--vector-admin-workload-access")
    ]
    secrets = [s for s in policy["Statement"] if any(a.startswith("secretsmanager:") for a in s["Action"])]
    assert [s["Resource"] for s in secrets] == [
        "arn:aws:secretsmanager:us-east-1:333333333333:secret:mlrig/rag-assistant/prod/vector-db/reader-??????"
    ]
    assert "secretsmanager:CreateSecret" not in secrets[0]["Action"]
    kms = [s for s in policy["Statement"] if any(a.startswith("kms:") for a in s["Action"])]
    assert kms[0]["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    assert not [s for s in policy["Statement"] if any(a.startswith(("s3:", "rds", "es:")) for a in s["Action"])]


def test_without_custom_endpoints_nothing_reads_pgvector_and_no_reader_is_made(plan_variant):
    def only_the_llm(project):
        project["spec"]["serving"]["endpoints"] = [
            e for e in project["spec"]["serving"]["endpoints"] if e.get("runtime") == "vllm"
        ]

    plan = plan_variant("rag-assistant", only_the_llm, "prod")
    assert not [j for j in objects(plan, "Job") if j["metadata"]["name"].startswith(naming.VECTOR_DB_ROLES_JOB)]
    assert "vector-db-reader" not in {e["metadata"]["name"] for e in objects(plan, "ExternalSecret")}
    assert not [r for r in plan.of_type("aws:iam/role:Role") if r["name"].endswith("--wl--vector-admin")]


# --- the Job's password step, run against a fake Secrets Manager ---------------------------------


def password_step():
    scope: dict = {"__name__": "password_step"}
    exec(compile(vector_roles.PASSWORD_SCRIPT, "password.py", "exec"), scope)
    return scope["reader_password"]


class FakeSecretsManager:
    def __init__(self, value: str | None = None):
        self.value = value
        self.puts = 0

    def __call__(self, target: str, payload: dict):
        if target == "GetSecretValue":
            if self.value is None:
                return 400, {"__type": "ResourceNotFoundException", "Message": "no AWSCURRENT value"}
            return 200, {"SecretString": self.value}
        self.puts += 1
        self.value = payload["SecretString"]
        return 200, {}


def test_the_first_run_generates_the_password_and_later_runs_read_the_same_one():
    reader_password = password_step()
    store = FakeSecretsManager()
    first = reader_password("mlrig/p/e/vector-db/reader", call=store, sleep=lambda _: None)
    assert len(first) >= 40 and store.puts == 1
    again = reader_password("mlrig/p/e/vector-db/reader", call=store, sleep=lambda _: None)
    assert again == first and store.puts == 1


def test_a_password_someone_rotated_in_secrets_manager_is_the_one_the_role_gets():
    reader_password = password_step()
    store = FakeSecretsManager("rotated-by-a-person")
    assert reader_password("s", call=store, sleep=lambda _: None) == "rotated-by-a-person" and store.puts == 0
