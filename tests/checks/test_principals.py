"""MLRIG-DEP-004/005: keys keep their root; policies name principals that exist."""

from __future__ import annotations

from .helpers import findings, policy, record

ADMIN = {
    "Sid": "Admin",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::333333333333:role/mlrig-deployer"},
    "Action": ["kms:PutKeyPolicy"],
    "Resource": "*",
}
ROOT = {
    "Sid": "Root",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
    "Action": "kms:*",
    "Resource": "*",
}
KEY_ARN = {"arn": "arn:aws:kms:us-east-1:333333333333:key/1"}


def test_a_key_policy_without_its_account_root_fails():
    key = record("aws:kms/key:Key", "key", {"policy": policy([ADMIN])}, KEY_ARN)
    [found] = findings("MLRIG-DEP-004", key)
    assert "arn:aws:iam::333333333333:root" in found.message


def test_a_key_policy_keeping_its_root_or_the_default_policy_passes():
    assert findings("MLRIG-DEP-004", record("aws:kms/key:Key", "key", {"policy": policy([ROOT, ADMIN])}, KEY_ARN)) == []
    assert findings("MLRIG-DEP-004", record("aws:kms/key:Key", "key", {}, KEY_ARN)) == []


def test_another_accounts_root_does_not_count():
    other = {**ROOT, "Principal": {"AWS": "arn:aws:iam::111111111111:root"}}
    assert findings("MLRIG-DEP-004", record("aws:kms/key:Key", "key", {"policy": policy([other])}, KEY_ARN))


DEV_ROLE = "arn:aws:iam::111111111111:role/demo-dev-data-scientist"
OWNERS = {"demo-dev-": "demo.dev", "demo-prod-": "demo.prod", "acme-prod-": "acme.prod"}


def test_a_prod_bucket_policy_naming_a_dev_stack_role_fails():
    statement = {
        "Sid": "CrossAccountList",
        "Effect": "Allow",
        "Principal": {"AWS": DEV_ROLE},
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::b",
    }
    bucket_policy = record("aws:s3/bucketPolicy:BucketPolicy", "p", {"policy": policy([statement])})
    [found] = findings("MLRIG-DEP-005", bucket_policy, owners=OWNERS)
    assert "demo.dev" in found.message and "aws:PrincipalArn" in found.hint


def test_the_account_with_a_principal_arn_condition_needs_no_role_to_exist():
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::b",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": DEV_ROLE}},
    }
    assert (
        findings(
            "MLRIG-DEP-005",
            record("aws:s3/bucketPolicy:BucketPolicy", "p", {"policy": policy([statement])}),
            owners=OWNERS,
        )
        == []
    )


def test_principals_of_this_stack_and_of_declared_dependencies_are_fine():
    own = "arn:aws:iam::333333333333:role/demo-prod-wl-serving"
    platform = "arn:aws:iam::333333333333:role/acme-prod-system-node"
    statement = {"Effect": "Allow", "Principal": {"AWS": [own, platform]}, "Action": "ecr:BatchGetImage"}
    role = record("aws:iam/role:Role", "r", {"name": "demo-prod-wl-serving"})
    reference = record(
        "pulumi:pulumi:StackReference", "organization/mlrig/acme.prod", {"name": "organization/mlrig/acme.prod"}
    )
    repo_policy = record("aws:ecr/repositoryPolicy:RepositoryPolicy", "p", {"policy": policy([statement])})
    assert findings("MLRIG-DEP-005", role, reference, repo_policy, owners=OWNERS) == []
