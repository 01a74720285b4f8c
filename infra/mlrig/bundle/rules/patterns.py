"""The deployment pattern (`spec.deploymentPattern`, see `mlrig.promotion`): combinations that
would validate but never work under deploy-models."""

from __future__ import annotations

from collections.abc import Iterator

from ... import promotion
from . import Finding, ProjectView, project_rule

PATTERN = ("spec", "deploymentPattern")


@project_rule
def deployment_pattern_same_in_every_environment(view: ProjectView) -> Iterator[Finding]:
    """Half a project promoting code and half promoting models has no path for its models."""
    if view.spec.deployment_pattern != view.bundle.spec.deployment_pattern:
        yield Finding(
            PATTERN,
            f"`deploymentPattern` is the project's, not an environment's: this environment says "
            f"{view.spec.deployment_pattern}, the project {view.bundle.spec.deployment_pattern}; set it once "
            "under `spec` and remove it from the environment's override",
            key=True,
        )


@project_rule
def deploy_models_promotes_through_model_deployment(view: ProjectView) -> Iterator[Finding]:
    """Under deploy-models a model reaches staging and prod only through the model CD pipeline."""
    if view.deployment_pattern != promotion.DEPLOY_MODELS:
        return
    if not promotion.has_model_deployment(view.spec):
        yield Finding(
            PATTERN,
            "`deploy-models` promotes the model trained in dev through the model-deployment pipeline, and "
            "this environment has none: add a pipeline of `type: model-deployment` (it imports, checks, "
            "compares, approves and promotes the model), or use `deploymentPattern: deploy-code`",
        )


@project_rule
def deploy_models_has_one_source_environment(view: ProjectView) -> Iterator[Finding]:
    """The environment a staging or prod model is imported from must be unambiguous."""
    platform, here = view.platform, view.platform_environment
    if platform is None or here is None or not promotion.imports_models(view.deployment_pattern, here.tier):
        return
    if not promotion.has_model_deployment(view.spec):
        return  # deploy_models_promotes_through_model_deployment reports it
    sources = promotion.source_environments(platform.environments, here.tier)
    if len(sources) == 1:
        return
    if not sources:
        problem = f"platform {platform.name} has no environment of a lower tier to train the model in"
        fix = "add a dev-tier environment to the platform, or use `deploymentPattern: deploy-code`"
    else:
        problem = f"platform {platform.name} has several ({', '.join(sources)}) in the tier it promotes from"
        fix = "use `deploymentPattern: deploy-code`, or a platform with one environment of that tier"
    yield Finding(
        PATTERN,
        f"`deploy-models` imports {here.tier}'s model from the one environment of the tier below, but {problem}; "
        + fix,
    )


@project_rule
def deploy_models_retrains_in_dev_only(view: ProjectView) -> Iterator[Finding]:
    """Staging and prod have no training pipeline under deploy-models: drift there cannot retrain
    (and prod must not reach into dev to start it); the drift alert notifies the team instead."""
    here = view.platform_environment
    if here is None or promotion.trains(view.deployment_pattern, here.tier):
        return
    if view.spec.monitoring.retrain_on_drift:
        yield Finding(
            ("spec", "monitoring", "retrainOnDrift"),
            "under `deploymentPattern: deploy-models` only the dev tier trains (staging and prod import the "
            "model trained there), so drift cannot retrain here: the drift alert (`monitoring.alerts`) notifies the team, who retrain in dev. Set "
            "`retrainOnDrift: true` only in the dev environment's override "
            "(`spec.environments.<dev>.monitoring.retrainOnDrift`)",
        )
