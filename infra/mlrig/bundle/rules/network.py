"""Environments: regions exist and have the zones asked for, CIDRs are valid and disjoint, accounts
(the state's too) fit the isolation."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from ... import naming
from ...aws_catalog import REGIONS, availability_zones
from ...instance_facts import facts_of
from ..diagnostics import did_you_mean
from ..resolved import Platform
from . import Finding, platform_rule


def _env(name: str, *rest: str) -> tuple[str, ...]:
    return ("spec", "environments", name, *rest)


@platform_rule
def regions_exist(platform: Platform) -> Iterator[Finding]:
    for name, env in platform.environments.items():
        if env.region not in REGIONS:
            yield Finding(_env(name, "region"), f"unknown AWS region '{env.region}'{did_you_mean(env.region, REGIONS)}")


@platform_rule
def environments_share_one_partition(platform: Platform) -> Iterator[Finding]:
    """One platform's environments live in one AWS partition (aws, aws-cn or aws-us-gov): IAM
    roles trust no principal of another partition, so the deployment roles cannot trust the
    state account, the state bucket is out of reach of the other partition's credentials, and a
    project's people (whose ARNs name one partition) could reach only some environments."""
    environments = [(name, env) for name, env in platform.environments.items() if env.region in REGIONS]
    if not environments:
        return
    first_name, first = environments[0]
    expected = naming.partition(first.region)
    for name, env in environments[1:]:
        found = naming.partition(env.region)
        if found != expected:
            yield Finding(
                _env(name, "region"),
                f"{env.region} is in the AWS partition {found}, but environment '{first_name}' ({first.region}) is "
                f"in {expected}: IAM trust, the state bucket and CI's credentials do not cross partitions, so one "
                f"platform's environments share one; choose a region of {expected}, or give the {found} "
                "environments a platform of their own",
            )


@platform_rule
def availability_zones_exist(platform: Platform) -> Iterator[Finding]:
    """A network spans no more zones than an EKS cluster can use in its region in every account:
    the subnets of the missing zones have nowhere to go, and the platform's first apply fails
    half-way (us-west-1 gives new accounts two usable zones, not the three of most regions)."""
    for name, env in platform.environments.items():
        asked = env.spec.network.availability_zones
        zones = availability_zones(env.region)
        if env.region in REGIONS and asked is not None and asked > zones:
            yield Finding(
                _env(name, "network", "availabilityZones"),
                f"{env.region} has {zones} availability zones an EKS cluster can use in every account; "
                f"the network cannot span {asked}: use at most {zones} (or leave `availabilityZones` out), "
                "or choose another region",
            )


@platform_rule
def cidrs_valid_and_disjoint(platform: Platform) -> Iterator[Finding]:
    networks: list[tuple[str, ipaddress.IPv4Network]] = []
    for name, env in platform.environments.items():
        cidr = env.spec.network.cidr or ""
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as error:
            yield Finding(_env(name, "network", "cidr"), f"'{cidr}' is not a valid CIDR block: {error}")
            continue
        if not 16 <= network.prefixlen <= 24:
            yield Finding(
                _env(name, "network", "cidr"), f"'{cidr}' must be between a /16 and a /24 (EKS needs room for subnets)"
            )
            continue
        if not network.is_private:
            yield Finding(
                _env(name, "network", "cidr"),
                f"'{cidr}' is not a private range; use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
            )
        for other_name, other in networks:
            # Separate accounts may reuse ranges, but peering or Transit Gateway later would break.
            if network.overlaps(other):
                yield Finding(
                    _env(name, "network", "cidr"),
                    f"'{cidr}' overlaps environment '{other_name}' ({other}); environment CIDRs must be disjoint",
                )
        networks.append((name, network))


