"""rules/names.py: bundle and item names are unique, and every AWS name derived from them fits."""

from __future__ import annotations

import pytest

from mlrig.bundle.diagnostics import format_path
from mlrig.bundle.rules.names import project_derived_names

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


def test_a_copied_pool_left_with_the_old_name_is_one_error_that_names_the_missing_pool():
    """The second pool was meant to be `cpu-batch`: no "not a declared pool", no "has no GPUs"."""
    result = check_project({"spec.compute.pools[0].name": "gpu-train"})
    error = only(result, "list_item_names_unique")
    assert error.path == "spec.compute.pools[1].name"
    assert "'gpu-train' is declared twice" in error.message and "'cpu-batch'" in error.message


def test_either_pool_of_a_duplicated_name_may_be_the_gpu_one():
    pools = example("fraud")["spec"]["compute"]["pools"]
    result = check_project({"spec.compute.pools": [pools[1], {**pools[0], "name": "gpu-train"}]})
    assert [e.rule for e in result.diagnostics] == ["list_item_names_unique"], explain(result)


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


def test_a_project_name_too_long_for_its_derived_names_is_one_error_with_the_longest_allowed_name():
    name = "a" * 48  # a DNS label, but `<name>-staging-artifacts-<account>` exceeds 63
    result = check_project({"metadata.name": name, "spec.repository": f"acme/{name}"})
    error = only(result, "derived_names_fit")
    assert error.path == "metadata.name"
    assert "over the limit of 63" in error.message and "s3-bucket" in error.message
    longest = int(error.message.rsplit("use at most ", 1)[1].split()[0])
    assert check_project({"metadata.name": "a" * longest, "spec.repository": "acme/a"}).valid
    assert not check_project({"metadata.name": "a" * (longest + 1), "spec.repository": "acme/a"}).valid


def test_only_the_names_of_resources_the_project_has_count():
    """The access-logs bucket exists only in prod: in a dev environment named `development`, the
    name `<project>-development-access-logs-<account>` (65 characters) is never created."""
    platform = example("platform")
    environments = platform["spec"]["environments"]
    platform["spec"]["environments"] = {"development": environments.pop("dev"), **environments}
    project = example("fraud")
    project["spec"]["environments"]["development"] = project["spec"]["environments"].pop("dev")
    name = "p" * 28  # `<name>-development-artifacts-<account>` is exactly 63
    project["metadata"]["name"] = name
    result = validate(platform, project)
    assert not [e for e in result.diagnostics if e.rule == "derived_names_fit"], explain(result)
    project["metadata"]["name"] = name + "p"
    error = only(validate(platform, project), "derived_names_fit")
    assert "development-artifacts" in error.message and "use at most 28 characters" in error.message


def test_a_pipeline_name_too_long_for_any_project_name_is_reported_on_the_pipeline():
    pipeline = example("fraud")["spec"]["pipelines"]["features"]
    long_name = "f" * 60
    result = check_project({f"spec.pipelines.{long_name}": pipeline})
    errors = [e for e in result.diagnostics if e.rule == "derived_names_fit"]
    assert [e.path for e in errors] == [f"spec.pipelines.{long_name}"], explain(result)
    assert "whatever the project is called" in errors[0].message


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


NAMED_TYPES = {
    "aws:s3/bucket:Bucket": ("s3-bucket", lambda i: i.get("bucket")),
    "aws:iam/role:Role": ("iam-role", lambda i: i.get("name")),
    "aws:ecr/repository:Repository": ("ecr-repository", lambda i: i.get("name")),
    "aws:rds/instance:Instance": ("rds-instance", lambda i: i.get("identifier")),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": ("firehose-stream", lambda i: i.get("name")),
    "aws:opensearch/domain:Domain": ("opensearch-domain", lambda i: i.get("domainName")),
    "kubernetes:core/v1:Namespace": ("k8s-namespace", lambda i: i["metadata"]["name"]),
    "kubernetes:karpenter.sh/v1:NodePool": ("k8s-name", lambda i: i["metadata"]["name"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_names_the_length_rule_checks_are_exactly_those_the_stack_creates(
    project_plan, example_result, project, environment
):
    """No phantom names (resources the project does not have) and none missed."""
    resolved = example_result.projects[project]
    env = resolved.environments[environment]
    checked = {
        (d.limit_key, d.name)
        for d in project_derived_names(
            project,
            env.spec,
            environment,
            env.tier,
            env.platform_environment.account,
            resolved.platform.isolation,
        )
    }
    created = {
        (NAMED_TYPES[r["type"]][0], NAMED_TYPES[r["type"]][1](r["inputs"]))
        for r in project_plan(project, environment).resources
        if r["type"] in NAMED_TYPES
    }
    assert checked == created
