"""A bundle holding only the required fields is valid and resolves to sensible defaults."""

from __future__ import annotations

from .helpers import admitting, explain, minimal_platform, minimal_project, validate


def test_a_platform_with_only_the_required_fields_is_valid():
    result = validate(minimal_platform())
    assert result.valid, explain(result)


def test_a_project_with_only_the_required_fields_is_valid_once_the_platform_admits_it():
    result = validate(admitting(minimal_platform(), minimal_project()), minimal_project())
    assert result.valid, explain(result)


def test_a_project_the_platform_has_not_admitted_is_told_what_the_platform_team_adds():
    [error] = validate(minimal_platform(), minimal_project()).diagnostics
    assert error.rule == "project_admitted" and error.path == "metadata.name"
    assert 'churn: {repository: "acme/churn", principals: [], prodApprovers: ["@<org>/<team>"]}' in error.message


def test_a_minimal_platform_gets_documented_defaults():
    envs = {"dev": {"tier": "dev", "region": "us-east-1"}, "prod": {"tier": "prod", "region": "us-east-1"}}
    platform = validate(minimal_platform(environments=envs)).platforms["acme-ml"]
    assert platform.isolation == "cluster"
    dev, prod = platform.environments["dev"].spec, platform.environments["prod"].spec
    assert (dev.network.cidr, prod.network.cidr) == ("10.10.0.0/16", "10.20.0.0/16")
    assert (dev.network.availability_zones, prod.network.availability_zones) == (2, 3)
    assert (dev.network.nat_gateways, prod.network.nat_gateways) == ("single", "per-az")
    assert (dev.network.flow_logs, prod.network.flow_logs) == (False, True)
    assert prod.cluster is not None and prod.cluster.version == "1.34"
    assert prod.cluster.addons.karpenter.enabled and prod.cluster.addons.kserve.enabled


def test_a_minimal_project_gets_documented_defaults():
    result = validate(admitting(minimal_platform(), minimal_project()), minimal_project())
    spec = result.projects["churn"].environments["dev"].spec
    assert spec.deployment_pattern == "deploy-code"
    assert spec.storage.staging_retention_days == 14 and spec.storage.prod_read_access_from_dev is False
    assert spec.registries == [] and spec.pipelines == {} and spec.serving.endpoints == []
    assert spec.ci.default_branch == "main" and spec.ci.release_branch == "release"
    assert spec.llm.vector_database is None and spec.llm.feedback.enabled is False


def test_a_minimal_project_has_one_environment_per_platform_environment():
    envs = {name: {"tier": name, "region": "us-east-1"} for name in ("dev", "staging", "prod")}
    result = validate(admitting(minimal_platform(environments=envs), minimal_project()), minimal_project())
    project = result.projects["churn"]
    assert list(project.environments) == ["dev", "staging", "prod"]
    assert [e.stack for e in project.environments.values()] == ["churn.dev", "churn.staging", "churn.prod"]
    assert [e.tier for e in project.environments.values()] == ["dev", "staging", "prod"]


def test_defaults_that_depend_on_the_tier_are_resolved_per_environment():
    envs = {"dev": {"tier": "dev", "region": "us-east-1"}, "prod": {"tier": "prod", "region": "us-east-1"}}
    project = minimal_project(
        registries=["app"],
        compute={"pools": [{"name": "gpu", "instanceTypes": ["g5.xlarge"], "gpu": {"count": 1}}]},
        pipelines={"train": {"type": "training"}, "watch": {"type": "monitoring"}},
        llm={"vectorDatabase": {"engine": "pgvector"}},
    )
    resolved = validate(admitting(minimal_platform(environments=envs), project), project).projects["churn"].environments
    assert resolved["dev"].spec.llm.vector_database.instance_class == "db.t4g.medium"
    assert resolved["prod"].spec.llm.vector_database.instance_class == "db.r6g.large"
    pipelines = resolved["prod"].spec.pipelines
    assert pipelines["train"].schedule == "0 3 * * 0" and pipelines["train"].image == "app"
    assert pipelines["watch"].schedule == "0 * * * *"
    assert resolved["prod"].spec.compute.pools[0].disk_gib == 200


def test_account_isolation_requires_the_accounts_it_names():
    result = validate(minimal_platform(isolation="account"))
    assert [d.path for d in result.diagnostics] == ["spec.environments.dev"]
    envs = {"dev": {"tier": "dev", "region": "us-east-1", "account": "111111111111"}}
    assert validate(minimal_platform(isolation="account", environments=envs)).valid
