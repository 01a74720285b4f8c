"""The project repository provisioned with pulumi_github, planned offline: environments with the
right reviewers and branch policies, the variables the workflows read, branch protection and the
workflow files themselves."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from mlrig.bundle.resolved import Project
from mlrig.bundle.validate import ValidationResult
from mlrig.ci.render import render_project_workflows
from mlrig.naming import ProjectNames
from mlrig.plan.engine import StackPlan, plan_stack
from mlrig.plan.mocks import PlanMocks
from mlrig.project.context import PlatformRef, ProjectContext
from mlrig.project.github_repo import provision_project_repository, repository_home_environment

TEAM_IDS = {"ml-leads": "4242", "genai-leads": "4343", "risk-ml": "4444", "platform-leads": "4545"}


@pytest.fixture(autouse=True)
def github_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub answers team lookups with numeric ids; teach the plan's mocks the teams we use."""
    original = PlanMocks.call

    def call(self: PlanMocks, args: Any) -> Any:
        if args.token == "github:index/getTeam:getTeam":
            slug = args.args["slug"]
            return {"id": TEAM_IDS[slug], "slug": slug, "nodeId": f"T_{slug}", "name": slug}, None
        return original(self, args)

    monkeypatch.setattr(PlanMocks, "call", call)


def plan_repository(project: Project, environment: str, **ci: Any) -> tuple[StackPlan, object]:
    env = project.environments[environment]
    if ci:
        spec = env.spec.model_copy(update={"ci": env.spec.ci.model_copy(update=ci)})
        env = dataclasses.replace(env, spec=spec)
    created: list[object] = []

    def program() -> None:
        platform_env = env.platform_environment
        names = ProjectNames(
            project.name, env.name, platform_env.account or "", platform_env.region, project.platform.isolation
        )
        ref = PlatformRef(
            **{
                f.name: pulumi.Output.from_input(f"{project.platform.name}-{env.name}")
                for f in dataclasses.fields(PlatformRef)
            }
        )
        ctx = ProjectContext(
            project=project,
            env=env,
            names=names,
            platform=ref,
            aws_provider=aws.Provider("aws", region=platform_env.region),
            k8s_provider=k8s.Provider("k8s", kubeconfig="{}"),
        )
        created.append(provision_project_repository(ctx))

    plan = plan_stack(program, stack=env.stack)
    return plan, created[0]


@pytest.fixture(scope="module")
def fraud(example_result: ValidationResult) -> Project:
    return example_result.projects["fraud-detection"]


def variables(plan: StackPlan) -> dict[str, Any]:
    return {
        r["inputs"]["variableName"]: r["inputs"]["value"]
        for r in plan.of_type("github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable")
    }


def test_without_its_own_approvers_prod_requires_the_admitted_ones_never_the_teams_owners(fraud: Project) -> None:
    # F6: no `ci.prodApprovers` fell back to `metadata.owners` (chosen by the team itself).
    plan, _ = plan_repository(fraud, "prod", prod_approvers=[])
    (environment,) = plan.of_type("github:index/repositoryEnvironment:RepositoryEnvironment")
    assert fraud.bundle.metadata.owners == ["@acme/risk-ml"]
    assert environment["inputs"]["reviewers"] == [{"teams": [4242]}], "the admitted @acme/ml-leads, not @acme/risk-ml"


def test_prod_requires_the_project_approvers_and_deploys_only_from_the_release_branch(fraud: Project) -> None:
    plan, _ = plan_repository(fraud, "prod")
    (environment,) = plan.of_type("github:index/repositoryEnvironment:RepositoryEnvironment")
    inputs = environment["inputs"]
    assert inputs["environment"] == "prod" and inputs["repository"] == "fraud-detection"
    assert inputs["reviewers"] == [{"teams": [4242]}], "@acme/ml-leads resolved to its team id"
    assert inputs["preventSelfReview"] is True and inputs["canAdminsBypass"] is False
    assert inputs["deploymentBranchPolicy"] == {"protectedBranches": False, "customBranchPolicies": True}
    (policy,) = plan.of_type("github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy")
    assert policy["inputs"]["branchPattern"] == "release"
    assert not plan.of_type("github:index/repositoryFile:RepositoryFile"), "repository-wide files belong to staging"


def test_environment_variables_name_the_ci_deployer_role_and_the_registries(fraud: Project) -> None:
    plan, _ = plan_repository(fraud, "staging")
    found = variables(plan)
    assert found["AWS_ROLE_ARN"] == "arn:aws:iam::222222222222:role/fraud-detection--staging--ci-deployer"
    assert found["AWS_REGION"] == "us-east-1"
    assert found["ECR_REGISTRY"] == "222222222222.dkr.ecr.us-east-1.amazonaws.com"
    assert found["ECR_REPOSITORY_TRAINING"] == "fraud-detection/staging/training"
    assert found["K8S_NAMESPACE"] == "fraud-detection"
    assert found["EKS_CLUSTER"] == "acme-ml-staging"
    every = {
        r["inputs"]["environment"]
        for r in plan.of_type("github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable")
    }
    assert every == {"staging"}


def test_the_staging_stack_protects_both_branches_and_commits_the_rendered_workflows(fraud: Project) -> None:
    assert repository_home_environment(fraud) == "staging"
    plan, _ = plan_repository(fraud, "staging")
    protections = {
        r["inputs"]["pattern"]: r["inputs"] for r in plan.of_type("github:index/branchProtection:BranchProtection")
    }
    assert set(protections) == {"main", "release"}
    for rule in protections.values():
        assert rule["allowsForcePushes"] is False and rule["allowsDeletions"] is False
        assert rule["requiredPullRequestReviews"][0]["requireCodeOwnerReviews"] is True
        assert rule["requiredStatusChecks"][0]["contexts"] == ["Lint and unit tests"]
    files = {r["inputs"]["file"]: r["inputs"] for r in plan.of_type("github:index/repositoryFile:RepositoryFile")}
    rendered = render_project_workflows(fraud)
    assert {path: f["content"] for path, f in files.items()} == rendered
    assert all(f["branch"] == "main" and f["overwriteOnCreate"] is True for f in files.values())


