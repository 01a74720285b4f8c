"""Per-environment overrides: maps deep-merge, lists of named items merge by `name`, other lists
replace; errors inside an override point at the line the user wrote."""

from __future__ import annotations

from mlrig.bundle.resolve import merge_override

from .helpers import (
    admitting,
    dump,
    example,
    explain,
    line_of,
    minimal_platform,
    minimal_project,
    only,
    project_with,
    validate,
)

BASE = ("spec",)
PROD = ("spec", "environments", "prod")


def merged(base: dict, override: dict) -> dict:
    return merge_override(base, override, BASE, PROD)[0]


def test_maps_deep_merge_key_by_key():
    base = {"storage": {"stagingRetentionDays": 14, "prodReadAccessFromDev": True}}
    assert merged(base, {"storage": {"stagingRetentionDays": 3}}) == {
        "storage": {"stagingRetentionDays": 3, "prodReadAccessFromDev": True}
    }


def test_named_list_items_merge_by_name_and_new_names_are_appended():
    base = {"pools": [{"name": "cpu", "max": 8}, {"name": "gpu", "max": 4, "capacity": "spot"}]}
    result = merged(base, {"pools": [{"name": "gpu", "max": 16}, {"name": "extra", "max": 1}]})
    assert result == {
        "pools": [
            {"name": "cpu", "max": 8},
            {"name": "gpu", "max": 16, "capacity": "spot"},
            {"name": "extra", "max": 1},
        ]
    }


def test_other_lists_are_replaced_whole():
    assert merged({"registries": ["a", "b"]}, {"registries": ["c"]}) == {"registries": ["c"]}
    alerts = [{"type": "slack", "target": "#a"}]
    assert merged({"alerts": alerts}, {"alerts": [{"type": "email", "target": "x@y"}]}) == {
        "alerts": [{"type": "email", "target": "x@y"}]
    }


def test_scalars_and_type_changes_are_replaced():
    assert merged({"a": 1, "b": {"c": 1}}, {"a": 2, "b": 3}) == {"a": 2, "b": 3}


def test_merging_never_changes_its_inputs():
    base = {"pools": [{"name": "gpu", "max": 4}], "storage": {"x": 1}}
    override = {"pools": [{"name": "gpu", "max": 16}], "storage": {"x": 2}}
    merged(base, override)
    assert base == {"pools": [{"name": "gpu", "max": 4}], "storage": {"x": 1}}


def test_merged_values_remember_where_they_were_written():
    base = {"pools": [{"name": "cpu", "max": 8}, {"name": "gpu", "max": 4}]}
    _, origins = merge_override(base, {"pools": [{"name": "gpu", "max": 16}]}, BASE, PROD)
    assert origins.source_of(("pools", 1, "max")) == (*PROD, "pools", 0, "max")
    assert origins.source_of(("pools", 0, "max")) == (*BASE, "pools", 0, "max")
    assert origins.source_of(("pools", 1, "name")) == (*PROD, "pools", 0, "name")


# --- through validation ------------------------------------------------------------------------


def test_the_examples_resolve_their_prod_overrides(example_result):
    fraud = example_result.projects["fraud-detection"]
    pools = {p.name: p for p in fraud.environments["prod"].spec.compute.pools}
    assert pools["gpu-train"].max == 16 and pools["gpu-train"].capacity == "on-demand"
    assert pools["gpu-train"].instance_types == ["g5.2xlarge", "g6.2xlarge"]  # inherited
    assert {p.name: p.max for p in fraud.environments["dev"].spec.compute.pools}["gpu-train"] == 1
    assert {p.name: p.max for p in fraud.environments["staging"].spec.compute.pools}["gpu-train"] == 4
    scorer = fraud.environments["prod"].spec.serving.endpoints[0]
    assert (scorer.autoscaling.min_replicas, scorer.autoscaling.max_replicas) == (3, 30)
    assert scorer.autoscaling.target_concurrency == 20  # inherited from the base endpoint


def test_the_platform_cluster_override_merges_over_the_shared_cluster(example_result):
    platform = example_result.platforms["acme-ml"]
    prod = platform.environments["prod"].spec.cluster
    dev = platform.environments["dev"].spec.cluster
    assert prod is not None and dev is not None
    assert (prod.system_node_group.min, prod.system_node_group.max) == (3, 6)
    assert prod.system_node_group.instance_types == ["m6i.large", "m7i.large"]  # inherited
    assert (dev.system_node_group.min, dev.system_node_group.max) == (2, 4)


def test_a_list_override_replaces_the_registries_of_one_environment_only():
    project = minimal_project(registries=["a", "b"], environments={"prod": {"registries": ["c"]}})
    result = validate(admitting(minimal_platform(environments=three_envs()), project), project)
    envs = result.projects["churn"].environments
    assert envs["prod"].spec.registries == ["c"] and envs["dev"].spec.registries == ["a", "b"]


def three_envs() -> dict:
    return {
        "dev": {"tier": "dev", "region": "us-east-1"},
        "staging": {"tier": "staging", "region": "us-east-1"},
        "prod": {"tier": "prod", "region": "us-east-1"},
    }


