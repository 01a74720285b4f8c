"""Fixtures of the AWS-side project tests: the IAM documents of the example plans, and a moto
world holding every role, policy and bucket of those plans, with IAM enforcement on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.authorization import disable_iam_authentication, enable_iam_authentication

from mlrig import examples
from mlrig.bundle.validate import ValidationResult, validate_paths
from mlrig.plan.engine import StackPlan
from mlrig.plan.runner import Planner

from .iam_eval import StackIam, decision

REGION = "us-east-1"
ENVIRONMENTS = ("dev", "staging", "prod")
PROJECTS = ("fraud-detection", "rag-assistant")
# One object per data class and prefix, present before the tests probe them.
SAMPLE_KEYS: dict[str, tuple[str, ...]] = {
    "data": ("gold/sample.parquet", "predictions/sample.parquet"),
    "artifacts": ("models/sample.bin", "mlflow/sample.json", "hub/sample.bin"),
    "logs": ("inference/sample.json", "metrics/sample.json", "feedback/sample.json", "llm-gateway/sample.json"),
}


@pytest.fixture(scope="session")
def example_iam(project_plan: Callable[[str, str], StackPlan]) -> dict[str, dict[str, StackIam]]:
    """{project: {environment: StackIam}} of the example projects."""
    return {p: {e: StackIam.of(project_plan(p, e)) for e in ENVIRONMENTS} for p in PROJECTS}


def _replaced(text: str, replacements: list[tuple[str, str]], file: str) -> str:
    for old, new in replacements:
        assert old in text, f"{file} no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def plan_variant(
    tmp_root: Path,
    repo_root: Path,
    project_file: str,
    replacements: list[tuple[str, str]],
    name: str,
    platform_replacements: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> dict[str, StackPlan]:
    """Plans of an example project with some lines of its bundle (and of the platform's) changed."""
    directory = tmp_root / name
    directory.mkdir()
    platform = _replaced(examples.path("platform.yaml").read_text(), list(platform_replacements), "platform.yaml")
    (directory / "platform.yaml").write_text(platform)
    text = _replaced(examples.path(project_file).read_text(), replacements, project_file)
    (directory / project_file).write_text(text)
    result = validate_paths([directory])
    assert result.valid, [d.text() for d in result.diagnostics]
    (project,) = result.projects.values()
    planner = Planner()
    return {e: planner.project(project, e) for e in ENVIRONMENTS}


VARIANT_RETENTION_DAYS = 5


@pytest.fixture(scope="session")
def variant_plans(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, StackPlan]:
    """fraud-detection with `prodReadAccessFromDev: false` and a 5-day staging retention."""
    return plan_variant(
        tmp_path_factory.mktemp("variants"),
        repo_root,
        "fraud-detection.yaml",
        [
            ("prodReadAccessFromDev: true", "prodReadAccessFromDev: false"),
            ("stagingRetentionDays: 14", f"stagingRetentionDays: {VARIANT_RETENTION_DAYS}"),
        ],
        "no-prod-read",
    )


@pytest.fixture(scope="session")
def no_prod_read_iam(variant_plans: dict[str, StackPlan]) -> dict[str, StackIam]:
    return {e: StackIam.of(plan) for e, plan in variant_plans.items()}


@contextmanager
def _account(account: str) -> Iterator[None]:
    previous = os.environ.get("MOTO_ACCOUNT_ID")
    os.environ["MOTO_ACCOUNT_ID"] = account
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MOTO_ACCOUNT_ID", None)
        else:
            os.environ["MOTO_ACCOUNT_ID"] = previous


class AwsWorld:
    """Every role, role policy and bucket of some project stacks, loaded into moto. Identities are
    assumed with enforcement off; every S3 probe runs with enforcement on."""

    def __init__(self, stacks: list[StackIam]):
        self.stacks = stacks
        self.clients: dict[str, Any] = {}  # role name -> S3 client with that role's credentials
        self.role_stack: dict[str, StackIam] = {}
        self.bucket_stack: dict[str, StackIam] = {}

    def load(self) -> None:
        with disable_iam_authentication():
            for stack in self.stacks:
                with _account(stack.account):
                    self._load_stack(stack)
            for role, stack in self.role_stack.items():
                with _account(stack.account):
                    credentials = boto3.client("sts", region_name=REGION).assume_role(
                        RoleArn=stack.roles[role]["arn"], RoleSessionName="access-matrix"
                    )["Credentials"]
                self.clients[role] = boto3.client(
                    "s3",
                    region_name=REGION,
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )

    def _load_stack(self, stack: StackIam) -> None:
        import json

        iam = boto3.client("iam", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        for name, role in stack.roles.items():
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(role["trust"]))
            for index, document in enumerate(stack.role_policies.get(name, [])):
                iam.put_role_policy(RoleName=name, PolicyName=f"policy-{index}", PolicyDocument=json.dumps(document))
            self.role_stack[name] = stack
        for bucket, data_class in stack.buckets.items():
            s3.create_bucket(Bucket=bucket)
            self.bucket_stack[bucket] = stack
            for key in SAMPLE_KEYS.get(data_class, ()):
                s3.put_object(Bucket=bucket, Key=key, Body=b"sample")

    # --- probes ------------------------------------------------------------------------------

    def _identity_allows(self, role: str, call: Callable[[Any], Any]) -> bool:
        with enable_iam_authentication():
            try:
                call(self.clients[role])
            except ClientError as error:
                if error.response["Error"]["Code"] in ("AccessDenied", "403"):
                    return False
                raise
        return True

    def can(self, role: str, operation: str, bucket: str, key: str, *, list_bucket: bool = True) -> bool:
        """Whether `role` may read (GetObject, and ListBucket when `list_bucket`) or write
        (PutObject) `key` in `bucket`, under AWS's combined identity, bucket and key policies."""
        role_stack, bucket_stack = self.role_stack[role], self.bucket_stack[bucket]
        arn = role_stack.roles[role]["arn"]
        if operation == "read":
            s3_actions: list[tuple[str, str, Callable[[Any], Any]]] = [
                ("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", lambda c: c.get_object(Bucket=bucket, Key=key))
            ]
            if list_bucket:
                s3_actions.append(
                    ("s3:ListBucket", f"arn:aws:s3:::{bucket}", lambda c: c.list_objects_v2(Bucket=bucket))
                )
            kms_action = "kms:Decrypt"
        else:
            s3_actions = [
                (
                    "s3:PutObject",
                    f"arn:aws:s3:::{bucket}/{key}",
                    lambda c: c.put_object(Bucket=bucket, Key=key, Body=b"x"),
                )
            ]
            kms_action = "kms:GenerateDataKey"
        same_account = role_stack.account == bucket_stack.account
        s3_context = {"aws:SecureTransport": "true", "aws:PrincipalArn": arn}
        for action, resource, call in s3_actions:
            identity = self._identity_allows(role, call)
            resource_side = (
                decision([bucket_stack.bucket_policies[bucket]], action, resource, principal=arn, context=s3_context)
                if bucket in bucket_stack.bucket_policies
                else "none"
            )
            if resource_side == "deny":
                return False
            # "delegate" (the bucket policy names the account) leaves the decision to the identity side.
            allowed = (
                (identity or resource_side == "allow")
                if same_account
                else (identity and resource_side in ("allow", "delegate"))
            )
            if not allowed:
                return False
        return self._kms_allows(role_stack, bucket_stack, arn, role, kms_action)

    def _kms_allows(self, role_stack: StackIam, bucket_stack: StackIam, arn: str, role: str, action: str) -> bool:
        """SSE-KMS: S3 calls KMS on the caller's behalf with the bucket environment's key."""
        region = bucket_stack.key_arn.split(":")[3]
        context = {
            "kms:ViaService": f"s3.{region}.amazonaws.com",
            "kms:ResourceAliases": [bucket_stack.key_alias],
            "aws:PrincipalArn": arn,
        }
        key_side = decision([bucket_stack.key_policy], action, bucket_stack.key_arn, principal=arn, context=context)
        if key_side in ("deny", "none"):
            return False
        if key_side == "allow" and role_stack.account == bucket_stack.account:
            return True
        # Cross account, or the key policy delegates to IAM: the role's own policies must allow it.
        identity = decision(role_stack.role_policies.get(role, []), action, bucket_stack.key_arn, context=context)
        return identity == "allow"


@contextmanager
def moto_world(stacks: list[StackIam]) -> Iterator[AwsWorld]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    try:
        with mock_aws():
            world = AwsWorld(stacks)
            world.load()
            yield world
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def examples_world(example_iam: dict[str, dict[str, StackIam]]) -> Iterator[AwsWorld]:
    """Both example projects, every environment, in one moto world."""
    with moto_world([stack for envs in example_iam.values() for stack in envs.values()]) as world:
        yield world


@pytest.fixture(scope="module")
def no_prod_read_world(no_prod_read_iam: dict[str, StackIam]) -> Iterator[AwsWorld]:
    with moto_world(list(no_prod_read_iam.values())) as world:
        yield world


def example_result_projects(result: ValidationResult) -> list[str]:
    return sorted(result.projects)
