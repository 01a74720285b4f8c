"""The tenant boundary: a project stays within the bounds of its platform (`mlrig.tenancy`).

Each finding names the project field that breaks a bound and, with file:line, the platform
field that sets it, so the team sees what to change and the platform team what they allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ... import naming, tenancy
from ..diagnostics import closest
from ..model import PlatformBundle, ProjectAdmission
from ..resolved import Platform
from . import BundleSetView, Finding, ProjectView, platform_rule, project_rule, set_rule

PERSONA_FIELDS: dict[str, str] = {"dataScientists": "data_scientists", "mlEngineers": "ml_engineers"}


def _bounds(view: ProjectView) -> tuple[Platform, tenancy.Bounds] | None:
    if view.platform is None:
        return None
    return view.platform, view.platform.tenancy_bounds


class Admission(NamedTuple):
    """A project and what its platform admits for it (`admitted` is None before it is admitted)."""

    platform: Platform
    limits: tenancy.Bounds
    name: str
    admitted: ProjectAdmission | None


def _admission(view: ProjectView) -> Admission | None:
    if view.platform is None:
        return None
    limits = view.platform.tenancy_bounds
    name = view.bundle.metadata.name
    return Admission(view.platform, limits, name, tenancy.admission(limits, name))


def _organizations_bound(platform: Platform) -> str:
    if platform.bundle.spec.tenancy.github_organizations is not None:
        return platform.where("spec", "tenancy", "githubOrganizations")
    return platform.where("spec", "github", "organization")


@project_rule
def repository_within_tenancy(view: ProjectView) -> Iterator[Finding]:
    """The repository belongs to the platform's GitHub organisations and is neither the platform
    repository nor an organisation's `.github`: its CI deploys the project."""
    found = _bounds(view)
    if found is None:
        return
    platform, limits = found
    problem = tenancy.repository_problem(limits, view.bundle.spec.repository)
    if problem:
        if "organisations" in problem:
            bound = _organizations_bound(platform)
        else:
            bound = platform.where("spec", "github", "repository")
        yield Finding(("spec", "repository"), f"{problem} (bound: {bound})")


def _migrate_hint(platform: Platform) -> str:
    """A platform with no `spec.tenancy` at all was written for mlrig 0.1.0, before admission."""
    if "tenancy" in platform.bundle.spec.model_fields_set:
        return ""
    return (
        "; this platform has no spec.tenancy at all (bundles written for mlrig 0.1.0): "
        "`mlrig migrate` admits every existing project from what it uses today"
    )


@project_rule
def project_admitted(view: ProjectView) -> Iterator[Finding]:
    """A project deploys only once the platform team admits it, with its repository."""
    found = _admission(view)
    if found is None:
        return
    platform, limits, name, admitted = found
    if admitted is None:
        near = closest(name, limits.admissions)
        typo = (
            f" (it admits '{near}': if that is this project misspelt, rename it in "
            f"{platform.where('spec', 'tenancy', 'projects', near)})"
            if near is not None
            else ""
        )
        yield Finding(
            ("metadata", "name"),
            f"project '{name}' is not admitted by platform '{platform.name}'{typo}; the platform team admits it "
            f"in {platform.where('spec', 'tenancy', 'projects')} with: "
            f"{tenancy.admission_snippet(view.bundle)}{_migrate_hint(platform)}",
        )
    elif not tenancy.repository_admitted(admitted, view.bundle.spec.repository):
        yield Finding(
            ("spec", "repository"),
            f"repository '{view.bundle.spec.repository}' is not the one platform '{platform.name}' admits for "
            f"this project ('{admitted.repository}', {platform.where('spec', 'tenancy', 'projects', name, 'repository')})",
        )


