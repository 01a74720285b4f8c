"""The tenant boundary: what a Project bundle may ask for, as its Platform bundle allows it.

The platform team owns the Platform bundle; each team owns its Project bundle, reviewed by that
team alone, so a Project bundle is untrusted input. Every consumer that turns project fields into
trust (validation rules, IAM trust and key policies, Kubernetes RBAC, GitHub environments,
CODEOWNERS, workflows) asks this module, and nothing decides these questions beside it:

- which GitHub repository a project may deploy from (`repository_problem`, `admission`);
- which AWS principals may act as its personas (`principal_problem`, `principal_admitted`);
- whether dev may read its prod data (`dev_may_read_prod`);
- who must approve its prod deployments (`effective_prod_approvers`);
- where its alerts may go (`alert_target_problem`);
- which capacity reservations its pools may launch into (`reservation_problem`);
- which Kubernetes namespaces it can never take (`reserved_namespace`);
- how much one scrape of its servers may add to the shared Prometheus (`SCRAPE_LIMITS`).

The defaults are safe: no dev→prod reads, at least one prod approver, no webhook hosts, persona
principals only from the platform's own accounts, and no project at all until the platform
team admits it in `spec.tenancy.projects` (with the fields that change trust written there,
in the platform's file, so that CODEOWNERS gives them to the platform team).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from . import naming
from .aws_catalog import nvidia_gpus
from .bundle.model import AlertRoute, ComputePool, PlatformBundle, ProjectAdmission, ProjectBundle, ProjectSpec
from .capacity_types import node_pool_capacity_types
from .checks import quantities

# --- what a project's servers may add to the shared Prometheus ----------------------------------

# The platform's one Prometheus scrapes servers a team writes (its model servers' images) or feeds
# (the LLM gateway labels its counters with the model and user each caller names): without bounds,
# one team's `/metrics` can grow the shared Prometheus until it fails, and every team's alerts with
# it. Every monitor in a project namespace sets these (Prometheus Operator PodMonitor fields): a
# scrape past them fails on its own (the team's own targets go `up == 0`), the others' go on.
# Generous for what the servers export (vLLM's and LiteLLM's histograms, a few thousand samples).
SCRAPE_LIMITS: dict[str, int] = {
    "sampleLimit": 20000,
    "labelLimit": 30,
    "labelNameLengthLimit": 128,
    "labelValueLengthLimit": 512,
}


# --- the bounds of one platform ------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """A platform's `spec.tenancy` with its defaults resolved."""

    platform: str
    github_organizations: tuple[str, ...]
    principal_accounts: tuple[str, ...]
    aws_organization_id: str | None
    prod_read_access_from_dev: bool
    min_prod_approvers: int
    webhook_hosts: tuple[str, ...]
    admissions: Mapping[str, ProjectAdmission]
    platform_repository: str | None
    max_nodes: int = 200
    max_gpus: int = 128
    max_general_cpu: int = 256


def platform_repository(platform: PlatformBundle) -> str | None:
    """The platform's own repository (`github.repository`, default `<organization>/<platform>`)."""
    github = platform.spec.github
    if github.repository:
        return github.repository
    return f"{github.organization}/{platform.metadata.name}" if github.organization else None


def bounds(platform: PlatformBundle) -> Bounds:
    """The platform's tenancy with defaults: organisations default to `github.organization`,
    principal accounts to the accounts of the platform's environments."""
    tenancy = platform.spec.tenancy
    organizations = tenancy.github_organizations
    if organizations is None:
        organizations = [platform.spec.github.organization] if platform.spec.github.organization else []
    accounts = tenancy.principal_accounts
    if accounts is None:
        accounts = sorted({env.account for env in platform.spec.environments.values() if env.account})
    return Bounds(
        platform=platform.metadata.name,
        github_organizations=tuple(organizations),
        principal_accounts=tuple(accounts),
        aws_organization_id=tenancy.aws_organization_id,
        prod_read_access_from_dev=tenancy.prod_read_access_from_dev,
        min_prod_approvers=tenancy.min_prod_approvers,
        webhook_hosts=tuple(tenancy.alerts.webhook_hosts),
        admissions=dict(tenancy.projects),
        platform_repository=platform_repository(platform),
        max_nodes=tenancy.max_nodes,
        max_gpus=tenancy.max_gpus,
        max_general_cpu=tenancy.max_general_cpu,
    )


# --- admission -------------------------------------------------------------------------------


def admission(limits: Bounds, project: str) -> ProjectAdmission | None:
    """The platform's admission of `project`, or None: a project not admitted never deploys."""
    return limits.admissions.get(project)


