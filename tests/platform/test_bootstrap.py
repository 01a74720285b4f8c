"""`mlrig bootstrap` creates the self-managed state backend: a versioned, KMS-encrypted, private,
TLS-only bucket and one rotating secrets key per environment, in that environment's account —
idempotently, granting each principal only what it needs, and changing nothing in a dry run."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from mlrig.cli import cli
from mlrig.platform.bootstrap import (
    BootstrapError,
    SecretsKey,
    StateBackend,
    bootstrap,
    bucket_key_statements,
    bucket_statements,
    ci_role_arns,
    secrets_key_statements,
    state_backend,
)

CALLER = "123456789012"  # moto's default account: where the bucket lives


def key(environment: str, **extra) -> SecretsKey:
    alias = f"alias/acme-ml-{environment}-pulumi-secrets"
    return SecretsKey(environment, alias, "eu-west-1", f"awskms://{alias}?region=eu-west-1", **extra)


BACKEND = StateBackend(
    bucket="acme-pulumi-state",
    region="eu-west-1",
    partition="aws",
    bucket_key_alias="alias/acme-ml-pulumi-state",
    secrets_keys=(key("dev"), key("prod")),
)


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.session.Session(region_name="eu-west-1")


def session_in(account: str) -> boto3.session.Session:
    credentials = boto3.client("sts", region_name="eu-west-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/mlrig-deployer", RoleSessionName="test"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="eu-west-1",
    )


def key_policy(session: boto3.session.Session, alias: str) -> dict:
    kms = session.client("kms")
    key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    return json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])


def test_bootstrap_creates_a_private_versioned_encrypted_tls_only_bucket(aws):
    bootstrap(BACKEND, dry_run=False, session=aws)
    s3 = aws.client("s3")
    bucket = BACKEND.bucket
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    bucket_key = aws.client("kms").describe_key(KeyId=BACKEND.bucket_key_alias)["KeyMetadata"]["Arn"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == bucket_key, (
        "by ARN: S3 resolves a key id in the writer's account, and CI writes from other accounts"
    )
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_a_bucket_that_names_its_key_by_id_is_repaired_to_name_it_by_arn(aws):
    """Earlier versions wrote the key id, which a writer in another account resolves in its own."""
    bootstrap(BACKEND, dry_run=False, session=aws)
    s3 = aws.client("s3")
    metadata = aws.client("kms").describe_key(KeyId=BACKEND.bucket_key_alias)["KeyMetadata"]
    by_id = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": metadata["KeyId"]}
    s3.put_bucket_encryption(
        Bucket=BACKEND.bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": by_id}]},
    )
    report = bootstrap(BACKEND, dry_run=False, session=aws)
    assert report.steps == ["encrypt with SSE-KMS (alias/acme-ml-pulumi-state) on s3://acme-pulumi-state"]
    (rule,) = s3.get_bucket_encryption(Bucket=BACKEND.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == metadata["Arn"]


def test_bootstrap_refuses_credentials_of_another_account_than_the_state_account(aws):
    """The trust policies and the bucket policy were written for the state account: a bucket made
    elsewhere would be one nobody's policy lets the first apply reach."""
    elsewhere = StateBackend(**{**BACKEND.__dict__, "account": "444444444444"})
    with pytest.raises(
        BootstrapError, match="credentials are of account 123456789012, but the state lives in account 444444444444"
    ):
        bootstrap(elsewhere, dry_run=True, session=aws)
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_bootstrap_creates_one_rotating_secrets_key_per_environment(aws):
    bootstrap(BACKEND, dry_run=False, session=aws)
    kms = aws.client("kms")
    ids = set()
    for secrets in BACKEND.secrets_keys:
        metadata = kms.describe_key(KeyId=secrets.alias)["KeyMetadata"]
        assert kms.get_key_rotation_status(KeyId=metadata["KeyId"])["KeyRotationEnabled"] is True
        ids.add(metadata["KeyId"])
    assert len(ids) == 2, "dev and prod secrets never share a key"


def test_bootstrap_is_idempotent(aws):
    first = bootstrap(BACKEND, dry_run=False, session=aws)
    assert len(first.steps) == 1 + 6 + 2  # bucket key, bucket and its 5 settings, 2 secrets keys
    assert bootstrap(BACKEND, dry_run=False, session=aws).steps == []
    aliases = [a["AliasName"] for a in aws.client("kms").list_aliases()["Aliases"]]
    assert aliases.count("alias/acme-ml-prod-pulumi-secrets") == 1


