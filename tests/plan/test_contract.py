"""Every plan of the example bundles keeps the plan JSON contract (README: plan --format json): well-formed resources whose
parents, dependencies and providers are in the same plan, and JSON that round-trips."""

from __future__ import annotations

import json

import pytest

from mlrig.plan.engine import StackPlan

ENVIRONMENTS = ["dev", "staging", "prod"]
PROJECTS = ["fraud-detection", "rag-assistant"]
RESOURCE_KEYS = {"urn", "type", "name", "parent", "custom", "id", "inputs", "outputs", "options"}
OPTION_KEYS = {"protect", "retainOnDelete", "dependsOn", "provider"}


def example_plans(platform_plan, project_plan) -> list[StackPlan]:
    plans = [platform_plan(env) for env in ENVIRONMENTS]
    plans += [project_plan(project, env) for project in PROJECTS for env in ENVIRONMENTS]
    return plans


@pytest.fixture(scope="module")
def plans(platform_plan, project_plan) -> list[StackPlan]:
    return example_plans(platform_plan, project_plan)


def test_every_resource_has_the_contract_fields(plans):
    for plan in plans:
        assert plan.resources, plan.stack
        for resource in plan.resources:
            assert set(resource) >= RESOURCE_KEYS, resource["urn"]
            assert set(resource["options"]) >= OPTION_KEYS, resource["urn"]
            assert isinstance(resource["options"]["protect"], bool)
            assert isinstance(resource["options"]["retainOnDelete"], bool)
            assert (
                resource["urn"]
                == f"urn:pulumi:{plan.stack}::mlrig::{resource['urn'].split('::')[2]}::{resource['name']}"
            )
            assert resource["type"] == resource["urn"].split("::")[2].split("$")[-1]


def test_custom_resources_have_ids_and_components_do_not(plans):
    for plan in plans:
        for resource in plan.resources:
            if resource["custom"]:
                assert resource["id"], resource["urn"]
            else:
                assert resource["id"] is None, resource["urn"]


def test_parents_dependencies_and_providers_point_into_the_same_plan(plans):
    for plan in plans:
        urns = {r["urn"] for r in plan.resources}
        for resource in plan.resources:
            options = resource["options"]
            assert resource["parent"] is None or resource["parent"] in urns, resource["urn"]
            assert set(options["dependsOn"]) <= urns, resource["urn"]
            assert options["provider"] is None or options["provider"] in urns, resource["urn"]


def test_every_aws_resource_deploys_through_the_stacks_explicit_provider(plans):
    for plan in plans:
        providers = {r["urn"] for r in plan.of_type("pulumi:providers:aws")}
        assert providers, plan.stack
        for resource in plan.resources:
            if resource["type"].startswith("aws:"):
                assert resource["options"]["provider"] in providers, resource["urn"]


def test_outputs_and_resources_survive_a_json_round_trip(plans):
    for plan in plans:
        assert json.loads(plan.to_json()) == plan.as_dict()


def test_under_account_isolation_arns_name_the_environments_account(platform_plan, example_platform):
    for env in ENVIRONMENTS:
        account = example_platform.environments[env].account
        roles = platform_plan(env).of_type("aws:iam/role:Role")
        assert roles
        for role in roles:
            assert role["outputs"]["arn"].startswith(f"arn:aws:iam::{account}:role/"), role["urn"]


def test_a_project_reads_its_platform_outputs_through_a_stack_reference(project_plan, platform_plan):
    for project in PROJECTS:
        plan = project_plan(project, "staging")
        references = plan.of_type("pulumi:pulumi:StackReference")
        assert [r["id"] for r in references] == ["organization/mlrig/acme-ml.staging"]
        assert references[0]["outputs"]["outputs"] == platform_plan("staging").outputs
