"""`mlrig preflight` against moto. moto implements STS, EC2 (availability zones and instance type
offerings), S3, KMS and IAM; its Service Quotas backend knows only VPC quotas, so the EC2 quota
reader is stubbed (`quota_reader`), and that is the only stub."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from mlrig.checks.preflight import preflight, vcpus_needed

ACCOUNT = "123456789012"  # moto's account


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def platform_and_projects(example_result):
    platform = next(iter(example_result.platforms.values()))
    return platform, list(example_result.projects.values())


def bootstrap(session, platform, environment="dev"):
    """What `mlrig bootstrap` leaves in the environment's account: the state bucket and the
    environment's own secrets key."""
    from mlrig import state

    session.client("s3").create_bucket(Bucket=state.state_bucket(platform))
    key = session.client("kms").create_key()["KeyMetadata"]["KeyId"]
    alias = state.secrets_key_alias(platform, platform.environments[environment])
    session.client("kms").create_alias(AliasName=alias, TargetKeyId=key)


def test_gpu_pools_at_their_max_are_added_up_by_quota(platform_and_projects):
    _, projects = platform_and_projects
    needed = vcpus_needed(projects, "dev")
    # rag-assistant: gpu-tune 2 × 48 vCPU spot (g6e/g5.12xlarge), gpu-serve 4 × 8 on-demand;
    # fraud-detection: gpu-train 1 × 8 spot (the dev override lowers max to 1), cpu-batch on-demand.
    assert needed[("spot", "g")] == 2 * 48 + 1 * 8
    assert needed[("on-demand", "g")] == 4 * 8
    platform, _ = platform_and_projects
    with_system_nodes = vcpus_needed(projects, "dev", platform)
    group = platform.bundle.spec.cluster.system_node_group
    assert with_system_nodes[("on-demand", "standard")] == needed.get(("on-demand", "standard"), 0) + 2 * group.max


def test_credentials_of_another_account_are_a_blocker(aws, platform_and_projects):
    platform, projects = platform_and_projects
    items = preflight(platform, projects, "dev", aws, quota_reader=lambda *_: 10_000)
    assert [i.level for i in items] == ["blocker"]
    assert "111111111111" in items[0].what and ACCOUNT in items[0].what


@pytest.fixture
def moto_platform(platform_and_projects, monkeypatch):
    """The example platform with every environment in moto's account (for this test only)."""
    platform, projects = platform_and_projects
    env = platform.environments["dev"]
    monkeypatch.setattr(type(env), "account", property(lambda self: ACCOUNT), raising=False)
    return platform, projects


def test_a_ready_account_has_no_blockers(aws, moto_platform):
    platform, projects = moto_platform
    bootstrap(aws, platform)
    items = preflight(platform, projects, "dev", aws, quota_reader=lambda *_: 10_000)
    assert not [i for i in items if i.level == "blocker"], items
    assert any("offered" in i.what for i in items) and any("state bucket" in i.what for i in items)


def test_missing_state_and_low_gpu_quotas_are_blockers_with_their_fix(aws, moto_platform):
    platform, projects = moto_platform
    items = preflight(platform, projects, "dev", aws, quota_reader=lambda client, service, code: 0.0)
    blockers = [i for i in items if i.level == "blocker"]
    assert any("L-3819A6DF" in i.what and "request-service-quota-increase" in i.fix for i in blockers)
    assert any("state bucket" in i.what and "mlrig bootstrap" in i.fix for i in blockers)
    assert any("secrets key" in i.what for i in blockers)


def test_the_command_refuses_an_unknown_environment_and_reports_blockers_with_exit_1(aws, platform_and_projects):
    from click.testing import CliRunner

    from mlrig import examples
    from mlrig.cli import cli

    runner = CliRunner()
    unknown = runner.invoke(cli, ["preflight", "--env", "qa", str(examples.DIRECTORY)])
    assert unknown.exit_code == 2 and "no environment 'qa'" in unknown.output
    blocked = runner.invoke(cli, ["preflight", "--env", "dev", str(examples.DIRECTORY)])
    assert (
        blocked.exit_code == 1
        and "✗ the credentials are for account" in blocked.output
        and "1 blocker(s)" in blocked.output
    )
