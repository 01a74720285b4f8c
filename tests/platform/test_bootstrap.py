"""`mlrig bootstrap` creates the self-managed state backend: a versioned, KMS-encrypted, private,
TLS-only bucket and a rotating secrets key — idempotently, and changes nothing in a dry run."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from mlrig.cli import cli
from mlrig.platform.bootstrap import StateBackend, bootstrap, bucket_statements, ci_role_arns, key_statements

BACKEND = StateBackend(
    bucket="acme-pulumi-state", key_alias="alias/acme-ml-pulumi-secrets", region="eu-west-1", partition="aws"
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
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_bootstrap_creates_a_rotating_secrets_key_behind_the_alias(aws):
    bootstrap(BACKEND, dry_run=False, session=aws)
    kms = aws.client("kms")
    key = kms.describe_key(KeyId=BACKEND.key_alias)["KeyMetadata"]
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    encryption = aws.client("s3").get_bucket_encryption(Bucket=BACKEND.bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key["KeyId"]


def test_bootstrap_is_idempotent(aws):
    first = bootstrap(BACKEND, dry_run=False, session=aws)
    assert len(first.steps) == 7
    assert bootstrap(BACKEND, dry_run=False, session=aws).steps == []
    aliases = [a["AliasName"] for a in aws.client("kms").list_aliases()["Aliases"]]
    assert aliases.count(BACKEND.key_alias) == 1


def test_bootstrap_repairs_a_bucket_someone_left_unversioned(aws):
    bootstrap(BACKEND, dry_run=False, session=aws)
    aws.client("s3").put_bucket_versioning(Bucket=BACKEND.bucket, VersioningConfiguration={"Status": "Suspended"})
    report = bootstrap(BACKEND, dry_run=False, session=aws)
    assert report.steps == ["turn on versioning on s3://acme-pulumi-state"]
    assert aws.client("s3").get_bucket_versioning(Bucket=BACKEND.bucket)["Status"] == "Enabled"


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(aws):
    report = bootstrap(BACKEND, dry_run=True, session=aws)
    assert report.steps[0] == "would create KMS key alias/acme-ml-pulumi-secrets (rotation on)"
    assert "would create bucket s3://acme-pulumi-state in eu-west-1" in report.steps
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert not [a for a in aws.client("kms").list_aliases()["Aliases"] if a["AliasName"] == BACKEND.key_alias]


def test_the_bootstrap_command_reads_the_backend_from_the_platform_bundle(aws, example_repo: Path):
    result = CliRunner().invoke(cli, ["bootstrap", str(example_repo / "bundles"), "--dry-run"], standalone_mode=False)
    assert result.exit_code == 0, result.output
    assert "would create bucket s3://acme-pulumi-state in us-east-1" in result.output
    assert "pulumi login 's3://acme-pulumi-state?region=us-east-1&awssdk=v2'" in result.output
    assert "pulumi stack select acme-ml.dev" in result.output


def test_the_bootstrap_command_rejects_an_invalid_bundle_with_exit_1(tmp_path: Path):
    bad = tmp_path / "platform.yaml"
    bad.write_text("apiVersion: mlrig/v1\nkind: Platform\nmetadata: {name: x}\nspec: {environmnets: {}}\n")
    result = CliRunner().invoke(cli, ["bootstrap", str(bad), "--dry-run"], standalone_mode=False)
    assert result.exit_code == 1


CI_ROLES = (
    "arn:aws:iam::111111111111:role/acme-ml-dev-platform-deployer",
    "arn:aws:iam::333333333333:role/acme-ml-prod-platform-deployer",
)
CROSS_ACCOUNT = StateBackend(
    bucket="acme-pulumi-state",
    key_alias="alias/acme-ml-pulumi-secrets",
    region="eu-west-1",
    partition="aws",
    ci_roles=CI_ROLES,
)


def test_ci_roles_of_other_accounts_may_use_the_state_and_nobody_else_of_those_accounts(aws):
    bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws)
    policy = json.loads(aws.client("s3").get_bucket_policy(Bucket=CROSS_ACCOUNT.bucket)["Policy"])
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert {s["Sid"] for s in allows} == {"MlrigCiListState", "MlrigCiUseState"}
    for statement in allows:
        assert statement["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::333333333333:root"]}
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": list(CI_ROLES)}}
    kms = aws.client("kms")
    key_id = kms.describe_key(KeyId=CROSS_ACCOUNT.key_alias)["KeyMetadata"]["KeyId"]
    key_policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    (use,) = [s for s in key_policy["Statement"] if s["Sid"] == "MlrigCiUseSecretsKey"]
    assert use["Condition"] == {"ArnEquals": {"aws:PrincipalArn": list(CI_ROLES)}}
    assert bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws).steps == []


def test_bootstrap_adds_its_statements_and_keeps_everyone_elses(aws):
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
    s3.put_bucket_policy(
        Bucket=BACKEND.bucket, Policy=json.dumps({**policy, "Statement": [*policy["Statement"], audit]})
    )
    report = bootstrap(CROSS_ACCOUNT, dry_run=False, session=aws)
    assert report.steps == [
        "let the CI roles use alias/acme-ml-pulumi-secrets (key policy)",
        "require TLS and let the CI roles in (bucket policy) on s3://acme-pulumi-state",
    ]
    sids = [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=BACKEND.bucket)["Policy"])["Statement"]]
    assert sids == ["DenyInsecureTransport", "AuditorsRead", "MlrigCiListState", "MlrigCiUseState"]


def test_the_example_platform_lets_in_the_ci_roles_of_every_account(example_result):
    platform = example_result.platforms["acme-ml"]
    roles = ci_role_arns(platform, example_result.projects.values())
    for env, account in (("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")):
        assert f"arn:aws:iam::{account}:role/acme-ml-{env}-platform-deployer" in roles
        assert f"arn:aws:iam::{account}:role/acme-ml-{env}-platform-preview" in roles
        assert f"arn:aws:iam::{account}:role/fraud-detection--{env}--ci-deployer" in roles
    assert not [r for r in roles if "*" in r]


def test_the_bootstrap_policies_pass_parliament():
    from parliament import analyze_policy_string, enhance_finding

    for statements in (bucket_statements(CROSS_ACCOUNT), key_statements(CROSS_ACCOUNT, "123456789012")):
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        severe = [
            f.issue
            for f in map(enhance_finding, analyze_policy_string(document).findings)
            if f.severity in ("MEDIUM", "HIGH", "CRITICAL")
        ]
        assert severe == []