@project_rule
def repository_spelt_as_admitted(view: ProjectView) -> Iterator[Finding]:
    """The repository is spelt the same as the platform spells it: IAM compares the OIDC `sub`
    case-sensitively, so one of two spellings is not GitHub's, and its CI cannot assume the role
    (the generated workflows stop before, saying which spelling GitHub uses)."""
    found = _admission(view)
    if found is None:
        return
    platform, limits, name, admitted = found
    repository = view.bundle.spec.repository
    if tenancy.repository_problem(limits, repository):
        return  # refused outright by `repository_within_tenancy`
    problem = tenancy.repository_spelling_problem(limits, admitted, repository)
    if problem:
        where = (
            platform.where("spec", "tenancy", "projects", name, "repository")
            if problem.startswith("admitted")
            else _organizations_bound(platform)
        )
        yield Finding(
            ("spec", "repository"),
            f"repository '{repository}' is {problem} ({where}): the same repository to GitHub, but the CI "
            "role trusts the OIDC subject spelt exactly as written and IAM compares it case-sensitively; "
            "write it in both bundles exactly as GitHub names it (the case shown on its GitHub page)",
        )


@project_rule
def managed_repository_in_platform_organization(view: ProjectView) -> Iterator[Finding]:
    """The staging and prod stacks administer the project's repository (its GitHub environments,
    branch protection and workflows) through the platform organisation's GitHub provider: a
    repository of another admitted organisation would fail each of those stacks at plan and apply."""
    platform, here = view.platform, view.platform_environment
    # Dev-tier stacks administer no repository (`project/github_repo.py`).
    if platform is None or here is None or here.tier == "dev" or not view.spec.ci.manage_repository:
        return
    organization = platform.bundle.spec.github.organization
    repository = view.bundle.spec.repository
    if not organization or tenancy.repository_administered(organization, repository):
        return
    if tenancy.repository_problem(platform.tenancy_bounds, repository):
        return  # refused outright by `repository_within_tenancy`
    yield Finding(
        ("spec", "repository"),
        f"mlrig administers the repositories of the platform's GitHub organisation '{organization}' only "
        f"({platform.where('spec', 'github', 'organization')}), and '{repository}' belongs to another one: the "
        "project's staging and prod stacks would fail; set `spec.ci.manageRepository: false` (your team then "
        "creates the repository's GitHub environments and variables itself) or move the repository into "
        f"'{organization}'",
    )


@project_rule
def access_principals_within_tenancy(view: ProjectView) -> Iterator[Finding]:
    """Every persona principal (per environment, overrides merged) is a role or user of one of
    the platform's accounts, and admitted for this project by the platform team."""
    found = _admission(view)
    if found is None:
        return
    platform, limits, name, admitted = found
    region = view.platform_environment.region if view.platform_environment else None
    partition = naming.partition(region) if region else None
    for key, field in PERSONA_FIELDS.items():
        for index, arn in enumerate(getattr(view.spec.access, field)):
            path = ("spec", "access", key, index)
            problem = tenancy.principal_problem(limits, arn, partition=partition)
            if problem:
                bound = platform.where("spec", "tenancy", "principalAccounts")
                yield Finding(path, f"{problem} (bound: {bound})")
            elif admitted is not None and not tenancy.principal_admitted(admitted, arn):
                yield Finding(
                    path,
                    f"principal '{arn}' is not admitted for this project; the platform team adds it to "
                    f"{platform.where('spec', 'tenancy', 'projects', name, 'principals')}",
                )


@project_rule
def persona_trust_fits_iam(view: ProjectView) -> Iterator[Finding]:
    """A persona role trusts each of its principals by ARN, and IAM caps a role's trust policy
    (2,048 characters by default): a longer one fails the role's creation half-way through apply."""
    found = _bounds(view)
    if found is None:
        return
    organization_id = found[1].aws_organization_id
    for key, field in PERSONA_FIELDS.items():
        principals = getattr(view.spec.access, field)
        if not principals:
            continue
        size = tenancy.persona_trust_characters(tuple(principals), organization_id or None)
        if size > tenancy.TRUST_POLICY_CHARACTERS:
            yield Finding(
                ("spec", "access", key),
                f"the role these {len(principals)} principals assume would need a trust policy of {size} characters; "
                f"IAM allows {tenancy.TRUST_POLICY_CHARACTERS} (its default quota): name fewer principals, such as "
                "one IAM Identity Center permission-set role or group role for the people who share a persona",
            )


