"""A project's storage in one environment: the project KMS key, one bucket per data class, the
prod access-log bucket and the Glue catalog database.

Layout (prefixes are conventions the pipelines and grants rely on, see `naming.py`):
  data       <layer>/ for each `storage.dataLayers` (medallion), predictions/
  artifacts  models/, mlflow/ (tracking server), hub/ (base-model mirror)
  logs       inference/ (inference tables), metrics/ (monitoring), feedback/ (human feedback)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import naming
from .context import ProjectContext
from .identity import (
    BUCKET_CLASSES,
    KMS_READ_ACTIONS,
    KMS_WRITE_ACTIONS,
    S3_LIST_ACTIONS,
    S3_READ_ACTIONS,
    cross_account_data_readers,
    key_users,
    model_importers,
    other_stack_principals,
    policy_document,
)

ACCESS_LOGS = "access-logs"
ACCESS_LOG_RETENTION_DAYS = 365
ABORT_MULTIPART_AFTER_DAYS = 7
# Staging data is temporary. Artifacts are not: staging's model registry keeps its champion, which
# the model-deployment pipeline compares candidates with (old versions still expire).
TEMPORARY_IN_STAGING = ("data", "logs")

# Key administration, spelled out: no wildcards, and no data-plane actions for the administrator.
KEY_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
]
# What the deployer needs to create encrypted RDS instances, ECR repositories and secrets.
KEY_SERVICE_ACTIONS = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]


def _via(services: Sequence[str], region: str) -> dict[str, Any]:
    return {"StringEquals": {"kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services]}}


def key_policy_statements(ctx: ProjectContext, administrators: pulumi.Input[Sequence[str]]) -> list[dict[str, Any]]:
    """The account root (so IAM policies can delegate use: the platform team fills secrets, a
    recreated deployer keeps control), the administrators (who run Pulumi: KMS refuses a policy
    that locks its caller out), and exactly the roles that read or write with this key, each
    through the services that use it. Roles of other environments' stacks are admitted by
    condition, never named: this stack must not need theirs to exist first."""
    names = ctx.names
    users = key_users(ctx.project, ctx.env, names.account)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": naming.account_root_arn(names.account, names.region)},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "AdministerKey",
            "Effect": "Allow",
            "Principal": {"AWS": administrators},
            "Action": KEY_ADMIN_ACTIONS,
            "Resource": "*",
        },
        {
            "Sid": "DeployEncryptedResources",
            "Effect": "Allow",
            "Principal": {"AWS": administrators},
            "Action": KEY_SERVICE_ACTIONS,
            "Resource": "*",
            "Condition": _via(["rds", "ecr", "secretsmanager", "firehose"], names.region),
        },
        {
            "Sid": "AlarmNotifications",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": names.account}},
        },
    ]
    if users.readers:
        statements.append(
            {
                "Sid": "ReadProjectData",
                "Effect": "Allow",
                "Principal": {"AWS": list(users.readers)},
                "Action": KMS_READ_ACTIONS,
                "Resource": "*",
                "Condition": _via(["s3", "secretsmanager"], names.region),
            }
        )
    if users.writers:
        statements.append(
            {
                "Sid": "WriteProjectData",
                "Effect": "Allow",
                "Principal": {"AWS": list(users.writers)},
                "Action": KMS_WRITE_ACTIONS,
                "Resource": "*",
                "Condition": _via(["s3"], names.region),
            }
        )
    if users.foreign_readers:
        admitted = other_stack_principals(users.foreign_readers, names.region)
        statements.append(
            {
                "Sid": "ReadFromOtherEnvironments",
                "Effect": "Allow",
                "Principal": admitted["Principal"],
                "Action": KMS_READ_ACTIONS,
                "Resource": "*",
                "Condition": {**admitted["Condition"], **_via(["s3"], names.region)},
            }
        )
    return statements


def bucket_policy_statements(ctx: ProjectContext, data_class: str) -> list[dict[str, Any]]:
    """TLS only; and, under `account` isolation, read access for the dev personas of other
    accounts that the access table lets read this bucket."""
    arn = ctx.names.bucket_arn(data_class)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    readers = cross_account_data_readers(ctx.project, ctx.env, ctx.names.account) if data_class == "data" else []
    if readers:
        # The readers are roles of other environments' stacks: admitted by condition, not named.
        admitted = other_stack_principals(readers, ctx.names.region)
        statements += [
            {"Sid": "CrossAccountList", "Effect": "Allow", **admitted, "Action": S3_LIST_ACTIONS, "Resource": arn},
            {
                "Sid": "CrossAccountRead",
                "Effect": "Allow",
                **admitted,
                "Action": S3_READ_ACTIONS,
                "Resource": f"{arn}/*",
            },
        ]
    if data_class == "artifacts":
        statements += model_import_statements(ctx)
    return statements


def model_import_statements(ctx: ProjectContext) -> list[dict[str, Any]]:
    """deploy-models, across accounts: the import steps of the environments that promote from this
    one may list and read its champion (`models/<project>/champion/`), nothing else of the bucket.
    Same-account importers need no statement: their identity policy suffices."""
    names = ctx.names
    readers = [
        arn
        for arn in model_importers(ctx.project, ctx.env, names.account)
        if naming.account_of_arn(arn) != names.account
    ]
    if not readers:
        return []
    arn = names.bucket_arn("artifacts")
    champion = naming.model_prefix(ctx.project.name, "champion")
    admitted = other_stack_principals(readers, names.region)
    return [
        {"Sid": "ModelImportLocate", "Effect": "Allow", **admitted, "Action": "s3:GetBucketLocation", "Resource": arn},
        {
            "Sid": "ModelImportList",
            "Effect": "Allow",
            "Principal": admitted["Principal"],
            "Action": "s3:ListBucket",
            "Resource": arn,
            "Condition": {**admitted["Condition"], "StringLike": {"s3:prefix": [f"{champion}*"]}},
        },
        {
            "Sid": "ModelImportRead",
            "Effect": "Allow",
            **admitted,
            "Action": S3_READ_ACTIONS,
            "Resource": f"{arn}/{champion}*",
        },
    ]


def lifecycle_rules(ctx: ProjectContext, data_class: str) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    storage = ctx.env.spec.storage
    rules = [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=ABORT_MULTIPART_AFTER_DAYS
            ),
        )
    ]
    if ctx.tier == "staging" and data_class in TEMPORARY_IN_STAGING:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="staging-retention",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=storage.staging_retention_days),
            )
        )
    if versioned(ctx):
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-old-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=storage.noncurrent_version_retention_days
                ),
            )
        )
    feedback = ctx.env.spec.llm.feedback
    if data_class == "logs" and feedback.enabled:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="feedback-retention",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=naming.LOG_PREFIXES["feedback"]),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=feedback.retention_days),
            )
        )
    return rules


def versioned(ctx: ProjectContext) -> bool:
    return ctx.tier in ("staging", "prod")


class Storage(pulumi.ComponentResource):
    """Project key, buckets by data class, access logs in prod, Glue database."""

    key: aws.kms.Key
    buckets: dict[str, aws.s3.Bucket]

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        administrators: pulumi.Input[Sequence[str]],
        principals: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:Storage", name, None, opts)
        self._ctx = ctx
        names = ctx.names
        # Key and bucket policies name the roles: they must exist first.
        self.key = aws.kms.Key(
            f"{names.prefix}-key",
            description=f"mlrig project {names.project} ({names.environment}): data, secrets, images",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy_document(key_policy_statements(ctx, administrators)),
            opts=ctx.aws_opts(self, stateful=True, depends_on=principals),
        )
        self.alias = aws.kms.Alias(
            f"{names.prefix}-key-alias",
            name=names.kms_alias(),
            target_key_id=self.key.key_id,
            opts=ctx.aws_opts(self),
        )
        self.access_logs = self._access_log_bucket() if ctx.tier == "prod" else None
        self.buckets = {data_class: self._bucket(data_class, principals) for data_class in BUCKET_CLASSES}
        self.glue_database = aws.glue.CatalogDatabase(
            f"{names.prefix}-catalog",
            name=names.glue_database(),
            description=f"Tables of {names.project} in {names.environment}",
            location_uri=f"s3://{names.bucket('data')}/",
            opts=ctx.aws_opts(self, stateful=True),
        )
        self.register_outputs(
            {
                "keyArn": self.key.arn,
                "bucketNames": {c: b.bucket for c, b in self.buckets.items()},
                "glueDatabase": self.glue_database.name,
            }
        )

    def _bucket(self, data_class: str, principals: Sequence[pulumi.Resource]) -> aws.s3.Bucket:
        ctx = self._ctx
        logical = ctx.names.bucket(data_class)
        bucket, child = self._hardened_bucket(data_class, sse_algorithm="aws:kms", kms_key=self.key.arn)
        aws.s3.BucketPolicy(
            f"{logical}-policy",
            bucket=bucket.bucket,
            policy=policy_document(bucket_policy_statements(ctx, data_class)),
            opts=ctx.aws_opts(self, stateful=True, depends_on=[bucket, *principals]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{logical}-lifecycle", bucket=bucket.bucket, rules=lifecycle_rules(ctx, data_class), opts=child
        )
        if self.access_logs is not None:
            aws.s3.BucketLogging(
                f"{logical}-access-logging",
                bucket=bucket.bucket,
                target_bucket=self.access_logs.bucket,
                target_prefix=f"{data_class}/",
                opts=child,
            )
        return bucket

    def _hardened_bucket(
        self, data_class: str, *, sse_algorithm: str, kms_key: pulumi.Input[str] | None
    ) -> tuple[aws.s3.Bucket, pulumi.ResourceOptions]:
        """A bucket of `data_class`, hardened and encrypted; returns it and its children's options."""
        ctx = self._ctx
        logical = ctx.names.bucket(data_class)
        bucket = aws.s3.Bucket(
            logical,
            bucket=logical,
            force_destroy=ctx.empties_on_delete,
            tags={naming.TAG_DATA_CLASS: data_class},
            opts=ctx.aws_opts(self, stateful=True),
        )
        child = ctx.aws_opts(self, stateful=True, depends_on=[bucket])
        self._harden(logical, bucket, child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{logical}-encryption",
            bucket=bucket.bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm=sse_algorithm, kms_master_key_id=kms_key
                    ),
                    # S3 bucket keys cut KMS requests; they only apply to SSE-KMS.
                    bucket_key_enabled=True if kms_key is not None else None,
                )
            ],
            opts=child,
        )
        return bucket, child

    def _harden(self, logical: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions) -> None:
        """Public access blocked, ACLs disabled, versioning in staging and prod."""
        aws.s3.BucketPublicAccessBlock(
            f"{logical}-public-access-block",
            bucket=bucket.bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        aws.s3.BucketOwnershipControls(
            f"{logical}-ownership",
            bucket=bucket.bucket,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        )
        if versioned(self._ctx):
            aws.s3.BucketVersioning(
                f"{logical}-versioning",
                bucket=bucket.bucket,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=opts,
            )

    def _access_log_bucket(self) -> aws.s3.Bucket:
        """S3 server access logs support only SSE-S3 on the target bucket, hence AES256 here."""
        ctx, names = self._ctx, self._ctx.names
        logical = names.bucket(ACCESS_LOGS)
        bucket, child = self._hardened_bucket(ACCESS_LOGS, sse_algorithm="AES256", kms_key=None)
        arn = names.bucket_arn(ACCESS_LOGS)
        statements = bucket_policy_statements(ctx, ACCESS_LOGS)
        statements.append(
            {
                "Sid": "ServerAccessLogsDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{arn}/*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": names.account},
                    "ArnLike": {"aws:SourceArn": [names.bucket_arn(c) for c in BUCKET_CLASSES]},
                },
            }
        )
        aws.s3.BucketPolicy(f"{logical}-policy", bucket=bucket.bucket, policy=policy_document(statements), opts=child)
        aws.s3.BucketLifecycleConfiguration(
            f"{logical}-lifecycle",
            bucket=bucket.bucket,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="access-log-retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=ACCESS_LOG_RETENTION_DAYS),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=ctx.env.spec.storage.noncurrent_version_retention_days
                    ),
                )
            ],
            opts=child,
        )
        return bucket
