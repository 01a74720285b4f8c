"""`mlrig preflight --env E [BUNDLE]`: what an AWS account must already have before a first apply.

Needs credentials for the environment's account (boto3's usual chain). Checks, and says what to fix:

- the credentials are for the environment's account (under `account` isolation);
- EC2 vCPU quotas (Service Quotas, by instance class and purchase option) hold every pool at its
  `max`: Running On-Demand G and VT / P / Standard instances, and the Spot equivalents;
- the account has the availability zones the network spans, counted as the network picks them
  (available, regular, not refused by EKS), and every pool has an instance type offered in those
  zones (DescribeAvailabilityZones, DescribeInstanceTypeOfferings);
- the state backend bucket and the secrets KMS key exist (`mlrig bootstrap` creates them);
- the GitHub OIDC provider (present, or created by the platform stack's first apply).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .. import naming, state
from ..aws_catalog import EKS_UNSUPPORTED_ZONE_IDS
from ..bundle.model import ComputePool
from ..bundle.resolved import Platform, Project
from ..capacity_types import RESERVED, node_pool_capacity_types
from ..instance_facts import facts_of

Level = Literal["ok", "note", "blocker"]

# EC2 vCPU quotas (service code `ec2`), by instance class and purchase option.
QUOTAS: dict[tuple[str, str], tuple[str, str]] = {
    ("on-demand", "standard"): ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
    ("on-demand", "g"): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("on-demand", "p"): ("L-417A185B", "Running On-Demand P instances"),
    ("spot", "standard"): ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"),
    ("spot", "g"): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("spot", "p"): ("L-7212CCBC", "All P Spot Instance Requests"),
}

QuotaReader = Callable[[Any, str, str], float | None]


@dataclass(frozen=True)
class Item:
    level: Level
    what: str
    fix: str = ""


def quota_class(instance_type: str) -> str:
    family = instance_type.split(".")[0]
    if family.startswith(("g", "vt")):
        return "g"
    if family.startswith("p"):
        return "p"
    return "standard"


def vcpus_needed(
    projects: Iterable[Project], environment: str, platform: Platform | None = None
) -> dict[tuple[str, str], int]:
    """vCPUs every pool (and the platform's system node group) needs at its max, by (purchase
    option, quota class). The platform's general Karpenter pool is not counted: it has no max."""
    needed: dict[tuple[str, str], int] = {}
    if platform is not None and environment in platform.environments:
        env_spec = platform.environments[environment].spec
        group = (env_spec.cluster or platform.bundle.spec.cluster).system_node_group
        sizes = [(f.vcpus, quota_class(t)) for t in group.instance_types if (f := facts_of(t)) is not None]
        if sizes:
            vcpus, klass = max(sizes)
            needed[("on-demand", klass)] = vcpus * group.max
    for project in projects:
        env = project.environments.get(environment)
        if env is None:
            continue
        for pool in env.spec.compute.pools:
            sizes = [(f.vcpus, quota_class(t)) for t in pool.instance_types if (f := facts_of(t)) is not None]
            if not sizes:
                continue
            vcpus, klass = max(sizes)
            for capacity in launched_capacity(pool):
                key = (capacity, klass)
                needed[key] = needed.get(key, 0) + vcpus * pool.max
    return needed


def launched_capacity(pool: ComputePool) -> list[str]:
    """The purchase options whose quota a pool may fill at its `max`, once per NodePool that may
    launch it: one NodePool of spot and on-demand may end up all on-demand when spot runs out, or
    all spot. Reserved capacity is left out: the reservation already holds its quota."""
    return [kind for kinds in node_pool_capacity_types(pool) for kind in kinds if kind != RESERVED]


def read_quota(client: Any, service: str, code: str) -> float | None:
    """The account's applied quota, else AWS's default; None when Service Quotas has neither."""
    for call in (client.get_service_quota, client.get_aws_default_service_quota):
        try:
            return float(call(ServiceCode=service, QuotaCode=code)["Quota"]["Value"])
        except Exception:  # NoSuchResourceException and friends: try the next source
            continue
    return None