@project_rule
def prod_approvers_within_tenancy(view: ProjectView) -> Iterator[Finding]:
    """`ci.prodApprovers` is a subset of the approvers the platform admits, and the prod
    environment ends up with at least the platform's minimum of required reviewers."""
    found = _admission(view)
    if found is None:
        return
    platform, limits, name, admitted = found
    if admitted is None:
        return
    requested = view.spec.ci.prod_approvers
    outside = set(tenancy.approvers_not_admitted(admitted, requested))
    # Where the platform admits them, only for a message: finding a position costs.
    where = platform.where("spec", "tenancy", "projects", name, "prodApprovers") if outside else ""
    for index, approver in enumerate(requested):
        if approver in outside:
            yield Finding(
                ("spec", "ci", "prodApprovers", index),
                f"'{approver}' is not an approver the platform admits for this project ({where})",
            )
    effective = tenancy.effective_prod_approvers(limits, name, [a for a in requested if a not in outside])
    if len(effective) < limits.min_prod_approvers:
        where = where or platform.where("spec", "tenancy", "projects", name, "prodApprovers")
        minimum = platform.where("spec", "tenancy", "minProdApprovers")
        yield Finding(
            ("spec", "ci", "prodApprovers"),
            f"the prod environment would have {len(effective)} required reviewer(s), fewer than the platform's "
            f"minimum of {limits.min_prod_approvers} ({minimum}); the platform team admits approvers in {where}",
            key=True,
        )


@project_rule
def prod_approver_teams_in_platform_organization(view: ProjectView) -> Iterator[Finding]:
    """The prod GitHub environment of a repository mlrig administers requires its approvers as
    reviewers, and GitHub takes only teams of the platform's organisation there: a team of another
    one fails the prod stack."""
    found = _admission(view)
    here = view.platform_environment
    if found is None or found.admitted is None or here is None or here.tier != "prod":
        return
    platform, limits, name, _ = found
    organization = platform.bundle.spec.github.organization
    if not organization or not view.spec.ci.manage_repository:
        return
    if not tenancy.repository_administered(organization, view.bundle.spec.repository):
        return  # managed_repository_in_platform_organization reports it
    requested = view.spec.ci.prod_approvers
    foreign = tenancy.teams_outside(organization, tenancy.effective_prod_approvers(limits, name, requested))
    if not foreign:
        return
    where = platform.where("spec", "tenancy", "projects", name, "prodApprovers")
    yield Finding(
        ("spec", "ci", "prodApprovers"),
        f"prod approver team(s) {', '.join(foreign)} are not teams of the platform's GitHub organisation "
        f"'{organization}', the only teams GitHub accepts as reviewers of this repository's prod environment, "
        f"so the prod stack would fail; name teams of '{organization}' (admitted in {where})",
        key=True,
    )


def _foreign_owner_teams(platform: PlatformBundle, owners: list[str], whose: str) -> Iterator[Finding]:
    organization = tenancy.codeowners_organization(platform)
    foreign = tenancy.teams_outside(organization, owners) if organization else []
    if not foreign:
        return
    repository = tenancy.platform_repository(platform)
    yield Finding(
        ("metadata", "owners"),
        f"owner team(s) {', '.join(foreign)} are not teams of '{organization}', the organisation of the platform "
        f"repository '{repository}': its CODEOWNERS cannot name them (GitHub reports an unknown owner and skips "
        f"the line), so {whose} would have no owner of its own; name teams of '{organization}', or users",
        key=True,
    )


@project_rule
def owner_teams_in_platform_organization(view: ProjectView) -> Iterator[Finding]:
    """Each team that owns a project's bundle file is one the platform repository's CODEOWNERS can name."""
    if view.platform is not None:
        yield from _foreign_owner_teams(view.platform.bundle, view.bundle.metadata.owners, "this bundle")


