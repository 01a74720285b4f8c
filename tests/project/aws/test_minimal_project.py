"""A project bundle holding only the required fields plans in every environment, with sensible
defaults: storage, key, tracking store and CI deployer, and no persona role nobody could assume.

Also a platform that names no accounts (`cluster` isolation, one account): names use the
deploying account, and the cross-environment cells of the access table hold without bucket
policy grants (same account: the identity policy and the key policy suffice)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrig import examples
from mlrig.bundle.validate import validate_paths
from mlrig.plan.engine import StackPlan
from mlrig.plan.runner import Planner

from .conftest import moto_world
from .iam_eval import StackIam

pytestmark = pytest.mark.slow

MINIMAL_PROJECT = """\
apiVersion: mlrig/v1
kind: Project
metadata: {name: tiny}
spec:
  platform: %s
  repository: acme/tiny
"""
ACCESS = """\
  access:
    dataScientists: [arn:aws:iam::123456789012:user/ada]
    mlEngineers: [arn:aws:iam::123456789012:user/grace]
  monitoring:
    alerts:
      - {type: email, target: ml-oncall@acme.example}
      - {type: sns, target: "arn:aws:sns:eu-west-1:123456789012:ops"}
      - {type: slack, target: "#ml"}
"""
ACCOUNTLESS_PLATFORM = """\
apiVersion: mlrig/v1
kind: Platform
metadata: {name: shared-ml}
spec:
  isolation: cluster
  tenancy:
    principalAccounts: ["123456789012"]
    prodReadAccessFromDev: true
    projects:
      tiny:
        repository: acme/tiny
        principals: [arn:aws:iam::123456789012:user/ada, arn:aws:iam::123456789012:user/grace]
        prodApprovers: ["@acme/tiny-leads"]
  environments:
    dev: {tier: dev, region: eu-west-1}
    prod: {tier: prod, region: eu-west-1}