def admission_snippet(project: ProjectBundle) -> str:
    """The one line (YAML flow style) the platform team adds under `spec.tenancy.projects` of
    the Platform bundle to admit `project` exactly as its bundle asks."""
    spec = project.spec
    principals = sorted(
        {
            *spec.access.data_scientists,
            *spec.access.ml_engineers,
            *(
                arn
                for override in spec.environments.values()
                if isinstance(override.get("access"), dict)
                for persona in override["access"].values()
                if isinstance(persona, list)
                for arn in persona
                if isinstance(arn, str)
            ),
        }
    )
    approvers = list(spec.ci.prod_approvers) or ["@<org>/<team>"]

    def strings(values: Sequence[str]) -> str:
        return "[" + ", ".join(json.dumps(v) for v in values) + "]"

    # Who is charged: pinned at admission, so that the team cannot later charge another's.
    charged = "".join(
        f", {key}: {json.dumps(value)}"
        for key, value in (("team", project.metadata.team), ("costCenter", project.metadata.cost_center))
        if value is not None
    )
    return (
        f"{project.metadata.name}: {{repository: {json.dumps(spec.repository)}, "
        f"principals: {strings(principals)}, prodApprovers: {strings(approvers)}{charged}}}"
    )


# --- repositories --------------------------------------------------------------------------------


