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

TEAM_IDS = {"ml-leads": "4242", "genai-leads": "4343", "risk-ml": "4444"}


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