def test_every_github_resource_goes_through_the_repository_owners_provider(fraud: Project) -> None:
    plan, _ = plan_repository(fraud, "staging")
    (provider,) = plan.of_type("pulumi:providers:github")
    assert provider["inputs"]["owner"] == "acme"
    github = [r for r in plan.resources if r["type"].startswith("github:index/")]
    assert github and all(r["options"]["provider"].startswith(provider["urn"]) for r in github)
    (component,) = plan.of_type("mlrig:project:ProjectRepository")
    assert all(r["parent"] == component["urn"] for r in [*github, provider])


def test_dev_stacks_and_teams_that_manage_their_repository_by_hand_provision_nothing(fraud: Project) -> None:
    plan, created = plan_repository(fraud, "dev")
    assert created is None and not [r for r in plan.resources if r["type"].startswith("github:")]
    plan, created = plan_repository(fraud, "prod", manage_repository=False)
    assert created is None and not [r for r in plan.resources if r["type"].startswith("github:")]


# --- GitHub environments no team can weaken (F6, F1 GitHub side) -------------------------------------


def test_staging_accepts_deployments_from_the_default_branch_only(fraud: Project) -> None:
    """F6: any branch could request `environment: staging` and assume the staging ci-deployer."""
    plan, _ = plan_repository(fraud, "staging")
    (environment,) = plan.of_type("github:index/repositoryEnvironment:RepositoryEnvironment")
    assert environment["inputs"]["deploymentBranchPolicy"] == {"protectedBranches": False, "customBranchPolicies": True}
    (policy,) = plan.of_type("github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy")
    assert policy["inputs"]["branchPattern"] == "main"
    assert "reviewers" not in environment["inputs"]


def test_prod_without_project_approvers_requires_the_admitted_approvers_never_nobody(fraud: Project) -> None:
    """F6: no owners and no prodApprovers gave a prod environment with `reviewers: [{}]`. Now the
    approvers the platform admitted the project with apply, never the team's own owners."""
    metadata = fraud.bundle.metadata.model_copy(update={"owners": []})
    ownerless = dataclasses.replace(fraud, bundle=fraud.bundle.model_copy(update={"metadata": metadata}))
    plan, _ = plan_repository(ownerless, "prod", prod_approvers=[])
    (environment,) = plan.of_type("github:index/repositoryEnvironment:RepositoryEnvironment")
    assert environment["inputs"]["reviewers"] == [{"teams": [4242]}], "@acme/ml-leads, from the admission"


def without_platform_approvers(project: Project) -> Project:
    """The project's admission names no approvers (validation forbids it; the stack must not trust that)."""
    platform = project.platform
    tenancy = platform.bundle.spec.tenancy
    admission = tenancy.projects[project.name].model_copy(update={"prod_approvers": []})
    tenancy = tenancy.model_copy(update={"projects": {**tenancy.projects, project.name: admission}})
    spec = platform.bundle.spec.model_copy(update={"tenancy": tenancy})
    bare = dataclasses.replace(platform, bundle=platform.bundle.model_copy(update={"spec": spec}))
    return dataclasses.replace(project, platform=bare)


def test_a_prod_environment_nobody_could_approve_fails_the_stack_loudly(fraud: Project) -> None:
    with pytest.raises(Exception, match="needs at least one required reviewer"):
        plan_repository(without_platform_approvers(fraud), "prod", prod_approvers=[])


def test_more_approvers_than_github_takes_fail_loudly_instead_of_being_cut(fraud: Project) -> None:
    many = [f"@acme/team-{i}" for i in range(7)]
    with pytest.raises(Exception, match="at most 6 required reviewers"):
        plan_repository(fraud, "prod", prod_approvers=many)


def test_prod_approver_teams_of_another_organisation_are_refused(fraud: Project) -> None:
    with pytest.raises(Exception, match="not teams of the platform's organisation"):
        plan_repository(fraud, "prod", prod_approvers=["@attacker-org/leads"])


def with_repository(project: Project, repository: str) -> Project:
    spec = project.bundle.spec.model_copy(update={"repository": repository})
    return dataclasses.replace(project, bundle=project.bundle.model_copy(update={"spec": spec}))


def test_the_github_owner_is_the_platforms_organisation_never_the_projects_string(fraud: Project) -> None:
    """F1: `repository: attacker-org/evil` made the provider administer attacker-org."""
    with pytest.raises(Exception, match="not in the platform's GitHub organisation 'acme'"):
        plan_repository(with_repository(fraud, "attacker-org/evil"), "staging")
    plan, _ = plan_repository(with_repository(fraud, "ACME/fraud-detection"), "staging")
    (provider,) = plan.of_type("pulumi:providers:github")
    assert provider["inputs"]["owner"] == "acme", "the platform's spelling, not the project's"


def test_a_platform_without_a_github_organisation_manages_no_repository(fraud: Project) -> None:
    platform = fraud.platform
    github = platform.bundle.spec.github.model_copy(update={"organization": None, "repository": None})
    spec = platform.bundle.spec.model_copy(update={"github": github})
    bare = dataclasses.replace(
        fraud, platform=dataclasses.replace(platform, bundle=platform.bundle.model_copy(update={"spec": spec}))
    )
    plan, created = plan_repository(bare, "staging")
    assert created is None and not [r for r in plan.resources if r["type"].startswith("github:")]
