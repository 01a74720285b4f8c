"""rules/network.py: regions exist, CIDRs are valid, private and disjoint, accounts fit the
isolation pattern, one prod, ordered node group bounds."""

from __future__ import annotations

import pytest

from ..helpers import check_platform, errors, explain, minimal_platform, only, validate


def test_an_unknown_region_is_rejected_with_a_suggestion():
    error = only(check_platform({"spec.environments.staging.region": "us-east-7"}), "regions_exist")
    assert error.path == "spec.environments.staging.region"
    assert "unknown AWS region 'us-east-7'" in error.message and "did you mean" in error.message


@pytest.mark.parametrize("region", ["eu-central-1", "ap-southeast-2", "us-gov-west-1"])
def test_real_regions_are_accepted(region: str):
    assert check_platform({f"spec.environments.{env}.region": region for env in ("dev", "staging", "prod")}).valid


@pytest.mark.parametrize("region", ["us-gov-west-1", "cn-north-1"])
def test_one_platforms_environments_share_one_partition(region: str):
    """A GovCloud prod beside a commercial dev validated, and each project's people were reported
    instead, in files nobody had touched: no role can trust across partitions."""
    error = only(check_platform({"spec.environments.prod.region": region}), "environments_share_one_partition")
    assert error.path == "spec.environments.prod.region"
    assert f"{region} is in the AWS partition" in error.message and "environment 'dev'" in error.message
    assert "do not cross partitions" in error.message


def test_environments_of_one_partition_in_several_regions_are_accepted():
    changes = {"spec.environments.dev.region": "eu-west-1", "spec.environments.prod.region": "ap-southeast-2"}
    assert errors(check_platform(changes), "environments_share_one_partition") == []


def test_a_network_cannot_span_more_zones_than_its_region_has():
    error = only(
        check_platform(
            {"spec.environments.prod.region": "us-east-2", "spec.environments.prod.network.availabilityZones": 4}
        ),
        "availability_zones_exist",
    )
    assert error.path == "spec.environments.prod.network.availabilityZones"
    assert "us-east-2 has 3 availability zones" in error.message and "at most 3" in error.message


def test_a_network_cannot_span_the_zone_eks_refuses_in_us_east_1():
    changes = {f"spec.environments.{env}.region": "us-east-1" for env in ("dev", "staging", "prod")}
    result = check_platform({**changes, "spec.environments.prod.network.availabilityZones": 6})
    assert "at most 5" in only(result, "availability_zones_exist").message


def test_us_west_1_gives_an_eks_network_two_zones_not_three():
    """New accounts get two zones in us-west-1 (usw1-az2 is closed to them, and EKS refuses it):
    a network of three validated, and the first apply failed creating the third subnet."""
    error = only(
        check_platform(
            {"spec.environments.prod.region": "us-west-1", "spec.environments.prod.network.availabilityZones": 3}
        ),
        "availability_zones_exist",
    )
    assert error.path == "spec.environments.prod.network.availabilityZones"
    assert "us-west-1 has 2 availability zones an EKS cluster can use" in error.message
    assert "use at most 2" in error.message


def test_the_default_zones_never_exceed_what_the_region_gives():
    """Prod defaults to three zones, but in us-west-1 to the two there are."""
    regions = {f"spec.environments.{env}.region": "us-west-1" for env in ("dev", "staging", "prod")}
    result = check_platform(regions, deletions=("spec.environments.prod.network.availabilityZones",))
    assert result.valid, explain(result)
    [platform] = result.platforms.values()
    assert platform.environments["prod"].spec.network.availability_zones == 2
    assert platform.environments["dev"].spec.network.availability_zones == 2


# us-east-1 has six zones, but EKS refuses use1-az3 for cluster subnets: five.
@pytest.mark.parametrize(("region", "zones"), [("us-east-1", 5), ("us-west-2", 4), ("eu-west-1", 3), ("us-west-1", 2)])
def test_a_network_may_span_every_zone_of_its_region(region: str, zones: int):
    changes = {f"spec.environments.{env}.region": region for env in ("dev", "staging", "prod")}
    assert check_platform({**changes, "spec.environments.prod.network.availabilityZones": zones}).valid


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("10.10.0.1/16", "not a valid CIDR block"),
        ("10.99.0.0/12", "not a valid CIDR block"),
        ("999.10.0.0/16", "not a valid CIDR block"),
        ("10.0.0.0/8", "between a /16 and a /24"),
        ("10.40.0.0/28", "between a /16 and a /24"),
        ("8.8.0.0/16", "not a private range"),
        ("10.10.128.0/17", "overlaps environment 'dev'"),
    ],
)
def test_environment_cidrs_must_be_valid_private_and_disjoint(cidr: str, expected: str):
    error = only(check_platform({"spec.environments.prod.network.cidr": cidr}), "cidrs_valid_and_disjoint")
    assert error.path == "spec.environments.prod.network.cidr" and expected in error.message


