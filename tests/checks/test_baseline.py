"""MLRIG-SEC-001…007: the security baseline, each with a passing and a failing fixture."""

from __future__ import annotations

import json

from .helpers import findings, k8s, policy, record

BUCKET = record("aws:s3/bucket:Bucket", "data", {"bucket": "data"}, {"arn": "arn:aws:s3:::data"})


def sse(algorithm: str, bucket: str = "data"):
    rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}
    return record(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        f"sse-{bucket}",
        {"bucket": bucket, "rules": [rule]},
    )


def test_buckets_need_sse_kms_except_access_log_targets():
    assert findings("MLRIG-SEC-001", BUCKET, sse("AES256"))
    assert findings("MLRIG-SEC-001", BUCKET, sse("aws:kms")) == []
    logging = record("aws:s3/bucketLogging:BucketLogging", "l", {"bucket": "other", "targetBucket": "data"})
    assert findings("MLRIG-SEC-001", BUCKET, sse("AES256"), logging) == []


def test_unencrypted_services_fail_and_encrypted_ones_pass():
    assert findings("MLRIG-SEC-001", record("aws:rds/instance:Instance", "db", {"storageEncrypted": False}))
    assert findings("MLRIG-SEC-001", record("aws:rds/instance:Instance", "db", {"storageEncrypted": True})) == []
    assert findings("MLRIG-SEC-001", record("aws:secretsmanager/secret:Secret", "s", {"name": "x"}))
    assert findings("MLRIG-SEC-001", record("aws:sns/topic:Topic", "t", {"kmsMasterKeyId": "k"})) == []


def test_buckets_block_public_access():
    assert findings("MLRIG-SEC-002", BUCKET)
    flags = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    assert (
        findings(
            "MLRIG-SEC-002",
            BUCKET,
            record("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "b", {"bucket": "data", **flags}),
        )
        == []
    )


def test_prod_stateful_resources_are_protected_and_retained():
    assert findings("MLRIG-SEC-003", BUCKET, tier="prod")
    assert findings("MLRIG-SEC-003", BUCKET, tier="dev") == []
    protected = record("aws:s3/bucket:Bucket", "data", {"bucket": "data"}, protect=True, retainOnDelete=True)
    assert findings("MLRIG-SEC-003", protected, tier="prod") == []


def test_a_prod_secret_and_an_audit_log_group_are_protected_like_the_data_they_go_with():
    """A prod alert route or gateway key removed from the bundle would otherwise be scheduled
    for deletion; a log group's history would be gone."""
    secret = record("aws:secretsmanager/secret:Secret", "gateway-openai", {"name": "p/gateway/openai"})
    logs = record("aws:cloudwatch/logGroup:LogGroup", "flow-logs", {"name": "/p/flow"})
    assert {f.resource for f in findings("MLRIG-SEC-003", secret, logs, tier="prod")} == {"gateway-openai", "flow-logs"}


TAGS = {"project": "demo", "environment": "prod", "team": "t", "cost-center": "c", "managed-by": "mlrig"}


def provider(tags: dict):
    return record("pulumi:providers:aws", "aws", {"defaultTags": json.dumps({"tags": tags})})


def test_aws_resources_get_the_required_tags_from_their_provider():
    urn = provider(TAGS)["urn"]
    assert findings("MLRIG-SEC-004", provider(TAGS), record("aws:s3/bucket:Bucket", "b", provider=urn)) == []
    [found] = findings(
        "MLRIG-SEC-004", provider({"project": "demo"}), record("aws:s3/bucket:Bucket", "b", provider=urn)
    )
    assert "cost-center" in found.message
    assert findings("MLRIG-SEC-004", record("aws:s3/bucket:Bucket", "b"))  # the default provider tags nothing


def role_policy(statement: dict):
    return record("aws:iam/rolePolicy:RolePolicy", "p", {"policy": policy([statement])})


def test_no_wildcard_data_access():
    assert findings(
        "MLRIG-SEC-005", role_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::data/*"})
    )
    assert findings("MLRIG-SEC-005", role_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
    assert (
        findings(
            "MLRIG-SEC-005",
            role_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}),
        )
        == []
    )
    assert (
        findings("MLRIG-SEC-005", role_policy({"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}))
        == []
    )


def deployment(image: str):
    return k8s("Deployment", "apps/v1", "api", {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}})


def test_images_are_pinned():
    assert findings("MLRIG-SEC-006", deployment("ghcr.io/acme/api"))
    assert findings("MLRIG-SEC-006", deployment("ghcr.io/acme/api:latest"))
    assert findings("MLRIG-SEC-006", deployment("localhost:5000/api:1.2.3")) == []
    assert findings("MLRIG-SEC-006", deployment("ghcr.io/acme/api@sha256:" + "a" * 64)) == []


def trust(sub: str, operator: str = "StringEquals", aud: bool = True):
    condition = {operator: {"token.actions.githubusercontent.com:sub": sub}}
    if aud:
        condition.setdefault("StringEquals", {})["token.actions.githubusercontent.com:aud"] = "sts.amazonaws.com"
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }
    return record("aws:iam/role:Role", "ci", {"name": "ci", "assumeRolePolicy": policy([statement])})


def test_ci_trust_is_scoped_to_exact_subjects_and_no_pull_requests_in_prod():
    assert findings("MLRIG-SEC-007", trust("repo:acme/demo:environment:prod")) == []
    assert findings("MLRIG-SEC-007", trust("repo:acme/*", operator="StringLike"))
    assert findings("MLRIG-SEC-007", trust("repo:acme/demo:environment:prod", aud=False))
    assert findings("MLRIG-SEC-007", trust("repo:acme/demo:pull_request"), tier="prod")
    assert findings("MLRIG-SEC-007", trust("repo:acme/demo:pull_request"), tier="dev") == []
