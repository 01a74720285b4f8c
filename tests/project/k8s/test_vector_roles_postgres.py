"""The reader role's SQL, run the way the Job runs it, against a real PostgreSQL 16 with pgvector
(the `pgserver` wheel; no network, no Docker). The master user is made as RDS makes it: a login
that may create roles and owns the database, not a superuser. Passwords are checked
(scram-sha-256), so the reader logs in with exactly the password the Job read."""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrig import naming
from mlrig.project import vector_roles

from .test_vector_roles import roles_job

MASTER, MASTER_PASSWORD = "vectors", "master-password"
SUPERUSER = "postgres"  # pgserver's own; only sets the stage, never runs the Job's SQL
READER_PASSWORD = "Zq3-generated_reader_password"


def _pgserver() -> Any:
    """pgserver finds its lock directory through platformdirs on import, which warns where no
    XDG_RUNTIME_DIR is set (CI containers) and falls back to /tmp: nothing to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
    return pgserver


class Postgres:
    """One server for the module: the database `vectors` owned by the RDS-like master user."""

    def __init__(self, data: Path) -> None:
        pgserver = _pgserver()
        self.server = pgserver.get_server(data, cleanup_mode="stop")
        self.host = self.server.get_uri().split("host=", 1)[1].split("&", 1)[0]
        self.bin = str(Path(pgserver._commands.POSTGRES_BIN_PATH))  # its psql, as the Job image has one
        self.sql(
            f"CREATE ROLE {MASTER} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORD}'",
            SUPERUSER,
            database="postgres",
        )
        self.sql(f"CREATE DATABASE {MASTER} OWNER {MASTER}", SUPERUSER, database="postgres")
        self.sql("CREATE EXTENSION vector", SUPERUSER)  # on RDS the master user may; here the stage does
        # Every login but the stage-setting superuser proves its password.
        hba = Path(self.server.pgdata) / "pg_hba.conf"
        hba.write_text(f"local all {SUPERUSER} trust\nlocal all all scram-sha-256\n")
        self.sql("SELECT pg_reload_conf()", SUPERUSER, database="postgres")

    def env(self, user: str, password: str, database: str = MASTER) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "PGHOST": self.host,
            "PGDATABASE": database,
            "PGUSER": user,
            "PGPASSWORD": password,
            "PGSSLMODE": "disable",  # the Job's `require` needs a server certificate; RDS has one
        }

    def sql(
        self, statement: str, user: str, password: str = "", *, database: str = MASTER, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-tA", "-c", statement],
            env=self.env(user, password, database),
            capture_output=True,
            text=True,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def run_job(
        self, job: dict, password_file: Path, password: str | None = READER_PASSWORD, **env_changes: str
    ) -> subprocess.CompletedProcess[str]:
        """The Job's `psql` container, as Kubernetes runs it: `sh -c` its command, with its env and
        the master credentials its ExternalSecret delivers; the password in the shared volume
        (`None`: the init container wrote nothing)."""
        (container,) = job["spec"]["template"]["spec"]["containers"]
        env = self.env(MASTER, MASTER_PASSWORD)
        for item in container.get("env", []):
            env[item["name"]] = item["value"].replace(vector_roles.PASSWORD_FILE, str(password_file))
        env.update(env_changes)
        if password is not None:
            password_file.write_text(password)
        return subprocess.run(container["command"], env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("pgdata"))
    yield server
    server.server.cleanup()


@pytest.fixture(scope="module")
def job(project_plan) -> dict:
    return roles_job(project_plan("rag-assistant", "dev"))


READER = naming.PGVECTOR_READER_ROLE


def test_the_job_makes_a_reader_that_reads_what_the_writer_wrote_before_and_after(postgres, job, tmp_path):
    postgres.sql("CREATE TABLE before_job (id int, embedding vector(3))", MASTER, MASTER_PASSWORD)
    postgres.sql("INSERT INTO before_job VALUES (1, '[1,2,3]')", MASTER, MASTER_PASSWORD)
    done = postgres.run_job(job, tmp_path / "reader-password")
    assert done.returncode == 0, done.stderr
    # The index refresh (the master user) creates a table after the Job ran: default privileges.
    postgres.sql("CREATE TABLE after_job (id int)", MASTER, MASTER_PASSWORD)
    postgres.sql("INSERT INTO after_job VALUES (2)", MASTER, MASTER_PASSWORD)
    nearest = postgres.sql(
        "SELECT id FROM before_job ORDER BY embedding <-> '[1,2,2]' LIMIT 1", READER, READER_PASSWORD
    )
    assert nearest.stdout.strip() == "1"
    assert postgres.sql("SELECT id FROM after_job", READER, READER_PASSWORD).stdout.strip() == "2"


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO before_job VALUES (9, '[0,0,0]')",
        "UPDATE after_job SET id = 0",
        "DELETE FROM after_job",
        "DROP TABLE after_job",
        "CREATE TABLE mine (id int)",
        "CREATE ROLE intruder",
        f"ALTER ROLE {MASTER} PASSWORD 'taken'",
    ],
)
def test_the_reader_changes_nothing(postgres, job, tmp_path, statement):
    assert postgres.run_job(job, tmp_path / "reader-password").returncode == 0
    postgres.sql("CREATE TABLE IF NOT EXISTS before_job (id int, embedding vector(3))", MASTER, MASTER_PASSWORD)
    postgres.sql("CREATE TABLE IF NOT EXISTS after_job (id int)", MASTER, MASTER_PASSWORD)
    refused = postgres.sql(statement, READER, READER_PASSWORD, check=False)
    assert refused.returncode != 0 and ("permission denied" in refused.stderr or "must be" in refused.stderr)


def test_the_reader_cannot_pass_its_reading_on(postgres, job, tmp_path):
    assert postgres.run_job(job, tmp_path / "reader-password").returncode == 0
    postgres.sql("CREATE TABLE IF NOT EXISTS after_job (id int)", MASTER, MASTER_PASSWORD)
    attempt = postgres.sql("GRANT SELECT ON after_job TO PUBLIC", READER, READER_PASSWORD)
    assert "no privileges were granted" in attempt.stderr  # PostgreSQL warns, and grants nothing
    public = postgres.sql("SELECT has_table_privilege('public', 'after_job', 'SELECT')", MASTER, MASTER_PASSWORD)
    assert public.stdout.strip() == "f"


def test_a_second_run_succeeds_and_the_reader_keeps_the_password_secrets_manager_holds(postgres, job, tmp_path):
    for _ in range(2):
        done = postgres.run_job(job, tmp_path / "reader-password")
        assert done.returncode == 0, done.stderr
    assert postgres.sql("SELECT 1", READER, READER_PASSWORD).stdout.strip() == "1"
    assert postgres.sql("SELECT 1", READER, "not-the-password", check=False).returncode != 0
    flags = postgres.sql(
        f"SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication FROM pg_roles WHERE rolname = '{READER}'",
        MASTER,
        MASTER_PASSWORD,
    )
    assert flags.stdout.strip() == "f|f|f|f"


def test_without_a_password_the_job_fails_instead_of_making_a_role_nobody_can_log_in_as(postgres, job, tmp_path):
    for password in (None, ""):
        done = postgres.run_job(job, tmp_path / "reader-password", password, MLRIG_READER_ROLE="no_password_reader")
        assert done.returncode != 0 and "password is missing or short" in done.stderr
    exists = postgres.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'no_password_reader'", MASTER, MASTER_PASSWORD)
    assert exists.stdout.strip() == "0"


def test_a_reader_role_someone_made_privileged_stops_the_job(postgres, job, tmp_path):
    """The master user cannot take REPLICATION away (nor SUPERUSER, BYPASSRLS): the Job refuses
    to hand that role's password to the model servers."""
    postgres.sql("CREATE ROLE privileged_reader LOGIN REPLICATION", SUPERUSER, database="postgres")
    done = postgres.run_job(job, tmp_path / "reader-password", MLRIG_READER_ROLE="privileged_reader")
    assert done.returncode != 0 and "SUPERUSER, REPLICATION or BYPASSRLS" in done.stderr
