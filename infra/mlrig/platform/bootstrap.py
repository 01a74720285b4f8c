"""`mlrig bootstrap`: the self-managed Pulumi state backend, created once before the first `pulumi up`.

An S3 bucket (versioned, encrypted with the secrets key, public access blocked, bucket-owner
enforced, TLS only) and a KMS key with an alias for Pulumi secrets. Idempotent: each step looks
first and changes only what is missing. `--dry-run` prints the steps without changing anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import naming
from ..bundle.resolved import Platform, Project


@dataclass(frozen=True)
class StateBackend:
    bucket: str
    key_alias: str
    region: str
    partition: str
    # CI roles in the environments' accounts that read and write state (cross-account under
    # `account` isolation, so the bucket and key policies must let them in too).
    ci_roles: tuple[str, ...] = ()

    @property
    def login_url(self) -> str:
        return f"s3://{self.bucket}?region={self.region}&awssdk=v2"

    @property
    def secrets_provider(self) -> str:
        return f"awskms://{self.key_alias}?region={self.region}"


def ci_role_arns(platform: Platform, projects: Iterable[Project] = ()) -> tuple[str, ...]:
    """The CI roles of every environment with a known account: the platform's deployment and
    preview roles, and each project's CI deployer."""
    roles: list[str] = []
    for env in platform.environments.values():
        if not env.account:
            continue
        if platform.bundle.spec.github.organization:
            roles.append(naming.platform_deployer_role_arn(platform.name, env.name, env.account, env.region))
            roles.append(naming.platform_preview_role_arn(platform.name, env.name, env.account, env.region))
        for project in projects:
            if env.name in project.environments:
                names = naming.ProjectNames(project.name, env.name, env.account, env.region, platform.isolation)
                roles.append(names.role_arn("ci-deployer"))
    return tuple(roles)


def state_backend(platform: Platform, region: str | None = None, projects: Iterable[Project] = ()) -> StateBackend:
    state = platform.bundle.spec.state
    chosen = region or next(iter(platform.environments.values())).region
    alias = (state.secrets_provider or "").removeprefix("awskms://").split("?")[0] or naming.secrets_key_alias(
        platform.name
    )
    return StateBackend(
        bucket=naming.state_bucket_of(state.backend, platform.name),
        key_alias=alias,
        region=chosen,
        partition=naming.partition(chosen),
        ci_roles=ci_role_arns(platform, projects),
    )


def _accounts(roles: Iterable[str]) -> list[str]:
    return sorted({role.split(":")[4] for role in roles})