def test_bootstrap_repairs_a_bucket_someone_left_unversioned(aws):
    bootstrap(BACKEND, dry_run=False, session=aws)
    aws.client("s3").put_bucket_versioning(Bucket=BACKEND.bucket, VersioningConfiguration={"Status": "Suspended"})
    report = bootstrap(BACKEND, dry_run=False, session=aws)
    assert report.steps == ["turn on versioning on s3://acme-pulumi-state"]
    assert aws.client("s3").get_bucket_versioning(Bucket=BACKEND.bucket)["Status"] == "Enabled"


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(aws):
    report = bootstrap(BACKEND, dry_run=True, session=aws)
    assert report.steps[0] == "would create KMS key alias/acme-ml-pulumi-state (rotation on)"
    assert "would create bucket s3://acme-pulumi-state in eu-west-1" in report.steps
    assert "would create KMS key alias/acme-ml-prod-pulumi-secrets (rotation on)" in report.steps
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("kms").list_keys()["Keys"] == []


def test_the_bootstrap_command_reads_the_backend_from_the_platform_bundle(aws, example_repo: Path, monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "444444444444")  # the example's state account
    result = CliRunner().invoke(cli, ["bootstrap", str(example_repo / "bundles"), "--dry-run"], standalone_mode=False)
    assert result.exit_code == 0, result.output
    assert "would create bucket s3://acme-pulumi-state in us-east-1" in result.output
    assert "pulumi login 's3://acme-pulumi-state?region=us-east-1&awssdk=v2'" in result.output
    assert (
        "export AWS_PROFILE=acme-ml-dev   # role_arn = arn:aws:iam::111111111111:role/mlrig-deployer, "
        "source_profile = your profile in account 444444444444"
    ) in result.output
    dev_key = "arn:aws:kms:us-east-1:111111111111:alias/acme-ml-dev-pulumi-secrets"
    assert f"--secrets-provider 'awskms:///{dev_key}?region=us-east-1'" in result.output
    assert "then staging, prod: the same, each with its own profile" in result.output
    for env, account in (("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")):
        assert f"would create KMS key alias/acme-ml-{env}-pulumi-secrets (rotation on)" in result.output, account


def test_the_bootstrap_command_run_from_another_account_says_which_one_to_use(aws, example_repo: Path):
    result = CliRunner().invoke(cli, ["bootstrap", str(example_repo / "bundles"), "--dry-run"])
    assert result.exit_code == 1
    assert "the state lives in account 444444444444" in result.output and "Traceback" not in result.output


def test_the_bootstrap_command_rejects_an_invalid_bundle_with_exit_1(tmp_path: Path):
    bad = tmp_path / "platform.yaml"
    bad.write_text("apiVersion: mlrig/v1\nkind: Platform\nmetadata: {name: x}\nspec: {environmnets: {}}\n")
    result = CliRunner().invoke(cli, ["bootstrap", str(bad), "--dry-run"], standalone_mode=False)
    assert result.exit_code == 1


# --- who may use the state: only what each principal needs -------------------------------------------

DEPLOYERS = (
    "arn:aws:iam::111111111111:role/acme-ml-dev-platform-deployer",
    "arn:aws:iam::333333333333:role/acme-ml-prod-platform-deployer",
)
PREVIEWS = (
    "arn:aws:iam::111111111111:role/acme-ml-dev-platform-preview",
    "arn:aws:iam::333333333333:role/acme-ml-prod-platform-preview",
)
DEPLOYMENT_ROLES = ("arn:aws:iam::111111111111:role/mlrig-deployer", "arn:aws:iam::333333333333:role/mlrig-deployer")
CROSS_ACCOUNT = StateBackend(
    bucket="acme-pulumi-state",
    region="eu-west-1",
    partition="aws",
    bucket_key_alias="alias/acme-ml-pulumi-state",
    deployers=DEPLOYERS,
    previews=PREVIEWS,
    account=CALLER,
    deployment_roles=DEPLOYMENT_ROLES,
    secrets_keys=(
        key(
            "dev",
            account="111111111111",
            deployment_role="arn:aws:iam::111111111111:role/mlrig-deployer",
            writers=DEPLOYERS[:1],
            readers=PREVIEWS[:1],
        ),
        key(
            "prod",
            account="333333333333",
            deployment_role="arn:aws:iam::333333333333:role/mlrig-deployer",
            writers=DEPLOYERS[1:],
            readers=PREVIEWS[1:],
        ),
    ),
)