def preflight(
    platform: Platform,
    projects: Iterable[Project],
    environment: str,
    session: Any,
    *,
    quota_reader: QuotaReader = read_quota,
) -> list[Item]:
    env = platform.environments[environment]
    region = env.region
    projects = list(projects)
    items: list[Item] = []

    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    if env.account and account != env.account:
        items.append(
            Item(
                "blocker",
                f"the credentials are for account {account}, but environment {environment} is account {env.account}",
                f"use credentials of {env.account} (e.g. AWS_PROFILE) and run again",
            )
        )
        return items
    items.append(Item("ok", f"credentials for account {account}, region {region}"))

    quotas = session.client("service-quotas", region_name=region)
    for (capacity, klass), vcpus in sorted(vcpus_needed(projects, environment, platform).items()):
        code, title = QUOTAS[(capacity, klass)]
        value = quota_reader(quotas, "ec2", code)
        if value is None:
            items.append(Item("note", f"quota {title} ({code}) could not be read; the pools need {vcpus} vCPUs"))
        elif value < vcpus:
            items.append(
                Item(
                    "blocker",
                    f"quota {title} ({code}) is {value:g} vCPUs; the pools at their max need {vcpus}",
                    f"aws service-quotas request-service-quota-increase --service-code ec2 --quota-code {code} "
                    f"--desired-value {vcpus} --region {region}",
                )
            )
        else:
            items.append(Item("ok", f"quota {title}: {value:g} vCPUs ≥ {vcpus} needed"))

    ec2 = session.client("ec2", region_name=region)
    zones = network_zones(ec2.describe_availability_zones()["AvailabilityZones"])
    asked = env.spec.network.availability_zones or len(zones)
    picked = zones[:asked]
    if len(zones) < asked:
        items.append(
            Item(
                "blocker",
                f"the account has {len(zones)} availability zones an EKS cluster can use in {region} "
                f"({', '.join(zones) or 'none'}); the network of environment {environment} asks for {asked}",
                f"set spec.environments.{environment}.network.availabilityZones: {len(zones)} (or use another region)",
            )
        )
    else:
        items.append(Item("ok", f"the network spans {', '.join(picked)} (of {len(zones)} zones EKS can use)"))

    offered: dict[str, set[str]] = {}
    for project, pool in pools_of(projects, environment):
        for instance_type in pool.instance_types:
            if instance_type not in offered:
                offered[instance_type] = zones_offering(ec2, instance_type)
        items.extend(pool_offerings(project, pool, offered, picked, region))
    return items + state_items(platform, environment, session, account)


def network_zones(described: Iterable[dict[str, Any]]) -> list[str]:
    """The zones the platform's network picks from, as `platform/network.py` asks for them:
    available, regular (not opt-in Local or Wavelength zones), not refused by EKS; by name."""
    return sorted(
        zone["ZoneName"]
        for zone in described
        if zone.get("State", "available") == "available"
        and zone.get("OptInStatus", "opt-in-not-required") == "opt-in-not-required"
        and zone.get("ZoneType", "availability-zone") == "availability-zone"
        and zone.get("ZoneId") not in EKS_UNSUPPORTED_ZONE_IDS
    )


def zones_offering(ec2: Any, instance_type: str) -> set[str]:
    return {
        o["Location"]
        for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}]
        )
        for o in page["InstanceTypeOfferings"]
    }


def pools_of(projects: Iterable[Project], environment: str) -> Iterator[tuple[str, ComputePool]]:
    for project in projects:
        if environment in project.environments:
            for pool in project.environments[environment].spec.compute.pools:
                yield project.name, pool


def pool_offerings(
    project: str, pool: ComputePool, offered: dict[str, set[str]], picked: list[str], region: str
) -> list[Item]:
    """A pool launches only into the network's zones (Karpenter finds its subnets by tag): a pool
    none of whose instance types is offered there never gets a node; a type offered in some of
    them narrows where the pool's nodes can go."""
    where = f"pool {pool.name} of {project}"
    reach = {t: offered[t] & set(picked) for t in pool.instance_types}
    if not any(reach.values()):
        anywhere = sorted({z for t in pool.instance_types for z in offered[t]})
        return [
            Item(
                "blocker",
                f"{where}: none of {', '.join(pool.instance_types)} is offered in the network's zones "
                f"({', '.join(picked)})"
                + (f"; offered in {', '.join(anywhere)}" if anywhere else f" nor anywhere in {region}"),
                "choose instance types offered in those zones, or another region",
            )
        ]
    items = []
    for instance_type, zones in reach.items():
        if len(zones) == len(picked):
            items.append(Item("ok", f"{where}: {instance_type} is offered in every zone of the network"))
        else:
            shown = ", ".join(sorted(zones)) or "none"
            items.append(
                Item(
                    "note",
                    f"{where}: {instance_type} is offered in {len(zones)} of the network's {len(picked)} zones ({shown})",
                )
            )
    return items


def state_items(platform: Platform, environment: str, session: Any, account: str) -> list[Item]:
    env = platform.environments[environment]
    region = env.region
    items: list[Item] = []
    bucket = state.state_bucket(platform)
    alias = state.secrets_key_alias(platform, env)
    try:
        session.client("s3", region_name=region).head_bucket(Bucket=bucket)
        items.append(Item("ok", f"state bucket s3://{bucket} exists"))
    except Exception:
        items.append(
            Item("blocker", f"state bucket s3://{bucket} does not exist or is not readable", "run `mlrig bootstrap`")
        )
    try:
        session.client("kms", region_name=state.secrets_key_region(platform, env)).describe_key(KeyId=alias)
        items.append(Item("ok", f"secrets key {alias} exists"))
    except Exception:
        items.append(Item("blocker", f"secrets key {alias} does not exist or is not visible", "run `mlrig bootstrap`"))

    provider = naming.github_oidc_provider_arn(account, region)
    try:
        session.client("iam", region_name=region).get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
        items.append(Item("ok", f"GitHub OIDC provider {provider} exists"))
    except Exception:
        items.append(
            Item(
                "note",
                f"GitHub OIDC provider {provider} is not there yet: the platform stack's first apply creates it; apply the platform before any project",
            )
        )
    return items
