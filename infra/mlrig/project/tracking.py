"""The MLflow tracking server's backend store: RDS PostgreSQL in the platform's private subnets,
encrypted with the project key, with its connection in Secrets Manager (`mlrig/<project>/<env>/
mlflow-db`: host, port, dbname, username, password) for the External Secrets Operator.

`PostgresDatabase` is the pattern every project database follows (the pgvector store too)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from .. import naming
from .context import ProjectContext

POSTGRES_PORT = 5432
POSTGRES_ENGINE_VERSION = "16"


def backup_retention_days(tier: str) -> int:
    return 30 if tier == "prod" else 7


def default_instance_class(tier: str) -> str:
    return "db.m7g.large" if tier == "prod" else "db.t4g.small"


class PostgresDatabase(pulumi.ComponentResource):
    """RDS PostgreSQL reachable only from the cluster, with its connection secret."""

    instance: aws.rds.Instance
    secret: aws.secretsmanager.Secret

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
        password = random.RandomPassword(
            f"{identifier}-password", length=40, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        username = database_name
        self.instance = aws.rds.Instance(
            identifier,
            identifier=identifier,
            engine="postgres",
            engine_version=POSTGRES_ENGINE_VERSION,
            instance_class=instance_class,
            allocated_storage=storage_gib,
            max_allocated_storage=storage_gib * 4,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key_arn,
            db_name=database_name,
            username=username,
            password=password.result,
            port=POSTGRES_PORT,
            db_subnet_group_name=ctx.platform.database_subnet_group,
            vpc_security_group_ids=[security_group.id],
            publicly_accessible=False,
            multi_az=prod,
            backup_retention_period=backup_retention_days(ctx.tier),
            copy_tags_to_snapshot=True,
            deletion_protection=prod,
            skip_final_snapshot=not prod,
            final_snapshot_identifier=f"{identifier}-final" if prod else None,
            auto_minor_version_upgrade=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key_arn,
            enabled_cloudwatch_logs_exports=["postgresql"],
            apply_immediately=not prod,
            opts=ctx.aws_opts(self, stateful=True),
        )
        self.secret = aws.secretsmanager.Secret(
            f"{identifier}-secret",
            name=names.secret(secret_purpose),
            description=f"Connection to {identifier} (PostgreSQL)",
            kms_key_id=key_arn,
            recovery_window_in_days=30 if prod else 7,
            opts=ctx.aws_opts(self, stateful=True),
        )
        connection = pulumi.Output.json_dumps(
            {
                "host": self.instance.address,
                "port": POSTGRES_PORT,
                "dbname": database_name,
                "username": username,
                "password": password.result,
            }
        )
        aws.secretsmanager.SecretVersion(
            f"{identifier}-connection",
            secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(connection),  # type: ignore[arg-type]
            opts=ctx.aws_opts(self, stateful=True),
        )
        self.register_outputs({"address": self.instance.address, "secretName": self.secret.name})


class TrackingStore(pulumi.ComponentResource):
    """Backend store of the environment's MLflow tracking server (artifacts go to the artifacts
    bucket's `mlflow/` prefix through the `tracking` workload's Pod Identity)."""

    database: aws.rds.Instance

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
            storage_gib=20,
            key_arn=key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.database = store.instance
        self.secret = store.secret
        self.register_outputs({"databaseAddress": self.database.address, "secretName": self.secret.name})
