"""Under `account` isolation the documented first apply works, end to end, in a moto world of four
accounts: the management account that holds the state (444444444444, the example's
`spec.state.account`) and dev, staging and prod (111…, 222…, 333…).

The path, as the README tells it: each environment's `mlrig-deployer` is created from the
documents `mlrig init platform` writes (`aws/`); `mlrig bootstrap` runs with the management
account's credentials and creates every environment's secrets key through that role; then, for
each environment, Pulumi runs as its `mlrig-deployer` (an AWS CLI profile with `role_arn` and
`source_profile`) and reads and writes the state in the management account, and its
environment's secrets through the provider URL `mlrig generate` writes.

moto enforces the identity side of every call; `cross_account.Principal` adds the resource side
(trust, bucket, key and SSE-key policies) with the repository's evaluator, as AWS does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from cross_account import Principal, create_role, in_account, resource_policies_by_evaluator
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

from mlrig import state
from mlrig.bundle.resolved import Platform
from mlrig.init import policy
from mlrig.init.platform import deployer_policies
from mlrig.platform.bootstrap import BootstrapError, bootstrap, operator_profiles, state_backend

REGION = "us-east-1"
STATE_ACCOUNT = "444444444444"
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
STATE_OBJECT = ".pulumi/stacks/mlrig/acme-ml.dev.json"


def trust_of_own_account(account: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        ],
    }


@pytest.fixture
def platform(example_result) -> Platform:
    return example_result.platforms["acme-ml"]


@pytest.fixture
def world(monkeypatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    resource_policies_by_evaluator(monkeypatch)
    with mock_aws():
        yield


def create_deployer_roles(platform: Platform, trust_of=None) -> None:
    """What each environment account's administrator does once (README, Adopt mlrig step 2)."""
    files = deployer_policies(platform).files
    permissions = json.loads(files[policy.POLICY_FILE])
    for account in ACCOUNTS.values():
        trust = trust_of(account) if trust_of else json.loads(files[policy.trust_file(account)])
        create_role(account, "mlrig-deployer", trust, permissions)


def operator() -> Principal:
    """A platform administrator in the management account (an SSO role, say)."""
    return Principal.of_role(
        create_role(STATE_ACCOUNT, "PlatformAdmin", trust_of_own_account(STATE_ACCOUNT), ADMINISTRATOR), REGION
    )


def bootstrapped(platform: Platform) -> Principal:
    create_deployer_roles(platform)
    admin = operator()
    with enable_iam_authentication():
        bootstrap(state_backend(platform), dry_run=False, session=admin.session)
    return admin


def test_bootstrap_from_the_management_account_creates_every_secrets_key_through_the_deployer_roles(
    world, platform: Platform
):
    create_deployer_roles(platform)
    admin = operator()
    with enable_iam_authentication():
        report = bootstrap(state_backend(platform), dry_run=False, session=admin.session)
    assert "create bucket s3://acme-pulumi-state in us-east-1" in report.steps
    for env, account in ACCOUNTS.items():
        with in_account(account):
            kms = boto3.client("kms", region_name=REGION)
            metadata = kms.describe_key(KeyId=f"alias/acme-ml-{env}-pulumi-secrets")["KeyMetadata"]
        assert metadata["AWSAccountId"] == account, "each key lives in its environment's account"
    with in_account(STATE_ACCOUNT):
        owned = [b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]]
    assert owned == ["acme-pulumi-state"], "the state lives in the management account"
    with enable_iam_authentication():
        assert bootstrap(state_backend(platform), dry_run=False, session=admin.session).steps == []


def test_with_trust_policies_that_let_in_only_their_own_account_bootstrap_stops_with_access_denied(
    world, platform: Platform
):
    """What 0.1.0's trust documents did: the README's old first-apply blocker, reproduced."""
    create_deployer_roles(platform, trust_of=trust_of_own_account)
    admin = operator()
    with enable_iam_authentication(), pytest.raises(BootstrapError) as stopped:
        bootstrap(state_backend(platform), dry_run=False, session=admin.session)
    assert "AccessDenied" in str(stopped.value)
    assert "aws/mlrig-deployer-trust-111111111111.json" in str(stopped.value), "it says what to fix"


