"""CI identity: the GitHub OIDC provider of the account and the two roles the platform repository's
workflows assume, trusted only by that repository (no wildcard subjects):

- the deployment role `<platform>-<env>-platform-deployer`: only jobs running in the GitHub
  environment `<env>` (whose deployment branches and required reviewers gate them: the default
  branch for dev/staging, the release branch and approvers for prod);
- the preview role `<platform>-<env>-platform-preview`: credentialed previews and the nightly
  drift check, from the protected default branch only: jobs on that branch, and the drift jobs
  that run in the GitHub environment `mlrig--drift` (deployment branches: the default branch
  only) to read the App key for the project repositories' refresh. Read-only, and never reachable
  from a pull request: a pull request runs its own code and can rewrite its own workflow, and a role that reads
  state and decrypts the environment's secrets key would hand it every secret in that state. Pull
  requests get the offline `mlrig plan` instead, with no cloud credentials at all.

Each role may use its own environment's state secrets key only (see `mlrig.state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import naming, state
from ..bundle.model import GithubSettings
from .context import PlatformTarget, managed_policy_arn, policy_document

AUDIENCE = "sts.amazonaws.com"
# Data-plane reads ReadOnlyAccess would allow; the preview role sees configuration, never data.
DATA_READS = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "secretsmanager:GetSecretValue",
    "sqs:ReceiveMessage",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
]


@dataclass(frozen=True)
class CiTrust:
    repository: str
    deploy_subjects: list[str]
    preview_subjects: list[str]


def ci_trust(github: GithubSettings, platform: str, environment: str) -> CiTrust | None:
    """Who may deploy and preview this environment's platform stack; None without a GitHub
    organisation (then nothing is created: deploy by hand or with your own CI identity)."""
    if not github.organization:
        return None
    repository = github.repository or f"{github.organization}/{platform}"
    return CiTrust(
        repository,
        deploy_subjects=[naming.github_environment_subject(repository, environment)],
        # The default branch only: never `pull_request` (see the module docstring).
        preview_subjects=[
            naming.github_branch_subject(repository, github.default_branch),
            naming.github_environment_subject(repository, naming.DRIFT_GITHUB_ENVIRONMENT),
        ],
    )


def trust_policy(provider_arn: pulumi.Input[str], subjects: list[str]) -> pulumi.Output[str]:
    host = naming.GITHUB_OIDC_HOST
    return policy_document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{host}:aud": AUDIENCE, f"{host}:sub": subjects}},
            }
        ]
    )


def _key_use(sid: str, partition: str, aliases: list[str], actions: list[str]) -> dict[str, Any]:
    """KMS keys named by alias, wherever they live (cross-account under `account` isolation)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": f"arn:{partition}:kms:*:*:key/*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases}},
    }


@dataclass(frozen=True)
class StateKeys:
    """The state bucket and the keys one environment's CI roles may use: the bucket's SSE key,
    the environment's own secrets key, and (namespace isolation) the shared landing zone's secrets
    key, decrypt only, because those stacks read its outputs through a StackReference."""

    bucket: str
    bucket_key_alias: str
    secrets_alias: str
    shared_secrets_aliases: tuple[str, ...] = ()


def _state_access(partition: str, keys: StateKeys, secrets_actions: list[str]) -> list[dict[str, Any]]:
    statements = [
        _key_use("StateBucketKey", partition, [keys.bucket_key_alias], ["kms:Decrypt", "kms:GenerateDataKey"]),
        _key_use("StateSecrets", partition, [keys.secrets_alias], secrets_actions),
    ]
    if keys.shared_secrets_aliases:
        statements.append(
            _key_use("SharedLandingZoneSecrets", partition, list(keys.shared_secrets_aliases), ["kms:Decrypt"])
        )
    return statements


def state_statements(partition: str, keys: StateKeys) -> list[dict[str, Any]]:
    """Pulumi state (S3) and its environment's secrets (KMS) the deployer reads and writes."""
    return [
        {
            "Sid": "StateList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": f"arn:{partition}:s3:::{keys.bucket}",
        },
        {
            "Sid": "StateObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:{partition}:s3:::{keys.bucket}/*",
        },
        *_state_access(partition, keys, ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]),
    ]


def preview_statements(partition: str, keys: StateKeys) -> list[dict[str, Any]]:
    """Read the state, take the stack lock a preview takes, decrypt the environment's secrets; no
    data."""
    bucket_arn = f"arn:{partition}:s3:::{keys.bucket}"
    return [
        {
            "Sid": "StateList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": bucket_arn,
        },
        {"Sid": "StateRead", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/*"},
        {
            "Sid": "StateLocks",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{bucket_arn}/.pulumi/locks/*",
        },
        *_state_access(partition, keys, ["kms:Decrypt"]),
        {"Sid": "NoDataReads", "Effect": "Deny", "Action": DATA_READS, "NotResource": [bucket_arn, f"{bucket_arn}/*"]},
    ]


def state_keys(target: PlatformTarget) -> StateKeys:
    platform, env = target.platform, target.env
    shared: tuple[str, ...] = ()
    if platform.isolation == "namespace":
        owner = naming.shared_cluster_owner({name: e.tier for name, e in platform.environments.items()})
        if owner != env.name:
            shared = (state.secrets_key_alias(platform, platform.environments[owner]),)
    return StateKeys(
        bucket=state.state_bucket(platform),
        bucket_key_alias=naming.state_bucket_key_alias(platform.name),
        secrets_alias=state.secrets_key_alias(platform, env),
        shared_secrets_aliases=shared,
    )


class CiIdentity(pulumi.ComponentResource):
    provider_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        target: PlatformTarget,
        trust: CiTrust,
        *,
        create_provider: bool,
        existing_provider_arn: pulumi.Input[str] | None,
        permissions: str,
    ) -> None:
        """`permissions`: `assume` (account isolation: only assume the environment's deployment
        role), `admin` (deploys a whole landing zone in a shared account) or `scoped` (a tenant
        environment of a shared cluster: reads its own roles, changes nothing in IAM)."""
        super().__init__("mlrig:platform:CiIdentity", name, None, pulumi.ResourceOptions(provider=target.aws_provider))
        self._prefix = name
        self._target = target
        opts = target.aws_opts(self)
        if create_provider:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github",
                url=f"https://{naming.GITHUB_OIDC_HOST}",
                client_id_lists=[AUDIENCE],
                opts=opts,
            )
            self.provider_arn = provider.arn
        else:
            self.provider_arn = pulumi.Output.from_input(existing_provider_arn or "")
        platform, env = target.platform.name, target.env.name
        keys = state_keys(target)

        deployer = self._role(
            "deployer",
            naming.platform_deployer_role(platform, env),
            f"Deploys the {platform}.{env} platform stack from {trust.repository} (GitHub environment {env})",
            trust.deploy_subjects,
            {naming.TAG_PERSONA: "ci-deployer"},
            state_statements(target.partition, keys) + self._permission_statements(target, permissions),
        )
        if permissions == "admin":
            # A landing-zone deployer creates VPCs, clusters and IAM roles: nothing narrower works.
            aws.iam.RolePolicyAttachment(
                f"{name}-deployer-admin",
                role=deployer.name,
                policy_arn=managed_policy_arn(target.partition, "AdministratorAccess"),
                opts=opts,
            )
        preview = self._role(
            "preview",
            naming.platform_preview_role(platform, env),
            f"Previews the {platform}.{env} platform stack from {trust.repository}'s default branch (read-only)",
            trust.preview_subjects,
            {},
            preview_statements(target.partition, keys),
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-preview-read-only",
            role=preview.name,
            policy_arn=managed_policy_arn(target.partition, "ReadOnlyAccess"),
            opts=opts,
        )
        self.role_arn = deployer.arn
        self.preview_role_arn = preview.arn
        self.register_outputs(
            {"providerArn": self.provider_arn, "roleArn": self.role_arn, "previewRoleArn": self.preview_role_arn}
        )

    def _role(
        self,
        suffix: str,
        role_name: str,
        description: str,
        subjects: list[str],
        tags: dict[str, str],
        statements: list[dict[str, Any]],
    ) -> aws.iam.Role:
        opts = self._target.aws_opts(self)
        role = aws.iam.Role(
            f"{self._prefix}-{suffix}",
            name=role_name,
            description=description,
            assume_role_policy=trust_policy(self.provider_arn, subjects),
            max_session_duration=3600,
            tags=tags or None,
            opts=opts,
        )
        aws.iam.RolePolicy(f"{self._prefix}-{suffix}", role=role.id, policy=policy_document(statements), opts=opts)
        return role

    @staticmethod
    def _permission_statements(target: PlatformTarget, permissions: str) -> list[dict[str, Any]]:
        account = target.env.account or "*"
        if permissions == "assume":
            return [
                {
                    "Sid": "AssumeEnvironmentDeploymentRole",
                    "Effect": "Allow",
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Resource": naming.role_arn(account, target.env.region, target.env.spec.deployment_role),
                }
            ]
        if permissions == "scoped":
            # Read-only on its own roles: a role that could rewrite itself could grant itself
            # anything in the shared account. Changing a tenant's roles is a platform-admin change.
            prefix = naming.platform_resource(target.platform.name, target.env.name, "")
            return [
                {
                    "Sid": "ReadOwnEnvironmentRoles",
                    "Effect": "Allow",
                    "Action": [
                        "iam:GetRole",
                        "iam:GetRolePolicy",
                        "iam:ListRolePolicies",
                        "iam:ListAttachedRolePolicies",
                    ],
                    "Resource": f"arn:{target.partition}:iam::{account}:role/{prefix}*",
                }
            ]
        return []