"""


def plans_of(directory: Path) -> dict[str, StackPlan]:
    result = validate_paths([directory])
    assert result.valid, [d.text() for d in result.diagnostics]
    project = result.projects["tiny"]
    planner = Planner()
    return {environment: planner.project(project, environment) for environment in project.environments}


@pytest.fixture(scope="module")
def minimal_plans(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, StackPlan]:
    directory = tmp_path_factory.mktemp("minimal")
    platform = examples.path("platform.yaml").read_text()
    admitted = platform.replace(
        "    projects:\n",
        '    projects:\n      tiny: {repository: acme/tiny, prodApprovers: ["@acme/tiny-leads"]}\n',
        1,
    )
    (directory / "platform.yaml").write_text(admitted)
    (directory / "tiny.yaml").write_text(MINIMAL_PROJECT % "acme-ml")
    return plans_of(directory)


@pytest.fixture(scope="module")
def accountless_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackPlan]:
    directory = tmp_path_factory.mktemp("accountless")
    (directory / "platform.yaml").write_text(ACCOUNTLESS_PLATFORM)
    (directory / "tiny.yaml").write_text(MINIMAL_PROJECT % "shared-ml" + ACCESS)
    return plans_of(directory)


def test_a_project_with_only_required_fields_plans_in_every_environment(minimal_plans: dict[str, StackPlan]) -> None:
    assert set(minimal_plans) == {"dev", "staging", "prod"}
    for environment, plan in minimal_plans.items():
        buckets = {b["inputs"]["tags"]["mlrig:data-class"] for b in plan.of_type("aws:s3/bucket:Bucket")}
        assert {"data", "artifacts", "logs"} <= buckets
        assert len(plan.of_type("aws:kms/key:Key")) == 1
        assert [d["inputs"]["identifier"] for d in plan.of_type("aws:rds/instance:Instance")] == [
            f"tiny-{environment}-mlflow"  # RDS allows no `--`
        ]
        assert plan.outputs["ciDeployerRoleArn"].endswith(f":role/tiny--{environment}--ci-deployer")
        assert plan.of_type("aws:ecr/repository:Repository") == []


def test_personas_without_principals_get_no_role(minimal_plans: dict[str, StackPlan]) -> None:
    for plan in minimal_plans.values():
        personas = {r["inputs"]["tags"]["mlrig:persona"] for r in plan.of_type("aws:iam/role:Role")}
        assert personas == {"ci-deployer", "workload"}
        assert plan.outputs["personaRoleArns"] == {}


def test_without_accounts_names_use_the_deploying_account(accountless_plans: dict[str, StackPlan]) -> None:
    for environment, plan in accountless_plans.items():
        account = plan.outputs["accountId"]
        assert account.isdigit() and len(account) == 12
        buckets = {b["inputs"]["bucket"] for b in plan.of_type("aws:s3/bucket:Bucket")}
        assert f"tiny--{environment}--data--{account}" in buckets
        for policy in plan.of_type("aws:s3/bucketPolicy:BucketPolicy"):
            assert "CrossAccount" not in json.dumps(policy["inputs"]["policy"])
        (key,) = plan.of_type("aws:kms/key:Key")
        statements = {s["Sid"]: s for s in json.loads(key["inputs"]["policy"])["Statement"]}
        # who runs Pulumi (the platform names no CI role here: the caller)
        assert statements["AdministerKey"]["Principal"]["AWS"] == [f"arn:aws:iam::{account}:role/mlrig-plan"]


@pytest.mark.parametrize(
    ("persona", "home", "target", "operation", "allowed"),
    [
        ("data-scientist", "dev", "prod", "read", True),
        ("data-scientist", "dev", "prod", "write", False),
        ("ml-engineer", "dev", "prod", "read", True),
        ("ml-engineer", "dev", "prod", "write", False),
        ("data-scientist", "prod", "prod", "write", False),
        ("ml-engineer", "prod", "dev", "read", False),
    ],
    ids=lambda v: str(v),
)
def test_in_one_account_the_cross_environment_cells_hold(
    accountless_plans: dict[str, StackPlan], persona: str, home: str, target: str, operation: str, allowed: bool
) -> None:
    stacks = {e: StackIam.of(p) for e, p in accountless_plans.items()}
    with moto_world(list(stacks.values())) as world:
        role = stacks[home].persona_role(persona)
        bucket = stacks[target].bucket("data")
        key = "gold/sample.parquet" + ("" if operation == "read" else ".probe")
        assert world.can(role, operation, bucket, key) is allowed


@pytest.mark.parametrize(
    ("user", "persona", "allowed"),
    [
        ("ada", "data-scientist", True),
        ("ada", "ml-engineer", False),
        ("grace", "ml-engineer", True),
        ("grace", "data-scientist", False),
        ("mallory", "data-scientist", False),
        ("mallory", "ml-engineer", False),
    ],
    ids=lambda v: str(v),
)
def test_only_the_bundles_principals_can_assume_a_persona_role(
    accountless_plans: dict[str, StackPlan], user: str, persona: str, allowed: bool
) -> None:
    """moto checks the trust policy for real: ada is a data scientist, grace an ML engineer,
    mallory is in the account but in no `spec.access` list."""
    import boto3
    from botocore.exceptions import ClientError
    from moto.core.authorization import disable_iam_authentication, enable_iam_authentication

    stacks = {e: StackIam.of(p) for e, p in accountless_plans.items()}
    with moto_world(list(stacks.values())):
        with disable_iam_authentication():
            iam = boto3.client("iam")
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user,
                PolicyName="assume",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
                    }
                ),
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
        sts = boto3.client("sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        role = stacks["dev"].roles[f"tiny--dev--{persona}"]["arn"]
        with enable_iam_authentication():
            try:
                sts.assume_role(RoleArn=role, RoleSessionName="trust-check")
                assumed = True
            except ClientError as error:
                assert error.response["Error"]["Code"] == "AccessDenied"
                assumed = False
        assert assumed is allowed


def test_email_routes_subscribe_and_sns_routes_receive_the_alarms(accountless_plans: dict[str, StackPlan]) -> None:
    plan = accountless_plans["prod"]
    (topic,) = plan.of_type("aws:sns/topic:Topic")
    (subscription,) = [s["inputs"] for s in plan.of_type("aws:sns/topicSubscription:TopicSubscription")]
    assert subscription == {"topic": topic["outputs"]["arn"], "protocol": "email", "endpoint": "ml-oncall@acme.example"}
    alarms = plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms and all(
        a["inputs"]["alarmActions"] == [topic["outputs"]["arn"], "arn:aws:sns:eu-west-1:123456789012:ops"]
        for a in alarms
    )
    secrets = {s["inputs"]["name"] for s in plan.of_type("aws:secretsmanager/secret:Secret")}
    assert "mlrig/tiny/prod/alerts/slack" in secrets  # the Slack webhook, set by the platform team


WITH_CI = ACCOUNTLESS_PLATFORM.replace(
    "  isolation: cluster\n", "  isolation: cluster\n  github: {organization: acme}\n"
)


@pytest.fixture(scope="module")
def ci_cluster_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackPlan]:
    directory = tmp_path_factory.mktemp("ci-cluster")
    (directory / "platform.yaml").write_text(WITH_CI)
    (directory / "tiny.yaml").write_text(MINIMAL_PROJECT % "shared-ml" + ACCESS)
    return plans_of(directory)


def test_a_person_applying_by_hand_stays_administrator_of_the_key_they_create(
    ci_cluster_plans: dict[str, StackPlan],
) -> None:
    """Under `cluster`/`namespace` isolation CI applies as the platform's deployment role; a person
    applying with their own credentials must be administrator too, or CreateKey fails KMS's
    lockout check (MalformedPolicyDocumentException)."""
    for environment, plan in ci_cluster_plans.items():
        account = plan.outputs["accountId"]
        (key,) = plan.of_type("aws:kms/key:Key")
        statements = {s["Sid"]: s for s in json.loads(key["inputs"]["policy"])["Statement"]}
        administrators = statements["AdministerKey"]["Principal"]["AWS"]
        caller = f"arn:aws:iam::{account}:role/mlrig-plan"  # the mocked caller of `get_caller_identity`
        assert caller in administrators, environment
        assert any(a.endswith("-platform-deployer") for a in administrators), administrators
        assert statements["EnableIamPolicies"]["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}


def test_without_a_github_organisation_the_ci_deployer_trusts_its_own_account_not_an_empty_provider(
    accountless_plans: dict[str, StackPlan], ci_cluster_plans: dict[str, StackPlan]
) -> None:
    """The platform creates no GitHub OIDC provider without `github.organization`: a trust in the
    empty provider ARN it exports would be refused by IAM on the first apply."""
    for environment, plan in accountless_plans.items():
        account = plan.outputs["accountId"]
        (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r["inputs"]["name"].endswith("--ci-deployer")]
        (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}, environment
        assert statement["Action"] == "sts:AssumeRole"
    for plan in ci_cluster_plans.values():
        (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r["inputs"]["name"].endswith("--ci-deployer")]
        (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