@platform_rule
def accounts_fit_isolation(platform: Platform) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for name, env in platform.environments.items():
        if platform.isolation == "account":
            if env.account is None:
                yield Finding(
                    _env(name),
                    f"environment '{name}' needs `account`: `account` isolation gives each environment its own AWS account",
                )
                continue
            if env.account in seen:
                yield Finding(
                    _env(name, "account"),
                    f"account {env.account} is also used by environment '{seen[env.account]}'; `account` isolation needs a distinct account per environment",
                )
            seen[env.account] = name
    if platform.isolation != "account":
        accounts = {env.account for env in platform.environments.values() if env.account}
        if len(accounts) > 1:
            yield Finding(
                ("spec", "isolation"),
                f"environments name {len(accounts)} different accounts ({_where(platform, 'account')}); "
                "use `isolation: account` for separate accounts, or name one account",
            )
    if platform.isolation == "namespace":
        regions = {env.region for env in platform.environments.values()}
        if len(regions) > 1:
            yield Finding(
                ("spec", "isolation"),
                "`namespace` isolation shares one cluster, so every environment needs the same region "
                f"({_where(platform, 'region')})",
            )


def _where(platform: Platform, field: str) -> str:
    """`dev, staging: eu-west-1; prod: eu-central-1`: which environments name which value."""
    by_value: dict[str, list[str]] = {}
    for name, env in platform.environments.items():
        value = getattr(env, field)
        if value:
            by_value.setdefault(value, []).append(name)
    return "; ".join(f"{', '.join(names)}: {value}" for value, names in by_value.items())


@platform_rule
def state_account_fits_isolation(platform: Platform) -> Iterator[Finding]:
    """Without `account` isolation the first apply runs with credentials of the environments'
    account and no deployment role: a state in another account would be out of its reach."""
    declared = platform.bundle.spec.state.account
    if platform.isolation == "account":
        return
    accounts = sorted({env.account for env in platform.environments.values() if env.account})
    if declared is not None and accounts and declared not in accounts:
        yield Finding(
            ("spec", "state", "account"),
            f"under `{platform.isolation}` isolation the state lives in the environments' account "
            f"{accounts[0]}, not {declared}; use `isolation: account` to keep it in a separate account",
        )


@platform_rule
def tiers_cover_promotion(platform: Platform) -> Iterator[Finding]:
    tiers = [env.tier for env in platform.environments.values()]
    if tiers.count("prod") > 1:
        names = [n for n, e in platform.environments.items() if e.tier == "prod"]
        yield Finding(
            _env(names[1], "tier"),
            f"more than one prod environment ({', '.join(names)}); promotion needs exactly one prod",
        )


@platform_rule
def node_group_one_architecture(platform: Platform) -> Iterator[Finding]:
    """The system node group boots one AMI, amd64 or arm64: instance types of both cannot join it."""
    for name, env in platform.environments.items():
        group = env.spec.cluster.system_node_group if env.spec.cluster else None
        if group is None:
            continue
        architectures = {t: facts.architecture for t in group.instance_types if (facts := facts_of(t))}
        if len(set(architectures.values())) > 1:
            own = env.spec.cluster is not platform.bundle.spec.cluster
            path = _env(name, "cluster") if own else ("spec", "cluster")
            listed = ", ".join(f"{t} ({a})" for t, a in architectures.items())
            yield Finding(
                (*path, "systemNodeGroup", "instanceTypes"),
                f"the system node group runs one AMI, so its instance types must share an architecture: {listed}",
            )


@platform_rule
def node_group_bounds(platform: Platform) -> Iterator[Finding]:
    for name, env in platform.environments.items():
        group = env.spec.cluster.system_node_group if env.spec.cluster else None
        if group and group.min > group.max:
            path = (
                _env(name, "cluster", "systemNodeGroup", "min")
                if (env.spec.cluster is not platform.bundle.spec.cluster)
                else ("spec", "cluster", "systemNodeGroup", "min")
            )
            yield Finding(path, f"min ({group.min}) is greater than max ({group.max})")