def test_disjoint_private_cidrs_of_any_size_between_16_and_24_are_fine():
    assert check_platform({"spec.environments.prod.network.cidr": "192.168.4.0/24"}).valid


def test_default_cidrs_never_overlap():
    envs = {f"e{i}": {"tier": "dev", "region": "us-east-1"} for i in range(5)}
    assert validate(minimal_platform(environments=envs)).valid


def test_account_isolation_needs_an_account_for_every_environment():
    error = only(check_platform({}, deletions=("spec.environments.staging.account",)), "accounts_fit_isolation")
    assert error.path == "spec.environments.staging" and "needs `account`" in error.message


def test_account_isolation_needs_a_distinct_account_per_environment():
    error = only(check_platform({"spec.environments.prod.account": "111111111111"}), "accounts_fit_isolation")
    assert error.path == "spec.environments.prod.account"
    assert "also used by environment 'dev'" in error.message


def test_an_account_id_must_have_12_digits():
    result = check_platform({"spec.environments.prod.account": "12345"})
    assert [e.path for e in result.diagnostics] == ["spec.environments.prod.account"], explain(result)
    assert "12-digit" in result.diagnostics[0].message


def test_an_unquoted_account_id_is_told_to_be_quoted():
    result = check_platform({"spec.environments.prod.account": 333333333333})
    assert "quote it" in result.diagnostics[0].message


def test_cluster_isolation_with_several_accounts_is_rejected():
    error = only(check_platform({"spec.isolation": "cluster"}, ("spec.state.account",)), "accounts_fit_isolation")
    assert error.path == "spec.isolation" and "isolation: account" in error.message


def test_cluster_isolation_in_one_account_is_fine():
    accounts = {f"spec.environments.{env}.account": "111111111111" for env in ("dev", "staging", "prod")}
    assert check_platform({"spec.isolation": "cluster", **accounts}, ("spec.state.account",)).valid


def test_under_account_isolation_the_state_may_live_in_a_management_account_of_its_own():
    result = check_platform({"spec.state.account": "444444444444"})
    assert result.valid, explain(result)
    assert [e for e in result.diagnostics if e.rule == "state_account_fits_isolation"] == []


def test_without_account_isolation_the_state_cannot_live_in_another_account():
    """The first apply runs with the environments' credentials and assumes no role: a state in
    another account would be out of its reach."""
    accounts = {f"spec.environments.{env}.account": "111111111111" for env in ("dev", "staging", "prod")}
    changes = {"spec.isolation": "cluster", "spec.state.account": "444444444444", **accounts}
    error = only(check_platform(changes), "state_account_fits_isolation")
    assert error.path == "spec.state.account"
    assert "the environments' account 111111111111, not 444444444444" in error.message


def test_without_account_isolation_the_state_account_may_name_the_environments_account():
    accounts = {f"spec.environments.{env}.account": "111111111111" for env in ("dev", "staging", "prod")}
    changes = {"spec.isolation": "cluster", "spec.state.account": "111111111111", **accounts}
    assert check_platform(changes).valid


def test_namespace_isolation_shares_one_cluster_so_one_region():
    envs = {"dev": {"tier": "dev", "region": "us-east-1"}, "prod": {"tier": "prod", "region": "eu-west-1"}}
    error = only(validate(minimal_platform(isolation="namespace", environments=envs)), "accounts_fit_isolation")
    assert "same region" in error.message
    envs["prod"]["region"] = "us-east-1"
    assert validate(minimal_platform(isolation="namespace", environments=envs)).valid


def test_two_prod_environments_are_rejected():
    error = only(check_platform({"spec.environments.staging.tier": "prod"}), "tiers_cover_promotion")
    assert error.path == "spec.environments.prod.tier"


def test_a_system_node_group_mixing_graviton_and_x86_types_is_rejected():
    result = check_platform({"spec.cluster.systemNodeGroup.instanceTypes": ["m7g.large", "m6i.large"]})
    error = errors(result, "node_group_one_architecture")[0]
    assert error.path == "spec.cluster.systemNodeGroup.instanceTypes"
    assert "m7g.large (arm64), m6i.large (amd64)" in error.message


def test_an_all_graviton_system_node_group_is_fine():
    assert check_platform({"spec.cluster.systemNodeGroup.instanceTypes": ["m7g.large", "m6g.large"]}).valid


def test_a_system_node_group_whose_min_exceeds_its_max_is_rejected():
    error = only(check_platform({"spec.cluster.systemNodeGroup.min": 5}), "node_group_bounds")
    # prod overrides both bounds (3..6), so only dev and staging break, at the shared line.
    assert error.path == "spec.cluster.systemNodeGroup.min"


def test_a_node_group_override_whose_min_exceeds_its_max_points_at_the_override():
    error = only(check_platform({"spec.environments.prod.cluster.systemNodeGroup.min": 7}), "node_group_bounds")
    assert error.path == "spec.environments.prod.cluster.systemNodeGroup.min"
