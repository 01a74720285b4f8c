"""rules/names.py: bundle and item names are unique, and every AWS name derived from them fits."""

from __future__ import annotations

from mlrig.bundle.diagnostics import format_path

from ..helpers import check_platform, check_project, example, explain, minimal_platform, minimal_project, only, validate


def test_two_projects_with_one_name_are_rejected_in_the_second_file():
    result = validate(example("platform"), example("fraud"), example("fraud"), files=["p.yaml", "a.yaml", "b.yaml"])
    error = only(result, "bundle_names_unique")
    assert (error.file, error.path) == ("b.yaml", "metadata.name") and "already used by a.yaml" in error.message


def test_two_platforms_with_one_name_are_rejected():
    result = validate(minimal_platform(), minimal_platform(), files=["a.yaml", "b.yaml"])
    assert only(result, "bundle_names_unique").file == "b.yaml"


def test_a_project_named_like_a_platform_is_rejected_because_stack_names_would_clash():
    result = validate(minimal_platform(), minimal_project(name="acme-ml"))
    assert "also a platform's name" in only(result, "bundle_names_unique").message


def test_distinct_bundle_names_are_fine():
    assert validate(minimal_platform(), minimal_project("a"), minimal_project("b")).valid


def test_a_pool_declared_twice_is_rejected():
    pool = example("fraud")["spec"]["compute"]["pools"][0]
    result = check_project({"spec.compute.pools[2]": pool})
    errors = [e for e in result.diagnostics if e.rule == "list_item_names_unique"]
    assert errors and errors[0].path == "spec.compute.pools[2].name", explain(result)


def test_an_endpoint_declared_twice_is_rejected():
    endpoint = example("fraud")["spec"]["serving"]["endpoints"][0]
    error = only(check_project({"spec.serving.endpoints[1]": endpoint}), "list_item_names_unique")
    assert error.path == "spec.serving.endpoints[1].name"


def test_a_registry_declared_twice_is_rejected():
    error = only(check_project({"spec.registries": ["training", "serving", "training"]}), "list_item_names_unique")
    assert error.path == "spec.registries[2]"


def test_a_quality_metric_declared_twice_is_rejected():
    metric = {"name": "auc", "threshold": 0.7}
    assert (
        only(check_project({"spec.monitoring.quality[1]": metric}), "list_item_names_unique").path
        == "spec.monitoring.quality[1].name"
    )


def test_a_project_name_too_long_for_its_derived_bucket_names_is_rejected():
    name = "a" * 40  # a DNS label, but `<name>-staging-access-logs-<account>` exceeds 63
    result = check_project({"metadata.name": name, "spec.repository": f"acme/{name}"})
    errors = [e for e in result.diagnostics if e.rule == "derived_names_fit"]
    assert errors, explain(result)
    assert all(e.path == "metadata.name" for e in errors)
    assert any("s3-bucket" in e.message and "over the limit of 63" in e.message for e in errors)


def test_a_long_but_fitting_project_name_is_fine():
    name = "a" * 20
    assert check_project({"metadata.name": name, "spec.repository": f"acme/{name}"}).valid


def test_a_pipeline_named_like_a_built_in_workload_is_rejected():
    fraud = example("fraud")
    pipelines = fraud["spec"]["pipelines"]
    pipelines["serving"] = pipelines.pop("monitor")
    error = only(validate(example("platform"), fraud), "pipeline_names_not_reserved")
    assert error.path == "spec.pipelines.serving" and "reserved" in error.message


def test_a_platform_name_too_long_for_its_derived_role_names_is_rejected():
    result = check_platform({"metadata.name": "p" * 45})
    errors = [e for e in result.diagnostics if e.rule == "platform_derived_names_fit"]
    assert errors, explain(result)
    assert {e.path for e in errors} <= {
        format_path(("spec", "environments", env)) for env in ("dev", "staging", "prod")
    }
    assert any("iam-role" in e.message for e in errors)


def test_a_platform_with_short_names_fits():
    assert check_platform({"metadata.name": "p" * 20}).valid