@platform_rule
def platform_owner_teams_in_platform_organization(platform: Platform) -> Iterator[Finding]:
    """Each team that owns the platform's files is one its repository's CODEOWNERS can name."""
    yield from _foreign_owner_teams(platform.bundle, platform.bundle.metadata.owners, "the platform's files")


@project_rule
def prod_read_within_tenancy(view: ProjectView) -> Iterator[Finding]:
    """A project may narrow dev→prod reads, never widen them beyond the platform."""
    found = _bounds(view)
    if found is None:
        return
    platform, limits = found
    if view.spec.storage.prod_read_access_from_dev and not limits.prod_read_access_from_dev:
        yield Finding(
            ("spec", "storage", "prodReadAccessFromDev"),
            f"platform '{platform.name}' does not let dev read prod data "
            f"({platform.where('spec', 'tenancy', 'prodReadAccessFromDev')}); remove this or set it to false",
        )


@project_rule
def alert_targets_within_tenancy(view: ProjectView) -> Iterator[Finding]:
    """Alerts go only where the platform allows: webhooks over HTTPS to its allowed hosts, SNS
    topics of the environment's own account, no credentials written in the bundle."""
    found = _bounds(view)
    if found is None or view.platform_environment is None:
        return
    platform, limits = found
    env = view.platform_environment
    for index, route in enumerate(view.spec.monitoring.alerts):
        problem = tenancy.alert_target_problem(limits, route, account=env.account, region=env.region)
        if problem:
            # Webhook hosts are the platform's bound, an SNS topic's is the environment's account;
            # a Slack, PagerDuty or email target is wrong alike everywhere: reported once.
            bound = {
                "webhook": f" (bound: {platform.where('spec', 'tenancy', 'alerts', 'webhookHosts')})",
                "sns": f" (bound: {platform.where('spec', 'environments', env.name)})",
            }.get(route.type, "")
            yield Finding(("spec", "monitoring", "alerts", index, "target"), f"{problem}{bound}")


POOLS = ("spec", "compute", "pools")


@project_rule
def capacity_within_tenancy(view: ProjectView) -> Iterator[Finding]:
    """A project environment launches at most the nodes and GPUs its platform allows, and uses at
    most the CPU it allows on the general nodes every project shares: NodePool limits and the
    namespace's quota derive from the bundle, so without these bounds a team's own bundle (48
    pools of 1,000 p5.48xlarge, 50 endpoints of 1,000 replicas) decided what the platform pays
    for and starved every other team's servers on the general nodes."""
    found = _admission(view)
    if found is None:
        return
    platform, limits, name, admitted = found
    allowed = tenancy.capacity_allowed(limits, name)
    asked = tenancy.capacity_requested(view.spec)
    for verb, what, wanted, bound, field, key, path, lower in (
        ("pools may launch", "nodes", asked.nodes, allowed.nodes, "max_nodes", "maxNodes", POOLS, "the pools' max"),
        ("pools may launch", "GPUs", asked.gpus, allowed.gpus, "max_gpus", "maxGpus", POOLS, "the pools' max"),
        (
            "project may use",
            "CPU cores on the general nodes",
            asked.general_cpu,
            allowed.general_cpu,
            "max_general_cpu",
            "maxGeneralCpu",
            ("spec",),
            "the maxReplicas and cpu of endpoints (and the workers of pipelines) without a pool",
        ),
    ):
        if wanted <= bound:
            continue
        own = admitted is not None and getattr(admitted, field) is not None
        where = platform.where("spec", "tenancy", *(("projects", name) if own else ()), key)
        yield Finding(
            path,
            f"the {verb} {wanted} {what}, more than the {bound} platform '{platform.name}' allows "
            f"({where}); lower {lower}, or the platform team raises spec.tenancy.projects.{name}.{key}",
            key=True,
        )


@project_rule
def namespace_not_reserved(view: ProjectView) -> Iterator[Finding]:
    """The project name becomes (the start of) its namespace: never one Kubernetes or the
    platform's add-ons use, whose quotas, policies and bindings it would take over."""
    problem = tenancy.reserved_namespace(view.bundle.metadata.name)
    if problem:
        yield Finding(("metadata", "name"), f"{problem}; choose another project name")


