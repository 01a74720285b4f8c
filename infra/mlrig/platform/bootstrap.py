"""`mlrig bootstrap`: the self-managed Pulumi state backend, created once before the first `pulumi up`.

- the state bucket (versioned, SSE-KMS with its own key `alias/<platform>-pulumi-state`, public
  access blocked, bucket-owner enforced, TLS only), in the account of the caller's credentials,
  which must be the state account (`spec.state.account`) when the bundle names one;
- one Pulumi secrets key per environment (`mlrig.state`), in that environment's account: under
  `account` isolation bootstrap assumes the environment's deployment role to create it there (the
  trust policy `mlrig init platform` writes lets the state account in), so a role of one
  environment never decrypts another environment's secrets.

The bucket and key policies grant each principal only what it needs: the platform deployment
roles read and write state and use their own environment's secrets key; under `account`
isolation each environment's deployment role (`mlrig-deployer`, what the state account's
administrators assume for the first apply) reads and writes state too; the read-only preview
roles read state, write only stack locks and decrypt their own environment's secrets; project CI
roles get nothing (they deploy images, never stacks). Idempotent: each step looks first and
changes only what is missing or stale. `--dry-run` prints the steps without changing anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import naming, state
from ..bundle.resolved import Platform, PlatformEnvironment

# Statements earlier versions of mlrig put into the policies, removed when bootstrap runs again:
# they let every CI role (project CI deployers and previews too) write state and use one shared key.
OBSOLETE_SIDS = ("MlrigCiUseState", "MlrigCiUseSecretsKey")
KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
KEY_DECRYPT = ["kms:Decrypt", "kms:DescribeKey"]
STATE_LIST = ["s3:ListBucket", "s3:GetBucketLocation"]
STATE_OBJECTS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
BUCKET_KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


class BootstrapError(Exception):
    """A precondition the caller must fix (wrong account, a role that does not let them in)."""


@dataclass(frozen=True)
class SecretsKey:
    """The Pulumi secrets key of one environment."""

    environment: str
    alias: str
    region: str
    provider: str  # the `awskms://` URL written into the environment's stack configs
    account: str | None = None  # None: the account of the caller's credentials
    # Role bootstrap assumes to reach `account` when it is not the caller's (account isolation).
    deployment_role: str | None = None
    writers: tuple[str, ...] = ()  # encrypt and decrypt: the environment's deployment role
    readers: tuple[str, ...] = ()  # decrypt: preview roles (and, namespace isolation, the tenants)


@dataclass(frozen=True)
class StateBackend:
    bucket: str
    region: str
    partition: str
    bucket_key_alias: str
    # Platform CI roles in the environments' accounts (cross-account under `account` isolation, so
    # the bucket policy must let them in too). Project CI roles never touch state.
    deployers: tuple[str, ...] = ()
    previews: tuple[str, ...] = ()
    secrets_keys: tuple[SecretsKey, ...] = ()
    # The state account (`spec.state.account`): bootstrap refuses credentials of another one.
    account: str | None = None
    # `account` isolation: each environment's deployment role, which the state account's
    # administrators assume to run the first `pulumi up` (and the providers assume anyway).
    deployment_roles: tuple[str, ...] = ()

    @property
    def ci_roles(self) -> tuple[str, ...]:
        return self.deployers + self.previews

    @property
    def login_url(self) -> str:
        return f"s3://{self.bucket}?region={self.region}&awssdk=v2"


def _ci_roles(platform: Platform, env: PlatformEnvironment) -> tuple[str | None, str | None]:
    """The platform deployment and preview roles of an environment with a known account."""
    if not env.account or not platform.bundle.spec.github.organization:
        return None, None
    return (
        naming.platform_deployer_role_arn(platform.name, env.name, env.account, env.region),
        naming.platform_preview_role_arn(platform.name, env.name, env.account, env.region),
    )


def ci_role_arns(platform: Platform) -> tuple[str, ...]:
    """Every platform CI role of an environment with a known account."""
    return tuple(role for env in platform.environments.values() for role in _ci_roles(platform, env) if role)


def _deployment_role(platform: Platform, env: PlatformEnvironment) -> str | None:
    """The role Pulumi's providers assume in the environment's account (`account` isolation)."""
    if platform.isolation != "account" or not env.account:
        return None
    return naming.role_arn(env.account, env.region, env.spec.deployment_role)


def secrets_keys(platform: Platform) -> tuple[SecretsKey, ...]:
    shared_owner = None
    if platform.isolation == "namespace":
        shared_owner = naming.shared_cluster_owner({name: e.tier for name, e in platform.environments.items()})
    keys = []
    for env in platform.environments.values():
        deployer, preview = _ci_roles(platform, env)
        readers = [preview] if preview else []
        if env.name == shared_owner:  # tenants read the shared landing zone's outputs
            readers += [
                r
                for other in platform.environments.values()
                if other is not env
                for r in _ci_roles(platform, other)
                if r
            ]
        keys.append(
            SecretsKey(
                environment=env.name,
                alias=state.secrets_key_alias(platform, env),
                region=state.secrets_key_region(platform, env),
                provider=state.secrets_provider(platform, env),
                account=env.account,
                deployment_role=_deployment_role(platform, env),
                writers=(deployer,) if deployer else (),
                readers=tuple(readers),
            )
        )
    return tuple(keys)


def state_backend(platform: Platform, region: str | None = None) -> StateBackend:
    chosen = region or next(iter(platform.environments.values())).region
    deployers, previews = [], []
    for env in platform.environments.values():
        deployer, preview = _ci_roles(platform, env)
        deployers += [deployer] if deployer else []
        previews += [preview] if preview else []
    return StateBackend(
        bucket=state.state_bucket(platform),
        region=chosen,
        partition=naming.partition(chosen),
        bucket_key_alias=naming.state_bucket_key_alias(platform.name),
        deployers=tuple(deployers),
        previews=tuple(previews),
        secrets_keys=secrets_keys(platform),
        account=state.state_account(platform),
        deployment_roles=tuple(
            role for env in platform.environments.values() if (role := _deployment_role(platform, env))
        ),
    )


def _accounts(roles: Iterable[str]) -> list[str]:
    return sorted({role.split(":")[4] for role in roles})


def _grant(sid: str, partition: str, roles: Iterable[str], actions: list[str], resource: Any) -> dict[str, Any]:
    """Account principals narrowed by aws:PrincipalArn: valid before the roles exist."""
    chosen = list(roles)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:{partition}:iam::{a}:root" for a in _accounts(chosen)]},
        "Action": actions,
        "Resource": resource,
        "Condition": {"ArnEquals": {"aws:PrincipalArn": chosen}},
    }


def bucket_statements(backend: StateBackend) -> list[dict[str, Any]]:
    """TLS only; CI deployment roles and the environments' deployment roles read and write state,
    preview roles read it and take locks."""
    partition = backend.partition
    bucket_arn = f"arn:{partition}:s3:::{backend.bucket}"
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
        statements.append(_grant("MlrigCiListState", partition, backend.ci_roles, STATE_LIST, bucket_arn))
    if backend.deployers:
        statements.append(
            _grant("MlrigDeployersUseState", partition, backend.deployers, STATE_OBJECTS, f"{bucket_arn}/*")
        )
    if backend.deployment_roles:
        statements += [
            _grant("MlrigDeploymentRolesListState", partition, backend.deployment_roles, STATE_LIST, bucket_arn),
            _grant(
                "MlrigDeploymentRolesUseState", partition, backend.deployment_roles, STATE_OBJECTS, f"{bucket_arn}/*"
            ),
        ]
    if backend.previews:
        statements += [
            _grant("MlrigPreviewsReadState", partition, backend.previews, ["s3:GetObject"], f"{bucket_arn}/*"),
            _grant(
                "MlrigPreviewsLockState",
                partition,
                backend.previews,
                ["s3:PutObject", "s3:DeleteObject"],
                f"{bucket_arn}/.pulumi/locks/*",
            ),
        ]
    return statements


def _administrators(partition: str, account: str) -> dict[str, Any]:
    """The key's own account administers it (AWS's default statement)."""
    return {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def bucket_key_statements(backend: StateBackend, account: str) -> list[dict[str, Any]]:
    """The bucket's SSE key: CI roles and deployment roles use it through S3 only."""
    statements = [_administrators(backend.partition, account)]
    for sid, roles in (
        ("MlrigCiUseStateBucketKey", backend.ci_roles),
        ("MlrigDeploymentRolesUseStateBucketKey", backend.deployment_roles),
    ):
        if roles:
            grant = _grant(sid, backend.partition, roles, BUCKET_KEY_USE, "*")
            grant["Condition"]["StringEquals"] = {"kms:ViaService": f"s3.{backend.region}.amazonaws.com"}
            statements.append(grant)
    return statements


