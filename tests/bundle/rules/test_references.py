"""rules/references.py: the platform, override environments, images, pools and gateway
providers a bundle names exist, with a did-you-mean for near misses."""

from __future__ import annotations

from ..helpers import admitting, check_project, example, explain, minimal_platform, minimal_project, only, validate


def test_a_project_naming_an_unknown_platform_is_rejected_with_a_suggestion():
    result = validate(example("platform"), minimal_project(platform="acme-m1"))
    error = only(result, "project_platform_exists")
    assert error.path == "spec.platform"
    assert "known platforms: acme-ml" in error.message and "did you mean 'acme-ml'" in error.message


def test_a_project_alone_is_told_no_platform_bundle_was_found():
    assert "no Platform bundle was found" in only(validate(minimal_project()), "project_platform_exists").message


def test_a_project_whose_platform_is_broken_waits_for_it_instead_of_repeating_its_error():
    broken = minimal_platform()
    broken["spec"]["environments"]["dev"]["tier"] = "develop"
    result = validate(broken, minimal_project(), files=["platform.yaml", "churn.yaml"])
    assert [e.file for e in result.diagnostics] == ["platform.yaml"], explain(result)
    [project] = [r for r in result.reports if r.file == "churn.yaml"]
    assert project.blocked_by == "platform.yaml" and not project.valid and not result.valid


def test_an_override_for_an_unknown_environment_is_rejected_with_a_suggestion():
    fraud = example("fraud")
    fraud["spec"]["environments"]["prd"] = fraud["spec"]["environments"].pop("prod")
    error = only(validate(example("platform"), fraud), "override_environments_exist")
    assert error.path == "spec.environments.prd" and "did you mean 'prod'" in error.message


def test_a_pipeline_image_must_name_a_declared_registry():
    error = only(check_project({"spec.pipelines.train.image": "trainig"}), "pipeline_references_resolve")
    assert error.path == "spec.pipelines.train.image"
    assert "registries: training, serving" in error.message and "did you mean 'training'" in error.message


def test_a_pipeline_pool_must_name_a_declared_pool():
    error = only(check_project({"spec.pipelines.features.pool": "cpu"}), "pipeline_references_resolve")
    assert error.path == "spec.pipelines.features.pool" and "pools: cpu-batch, gpu-train" in error.message


def test_a_pipeline_without_image_needs_some_registry():
    project = minimal_project(pipelines={"t": {"type": "training"}})
    result = validate(admitting(minimal_platform(), project), project)
    error = only(result, "pipeline_references_resolve")
    assert error.path == "spec.pipelines.t" and "declares no `registries`" in error.message


def test_a_pipeline_without_image_uses_the_first_registry():
    project = minimal_project(registries=["main"], pipelines={"t": {"type": "training"}})
    result = validate(admitting(minimal_platform(), project), project)
    assert result.valid, explain(result)
    assert result.projects["churn"].environments["dev"].spec.pipelines["t"].image == "main"


def test_an_endpoint_image_and_pool_must_be_declared():
    result = check_project({"spec.serving.endpoints[0].image": "srv", "spec.serving.endpoints[0].pool": "gpu"})
    assert sorted(e.path for e in result.diagnostics) == [
        "spec.serving.endpoints[0].image",
        "spec.serving.endpoints[0].pool",
    ]
    assert {e.rule for e in result.diagnostics} == {"endpoint_references_resolve"}


def test_a_vllm_endpoint_needs_no_image():
    assert validate(example("platform"), example("rag")).valid


def test_gateway_limits_must_name_a_configured_provider():
    error = only(check_project({"spec.llm.gateway.providers": ["openai"]}, base="rag"), "gateway_limits_name_providers")
    assert error.path == "spec.llm.gateway.limits.anthropic"


def test_a_fine_tuning_pipeline_needs_a_base_model():
    error = only(
        check_project({}, base="rag", deletions=("spec.pipelines.fine-tune.baseModel",)), "fine_tuning_base_model_known"
    )
    assert error.path == "spec.pipelines.fine-tune"


def test_a_base_model_on_another_pipeline_type_is_rejected():
    error = only(check_project({"spec.pipelines.train.baseModel": "x"}), "fine_tuning_base_model_known")
    assert error.path == "spec.pipelines.train.baseModel"
