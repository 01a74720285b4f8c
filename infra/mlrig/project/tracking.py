"""The MLflow tracking server's backend store: RDS PostgreSQL in the platform's private subnets,
encrypted with the project key. Its master password is managed by RDS itself
(`manage_master_user_password`): RDS generates it and keeps it in a Secrets Manager secret
(`rds!db-…`, encrypted with the project key, JSON `{"username", "password"}`) that the External
Secrets Operator syncs into the namespace. No password ever passes through Pulumi or its state.

`PostgresDatabase` is the pattern every project database follows (the pgvector store too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random

from .. import naming
from .context import ProjectContext

POSTGRES_PORT = 5432
POSTGRES_ENGINE_VERSION = "16"


def backup_retention_days(tier: str) -> int:
    return 30 if tier == "prod" else 7


def default_instance_class(tier: str) -> str:
    return "db.m7g.large" if tier == "prod" else "db.t4g.small"


TRACKING_STORAGE_GIB = 20
# Storage autoscaling lets RDS grow a database up to this multiple of its allocated storage.
STORAGE_AUTOSCALING_FACTOR = 4


def max_storage_gib(storage_gib: int) -> int:
    """The most storage autoscaling gives a database of `storage_gib` allocated."""
    return storage_gib * STORAGE_AUTOSCALING_FACTOR


@dataclass(frozen=True)
class DatabaseConnection:
    """How clients reach a project database: the address and the RDS-managed master secret
    (`username` and `password` properties), which ExternalSecrets read by ARN."""

    purpose: str
    host: pulumi.Output[str]
    port: int
    dbname: str
    username: str
    master_secret_arn: pulumi.Output[str]


def _master_secret_arn(secrets: Sequence[Any] | None) -> str:
    """The ARN of the secret RDS manages for the master user (one per instance)."""
    first = next(iter(secrets or []))
    if isinstance(first, dict):
        return str(first.get("secret_arn") or first.get("secretArn"))
    return str(first.secret_arn)


class PostgresDatabase(pulumi.ComponentResource):
    """RDS PostgreSQL reachable only from the cluster, with its connection secret."""

    instance: aws.rds.Instance
    connection: DatabaseConnection

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        purpose: str,
        secret_purpose: str,
        database_name: str,
        instance_class: str,
        storage_gib: int,
        key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:PostgresDatabase", name, None, opts)
        names = ctx.names
        prod = ctx.tier == "prod"
        identifier = names.database(purpose)
        security_group = aws.ec2.SecurityGroup(
            f"{identifier}-sg",
            name=naming.project_security_group(names, purpose),
            description=f"PostgreSQL {identifier}: reachable from the cluster only",
            vpc_id=ctx.platform.vpc_id,
            opts=ctx.aws_opts(self),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{identifier}-from-cluster",
            security_group_id=security_group.id,
            description="PostgreSQL from the cluster's nodes and pods",
            ip_protocol="tcp",
            from_port=POSTGRES_PORT,
            to_port=POSTGRES_PORT,
            referenced_security_group_id=ctx.platform.cluster_security_group_id,
            opts=ctx.aws_opts(self),
        )
        username = database_name
        self.instance = aws.rds.Instance(
            identifier,
            identifier=identifier,
            engine="postgres",
            engine_version=POSTGRES_ENGINE_VERSION,
            instance_class=instance_class,
            allocated_storage=storage_gib,
            max_allocated_storage=max_storage_gib(storage_gib),
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key_arn,
            db_name=database_name,
            username=username,
            # RDS generates the password and keeps it in Secrets Manager, encrypted with the
            # project key; Pulumi never sees it.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key_arn,
            port=POSTGRES_PORT,
            db_subnet_group_name=ctx.platform.database_subnet_group,
            vpc_security_group_ids=[security_group.id],
            publicly_accessible=False,
            multi_az=prod,
            backup_retention_period=backup_retention_days(ctx.tier),
            copy_tags_to_snapshot=True,
            deletion_protection=prod,
            skip_final_snapshot=not prod,
            final_snapshot_identifier=self._final_snapshot(identifier) if prod else None,
            auto_minor_version_upgrade=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key_arn,
            enabled_cloudwatch_logs_exports=["postgresql"],
            apply_immediately=not prod,
            opts=ctx.aws_opts(self, stateful=True),
        )
        self.connection = DatabaseConnection(
            purpose=secret_purpose,
            host=self.instance.address,
            port=POSTGRES_PORT,
            dbname=database_name,
            username=username,
            master_secret_arn=self.instance.master_user_secrets.apply(_master_secret_arn),
        )
        self.register_outputs({"address": self.instance.address, "masterSecretArn": self.connection.master_secret_arn})

    def _final_snapshot(self, identifier: str) -> pulumi.Output[str]:
        """`<identifier>-final-<8 hex>`: a snapshot outlives its database, so a fixed name would
        make deleting a re-created database fail (`DBSnapshotAlreadyExists`). The suffix is made
        and deleted with this component, so every database it creates gets a name of its own.
        Never a secret, and held in state only: changing it updates no AWS object."""
        suffix = pulumi_random.RandomId(
            f"{identifier}-final-snapshot",
            byte_length=4,
            keepers={"identifier": identifier},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return suffix.hex.apply(lambda hex_suffix: naming.final_snapshot(identifier, hex_suffix))


class TrackingStore(pulumi.ComponentResource):
    """Backend store of the environment's MLflow tracking server (artifacts go to the artifacts
    bucket's `mlflow/` prefix through the `tracking` workload's Pod Identity)."""

    database: aws.rds.Instance
    connection: DatabaseConnection

    def __init__(
        self, name: str, ctx: ProjectContext, key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlrig:project:TrackingStore", name, None, opts)
        store = PostgresDatabase(
            "mlflow-db",
            ctx,
            purpose="mlflow",
            secret_purpose="mlflow-db",
            database_name="mlflow",
            instance_class=default_instance_class(ctx.tier),
            storage_gib=TRACKING_STORAGE_GIB,
            key_arn=key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.database = store.instance
        self.connection = store.connection
        self.register_outputs(
            {"databaseAddress": self.database.address, "masterSecretArn": self.connection.master_secret_arn}
        )