# --- tags ----------------------------------------------------------------------------------------


def _tag_value_finding(value: str, path: tuple[str | int, ...]) -> Iterator[Finding]:
    if not naming.tag_value_allowed(value):
        yield Finding(
            path,
            f"{value!r} is not an AWS tag value: letters, digits, spaces and {naming.TAG_VALUE_PUNCTUATION} only",
        )


def _tag_findings(tags: dict[str, str], others: dict[str, str], path: tuple[str, ...]) -> Iterator[Finding]:
    for key, value in tags.items():
        yield from _tag_value_finding(value, (*path, key))
    for key in tags:
        if naming.reserved_tag_key(key):
            reserved = ", ".join([*naming.RESERVED_TAG_PREFIXES, *(f"{d}/" for d in naming.RESERVED_TAG_DOMAINS)])
            yield Finding(
                (*path, key),
                f"tag key '{key}' uses a prefix AWS, EKS, Kubernetes, Karpenter or mlrig reserves ({reserved}): "
                "their controllers act on these tags, and on the stack's security groups they would join them "
                "to every node of the cluster",
                key=True,
            )
    total = len({*tags, *others, *naming.DEFAULT_TAG_KEYS}) + naming.MAX_RESOURCE_TAGS
    if total > naming.AWS_TAG_LIMIT:
        room = naming.AWS_TAG_LIMIT - naming.MAX_RESOURCE_TAGS - len({*others, *naming.DEFAULT_TAG_KEYS})
        yield Finding(
            path,
            f"{len(tags)} tags leave AWS's limit of {naming.AWS_TAG_LIMIT} tags per resource behind once mlrig's "
            f"own and the platform's are added; at most {max(room, 0)} fit",
            key=True,
        )


@project_rule
def project_tags_within_limits(view: ProjectView) -> Iterator[Finding]:
    platform_tags = view.platform.bundle.spec.tags if view.platform else {}
    yield from _tag_findings(view.spec.tags, platform_tags, ("spec", "tags"))
    if view.bundle.metadata.cost_center is not None:
        yield from _tag_value_finding(view.bundle.metadata.cost_center, ("metadata", "costCenter"))


@project_rule
def cost_tags_admitted(view: ProjectView) -> Iterator[Finding]:
    """The `team` and `cost-center` tags decide who is charged for a project's resources: where
    the platform team admits them (`tenancy.projects.<name>.team/costCenter`), the bundle may not
    name another team's."""
    found = _admission(view)
    if found is None:
        return
    platform, _, name, admitted = found
    if admitted is None:
        return
    metadata = view.bundle.metadata
    for key, asked, allowed in (
        ("team", metadata.team or name, admitted.team),
        ("costCenter", metadata.cost_center or "unassigned", admitted.cost_center),
    ):
        if allowed is not None and asked != allowed:
            yield Finding(
                ("metadata", key),
                f"'{asked}' is not the {key} platform '{platform.name}' admits for this project ('{allowed}', "
                f"{platform.where('spec', 'tenancy', 'projects', name, key)}): it decides who is charged",
            )


@platform_rule
def platform_tags_within_limits(platform: Platform) -> Iterator[Finding]:
    yield from _tag_findings(platform.bundle.spec.tags, {}, ("spec", "tags"))


# --- across the bundle set -----------------------------------------------------------------------


@set_rule
def repositories_unique(view: BundleSetView) -> Iterator[tuple[str, Finding]]:
    """One repository deploys one project: its CI holds that project's deployer roles."""
    by_repository: dict[str, list[str]] = {}
    for file, project in view.projects:
        by_repository.setdefault(project.spec.repository.casefold(), []).append(file)
    for files in by_repository.values():
        if len(files) < 2:
            continue
        for file in files:
            others = ", ".join(view.where(other, "spec", "repository") for other in files if other != file)
            yield file, Finding(("spec", "repository"), f"the same repository is the repository of {others}")