def _same_repository(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()  # GitHub names are case-insensitive


def repository_problem(limits: Bounds, repository: str) -> str | None:
    """Why a project may not deploy from `repository` (GitHub `org/name`), or None.

    Never the platform repository (its workflows and environments gate the platform's own
    deployer), never an organisation's `.github` repository (org-wide workflow templates and
    community files), and only in the platform's GitHub organisations when it names any."""
    owner, _, name = repository.partition("/")
    if limits.platform_repository and _same_repository(repository, limits.platform_repository):
        return f"'{repository}' is the platform's own repository; a project needs a repository of its own"
    if name.casefold() == ".github":
        return f"'{repository}' is the organisation-wide .github repository; a project needs a repository of its own"
    if limits.github_organizations and owner.casefold() not in {o.casefold() for o in limits.github_organizations}:
        allowed = ", ".join(limits.github_organizations)
        return f"repository owner '{owner}' is not one of the platform's GitHub organisations ({allowed})"
    return None


def repository_administered(organization: str | None, repository: str) -> bool:
    """Whether mlrig's GitHub provider, which acts in the platform's organisation only (its
    `owner`), can administer `repository`: a project repository of another organisation the
    platform admits (`tenancy.githubOrganizations`) is out of its reach."""
    owner = repository.partition("/")[0]
    return bool(organization) and owner.casefold() == str(organization).casefold()


def teams_outside(organization: str | None, handles: Sequence[str]) -> list[str]:
    """The team handles (`@org/team`) among `handles` that are not teams of `organization`: a
    GitHub environment's required reviewers are users or teams of the repository's organisation."""
    home = (organization or "").casefold()
    return [h for h in handles if "/" in h and h.lstrip("@").split("/", 1)[0].casefold() != home]


def codeowners_organization(platform: PlatformBundle) -> str | None:
    """The one organisation whose teams the platform repository's CODEOWNERS can name (None: the
    platform names no repository): a team owns code only where it is visible and holds write
    access, which is only in its own organisation's repositories. GitHub reports another
    organisation's team as an unknown owner and skips its line (older GitHub Enterprise Server
    ignores the whole file)."""
    repository = platform_repository(platform)
    return repository.split("/", 1)[0] if repository else None


def repository_admitted(admitted: ProjectAdmission, repository: str) -> bool:
    return _same_repository(admitted.repository, repository)


def repository_spelling_problem(limits: Bounds, admitted: ProjectAdmission | None, repository: str) -> str | None:
    """Why `repository` is spelt so that at least one spelling is not GitHub's, or None: GitHub
    names are case-insensitive, so the platform accepts `acme/Fraud-Detection` for an admitted
    `acme/fraud-detection`; but the CI role trusts the OIDC `sub` spelt as the project bundle
    writes it, GitHub writes it as the repository is named on GitHub, and IAM compares the two
    case-sensitively. Two spellings of one name mean the role cannot be assumed from one of them."""
    if admitted is not None and repository_admitted(admitted, repository) and admitted.repository != repository:
        return f"admitted as '{admitted.repository}'"
    owner = repository.partition("/")[0]
    spelt = [o for o in limits.github_organizations if o.casefold() == owner.casefold()]
    if spelt and owner not in spelt:
        return f"its owner is the platform's GitHub organisation '{spelt[0]}'"
    return None


# --- principals ----------------------------------------------------------------------------------

_PRINCIPAL = re.compile(r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>[0-9]{12}):(?P<resource>.+)$")


def principal_problem(limits: Bounds, arn: str, *, partition: str | None = None) -> str | None:
    """Why `arn` may not act as a persona of a project, or None: it must be a role or user (not an
    account's `:root`, which trusts every principal of that account), hold no wildcard, come from
    one of the platform's principal accounts and, given one, from the environment's partition."""
    if "*" in arn or "?" in arn:
        return f"principal '{arn}' holds a wildcard; name one role or user"
    match = _PRINCIPAL.fullmatch(arn)
    if match is None:
        return f"principal '{arn}' is not an IAM role or user ARN"
    if match["resource"] == "root":
        return f"principal '{arn}' is a whole account (:root); name one role or user of it"
    if not limits.principal_accounts:
        return (
            f"principal '{arn}' cannot be checked: platform '{limits.platform}' names no accounts; "
            "set its spec.tenancy.principalAccounts"
        )
    if match["account"] not in limits.principal_accounts:
        allowed = ", ".join(limits.principal_accounts)
        return f"principal '{arn}' is in account {match['account']}, not one of the platform's accounts ({allowed})"
    if partition is not None and match["partition"] != partition:
        return f"principal '{arn}' is in partition {match['partition']}, but the environment is in {partition}"
    return None


def principal_admitted(admitted: ProjectAdmission, arn: str) -> bool:
    return arn in admitted.principals


def persona_trust_conditions(limits: Bounds) -> dict[str, dict[str, str]]:
    """Conditions every persona role's trust adds to its exact principals."""
    return _organization_conditions(limits.aws_organization_id)


def _organization_conditions(organization_id: str | None) -> dict[str, dict[str, str]]:
    return {"StringEquals": {"aws:PrincipalOrgID": organization_id}} if organization_id else {}


# IAM's default quota on a role's trust policy, in characters without white space (Service Quotas
# raises it to 4,096 at most): a longer document fails the role's creation.
TRUST_POLICY_CHARACTERS = 2048


def persona_trust_policy(principals: Sequence[str], conditions: Mapping[str, Mapping[str, str]]) -> str:
    """A persona role's trust: exactly the bundle's principals (which validation holds to those
    the platform admits), plus the platform's conditions (its AWS Organization, when it names one)."""
    statement: dict[str, object] = {"Effect": "Allow", "Principal": {"AWS": sorted(principals)}}
    statement["Action"] = "sts:AssumeRole"
    if conditions:
        statement["Condition"] = conditions
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@lru_cache(maxsize=4096)
def persona_trust_characters(principals: tuple[str, ...], organization_id: str | None) -> int:
    """The length AWS holds a persona role's trust policy to (`policy_characters` of
    `persona_trust_policy`). Cached: a project's environments mostly name the same principals,
    and validating a thousand bundles measured each policy three times over."""
    return policy_characters(persona_trust_policy(principals, _organization_conditions(organization_id)))


def policy_characters(document: str | Mapping[str, object]) -> int:
    """The length AWS holds a policy to: its JSON without white space (`document` as JSON text,
    or already parsed)."""
    value = json.loads(document) if isinstance(document, str) else document
    return len(json.dumps(value, separators=(",", ":")))


# --- capacity reservations ----------------------------------------------------------------------


def reservation_problem(limits: Bounds, project: str, reservation: str) -> str | None:
    """Why `project` may not launch into capacity reservation `reservation`, or None: a
    reservation (or Capacity Block) is paid for by whoever bought it, and an `open` one can be
    drained by any launch that matches it, so only the reservations the platform admits for the
    project are usable (`tenancy.projects.<project>.capacityReservations`)."""
    admitted = admission(limits, project)
    if admitted is not None and reservation in admitted.capacity_reservations:
        return None
    return (
        f"capacity reservation '{reservation}' is not admitted for project '{project}'; the platform team adds it "
        "to spec.tenancy.projects.<project>.capacityReservations"
    )


# --- capacity -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    """Nodes and physical GPUs a project environment may launch at most, and CPU cores it may
    use on the general nodes."""

    nodes: int
    gpus: int
    general_cpu: int = 0


def capacity_allowed(limits: Bounds, project: str) -> Capacity:
    """The platform's bound on one environment of `project`: its admission's, else the platform's."""
    admitted = admission(limits, project)

    def bound(field: str) -> int:
        value = getattr(admitted, field) if admitted is not None else None
        return int(value if value is not None else getattr(limits, field))

    return Capacity(nodes=bound("max_nodes"), gpus=bound("max_gpus"), general_cpu=bound("max_general_cpu"))


# mlrig's own servers on the general nodes (tracking server, gateway, loggers, pipeline gates):
# the namespace quota's allowance on top of the endpoints and pipelines without a pool. It holds
# the LLM gateway's first `GATEWAY_REPLICAS_IN_ALLOWANCE` replicas; each one past them adds its
# limits (`GATEWAY_LIMITS`, which its pod template sets): the quota counts limits, and a replica
# it cannot hold is never created (the Deployment waits until the apply times out).
GENERAL_CPU = 16
GENERAL_MEMORY_GIB = 64
GATEWAY_LIMITS = {"cpu": "2", "memory": "2Gi"}
GATEWAY_REPLICAS_IN_ALLOWANCE = 2


def _cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def general_allowance(spec: ProjectSpec) -> tuple[int, int]:
    """(cores, GiB) of the namespace quota for mlrig's own servers: `GENERAL_CPU` and
    `GENERAL_MEMORY_GIB`, plus the limits of each gateway replica past the ones they hold."""
    gateway = spec.llm.gateway
    extra = max(0, gateway.replicas - GATEWAY_REPLICAS_IN_ALLOWANCE) if gateway is not None else 0
    cores = math.ceil(extra * (quantities.cpu_millis(GATEWAY_LIMITS["cpu"]) or 0) / 1000)
    gib = math.ceil(extra * (quantities.memory_mib(GATEWAY_LIMITS["memory"]) or 0) / 1024)
    return GENERAL_CPU + cores, GENERAL_MEMORY_GIB + gib


def general_cpu_requested(spec: ProjectSpec) -> int:
    """CPU cores the project may use on the general nodes, as its namespace quota allows them:
    endpoints without a pool at `maxReplicas` (twice for a split or shadow rollout), pipelines
    without a pool with all their workers, and the allowance for mlrig's own servers."""
    cores = 0.0
    for endpoint in spec.serving.endpoints:
        if endpoint.pool is None:
            copies = endpoint.autoscaling.max_replicas * (1 if endpoint.rollout.strategy == "direct" else 2)
            cores += copies * _cores(endpoint.resources.cpu)
    for pipeline in spec.pipelines.values():
        if pipeline.pool is None:
            cores += pipeline.workers * _cores(pipeline.resources.cpu)
    return general_allowance(spec)[0] + math.ceil(cores)


def pool_capacity(pool: ComputePool) -> Capacity:
    """The most a pool may launch, counted as Karpenter allows it: every NodePool of the pool holds
    the pool's `max` nodes of its largest GPU instance type, and Karpenter's limits hold per
    NodePool (a pool is two NodePools only when its fallback puts on-demand before spot,
    `capacity_types.py`). (A NodePool's limit is raised to fit the pool's largest multi-worker
    job, but `rules/compute.py` already holds `max` to that.)"""
    nodes = pool.max
    node_pools = len(node_pool_capacity_types(pool))
    per_node = 0
    if pool.gpu is not None:
        per_node = max((nvidia_gpus(t) or pool.gpu.count) for t in pool.instance_types)
    return Capacity(nodes=nodes * node_pools, gpus=nodes * node_pools * per_node)


def capacity_requested(spec: ProjectSpec) -> Capacity:
    pools = [pool_capacity(pool) for pool in spec.compute.pools]
    return Capacity(
        nodes=sum(p.nodes for p in pools), gpus=sum(p.gpus for p in pools), general_cpu=general_cpu_requested(spec)
    )


# --- dev reading prod ----------------------------------------------------------------------------


def dev_may_read_prod(limits: Bounds, requested: bool | None) -> bool:
    """Whether dev personas may read a prod environment's data: only where the platform allows
    it, and then unless the project narrows it (`requested` False; None follows the platform)."""
    return limits.prod_read_access_from_dev and requested is not False


# --- prod approvers ------------------------------------------------------------------------------


def effective_prod_approvers(limits: Bounds, project: str, requested: Sequence[str]) -> list[str]:
    """The required reviewers of the project's prod environment: the project's `ci.prodApprovers`
    when it names some, else every approver the platform admits for it. Never the team's own
    `metadata.owners`: a team does not choose who approves its way to prod."""
    if requested:
        return list(requested)
    admitted = admission(limits, project)
    return list(admitted.prod_approvers) if admitted else []


def approvers_not_admitted(admitted: ProjectAdmission, requested: Sequence[str]) -> list[str]:
    allowed = {a.casefold() for a in admitted.prod_approvers}
    return [a for a in requested if a.casefold() not in allowed]


# --- alert targets -------------------------------------------------------------------------------

_SNS_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):sns:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):[A-Za-z0-9_-]{1,256}$"
)
_INTERNAL_SUFFIXES = (".svc", ".cluster.local", ".local", ".internal", ".localhost")
_SLACK_CHANNEL = re.compile(r"^[#@][a-z0-9][a-z0-9._-]{0,79}$")
_SECRET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _internal_host(host: str) -> bool:
    if host == "localhost" or host.endswith(_INTERNAL_SUFFIXES) or "." not in host:
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True  # an IP address: link-local, in-cluster or not, it is never an allowed host


