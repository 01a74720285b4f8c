"""`mlrig preflight` against moto. moto implements STS, EC2 (availability zones and instance type
offerings), S3, KMS and IAM; its Service Quotas backend knows only VPC quotas, so the EC2 quota
reader is stubbed (`quota_reader`), and that is the only stub."""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from moto import mock_aws

from mlrig.bundle.model import CapacityReservations
from mlrig.checks.preflight import network_zones, pool_offerings, preflight, vcpus_needed

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


# --- availability zones and where the pools can launch --------------------------------------------


def with_zones(platform, environment: str, zones: int):
    """The platform with the environment's network spanning `zones` zones."""
    env = platform.environments[environment]
    spec = env.spec.model_copy(update={"network": env.spec.network.model_copy(update={"availability_zones": zones})})
    environments = {**platform.environments, environment: dataclasses.replace(env, spec=spec)}
    return dataclasses.replace(platform, environments=environments)


def test_the_zones_a_network_picks_leave_out_opt_in_zones_and_those_eks_refuses():
    described = [
        {"ZoneName": "us-west-1c", "ZoneId": "usw1-az3", "State": "available", "OptInStatus": "opt-in-not-required"},
        {"ZoneName": "us-west-1b", "ZoneId": "usw1-az2", "State": "available", "OptInStatus": "opt-in-not-required"},
        {"ZoneName": "us-west-1a", "ZoneId": "usw1-az1", "State": "available", "OptInStatus": "opt-in-not-required"},
        {"ZoneName": "us-west-1-lax-1a", "ZoneId": "usw1-lax1-az1", "State": "available", "OptInStatus": "opted-in"},
    ]
    assert network_zones(described) == ["us-west-1a", "us-west-1c"]


def test_a_network_asking_for_more_zones_than_the_account_has_is_a_blocker(aws, moto_platform):
    """moto's us-east-1 has six zones, one of them use1-az3, which EKS refuses: five remain."""
    platform, projects = moto_platform
    bootstrap(aws, platform)
    items = preflight(with_zones(platform, "dev", 6), projects, "dev", aws, quota_reader=lambda *_: 10_000)
    [blocker] = [i for i in items if i.level == "blocker"]
    assert "has 5 availability zones an EKS cluster can use" in blocker.what and "asks for 6" in blocker.what
    assert blocker.fix.startswith("set spec.environments.dev.network.availabilityZones: 5")
    ready = preflight(with_zones(platform, "dev", 5), projects, "dev", aws, quota_reader=lambda *_: 10_000)
    assert not [i for i in ready if i.level == "blocker"]


def test_a_pool_none_of_whose_types_is_offered_in_the_networks_zones_is_a_blocker(moto_platform):
    """The region offers p5.48xlarge, but only in a zone the network does not span: the pool's
    pods would stay pending forever."""
    _, projects = moto_platform
    project = projects[0]
    pool = project.environments["dev"].spec.compute.pools[0].model_copy(update={"instance_types": ["p5.48xlarge"]})
    offered = {"p5.48xlarge": {"us-east-1f"}}
    [blocker] = pool_offerings(project.name, pool, offered, ["us-east-1a", "us-east-1b"], "us-east-1")
    assert blocker.level == "blocker"
    assert "none of p5.48xlarge is offered in the network's zones (us-east-1a, us-east-1b)" in blocker.what
    assert "offered in us-east-1f" in blocker.what
    partly = pool_offerings(project.name, pool, {"p5.48xlarge": {"us-east-1a"}}, ["us-east-1a", "us-east-1b"], "x")
    assert [i.level for i in partly] == ["note"] and "1 of the network's 2 zones" in partly[0].what


def test_a_pool_falling_back_from_spot_to_on_demand_needs_both_quotas_at_its_max(platform_and_projects):
    """One NodePool of reserved, spot and on-demand may end up all spot or, when spot runs out,
    all on-demand: both quotas must hold the pool's max (the reservation holds its own quota)."""
    _, projects = platform_and_projects
    project = projects[0]
    env = project.environments["dev"]
    pool = env.spec.compute.pools[0]
    changed = pool.model_copy(
        update={
            "instance_types": ["g5.2xlarge"],
            "capacity": "spot",
            "max": 3,
            "reservations": CapacityReservations(ids=["cr-0123456789abcdef0"], fallback=["spot", "on-demand"]),
        }
    )
    compute = env.spec.compute.model_copy(update={"pools": [changed]})
    spec = env.spec.model_copy(update={"compute": compute})
    single = dataclasses.replace(project, environments={"dev": dataclasses.replace(env, spec=spec)})
    needed = vcpus_needed([single], "dev")
    assert needed == {("spot", "g"): 3 * 8, ("on-demand", "g"): 3 * 8}