def test_as_an_environments_deployer_the_operator_reads_and_writes_the_state_in_the_management_account(
    world, platform: Platform
):
    admin = bootstrapped(platform)
    profile = operator_profiles(platform)["dev"]
    with enable_iam_authentication():
        deployer = admin.assume(profile.role_arn)  # AWS_PROFILE=acme-ml-dev: role_arn + source_profile
        s3 = deployer.session.client("s3")
        s3.put_object(Bucket="acme-pulumi-state", Key=STATE_OBJECT, Body=b'{"version": 3}')
        assert s3.get_object(Bucket="acme-pulumi-state", Key=STATE_OBJECT)["Body"].read() == b'{"version": 3}'
        listed = s3.list_objects_v2(Bucket="acme-pulumi-state", Prefix=".pulumi/")["Contents"]
        assert [o["Key"] for o in listed] == [STATE_OBJECT]
        s3.delete_object(Bucket="acme-pulumi-state", Key=STATE_OBJECT)


def test_as_an_environments_deployer_the_operator_uses_that_environments_secrets_key_by_its_provider_url(
    world, platform: Platform
):
    admin = bootstrapped(platform)
    dev = platform.environments["dev"]
    provider = state.secrets_provider(platform, dev)
    assert provider == (
        "awskms:///arn:aws:kms:us-east-1:111111111111:alias/acme-ml-dev-pulumi-secrets?region=us-east-1"
    )
    key_id = provider.removeprefix("awskms:///").split("?")[0]  # what gocloud passes to KMS
    with enable_iam_authentication():
        kms = admin.assume(operator_profiles(platform)["dev"].role_arn).session.client("kms")
        data_key = kms.encrypt(KeyId=key_id, Plaintext=b"pulumi data key")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=data_key)["Plaintext"] == b"pulumi data key"
    assert base64.b64encode(data_key)  # what `encryptedkey` in Pulumi.acme-ml.dev.yaml holds


def test_the_operator_cannot_use_an_environments_secrets_key_as_itself(world, platform: Platform):
    """The key trusts its own account only: the first apply must run as the deployer role."""
    admin = bootstrapped(platform)
    with enable_iam_authentication(), pytest.raises(ClientError, match="AccessDenied"):
        admin.session.client("kms").encrypt(
            KeyId=state.secrets_key_alias_arn(platform, platform.environments["dev"]), Plaintext=b"x"
        )


def test_one_environments_deployer_cannot_use_another_environments_secrets_key(world, platform: Platform):
    admin = bootstrapped(platform)
    with enable_iam_authentication():
        dev = admin.assume(operator_profiles(platform)["dev"].role_arn)
        with pytest.raises(ClientError, match="AccessDenied"):
            dev.session.client("kms").encrypt(
                KeyId=state.secrets_key_alias_arn(platform, platform.environments["prod"]), Plaintext=b"x"
            )


def test_a_principal_of_an_unrelated_account_cannot_assume_a_deployer_role(world, platform: Platform):
    bootstrapped(platform)
    stranger = Principal.of_role(
        create_role("555555555555", "Admin", trust_of_own_account("555555555555"), ADMINISTRATOR), REGION
    )
    with enable_iam_authentication(), pytest.raises(ClientError, match="AccessDenied"):
        stranger.assume(operator_profiles(platform)["prod"].role_arn)


def test_a_role_of_an_environment_account_that_is_not_its_deployer_cannot_reach_the_state(world, platform: Platform):
    """The bucket lets in named roles of the environment accounts, not those accounts at large."""
    bootstrapped(platform)
    data_scientist = Principal.of_role(
        create_role(ACCOUNTS["dev"], "DataScientist", trust_of_own_account(ACCOUNTS["dev"]), ADMINISTRATOR), REGION
    )
    with enable_iam_authentication(), pytest.raises(ClientError, match="AccessDenied"):
        data_scientist.session.client("s3").get_object(Bucket="acme-pulumi-state", Key=STATE_OBJECT)


def test_a_bucket_whose_sse_key_is_named_by_id_fails_cross_account_writers(world, platform: Platform):
    """Why bootstrap names the bucket key by ARN: S3 resolves a key id in the writer's account."""
    admin = bootstrapped(platform)
    with in_account(STATE_ACCOUNT):
        s3 = boto3.client("s3", region_name=REGION)
        key_id = boto3.client("kms", region_name=REGION).describe_key(KeyId="alias/acme-ml-pulumi-state")
        by_id = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id["KeyMetadata"]["KeyId"]}
        s3.put_bucket_encryption(
            Bucket="acme-pulumi-state",
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": by_id}]},
        )
    with enable_iam_authentication():
        deployer = admin.assume(operator_profiles(platform)["dev"].role_arn)
        with pytest.raises(ClientError, match="AccessDenied"):
            deployer.session.client("s3").put_object(Bucket="acme-pulumi-state", Key=STATE_OBJECT, Body=b"{}")
