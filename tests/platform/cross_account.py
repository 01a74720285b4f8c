"""A moto world of several AWS accounts in which resource policies count, as they do in AWS.

moto (with IAM authentication on) enforces the *identity* side of every S3, KMS and STS call: the
caller's own policies must allow it. It does not evaluate the *resource* side across accounts: a
role's trust policy (it checks trust only for a role of the caller's own account, and only for
principals named exactly), a bucket policy, a key policy, the bucket's SSE key. `Principal`
sessions add that side, with the repository's evaluator (`tests/project/aws/iam_eval.py`), before
each call reaches moto:

- `sts:AssumeRole` of a role: its trust policy must name the caller or the caller's account;
- S3 calls on a bucket of another account: the bucket policy must name the caller or its account,
  and, for object reads and writes, the bucket's default SSE key must be named by ARN (S3 resolves
  a key id in the *writer's* account) and its key policy must let the caller use it through S3;
- KMS calls naming a key by ARN: its key policy must name the caller or the caller's account
  (moto resolves keys in the caller's account only, so an admitted call on another account's
  key is not served).

moto's own bucket-policy check (object calls only) treats every statement with a condition as a
denial; `resource_policies_by_evaluator` replaces it, so the evaluator alone decides the bucket side.

What AWS requires across accounts is both sides: "allow" (named) or "delegate" (the account
named, so the caller's IAM policies decide) from the resource, and the identity policy, which
moto checks. An explicit Deny anywhere wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.core.authorization import disable_iam_authentication
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends

from project.aws.iam_eval import decision

PARTITION = "aws"
ADMITTED = ("allow", "delegate")
S3_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "CopyObject": "s3:PutObject",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "GetBucketLocation": "s3:GetBucketLocation",
}
S3_KEY_USE = {"s3:PutObject": "kms:GenerateDataKey", "s3:GetObject": "kms:Decrypt"}
KMS_ACTIONS = ("Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey", "ReEncrypt")


def resource_policies_by_evaluator(monkeypatch: Any) -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    monkeypatch.setattr(FakeBucket, "get_permission", lambda self, action, resource: PermissionResult.NEUTRAL)


@contextmanager
def in_account(account: str) -> Iterator[None]:
    """moto's account for credentials that name none (the default `testing` keys)."""
    previous = os.environ.get("MOTO_ACCOUNT_ID")
    os.environ["MOTO_ACCOUNT_ID"] = account
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MOTO_ACCOUNT_ID", None)
        else:
            os.environ["MOTO_ACCOUNT_ID"] = previous