def statements_by_sid(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_deployers_read_and_write_state_and_previews_only_read_it_and_take_locks(aws):
    bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws)
    policy = json.loads(aws.client("s3").get_bucket_policy(Bucket=CROSS_ACCOUNT.bucket)["Policy"])
    sids = statements_by_sid(policy)
    assert set(sids) == {
        "DenyInsecureTransport",
        "MlrigCiListState",
        "MlrigDeployersUseState",
        "MlrigDeploymentRolesListState",
        "MlrigDeploymentRolesUseState",
        "MlrigPreviewsReadState",
        "MlrigPreviewsLockState",
    }
    assert sids["MlrigDeployersUseState"]["Condition"] == {"ArnEquals": {"aws:PrincipalArn": list(DEPLOYERS)}}
    assert sids["MlrigPreviewsReadState"]["Action"] == ["s3:GetObject"]
    assert sids["MlrigPreviewsLockState"]["Resource"] == "arn:aws:s3:::acme-pulumi-state/.pulumi/locks/*"
    for sid in ("MlrigPreviewsReadState", "MlrigPreviewsLockState"):
        assert sids[sid]["Condition"] == {"ArnEquals": {"aws:PrincipalArn": list(PREVIEWS)}}
    assert bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws).steps == []


def test_each_environments_deployment_role_reads_and_writes_state_named_by_account_and_arn(aws):
    """What the state account's administrators assume for the first apply; valid before the roles
    exist (the account is the principal, the role only a condition)."""
    bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws)
    sids = statements_by_sid(json.loads(aws.client("s3").get_bucket_policy(Bucket=CROSS_ACCOUNT.bucket)["Policy"]))
    for sid, actions, resource in (
        ("MlrigDeploymentRolesListState", ["s3:ListBucket", "s3:GetBucketLocation"], "arn:aws:s3:::acme-pulumi-state"),
        (
            "MlrigDeploymentRolesUseState",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "arn:aws:s3:::acme-pulumi-state/*",
        ),
    ):
        assert sids[sid]["Action"] == actions and sids[sid]["Resource"] == resource
        assert sids[sid]["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::333333333333:root"]}
        assert sids[sid]["Condition"] == {"ArnEquals": {"aws:PrincipalArn": list(DEPLOYMENT_ROLES)}}
    grant = statements_by_sid(key_policy(aws, CROSS_ACCOUNT.bucket_key_alias))["MlrigDeploymentRolesUseStateBucketKey"]
    assert grant["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": list(DEPLOYMENT_ROLES)},
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
    }