def webhook_problem(limits: Bounds, url: str) -> str | None:
    """Why a webhook route may not post to `url`: HTTPS only, to a host the platform allows, no
    in-cluster, link-local or IP-address host, and no credentials in the URL (userinfo, query
    or fragment: the full URL with its token lives in Secrets Manager)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").casefold()
        port = parts.port
    except ValueError:
        return f"'{url}' is not a URL"
    if parts.scheme != "https":
        return f"webhook '{url}' must use https"
    if parts.username or parts.password or parts.query or parts.fragment:
        return (
            "a webhook URL in a bundle holds no credentials (user info, query or fragment): declare "
            "https://host/path and put the full URL in the route's secret"
        )
    if _internal_host(host):
        return f"webhook host '{host}' is in-cluster, link-local or an IP address; alerts may only leave the cluster"
    if port not in (None, 443):
        return f"webhook '{url}' must use the HTTPS port 443"
    if host not in limits.webhook_hosts:
        allowed = ", ".join(limits.webhook_hosts) or "none"
        return f"webhook host '{host}' is not allowed by the platform (spec.tenancy.alerts.webhookHosts: {allowed})"
    return None


def sns_problem(topic_arn: str, *, account: str | None, region: str) -> str | None:
    """An SNS route's topic must be in the environment's own account, region and partition.
    `account` None: the platform names no account for the environment (it is the deploying
    account), so only the stack can check it (`project/alarms.py` leaves other topics out)."""
    match = _SNS_ARN.fullmatch(topic_arn)
    if match is None:
        return f"'{topic_arn}' is not an SNS topic ARN"
    expected = naming.partition(region)
    if match["partition"] != expected or match["region"] != region:
        return f"topic '{topic_arn}' is not in the environment's region {region} (partition {expected})"
    if account is not None and match["account"] != account:
        return f"topic '{topic_arn}' is in account {match['account']}, not the environment's own account {account}"
    return None


def alert_target_problem(limits: Bounds, route: AlertRoute, *, account: str | None, region: str) -> str | None:
    """Why an alert route may not send where it says, in an environment of `account`/`region`."""
    target = route.target
    if route.type == "webhook":
        return webhook_problem(limits, target)
    if route.type == "sns":
        return sns_problem(target, account=account, region=region)
    if route.type == "slack" and not _SLACK_CHANNEL.fullmatch(target):
        return (
            f"slack target '{target}' must be a channel (#name) or user (@name); the webhook URL "
            "lives in Secrets Manager, never in a bundle"
        )
    if route.type == "pagerduty" and not _SECRET_NAME.fullmatch(target):
        return f"pagerduty target '{target}' must name the routing key's secret (lowercase letters, digits, '-')"
    if route.type == "email" and not _EMAIL.fullmatch(target):
        return f"email target '{target}' is not an email address"
    return None


# --- namespaces ----------------------------------------------------------------------------------

RESERVED_NAMESPACES: tuple[str, ...] = tuple(
    sorted({*naming.KUBERNETES_NAMESPACES, *naming.AWS_EKS_NAMESPACES, *naming.PLATFORM_NAMESPACES})
)
RESERVED_NAMESPACE_PREFIXES: tuple[str, ...] = ("kube-",)


def reserved_namespace(name: str) -> str | None:
    """Why a project may not use `name` as (or as the start of) its namespace, or None: Kubernetes'
    own namespaces, every `kube-*` one, the ones AWS creates in EKS clusters, and every namespace
    mlrig's platform installs into."""
    if name in RESERVED_NAMESPACES:
        return f"'{name}' is a namespace Kubernetes, AWS or the platform's add-ons use"
    if name.startswith(RESERVED_NAMESPACE_PREFIXES):
        return f"'{name}' starts with 'kube-', which Kubernetes reserves for itself"
    return None