def create_role(account: str, name: str, trust: dict[str, Any], policy: dict[str, Any]) -> str:
    """A role with an inline policy, created as the account's administrator would (no enforcement)."""
    with disable_iam_authentication(), in_account(account):
        iam = boto3.client("iam", region_name="us-east-1")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return str(arn)


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def _denied(operation: str, why: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": why}}, operation)


@dataclass
class Principal:
    """A role's session whose calls are checked against resource policies before moto runs them."""

    arn: str  # the role's ARN: what `aws:PrincipalArn` is
    session: boto3.session.Session
    region: str

    @classmethod
    def of_role(cls, role_arn: str, region: str) -> Principal:
        """A session of `role_arn`, obtained without any check (the test's starting point)."""
        with disable_iam_authentication(), in_account(account_of(role_arn)):
            credentials = boto3.client("sts", region_name=region).assume_role(RoleArn=role_arn, RoleSessionName="test")[
                "Credentials"
            ]
        return cls._with(role_arn, credentials, region)

    @classmethod
    def _with(cls, role_arn: str, credentials: dict[str, Any], region: str) -> Principal:
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        principal = cls(role_arn, session, region)
        session.events.register("before-parameter-build.sts.AssumeRole", principal._check_trust)
        session.events.register("before-parameter-build.s3", principal._check_bucket)
        session.events.register("before-parameter-build.kms", principal._check_key)
        return principal

    @property
    def account(self) -> str:
        return account_of(self.arn)

    def assume(self, role_arn: str) -> Principal:
        """`sts:AssumeRole`, checked on both sides; the new role's session is watched too."""
        credentials = self.session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
        return Principal._with(role_arn, credentials, self.region)

    def _context(self, **extra: str) -> dict[str, str]:
        return {"aws:PrincipalArn": self.arn, "aws:SecureTransport": "true", **extra}

    # --- the resource side of each call ---------------------------------------------------------

    def _check_trust(self, params: dict[str, Any], **_: Any) -> None:
        role_arn = params["RoleArn"]
        try:
            role = iam_backends[account_of(role_arn)][PARTITION].get_role_by_arn(role_arn)
        except Exception:
            raise _denied("AssumeRole", f"{role_arn} does not exist") from None
        trust = json.loads(role.assume_role_policy_document)
        verdict = decision([trust], "sts:AssumeRole", role_arn, principal=self.arn, context=self._context())
        if verdict not in ADMITTED:
            raise _denied("AssumeRole", f"{self.arn} is not authorized to perform sts:AssumeRole on {role_arn}")

    def _check_bucket(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        action = S3_ACTIONS.get(model.name)
        bucket_name = params.get("Bucket")
        if action is None or bucket_name is None or bucket_name not in s3_backends.bucket_accounts:
            return
        owner = s3_backends.bucket_accounts[bucket_name][1]
        bucket = s3_backends[owner][PARTITION].get_bucket(bucket_name)
        resource = f"arn:{PARTITION}:s3:::{bucket_name}" + (f"/{params['Key']}" if "Key" in params else "")
        policy = json.loads(bucket.policy) if bucket.policy else {"Statement": []}
        verdict = decision([policy], action, resource, principal=self.arn, context=self._context())
        if verdict == "deny" or (owner != self.account and verdict not in ADMITTED):
            raise _denied(model.name, f"the policy of bucket {bucket_name} does not let {self.arn} {action}")
        if action in S3_KEY_USE and owner != self.account:
            self._check_bucket_key(bucket, S3_KEY_USE[action], model.name)

    def _check_bucket_key(self, bucket: Any, kms_action: str, operation: str) -> None:
        rules = (bucket.encryption or {}).get("Rule", {})
        default = (rules[0] if isinstance(rules, list) else rules).get("ApplyServerSideEncryptionByDefault", {})
        key_id = default.get("KMSMasterKeyID")
        if not key_id:
            return
        if not key_id.startswith("arn:"):
            raise _denied(operation, f"SSE key {key_id} is resolved in {self.account}, where it does not exist")
        key = kms_backends[account_of(key_id)][key_id.split(":")[3]].describe_key(key_id)
        context = self._context(**{"kms:ViaService": f"s3.{self.region}.amazonaws.com"})
        verdict = decision([json.loads(key.policy)], kms_action, key.arn, principal=self.arn, context=context)
        if verdict not in ADMITTED:
            raise _denied(operation, f"the policy of key {key.arn} does not let {self.arn} {kms_action}")

    def _check_key(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        key_id = params.get("KeyId", "")
        if model.name not in KMS_ACTIONS or not key_id.startswith("arn:"):
            return
        account, region = account_of(key_id), key_id.split(":")[3]
        try:
            key = kms_backends[account][region].describe_key(key_id)
        except Exception:
            raise _denied(model.name, f"{key_id} does not exist") from None
        action = f"kms:{model.name}"
        verdict = decision([json.loads(key.policy)], action, key.arn, principal=self.arn, context=self._context())
        if verdict not in ADMITTED:
            raise _denied(model.name, f"the policy of key {key.arn} does not let {self.arn} {action}")
        if account != self.account:
            raise NotImplementedError("moto cannot serve a KMS call on another account's key")
