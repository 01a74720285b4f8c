"""The three isolation patterns of the book (figure 2) give the right topology."""

from __future__ import annotations

import ipaddress

from platform_helpers import as_json, one

from mlrig import outputs

VPC = "aws:ec2/vpc:Vpc"
CLUSTER = "aws:eks/cluster:Cluster"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}


def test_under_account_isolation_each_environment_has_its_own_vpc_cluster_and_oidc_provider(example_plans):
    for env, plan in example_plans.items():
        assert len(plan.of_type(VPC)) == 1, env
        assert one(plan, CLUSTER)["inputs"]["name"] == f"acme-ml-{env}"
        assert len(plan.of_type(OIDC)) == 1, env


def test_under_account_isolation_every_stack_deploys_through_a_role_in_its_own_account(example_plans):
    for env, plan in example_plans.items():
        provider = one(plan, "pulumi:providers:aws")
        assume = as_json(provider["inputs"]["assumeRoles"])
        assert assume[0]["roleArn"] == f"arn:aws:iam::{ACCOUNTS[env]}:role/mlrig-deployer"
        assert as_json(provider["inputs"]["allowedAccountIds"]) == [ACCOUNTS[env]]
        aws_resources = [r for r in plan.resources if r["type"].startswith("aws:")]
        assert aws_resources and all(r["options"]["provider"] == provider["urn"] for r in aws_resources)


def test_every_aws_resource_is_tagged_through_provider_default_tags(example_plans, cluster_plans):
    for env, plan in {**example_plans, **{f"cluster-{k}": v for k, v in cluster_plans.items()}}.items():
        tags = as_json(one(plan, "pulumi:providers:aws")["inputs"]["defaultTags"])["tags"]
        assert tags["environment"] == env.removeprefix("cluster-")
        assert tags["team"] == "platform"
        assert {"project", "cost-center", "managed-by"} <= set(tags)


def test_under_cluster_isolation_each_environment_has_its_own_vpc_and_cluster_in_one_account(cluster_plans):
    names = set()
    cidrs = []
    for plan in cluster_plans.values():
        assert "assumeRoles" not in one(plan, "pulumi:providers:aws")["inputs"], "no cross-account role"
        names.add(one(plan, CLUSTER)["inputs"]["name"])
        cidrs.append(ipaddress.IPv4Network(one(plan, VPC)["inputs"]["cidrBlock"]))
    assert names == {"shared-dev", "shared-staging", "shared-prod"}
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])


def test_under_cluster_isolation_the_accounts_single_github_provider_belongs_to_prod(cluster_plans):
    assert len(cluster_plans["prod"].of_type(OIDC)) == 1
    provider_arn = cluster_plans["prod"].outputs[outputs.GITHUB_OIDC_PROVIDER_ARN]
    for env in ("dev", "staging"):
        assert cluster_plans[env].of_type(OIDC) == []
        assert cluster_plans[env].outputs[outputs.GITHUB_OIDC_PROVIDER_ARN] == provider_arn
        trust = one(cluster_plans[env], "aws:iam/role:Role", "ci-deployer")["inputs"]["assumeRolePolicy"]
        assert provider_arn in trust


def test_under_namespace_isolation_only_the_prod_stack_creates_the_shared_vpc_and_cluster(namespace_plans):
    prod = namespace_plans["prod"]
    assert len(prod.of_type(VPC)) == 1 and len(prod.of_type(CLUSTER)) == 1
    assert one(prod, CLUSTER)["inputs"]["name"] == "tenancy"
    for env in ("dev", "staging"):
        plan = namespace_plans[env]
        assert plan.of_type(VPC) == [] and plan.of_type(CLUSTER) == [] and plan.of_type(OIDC) == []
        assert not [r for r in plan.resources if r["type"].startswith("kubernetes:")]


def test_under_namespace_isolation_every_environment_reads_the_shared_cluster_with_its_own_prefix(namespace_plans):
    prod = namespace_plans["prod"].outputs
    for env, plan in namespace_plans.items():
        for key in (outputs.CLUSTER_NAME, outputs.CLUSTER_ENDPOINT, outputs.VPC_ID, outputs.NODE_ROLE_ARN):
            assert plan.outputs[key] == prod[key], (env, key)
        assert plan.outputs[outputs.ENVIRONMENT_NAMESPACE_PREFIX] == f"{env}-"
        assert plan.outputs[outputs.DEPLOYMENT_ROLE_ARN].endswith(f":role/tenancy-{env}-platform-deployer")


def test_a_tenant_environment_deployer_cannot_change_anything_in_iam(namespace_plans):
    policy = as_json(one(namespace_plans["dev"], "aws:iam/rolePolicy:RolePolicy", "ci-deployer")["inputs"]["policy"])
    iam = [s for s in policy["Statement"] if any(a.startswith("iam:") for a in s["Action"])]
    assert [s["Resource"] for s in iam] == ["arn:aws:iam::444444444444:role/tenancy-dev-*"]
    assert all(a.split(":")[1].startswith(("Get", "List")) for s in iam for a in s["Action"])
    attached = namespace_plans["dev"].of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert [a["inputs"]["policyArn"] for a in attached] == [
        "arn:aws:iam::aws:policy/ReadOnlyAccess"
    ]  # the preview role


def test_every_platform_stack_exports_every_output_project_stacks_read(every_plan):
    for plan in every_plan:
        missing = [key for key in outputs.ALL if key not in plan.outputs]
        assert not missing, (plan.stack, missing)


def test_every_cloud_resource_belongs_to_a_component_of_the_architecture(every_plan):
    components = {
        "mlrig:platform:Network",
        "mlrig:platform:Cluster",
        "mlrig:platform:Karpenter",
        "mlrig:platform:GpuAddons",
        "mlrig:platform:ClusterAddons",
        "mlrig:platform:CiIdentity",
    }
    for plan in every_plan:
        by_urn = {r["urn"]: r for r in plan.resources}
        for resource in plan.resources:
            if resource["type"].startswith(("aws:", "kubernetes:", "random:")):
                parent = by_urn.get(resource["parent"] or "")
                assert parent is not None and parent["type"] in components, (plan.stack, resource["name"])
