"""Who may become a project identity: persona roles trust exactly the bundle's principals, the CI
deployer trusts only the project repository's GitHub environment, workloads trust EKS Pod Identity
for their own service account."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.plan.engine import StackPlan

from .conftest import ENVIRONMENTS, PROJECTS, plan_variant

pytestmark = pytest.mark.slow
STACKS = [(p, e) for p in PROJECTS for e in ENVIRONMENTS]
IDS = [f"{p}.{e}" for p, e in STACKS]
GITHUB = "token.actions.githubusercontent.com"


def roles(plan: StackPlan) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"]: r["inputs"] for r in plan.of_type("aws:iam/role:Role")}


def trust(role: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(role["assumeRolePolicy"])["Statement"]


@pytest.mark.parametrize(("project", "environment"), STACKS, ids=IDS)
def test_persona_roles_are_assumable_only_by_the_bundles_principals(
    project: str, environment: str, project_plan: Callable[[str, str], StackPlan], example_result: ValidationResult
) -> None:
    access = example_result.projects[project].environments[environment].spec.access
    plan_roles = roles(project_plan(project, environment))
    for persona, principals in (("data-scientist", access.data_scientists), ("ml-engineer", access.ml_engineers)):
        role = plan_roles[f"{project}--{environment}--{persona}"]
        assert role["tags"]["mlrig:persona"] == persona
        (statement,) = trust(role)
        assert statement == {"Effect": "Allow", "Principal": {"AWS": sorted(principals)}, "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(("project", "environment"), STACKS, ids=IDS)
def test_ci_deployer_trusts_only_the_project_repository_in_this_github_environment(
    project: str,
    environment: str,
    project_plan: Callable[[str, str], StackPlan],
    platform_plan: Callable[[str], StackPlan],
    example_result: ValidationResult,
) -> None:
    repository = example_result.projects[project].bundle.spec.repository
    role = roles(project_plan(project, environment))[f"{project}--{environment}--ci-deployer"]
    assert role["tags"]["mlrig:persona"] == "ci-deployer"
    (statement,) = trust(role)
    assert statement["Principal"] == {"Federated": platform_plan(environment).outputs["githubOidcProviderArn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{GITHUB}:aud": "sts.amazonaws.com",
            f"{GITHUB}:sub": f"repo:{repository}:environment:{environment}",
        }
    }
    assert "*" not in json.dumps(statement["Condition"])


@pytest.mark.parametrize(("project", "environment"), STACKS, ids=IDS)
def test_ci_deployer_pushes_only_to_this_environments_repositories(
    project: str, environment: str, project_plan: Callable[[str, str], StackPlan]
) -> None:
    plan = project_plan(project, environment)
    (policy,) = [
        r["inputs"]
        for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
        if r["inputs"]["role"] == f"{project}--{environment}--ci-deployer"
    ]
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    repositories = statements["PushImages"]["Resource"]
    assert repositories and all(f":repository/{project}/{environment}/" in arn for arn in repositories)
    assert not any(
        a.startswith("s3:")
        for s in statements.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )


@pytest.mark.parametrize(("project", "environment"), STACKS, ids=IDS)
def test_workload_roles_trust_eks_pod_identity_for_their_own_service_account(
    project: str, environment: str, project_plan: Callable[[str, str], StackPlan]
) -> None:
    plan = project_plan(project, environment)
    workload_roles = {n: r for n, r in roles(plan).items() if f"{project}--{environment}--wl--" in n}
    assert workload_roles
    namespace = plan.outputs["namespace"]
    (cluster,) = {
        a["inputs"]["clusterName"] for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    for name, role in workload_roles.items():
        assert role["tags"]["mlrig:persona"] == "workload"
        # F17: without conditions any Pod Identity association in the account (another namespace,
        # another cluster) could be pointed at this role.
        assert trust(role) == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": plan.outputs["accountId"],
                        "aws:RequestTag/eks-cluster-name": cluster,
                        "aws:RequestTag/kubernetes-namespace": namespace,
                        "aws:RequestTag/kubernetes-service-account": f"wl-{name.split('--wl--', 1)[1]}",
                    }
                },
            }
        ]
    associations = {
        a["inputs"]["serviceAccount"]: a["inputs"]
        for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    assert {f"wl-{n.split('--wl--', 1)[1]}" for n in workload_roles} == set(associations)
    for service_account, association in associations.items():
        assert association["namespace"] == namespace
        assert association["roleArn"].endswith(f":role/{project}--{environment}--wl--{service_account[3:]}")


def test_the_feedback_stream_delivers_with_its_own_role_trusted_by_firehose_in_this_account(
    project_plan: Callable[[str, str], StackPlan],
) -> None:
    plan = project_plan("rag-assistant", "prod")
    role = roles(plan)["rag-assistant--prod--firehose-feedback"]
    assert trust(role) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": plan.outputs["accountId"]}},
        }
    ]


def test_persona_roles_also_require_the_platforms_aws_organization_when_it_names_one(
    tmp_path_factory: pytest.TempPathFactory, repo_root
) -> None:
    plans = plan_variant(
        tmp_path_factory.mktemp("org-id"),
        repo_root,
        "rag-assistant.yaml",
        [],
        "org-id",
        platform_replacements=[
            (
                'principalAccounts: ["111111111111"]',
                'principalAccounts: ["111111111111"]\n    awsOrganizationId: o-a1b2c3d4e5',
            )
        ],
    )
    for persona in ("data-scientist", "ml-engineer"):
        (statement,) = trust(roles(plans["prod"])[f"rag-assistant--prod--{persona}"])
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
        assert all(":root" not in p for p in statement["Principal"]["AWS"])
