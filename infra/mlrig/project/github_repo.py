"""The project's own ML code repository on GitHub, provisioned for the deploy-code CI/CD.

One repository serves every environment of a project, while a project has one stack per
environment, so the work is split by tier:

- the stack of a `staging` or `prod` tier environment creates that environment's GitHub
  environment (named like the platform environment) and its variables: the `ci-deployer` role
  ARN, region, account, registry host and repositories, cluster and namespace. The staging-tier
  environment accepts deployments from the default branch only (its ci-deployer is admin in the
  staging namespace); the prod-tier one from the release branch only, and it always requires
  reviewers: `ci.prodApprovers`, else the approvers the platform admits for the project
  (`tenancy.effective_prod_approvers`), never nobody (the stack fails when there are none);
- the stack of the repository's *home* environment (the first staging-tier environment, else
  the first prod-tier one) also protects the default and release branches and commits the
  rendered workflows (`.github/workflows/mlrig-*.yml`).

Teams that manage their repository by hand set `spec.ci.manageRepository: false`; a platform
without `github.organization` manages no repository at all.
The GitHub provider authenticates at deploy time with `GITHUB_TOKEN` (CI: the platform's GitHub
App installation token); its `owner` is the platform's organisation, never a string of the project
bundle, and a `spec.repository` outside that organisation stops the stack.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_github as github

from .. import naming, tenancy
from ..bundle.resolved import Project
from ..ci.render import render_project_workflows
from .context import ProjectContext

# The pull-request workflow's job that branch protection requires (ci/templates/project/).
REQUIRED_CHECKS = ("Lint and unit tests",)
DEPLOYING_TIERS = ("staging", "prod")
MAX_REVIEWERS = 6  # GitHub's limit of required reviewers per environment


def repository_home_environment(project: Project) -> str | None:
    """The environment whose stack owns repository-wide settings (branch protection, files)."""
    for tier in DEPLOYING_TIERS:
        for env in project.environments.values():
            if env.tier == tier:
                return env.name
    return None


def split_owner(handle: str) -> tuple[str, str | None]:
    """`@acme/ml-leads` → ("team", "ml-leads"); `@alice` → ("user", "alice")."""
    name = handle.lstrip("@")
    if "/" in name:
        return "team", name.split("/", 1)[1]
    return "user", name


def environment_variables(ctx: ProjectContext) -> dict[str, pulumi.Input[str]]:
    """What the project workflows read from `vars.*` in a deploying job."""
    names = ctx.names
    variables: dict[str, pulumi.Input[str]] = {
        "AWS_ROLE_ARN": names.role_arn("ci-deployer"),
        "AWS_REGION": names.region,
        "AWS_ACCOUNT_ID": names.account,
        "ECR_REGISTRY": naming.ecr_registry(names.account, names.region),
        "EKS_CLUSTER": ctx.platform.cluster_name,
        "K8S_NAMESPACE": names.namespace,
    }
    for registry in ctx.env.spec.registries:
        key = "ECR_REPOSITORY_" + registry.upper().replace("-", "_")
        variables[key] = names.repository(registry)
    return variables


class RepositoryError(Exception):
    """The project bundle asks for a repository setting mlrig refuses to create: fails the stack
    (`pulumi up`, `mlrig plan`) with this message rather than weakening the repository."""


def repository_owner(ctx: ProjectContext) -> tuple[str, str]:
    """(owner, repository name): the owner is the platform's organisation; a project repository
    in any other owner is refused."""
    organization = ctx.project.platform.bundle.spec.github.organization
    repository = ctx.project.bundle.spec.repository.split("/", 1)[1]
    if not organization or not tenancy.repository_administered(organization, ctx.project.bundle.spec.repository):
        raise RepositoryError(
            f"project {ctx.project.name}: spec.repository {ctx.project.bundle.spec.repository!r} is not in the "
            f"platform's GitHub organisation {organization!r}; mlrig administers repositories of that "
            "organisation only"
        )
    return organization, repository


def prod_approvers(ctx: ProjectContext) -> list[str]:
    """Who must approve a prod deployment: the project's `ci.prodApprovers`, else the approvers the
    platform admits for it — the platform's call, never the team's own `owners`. Never nobody,
    never more than GitHub accepts."""
    limits = tenancy.bounds(ctx.project.platform.bundle)
    handles = tenancy.effective_prod_approvers(limits, ctx.project.name, ctx.env.spec.ci.prod_approvers)
    if not handles:
        raise RepositoryError(
            f"project {ctx.project.name}: the {ctx.env.name} GitHub environment needs at least one required "
            "reviewer; set spec.ci.prodApprovers (or the approvers of its admission, "
            "spec.tenancy.projects.<project>.prodApprovers, in the platform bundle)"
        )
    organization = (ctx.project.platform.bundle.spec.github.organization or "").lower()
    foreign = tenancy.teams_outside(organization, handles)
    if foreign:
        raise RepositoryError(
            f"project {ctx.project.name}: prod approver team(s) {', '.join(foreign)} are not teams of the "
            f"platform's organisation {organization!r}"
        )
    if len(handles) > MAX_REVIEWERS:
        raise RepositoryError(
            f"project {ctx.project.name}: {len(handles)} prod approvers, but a GitHub environment takes at most "
            f"{MAX_REVIEWERS} required reviewers; name a team instead"
        )
    return handles


def _numeric_id(kind: str, name: str, value: object) -> int:
    """GitHub answers team and user lookups with numeric ids. A mock runtime that does not know
    the lookup answers with an opaque id: warn and use 0, an id GitHub itself would reject, so a
    real deployment can never silently drop a reviewer."""
    text = str(value) if value is not None else ""
    if text.isdigit():
        return int(text)
    pulumi.log.warn(f"GitHub {kind} '{name}' resolved to a non-numeric id {value!r}; using 0")
    return 0


class ProjectRepository(pulumi.ComponentResource):
    """GitHub environment, variables and (in the home environment) branch protection and
    workflow files of one project repository, for one project environment."""

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        workflows: Mapping[str, str],
        *,
        manage_repository_settings: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:ProjectRepository", name, None, opts)
        self._prefix = name
        self._ctx = ctx
        spec = ctx.env.spec
        owner, repository = repository_owner(ctx)
        self.repository = repository
        self.provider = github.Provider(f"{name}-github", owner=owner, opts=pulumi.ResourceOptions(parent=self))
        self.environment = self._github_environment(repository)
        self.variables = [
            github.ActionsEnvironmentVariable(
                f"{name}-var-{key.lower().replace('_', '-')}",
                repository=repository,
                environment=self.environment.environment,
                variable_name=key,
                value=value,
                opts=self._child_opts(),
            )
            for key, value in environment_variables(ctx).items()
        ]
        self.branch_protections: list[github.BranchProtection] = []
        self.files: list[github.RepositoryFile] = []
        if manage_repository_settings:
            branches = dict.fromkeys([spec.ci.default_branch, spec.ci.release_branch])
            self.branch_protections = [self._protect_branch(repository, branch) for branch in branches]
            self.files = [
                github.RepositoryFile(
                    f"{name}-file-{path.rsplit('/', 1)[-1].removesuffix('.yml')}",
                    repository=repository,
                    branch=spec.ci.default_branch,
                    file=path,
                    content=content,
                    commit_message=f"mlrig: update {path} (generated from the {ctx.project.name} bundle)",
                    overwrite_on_create=True,
                    opts=self._child_opts(),
                )
                for path, content in sorted(workflows.items())
            ]
        self.register_outputs(
            {
                "repository": ctx.project.bundle.spec.repository,
                "environment": self.environment.environment,
                "variables": sorted(environment_variables(ctx)),
                "workflowFiles": sorted(workflows) if manage_repository_settings else [],
            }
        )

    def _child_opts(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=list(depends_on))

    def _github_environment(self, repository: str) -> github.RepositoryEnvironment:
        ctx = self._ctx
        env_name = ctx.env.name
        prod = ctx.env.tier == "prod"
        # Only one branch may deploy: the default branch to staging, the release branch to prod.
        branch = ctx.env.spec.ci.release_branch if prod else ctx.env.spec.ci.default_branch
        environment = github.RepositoryEnvironment(
            f"{self._prefix}-environment",
            repository=repository,
            environment=env_name,
            prevent_self_review=True,
            can_admins_bypass=False if prod else None,
            reviewers=[self._prod_reviewers()] if prod else None,
            deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                protected_branches=False, custom_branch_policies=True
            ),
            opts=self._child_opts(),
        )
        github.RepositoryEnvironmentDeploymentPolicy(
            f"{self._prefix}-release-only" if prod else f"{self._prefix}-default-branch-only",
            repository=repository,
            environment=environment.environment,
            branch_pattern=branch,
            opts=self._child_opts(),
        )
        return environment

    def _prod_reviewers(self) -> github.RepositoryEnvironmentReviewerArgs:
        teams: list[pulumi.Output[int]] = []
        users: list[pulumi.Output[int]] = []
        for handle in prod_approvers(self._ctx):
            kind, slug = split_owner(handle)
            if kind == "team" and slug:
                result = github.get_team_output(
                    slug=slug, summary_only=True, opts=pulumi.InvokeOutputOptions(provider=self.provider)
                )
                teams.append(result.id.apply(functools.partial(_numeric_id, "team", slug)))
            elif slug:
                user = github.get_user_output(username=slug, opts=pulumi.InvokeOutputOptions(provider=self.provider))
                users.append(user.id.apply(functools.partial(_numeric_id, "user", slug)))
        return github.RepositoryEnvironmentReviewerArgs(teams=teams or None, users=users or None)

    def _protect_branch(self, repository: str, branch: str) -> github.BranchProtection:
        return github.BranchProtection(
            f"{self._prefix}-protect-{branch.replace('/', '-')}",
            repository_id=repository,
            pattern=branch,
            # Admins may bypass so that this stack can commit the generated workflow files.
            enforce_admins=False,
            allows_deletions=False,
            allows_force_pushes=False,
            require_conversation_resolution=True,
            required_pull_request_reviews=[
                github.BranchProtectionRequiredPullRequestReviewArgs(
                    required_approving_review_count=1,
                    require_code_owner_reviews=True,
                    dismiss_stale_reviews=True,
                    require_last_push_approval=True,
                )
            ],
            required_status_checks=[
                github.BranchProtectionRequiredStatusCheckArgs(strict=True, contexts=list(REQUIRED_CHECKS))
            ],
            opts=self._child_opts(),
        )


def provision_project_repository(
    ctx: ProjectContext, opts: pulumi.ResourceOptions | None = None
) -> ProjectRepository | None:
    """What a project stack calls: the repository's share for this environment, or None (dev
    tiers, or `spec.ci.manageRepository: false`)."""
    if not ctx.env.spec.ci.manage_repository or ctx.env.tier not in DEPLOYING_TIERS:
        return None
    if not ctx.project.platform.bundle.spec.github.organization:
        return None  # the platform opted out of GitHub: no OIDC provider, no repository to manage
    home = repository_home_environment(ctx.project) == ctx.env.name
    workflows = render_project_workflows(ctx.project) if home else {}
    return ProjectRepository(
        f"{ctx.project.name}-repository", ctx, workflows, manage_repository_settings=home, opts=opts
    )