def secrets_key_statements(key: SecretsKey, partition: str, account: str) -> list[dict[str, Any]]:
    """An environment's secrets key: its deployment role encrypts and decrypts, readers decrypt."""
    statements = [_administrators(partition, account)]
    if key.writers:
        statements.append(_grant("MlrigDeployerUsesSecretsKey", partition, key.writers, KEY_USE, "*"))
    if key.readers:
        statements.append(_grant("MlrigReadersDecryptSecrets", partition, key.readers, KEY_DECRYPT, "*"))
    return statements


def merged_policy(current: str | None, statements: list[dict[str, Any]]) -> str | None:
    """`current` with `statements` put in by Sid (replacing same-Sid ones, keeping the others);
    None when nothing changes."""
    policy: dict[str, Any] = json.loads(current) if current else {"Version": "2012-10-17", "Statement": []}
    found = policy.get("Statement", [])
    existing: list[dict[str, Any]] = found if isinstance(found, list) else [found]
    by_sid = {s.get("Sid"): s for s in statements}
    kept = [s for s in existing if s.get("Sid") not in OBSOLETE_SIDS]
    merged = [by_sid.pop(s.get("Sid")) if s.get("Sid") in by_sid else s for s in kept]
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


def _ensure_key(
    kms: Any, alias: str, description: str, statements: list[dict[str, Any]], report: BootstrapReport
) -> str | None:
    """A rotating KMS key behind `alias` holding `statements` in its policy; its ARN (None in a
    dry run that would create it)."""
    try:
        metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except Exception as error:
        if _error_code(error) != "NotFoundException":
            raise
        metadata = None
    if metadata is None:
        report.did(f"create KMS key {alias} (rotation on)")
        if report.dry_run:
            return None
        metadata = kms.create_key(
            Description=description,
            Policy=merged_policy(None, statements),
            Tags=[{"TagKey": "managed-by", "TagValue": "mlrig"}],
        )["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
        return str(metadata["Arn"])
    key_id = metadata["KeyId"]
    policy = merged_policy(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"], statements)
    if policy is not None:
        report.did(f"let exactly the roles that need it use {alias} (key policy)")
        if not report.dry_run:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    if not kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled"):
        report.did(f"enable rotation of {alias}")
        if not report.dry_run:
            kms.enable_key_rotation(KeyId=key_id)
    return str(metadata["Arn"])


def _bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except Exception as error:
        if _error_code(error) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def _ensure_bucket(s3: Any, backend: StateBackend, key_arn: str | None, report: BootstrapReport) -> None:
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
            f"encrypt with SSE-KMS ({backend.bucket_key_alias})",
            lambda: _kms_encrypted(s3, bucket, key_arn),
            lambda: s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            # The key ARN: S3 resolves a bare key id or alias in the *writer's*
                            # account, and the CI and deployment roles write from other accounts.
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key_arn,
                            },
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


def _kms_encrypted(s3: Any, bucket: str, key_arn: str | None) -> bool:
    """Encrypted by default with the bucket key, named by its ARN (earlier versions named it by
    key id, which cross-account writers resolve in their own account)."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except Exception as error:
        if _error_code(error) == "ServerSideEncryptionConfigurationNotFoundError":
            return False
        raise
    return any(
        r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        and r["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID") == key_arn
        for r in rules
    )


def _policy_step(backend: StateBackend) -> str:
    admitted = [kind for kind, roles in (("CI", backend.ci_roles), ("deployment", backend.deployment_roles)) if roles]
    let_in = f" and let the {' and '.join(admitted)} roles in" if admitted else ""
    return f"require TLS{let_in} (bucket policy)"


def _bucket_policy(s3: Any, bucket: str, backend: StateBackend) -> str | None:
    """The bucket policy to put, or None when it already holds mlrig's statements."""
    try:
        current = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except Exception as error:
        if _error_code(error) not in ("NoSuchBucketPolicy", "NoSuchBucket"):
            raise
        current = None
    return merged_policy(current, bucket_statements(backend))


def _session_in(session: Any, key: SecretsKey, caller_account: str) -> Any:
    """Credentials in the key's account: the caller's own, or the environment's deployment role
    (account isolation; its trust policy lets in the state account, whose credentials run this)."""
    if key.account in (None, caller_account) or key.deployment_role is None:
        return session
    import boto3

    try:
        credentials = session.client("sts", region_name=key.region).assume_role(
            RoleArn=key.deployment_role, RoleSessionName="mlrig-bootstrap"
        )["Credentials"]
    except Exception as error:
        if _error_code(error) != "AccessDenied":
            raise
        raise BootstrapError(
            f"cannot assume {key.deployment_role} to create {key.alias} of environment {key.environment} "
            f"({error}): create that role with aws/mlrig-deployer-trust-{key.account}.json as its trust policy "
            f"(it lets in account {caller_account}), and allow your principal sts:AssumeRole on it"
        ) from None
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=key.region,
    )