def test_an_invalid_value_in_an_override_points_at_the_override_line():
    project = example("fraud")
    project["spec"]["environments"]["prod"]["compute"]["pools"][0]["max"] = "many"
    text = dump(project)
    result = validate(example("platform"), text, files=["platform.yaml", "fraud-detection.yaml"])
    [error] = result.diagnostics
    assert error.path == "spec.environments.prod.compute.pools[0].max"
    assert error.line == line_of(text, "max: many")


def test_an_unknown_key_in_an_override_suggests_the_right_one():
    project = example("fraud")
    project["spec"]["environments"]["prod"]["compute"]["pools"][0]["mx"] = 3
    text = dump(project)
    [error] = validate(example("platform"), text).diagnostics
    assert error.path == "spec.environments.prod.compute.pools[0].mx"
    assert "did you mean 'max'" in error.message
    assert error.line == line_of(text, "mx: 3")


def test_a_semantic_error_caused_by_an_override_points_at_the_override():
    project = example("fraud")
    project["spec"]["environments"]["prod"]["compute"]["pools"][0]["min"] = 20  # above max 16
    text = dump(project)
    [error] = validate(example("platform"), text).diagnostics
    assert error.path == "spec.environments.prod.compute.pools[0].min"
    assert error.rule == "pool_bounds_ordered"
    assert error.line == line_of(text, "min: 20")


def test_a_semantic_error_in_the_base_spec_points_at_the_base_once_not_once_per_environment():
    project = example("fraud")
    project["spec"]["pipelines"]["train"]["pool"] = "gpu-trian"
    text = dump(project)
    result = validate(example("platform"), text)
    assert [e.path for e in result.diagnostics] == ["spec.pipelines.train.pool"], explain(result)
    assert result.diagnostics[0].line == line_of(text, "pool: gpu-trian")
    assert "did you mean 'gpu-train'" in result.diagnostics[0].message


def test_an_override_cannot_move_a_project_to_another_platform_or_repository():
    project = minimal_project(environments={"dev": {"platform": "other", "repository": "acme/x"}})
    result = validate(admitting(minimal_platform(), project), project)
    assert sorted(e.path for e in result.diagnostics) == [
        "spec.environments.dev.platform",
        "spec.environments.dev.repository",
    ]
    assert all("same in every environment" in e.message for e in result.diagnostics)


def test_an_unknown_top_level_key_in_an_override_is_reported_with_a_suggestion():
    project = minimal_project(environments={"dev": {"computee": {}}})
    result = validate(admitting(minimal_platform(), project), project)
    [error] = result.diagnostics
    assert error.path == "spec.environments.dev.computee" and "did you mean 'compute'" in error.message


def test_an_override_for_an_environment_the_platform_lacks_is_reported():
    project = minimal_project(environments={"prd": {"registries": ["x"]}})
    result = validate(admitting(minimal_platform(), project), project)
    [error] = result.diagnostics
    assert error.path == "spec.environments.prd" and error.rule == "override_environments_exist"


def test_an_invalid_platform_cluster_override_points_at_the_environment():
    platform = example("platform")
    platform["spec"]["environments"]["prod"]["cluster"]["systemNodeGroup"]["min"] = 9
    text = dump(platform)
    [error] = validate(text).diagnostics
    assert error.path == "spec.environments.prod.cluster.systemNodeGroup.min"
    assert error.line == line_of(text, "min: 9")


def test_an_error_that_only_an_override_causes_names_its_environment():
    # gpu-train has max 4, but dev overrides it to 1: min 2 only breaks dev.
    result = validate(example("platform"), project_with({"spec.compute.pools[1].min": 2}))
    error = only(result, "pool_bounds_ordered")
    assert error.path == "spec.compute.pools[1].min"
    assert error.message == "in environment dev: min (2) is greater than max (1) in pool 'gpu-train'"


def test_an_error_in_an_item_an_override_adds_points_at_the_override():
    project = example("fraud")
    new_pool = {"name": "gpu-big", "instanceTypes": ["m6i.large"], "gpu": {"count": 1}}
    project["spec"]["environments"]["prod"]["compute"]["pools"].append(new_pool)
    text = dump(project)
    error = only(validate(example("platform"), text), "gpu_pools_use_gpu_instances")
    assert error.path == "spec.environments.prod.compute.pools[1].instanceTypes[0]"
    assert error.message.startswith("in environment prod: 'm6i.large' is not a GPU instance type")
    assert error.line == line_of(text, "- m6i.large")


def test_an_error_in_a_base_field_of_a_merged_item_points_at_the_base():
    project = example("fraud")
    project["spec"]["compute"]["pools"][1]["instanceTypes"] = ["g5.2xlarge", "c7i.large"]
    text = dump(project)
    error = only(validate(example("platform"), text), "gpu_pools_use_gpu_instances")
    assert error.path == "spec.compute.pools[1].instanceTypes[1]"
    assert error.line == line_of(text, "- c7i.large")