def bucket_statements(backend: StateBackend) -> list[dict[str, Any]]:
    """TLS only; and, when CI roles live in other accounts, let exactly those roles use the state."""
    bucket_arn = f"arn:{backend.partition}:s3:::{backend.bucket}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if backend.ci_roles:
        # Account principals narrowed by aws:PrincipalArn: valid before the roles exist.
        principals = {"AWS": [f"arn:{backend.partition}:iam::{a}:root" for a in _accounts(backend.ci_roles)]}
        condition = {"ArnEquals": {"aws:PrincipalArn": list(backend.ci_roles)}}
        statements += [
            {
                "Sid": "MlrigCiListState",
                "Effect": "Allow",
                "Principal": principals,
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": bucket_arn,
                "Condition": condition,
            },
            {
                "Sid": "MlrigCiUseState",
                "Effect": "Allow",
                "Principal": principals,
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{bucket_arn}/*",
                "Condition": condition,
            },
        ]
    return statements


def key_statements(backend: StateBackend, account: str) -> list[dict[str, Any]]:
    """The key's own account administers it (AWS's default statement); CI roles may use it."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{backend.partition}:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if backend.ci_roles:
        statements.append(
            {
                "Sid": "MlrigCiUseSecretsKey",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:{backend.partition}:iam::{a}:root" for a in _accounts(backend.ci_roles)]},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": list(backend.ci_roles)}},
            }
        )
    return statements


def merged_policy(current: str | None, statements: list[dict[str, Any]]) -> str | None:
    """`current` with `statements` put in by Sid (replacing same-Sid ones, keeping the others);
    None when nothing changes."""
    policy: dict[str, Any] = json.loads(current) if current else {"Version": "2012-10-17", "Statement": []}
    found = policy.get("Statement", [])
    existing: list[dict[str, Any]] = found if isinstance(found, list) else [found]
    by_sid = {s.get("Sid"): s for s in statements}
    merged = [by_sid.pop(s.get("Sid")) if s.get("Sid") in by_sid else s for s in existing]
    merged += list(by_sid.values())
    if merged == existing:
        return None
    return json.dumps({**policy, "Statement": merged})


@dataclass
class BootstrapReport:
    steps: list[str] = field(default_factory=list)
    dry_run: bool = False

    def did(self, message: str) -> None:
        self.steps.append(("would " if self.dry_run else "") + message)


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _ensure_key(kms: Any, backend: StateBackend, account: str, report: BootstrapReport) -> str | None:
    try:
        key_id = kms.describe_key(KeyId=backend.key_alias)["KeyMetadata"]["KeyId"]
    except Exception as error:
        if _error_code(error) != "NotFoundException":
            raise
        key_id = None
    if key_id is None:
        report.did(f"create KMS key {backend.key_alias} (rotation on)")
        if report.dry_run:
            return None
        key_id = kms.create_key(
            Description="Pulumi secrets and state of mlrig stacks",
            Policy=merged_policy(None, key_statements(backend, account)),
            Tags=[{"TagKey": "managed-by", "TagValue": "mlrig"}],
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=backend.key_alias, TargetKeyId=key_id)
        kms.enable_key_rotation(KeyId=key_id)
        return str(key_id)
    policy = merged_policy(
        kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"], key_statements(backend, account)
    )
    if policy is not None:
        report.did(f"let the CI roles use {backend.key_alias} (key policy)")
        if not report.dry_run:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    if not kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled"):
        report.did(f"enable rotation of {backend.key_alias}")
        if not report.dry_run:
            kms.enable_key_rotation(KeyId=key_id)
    return str(key_id)


def _bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except Exception as error:
        if _error_code(error) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def _ensure_bucket(s3: Any, backend: StateBackend, key_id: str | None, report: BootstrapReport) -> None:
    bucket = backend.bucket
    exists = _bucket_exists(s3, bucket)
    if not exists:
        report.did(f"create bucket s3://{bucket} in {backend.region}")
        if not report.dry_run:
            args: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
            if backend.region != "us-east-1":
                args["CreateBucketConfiguration"] = {"LocationConstraint": backend.region}
            s3.create_bucket(**args)
    settings: list[tuple[str, Callable[[], bool], Callable[[], Any]]] = [
        (
            "turn on versioning",
            lambda: s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled",
            lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}),
        ),
        (
            "block all public access",
            lambda: _public_access_blocked(s3, bucket),
            lambda: s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            ),
        ),
        (
            "enforce bucket-owner object ownership",
            lambda: _owner_enforced(s3, bucket),
            lambda: s3.put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
            ),
        ),
        (
            f"encrypt with SSE-KMS ({backend.key_alias})",
            lambda: _kms_encrypted(s3, bucket),
            lambda: s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id},
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            ),
        ),
        (
            _policy_step(backend),
            lambda: _bucket_policy(s3, bucket, backend) is None,
            lambda: s3.put_bucket_policy(Bucket=bucket, Policy=_bucket_policy(s3, bucket, backend)),
        ),
    ]
    for message, done, apply in settings:
        if exists and done():
            continue
        report.did(f"{message} on s3://{bucket}")
        if not report.dry_run:
            apply()


def _public_access_blocked(s3: Any, bucket: str) -> bool:
    try:
        config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except Exception as error:
        if _error_code(error) == "NoSuchPublicAccessBlockConfiguration":
            return False
        raise
    return all(
        config.get(k) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    )


def _owner_enforced(s3: Any, bucket: str) -> bool:
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    except Exception as error:
        if _error_code(error) == "OwnershipControlsNotFoundError":
            return False
        raise
    return any(rule.get("ObjectOwnership") == "BucketOwnerEnforced" for rule in rules)


def _kms_encrypted(s3: Any, bucket: str) -> bool:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except Exception as error:
        if _error_code(error) == "ServerSideEncryptionConfigurationNotFoundError":
            return False
        raise
    return any(r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" for r in rules)


def _policy_step(backend: StateBackend) -> str:
    return "require TLS" + (" and let the CI roles in" if backend.ci_roles else "") + " (bucket policy)"


def _bucket_policy(s3: Any, bucket: str, backend: StateBackend) -> str | None:
    """The bucket policy to put, or None when it already holds mlrig's statements."""
    try:
        current = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except Exception as error:
        if _error_code(error) not in ("NoSuchBucketPolicy", "NoSuchBucket"):
            raise
        current = None
    return merged_policy(current, bucket_statements(backend))


def bootstrap(backend: StateBackend, *, dry_run: bool, session: Any = None) -> BootstrapReport:
    """Create what is missing of the state backend with the current AWS credentials."""
    import boto3
    from botocore.exceptions import NoCredentialsError

    session = session or boto3.session.Session(region_name=backend.region)
    report = BootstrapReport(dry_run=dry_run)
    try:
        account = session.client("sts", region_name=backend.region).get_caller_identity()["Account"]
        key_id = _ensure_key(session.client("kms", region_name=backend.region), backend, account, report)
        _ensure_bucket(session.client("s3", region_name=backend.region), backend, key_id, report)
    except NoCredentialsError:
        if not dry_run:
            raise
        return fresh_account_steps(backend)
    return report


def fresh_account_steps(backend: StateBackend) -> BootstrapReport:
    """Without credentials a dry run cannot look: it shows every step, as for an empty account."""
    report = BootstrapReport(dry_run=True)
    report.steps.append(f"(no AWS credentials: showing every step for an empty account in {backend.region})")
    report.did(f"create KMS key {backend.key_alias} (rotation on)")
    report.did(f"create bucket s3://{backend.bucket} in {backend.region}")
    for message in (
        "turn on versioning",
        "block all public access",
        "enforce bucket-owner object ownership",
        f"encrypt with SSE-KMS ({backend.key_alias})",
        _policy_step(backend),
    ):
        report.did(f"{message} on s3://{backend.bucket}")
    return report


def next_steps(backend: StateBackend, platform: Platform) -> list[str]:
    first = next(iter(platform.environments.values()))
    return [
        f"pulumi login '{backend.login_url}'",
        f"pulumi stack select {first.stack} || pulumi stack init {first.stack} --secrets-provider '{backend.secrets_provider}'",
        "pulumi up",
    ]