def _ensure_secrets_key(session: Any, key: SecretsKey, partition: str, caller: str, report: BootstrapReport) -> None:
    if key.account not in (None, caller) and key.deployment_role is None:
        report.steps.append(
            f"skipped {key.alias} of environment {key.environment}: it lives in account {key.account}; "
            "run mlrig bootstrap again with credentials of that account"
        )
        return
    key_session = _session_in(session, key, caller)
    account = key.account or caller
    _ensure_key(
        key_session.client("kms", region_name=key.region),
        key.alias,
        f"Pulumi secrets of the mlrig stacks of environment {key.environment}",
        secrets_key_statements(key, partition, account),
        report,
    )


def bootstrap(backend: StateBackend, *, dry_run: bool, session: Any = None) -> BootstrapReport:
    """Create what is missing of the state backend with the current AWS credentials."""
    import boto3
    from botocore.exceptions import NoCredentialsError

    session = session or boto3.session.Session(region_name=backend.region)
    report = BootstrapReport(dry_run=dry_run)
    try:
        account = session.client("sts", region_name=backend.region).get_caller_identity()["Account"]
        if backend.account and account != backend.account:
            raise BootstrapError(
                f"these credentials are of account {account}, but the state lives in account {backend.account} "
                f"(spec.state.account, by default the prod environment's): run mlrig bootstrap with credentials "
                f'of {backend.account}, or set spec.state.account: "{account}" in the platform bundle and let '
                "that account into each environment's deployment role (its trust policy)"
            )
        key_arn = _ensure_key(
            session.client("kms", region_name=backend.region),
            backend.bucket_key_alias,
            "Encryption at rest of the mlrig Pulumi state bucket",
            bucket_key_statements(backend, account),
            report,
        )
        _ensure_bucket(session.client("s3", region_name=backend.region), backend, key_arn, report)
        for key in backend.secrets_keys:
            _ensure_secrets_key(session, key, backend.partition, account, report)
    except NoCredentialsError:
        if not dry_run:
            raise
        return fresh_account_steps(backend)
    return report


