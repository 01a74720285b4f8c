"""The platform deployment role is trusted only by the platform repository's jobs in the GitHub
environment of the same name; the read-only preview role by its protected default branch only,
never by a pull request (which runs its own code). Exact subjects, no wildcard repositories. Each
role uses its own environment's state secrets key only."""

from __future__ import annotations

import json

from platform_helpers import one

from mlrig.bundle.model import GithubSettings
from mlrig.platform.ci_identity import ci_trust

OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


def deployer_trust(plan, role_kind="ci-deployer"):
    role = one(plan, "aws:iam/role:Role", role_kind)
    (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    return role, statement


def test_each_account_trusts_github_actions_tokens_for_sts(example_plans):
    for plan in example_plans.values():
        provider = one(plan, OIDC)["inputs"]
        assert provider["url"] == "https://token.actions.githubusercontent.com"
        assert provider["clientIdLists"] == ["sts.amazonaws.com"]


def test_only_jobs_in_the_environments_github_environment_may_deploy_it(example_plans):
    for env, plan in example_plans.items():
        role, statement = deployer_trust(plan)
        assert role["inputs"]["name"] == f"acme-ml-{env}-platform-deployer"
        assert role["inputs"]["tags"] == {"mlrig:persona": "ci-deployer"}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": one(plan, OIDC)["outputs"]["arn"]}
        assert statement["Condition"] == {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": [f"repo:acme/ml-platform:environment:{env}"],
            }
        }


def test_only_the_default_branch_gets_the_read_only_preview_role_never_a_pull_request(example_plans):
    """F2: a pull request that could assume the prod preview role could read and decrypt prod state."""
    for env, plan in example_plans.items():
        role, statement = deployer_trust(plan, "ci-preview")
        assert role["inputs"]["name"] == f"acme-ml-{env}-platform-preview"
        subjects = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
        assert subjects == [
            "repo:acme/ml-platform:ref:refs/heads/main",
            "repo:acme/ml-platform:environment:mlrig--drift",  # drift jobs holding the App key
        ]
        assert not [s for s in subjects if "pull_request" in s]
        attached = [
            a["inputs"]["policyArn"]
            for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if "ci-preview" in a["name"]
        ]
        assert attached == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "ci-preview")["inputs"]["policy"])
        writes = [
            s
            for s in policy["Statement"]
            if s["Effect"] == "Allow" and any(a in ("s3:PutObject", "s3:DeleteObject") for a in s["Action"])
        ]
        assert [s["Resource"] for s in writes] == ["arn:aws:s3:::acme-pulumi-state/.pulumi/locks/*"]
        (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert {"s3:GetObject", "secretsmanager:GetSecretValue"} <= set(deny["Action"])


def test_the_preview_role_views_the_cluster_without_secrets(example_plans):
    plan = example_plans["prod"]
    preview = one(plan, "aws:iam/role:Role", "ci-preview")["outputs"]["arn"]
    views = [
        a["inputs"]
        for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if a["inputs"]["principalArn"] == preview
    ]
    assert [v["policyArn"].rsplit("/", 1)[1] for v in views] == ["AmazonEKSViewPolicy"]


def test_no_trust_policy_in_any_platform_stack_accepts_a_wildcard_subject(every_plan):
    for plan in every_plan:
        for role in plan.of_type("aws:iam/role:Role"):
            for statement in json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]:
                condition = json.dumps(statement.get("Condition", {}))
                assert "StringLike" not in condition and "*" not in condition, role["name"]


def test_the_repository_defaults_to_the_organisation_and_platform_name(cluster_plans):
    _, statement = deployer_trust(cluster_plans["dev"])
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == [
        "repo:acme/shared:environment:dev"
    ]


def test_without_a_github_organisation_no_ci_identity_is_created(minimal_plan):
    assert minimal_plan.of_type(OIDC) == []
    assert not [r for r in minimal_plan.of_type("aws:iam/role:Role") if "deployer" in r["name"]]
    assert minimal_plan.outputs["deploymentRoleArn"] == ""
    assert ci_trust(GithubSettings(), "lean", "sandbox") is None


def test_under_account_isolation_the_deployer_may_only_assume_the_environments_deployment_role(example_plans):
    plan = example_plans["prod"]
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "ci-deployer")["inputs"]["policy"])
    assume = [s for s in policy["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert [s["Resource"] for s in assume] == ["arn:aws:iam::333333333333:role/mlrig-deployer"]
    assert not [
        a
        for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if "AdministratorAccess" in a["inputs"]["policyArn"]
    ]


def test_the_deployer_may_use_the_state_bucket_and_nothing_else_in_s3(example_plans):
    policy = json.loads(one(example_plans["dev"], "aws:iam/rolePolicy:RolePolicy", "ci-deployer")["inputs"]["policy"])
    s3 = {r for s in policy["Statement"] if any(a.startswith("s3:") for a in s["Action"]) for r in [s["Resource"]]}
    assert s3 == {"arn:aws:s3:::acme-pulumi-state", "arn:aws:s3:::acme-pulumi-state/*"}


def kms_aliases(plan, role_kind: str) -> dict[str, list[str]]:
    """Sid → the KMS aliases a statement of the role's inline policy names."""
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", role_kind)["inputs"]["policy"])
    return {
        s["Sid"]: s["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
        for s in policy["Statement"]
        if any(a.startswith("kms:") for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    }


def test_each_environments_ci_roles_use_only_that_environments_secrets_key(example_plans):
    for env, plan in example_plans.items():
        for kind in ("ci-deployer", "ci-preview"):
            aliases = kms_aliases(plan, kind)
            assert aliases == {
                "StateBucketKey": ["alias/acme-ml-pulumi-state"],
                "StateSecrets": [f"alias/acme-ml-{env}-pulumi-secrets"],
            }, (env, kind)


def test_the_preview_role_may_only_decrypt_its_environments_secrets(example_plans):
    policy = json.loads(one(example_plans["prod"], "aws:iam/rolePolicy:RolePolicy", "ci-preview")["inputs"]["policy"])
    (secrets,) = [s for s in policy["Statement"] if s["Sid"] == "StateSecrets"]
    assert secrets["Action"] == ["kms:Decrypt"]


def test_under_namespace_isolation_tenant_environments_may_also_decrypt_the_shared_landing_zone(namespace_plans):
    """Their stacks read the shared owner's outputs (a StackReference loads its state)."""
    assert kms_aliases(namespace_plans["dev"], "ci-deployer")["SharedLandingZoneSecrets"] == [
        "alias/tenancy-prod-pulumi-secrets"
    ]
    assert "SharedLandingZoneSecrets" not in kms_aliases(namespace_plans["prod"], "ci-deployer")
