"""rules/patterns.py: `deploymentPattern: deploy-models` combinations that would validate but never
work (staging and prod train nothing; their models come from the one environment below)."""

from __future__ import annotations

from ..helpers import explain, only, platform_with, project_with, validate

DEPLOY_MODELS = {
    "spec.deploymentPattern": "deploy-models",
    "spec.monitoring.retrainOnDrift": False,
    "spec.environments.dev.monitoring": {"retrainOnDrift": True},
}


def check(changes: dict, deletions: tuple[str, ...] = (), platform: dict | None = None):
    return validate(platform or platform_with({}), project_with({**DEPLOY_MODELS, **changes}, deletions=deletions))


def test_a_deploy_models_project_retraining_in_dev_only_is_valid():
    result = check({})
    assert result.valid, explain(result)


def test_a_pattern_set_for_one_environment_only_is_rejected():
    result = validate(
        platform_with({}),
        project_with(
            {"spec.monitoring.retrainOnDrift": False, "spec.environments.prod.deploymentPattern": "deploy-models"}
        ),
    )
    error = only(result, "deployment_pattern_same_in_every_environment")
    assert error.path == "spec.environments.prod.deploymentPattern"
    assert "set it once under `spec`" in error.message


def test_deploy_models_without_a_model_deployment_pipeline_is_rejected():
    error = only(
        check({}, deletions=("spec.pipelines.deploy-model",)), "deploy_models_promotes_through_model_deployment"
    )
    assert error.path == "spec.deploymentPattern"
    assert "type: model-deployment" in error.message


def test_retraining_on_drift_in_staging_or_prod_is_rejected_with_where_to_put_it():
    error = only(check({"spec.monitoring.retrainOnDrift": True}), "deploy_models_retrains_in_dev_only")
    assert error.path == "spec.monitoring.retrainOnDrift"
    assert "in environments staging, prod" in error.message
    assert "spec.environments.<dev>.monitoring.retrainOnDrift" in error.message


def test_two_dev_environments_leave_staging_no_single_source_and_are_rejected():
    sandbox = {"tier": "dev", "account": "555555555555", "region": "us-east-1", "network": {"cidr": "10.40.0.0/16"}}
    platform = platform_with({"spec.environments.sandbox": sandbox})
    result = check({}, platform=platform)
    error = only(result, "deploy_models_has_one_source_environment")
    assert error.path == "spec.deploymentPattern"
    assert "dev, sandbox" in error.message and "in environment staging" in error.message


def test_a_prod_with_nothing_below_to_train_in_is_rejected():
    platform = platform_with({}, deletions=("spec.environments.dev", "spec.environments.staging"))
    project = project_with(
        {"spec.deploymentPattern": "deploy-models", "spec.monitoring.retrainOnDrift": False},
        deletions=("spec.environments.dev",),
    )
    error = only(validate(platform, project), "deploy_models_has_one_source_environment")
    assert "no environment of a lower tier" in error.message