def test_each_secrets_key_lives_in_its_environments_account_and_serves_only_that_environment(aws):
    report = bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws)
    assert "create KMS key alias/acme-ml-prod-pulumi-secrets (rotation on)" in report.steps
    assert not [k for k in aws.client("kms").list_aliases()["Aliases"] if k["AliasName"].endswith("-pulumi-secrets")]
    for account, env, deployer, preview in (
        ("111111111111", "dev", DEPLOYERS[0], PREVIEWS[0]),
        ("333333333333", "prod", DEPLOYERS[1], PREVIEWS[1]),
    ):
        sids = statements_by_sid(key_policy(session_in(account), f"alias/acme-ml-{env}-pulumi-secrets"))
        assert sids["Enable IAM User Permissions"]["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}
        assert sids["MlrigDeployerUsesSecretsKey"]["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [deployer]}}
        assert sids["MlrigReadersDecryptSecrets"]["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [preview]}}
        assert sids["MlrigReadersDecryptSecrets"]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]


def test_the_bucket_key_is_usable_by_ci_roles_through_s3_only(aws):
    bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws)
    grant = statements_by_sid(key_policy(aws, CROSS_ACCOUNT.bucket_key_alias))["MlrigCiUseStateBucketKey"]
    assert grant["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert grant["Condition"]["ArnEquals"] == {"aws:PrincipalArn": list(DEPLOYERS + PREVIEWS)}


def test_bootstrap_adds_its_statements_keeps_everyone_elses_and_removes_its_old_broad_ones(aws):
    bootstrap(BACKEND, dry_run=False, session=aws)
    s3 = aws.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=BACKEND.bucket)["Policy"])
    audit = {
        "Sid": "AuditorsRead",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::acme-pulumi-state",
    }
    # What mlrig ≤ 0.1 granted: every CI role, project CI deployers too, writing all state.
    old = {
        "Sid": "MlrigCiUseState",
        "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111111111111:root"]},
        "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        "Resource": "arn:aws:s3:::acme-pulumi-state/*",
        "Condition": {
            "ArnEquals": {"aws:PrincipalArn": ["arn:aws:iam::111111111111:role/fraud-detection-dev-ci-deployer"]}
        },
    }
    s3.put_bucket_policy(
        Bucket=BACKEND.bucket, Policy=json.dumps({**policy, "Statement": [*policy["Statement"], audit, old]})
    )
    report = bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws)
    assert (
        "require TLS and let the CI and deployment roles in (bucket policy) on s3://acme-pulumi-state" in report.steps
    )
    sids = [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=BACKEND.bucket)["Policy"])["Statement"]]
    assert sids == [
        "DenyInsecureTransport",
        "AuditorsRead",
        "MlrigCiListState",
        "MlrigDeployersUseState",
        "MlrigDeploymentRolesListState",
        "MlrigDeploymentRolesUseState",
        "MlrigPreviewsReadState",
        "MlrigPreviewsLockState",
    ]


def test_project_ci_deployers_get_no_access_to_state(example_result):
    """F17: project CI deploys images, never stacks; the state backend must not let it in."""
    platform = example_result.platforms["acme-ml"]
    backend = state_backend(platform)
    documents = [bucket_statements(backend), bucket_key_statements(backend, "123456789012")]
    documents += [secrets_key_statements(k, "aws", k.account or "123456789012") for k in backend.secrets_keys]
    text = json.dumps(documents)
    assert "ci-deployer" not in text
    roles = ci_role_arns(platform)
    assert sorted(roles) == sorted(
        f"arn:aws:iam::{account}:role/acme-ml-{env}-platform-{kind}"
        for env, account in (("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333"))
        for kind in ("deployer", "preview")
    )


def test_the_example_platform_has_one_key_per_environment_in_its_own_account(example_result):
    platform = example_result.platforms["acme-ml"]
    backend = state_backend(platform)
    keys = {k.environment: k for k in backend.secrets_keys}
    assert keys["prod"].alias == "alias/acme-ml-prod-pulumi-secrets"
    assert keys["prod"].provider == (
        "awskms:///arn:aws:kms:us-east-1:333333333333:alias/acme-ml-prod-pulumi-secrets?region=us-east-1"
    ), "an alias ARN resolves in prod's account whatever account Pulumi runs in"
    assert keys["prod"].account == "333333333333"
    assert keys["prod"].deployment_role == "arn:aws:iam::333333333333:role/mlrig-deployer"
    assert keys["prod"].writers == ("arn:aws:iam::333333333333:role/acme-ml-prod-platform-deployer",)
    assert keys["prod"].readers == ("arn:aws:iam::333333333333:role/acme-ml-prod-platform-preview",)
    assert backend.account == "444444444444"
    assert backend.deployment_roles == tuple(
        f"arn:aws:iam::{account}:role/mlrig-deployer" for account in ("111111111111", "222222222222", "333333333333")
    )


def test_the_bootstrap_policies_pass_parliament():
    from parliament import analyze_policy_string, enhance_finding

    documents = [bucket_statements(CROSS_ACCOUNT), bucket_key_statements(CROSS_ACCOUNT, "123456789012")]
    documents += [secrets_key_statements(k, "aws", k.account or "") for k in CROSS_ACCOUNT.secrets_keys]
    for statements in documents:
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        severe = [
            f.issue
            for f in map(enhance_finding, analyze_policy_string(document).findings)
            if f.severity in ("MEDIUM", "HIGH", "CRITICAL")
        ]
        assert severe == []