def fresh_account_steps(backend: StateBackend) -> BootstrapReport:
    """Without credentials a dry run cannot look: it shows every step, as for empty accounts."""
    report = BootstrapReport(dry_run=True)
    where = (
        f"empty accounts, the state in account {backend.account}, {backend.region}"
        if backend.account
        else f"an empty account in {backend.region}"
    )
    report.steps.append(f"(no AWS credentials: showing every step for {where})")
    report.did(f"create KMS key {backend.bucket_key_alias} (rotation on)")
    report.did(f"create bucket s3://{backend.bucket} in {backend.region}")
    for message in (
        "turn on versioning",
        "block all public access",
        "enforce bucket-owner object ownership",
        f"encrypt with SSE-KMS ({backend.bucket_key_alias})",
        _policy_step(backend),
    ):
        report.did(f"{message} on s3://{backend.bucket}")
    for key in backend.secrets_keys:
        where = f" in account {key.account}" if key.account else ""
        report.did(f"create KMS key {key.alias}{where} (rotation on)")
    return report


@dataclass(frozen=True)
class OperatorProfile:
    """An AWS CLI profile that runs Pulumi as an environment's deployment role, from the state
    account's credentials (`account` isolation): what the first apply of its stacks runs with."""

    name: str
    role_arn: str
    region: str
    source_account: str | None

    def config(self, source_profile: str) -> str:
        """The `~/.aws/config` section."""
        return (
            f"[profile {self.name}]\n"
            f"role_arn = {self.role_arn}\n"
            f"source_profile = {source_profile}\n"
            f"region = {self.region}\n"
        )


def operator_profiles(platform: Platform) -> dict[str, OperatorProfile]:
    """By environment name; empty unless environments live in their own accounts."""
    profiles = {}
    for env in platform.environments.values():
        role = _deployment_role(platform, env)
        if role:
            profiles[env.name] = OperatorProfile(
                naming.operator_profile(platform.name, env.name), role, env.region, state.state_account(platform)
            )
    return profiles


def next_steps(backend: StateBackend, platform: Platform) -> list[str]:
    environments = list(platform.environments.values())
    first = environments[0]
    provider = state.secrets_provider(platform, first)
    steps = [f"pulumi login '{backend.login_url}'"]
    profile = operator_profiles(platform).get(first.name)
    if profile:
        source = f"your profile in account {profile.source_account}" if profile.source_account else "your profile"
        steps.append(f"export AWS_PROFILE={profile.name}   # role_arn = {profile.role_arn}, source_profile = {source}")
    steps += [
        f"pulumi stack select {first.stack} || pulumi stack init {first.stack} --secrets-provider '{provider}'",
        "pulumi up",
    ]
    if len(environments) > 1:
        others = ", ".join(env.name for env in environments[1:])
        steps.append(f"then {others}: the same" + (", each with its own profile" if profile else ""))
    return steps
