"""MLRIG-DEP-010: every IAM document fits the size AWS allows it."""

from __future__ import annotations

from .helpers import findings, policy, record

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def trust(count: int) -> str:
    principals = [f"arn:aws:iam::111111111111:role/AWSReservedSSO_DataScientist_{i:016x}" for i in range(count)]
    return policy([{"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}])


def grants(count: int) -> str:
    buckets = [f"arn:aws:s3:::demo-prod-data-{i:04d}/*" for i in range(count)]
    return policy([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": buckets}])


def test_a_trust_policy_iam_refuses_for_its_length_is_reported():
    [found] = findings("MLRIG-DEP-010", record(ROLE, "ds", {"assumeRolePolicy": trust(25)}))
    assert "trust policy is 2080 characters; AWS allows 2048" in found.message


def test_a_trust_policy_within_the_quota_passes():
    assert findings("MLRIG-DEP-010", record(ROLE, "ds", {"assumeRolePolicy": trust(24)})) == []


def test_inline_policies_count_together_per_role():
    one = record(ROLE_POLICY, "a", {"role": "demo-role", "policy": grants(150)})
    two = record(ROLE_POLICY, "b", {"role": "demo-role", "policy": grants(150)})
    other = record(ROLE_POLICY, "c", {"role": "other-role", "policy": grants(150)})
    [found] = findings("MLRIG-DEP-010", one, two, other)
    assert found.resource == "b" and "inline policies of role demo-role" in found.message
    assert findings("MLRIG-DEP-010", one, other) == []


def test_a_bucket_policy_over_20_kb_is_reported():
    bucket_policy = record("aws:s3/bucketPolicy:BucketPolicy", "data", {"policy": grants(600)})
    [found] = findings("MLRIG-DEP-010", bucket_policy)
    assert "the bucket policy is" in found.message and "AWS allows 20480" in found.message
