"""Value rules the schema cannot express: fields that only apply to some types, ordered bounds."""

from __future__ import annotations

from collections.abc import Iterator

from ... import promotion
from . import Finding, ProjectView, project_rule


@project_rule
def autoscaling_bounds_ordered(view: ProjectView) -> Iterator[Finding]:
    for i, endpoint in enumerate(view.spec.serving.endpoints):
        scaling = endpoint.autoscaling
        if scaling.min_replicas > scaling.max_replicas:
            yield Finding(
                ("spec", "serving", "endpoints", i, "autoscaling", "minReplicas"),
                f"minReplicas ({scaling.min_replicas}) is greater than maxReplicas ({scaling.max_replicas})",
            )


@project_rule
def rollout_percent_meaningful(view: ProjectView) -> Iterator[Finding]:
    """A percent that does nothing is a silent mistake: a canary or A/B split at 0 or 100 sends all
    traffic one way, a shadow at 0 runs a copy that never receives a request, and a `direct`
    rollout has no second revision to give a share to (only the percent it already means, 100,
    is accepted; left out, the percent does not apply)."""
    for i, endpoint in enumerate(view.spec.serving.endpoints):
        rollout = endpoint.rollout
        path = ("spec", "serving", "endpoints", i, "rollout", "percent")
        if rollout.strategy in ("canary", "ab") and rollout.percent in (0, 100):
            yield Finding(
                path,
                f"{'an A/B (ab)' if rollout.strategy == 'ab' else 'a canary'} rollout with percent {rollout.percent} "
                "sends all traffic one way; use 1–99 or strategy `direct`",
            )
        elif rollout.strategy == "shadow" and rollout.percent == 0:
            yield Finding(
                path, "a shadow rollout with percent 0 mirrors no request to the shadow; use 1–100 or strategy `direct`"
            )
        elif rollout.strategy == "direct" and "percent" in rollout.model_fields_set and rollout.percent != 100:
            yield Finding(
                path,
                f"a direct rollout sends all traffic to its one revision, so percent {rollout.percent} would do nothing; "
                "remove `percent` (where an environment override makes the rollout direct, set `percent: 100` "
                "there), or use strategy `canary`, `ab` or `shadow` to split or mirror traffic",
            )


@project_rule
def mode_only_for_inference(view: ProjectView) -> Iterator[Finding]:
    for name, pipeline in view.spec.pipelines.items():
        if pipeline.mode == "streaming" and pipeline.type != "batch-inference":
            yield Finding(("spec", "pipelines", name, "mode"), "`mode` only applies to batch-inference pipelines")


@project_rule
def retraining_needs_training(view: ProjectView) -> Iterator[Finding]:
    here = view.platform_environment
    if here is not None and not promotion.trains(view.deployment_pattern, here.tier):
        return  # no tier above dev trains under deploy-models: `deploy_models_retrains_in_dev_only`
    if view.spec.monitoring.retrain_on_drift and not any(p.type == "training" for p in view.spec.pipelines.values()):
        yield Finding(
            ("spec", "monitoring", "retrainOnDrift"), "`retrainOnDrift` needs a pipeline of type training to submit"
        )


@project_rule
def vector_refresh_needs_database(view: ProjectView) -> Iterator[Finding]:
    refreshes = [n for n, p in view.spec.pipelines.items() if p.type == "vector-index-refresh"]
    if refreshes and view.spec.llm.vector_database is None:
        yield Finding(
            ("spec", "pipelines", refreshes[0], "type"), "a vector-index-refresh pipeline needs `llm.vectorDatabase`"
        )


@project_rule
def gateway_has_providers(view: ProjectView) -> Iterator[Finding]:
    """A gateway without providers routes nowhere, and gets no workload role (its spend logs
    would have no credentials): it is a mistake, not a configuration."""
    gateway = view.spec.llm.gateway
    if gateway is not None and not gateway.providers:
        yield Finding(
            ("spec", "llm", "gateway", "providers"),
            "the gateway has no `providers`, so it routes nowhere: name at least one (such as openai), "
            "or remove `llm.gateway`",
        )


# The gateway's overall caps, by field: LiteLLM caps a whole proxy (every provider and the
# project's own models together) only with its database, which mlrig's gateway does not run.
UNENFORCED_GATEWAY_CAPS = {"requests_per_minute": "requestsPerMinute", "monthly_budget_usd": "monthlyBudgetUsd"}


@project_rule
def gateway_caps_are_enforced(view: ProjectView) -> Iterator[Finding]:
    """A cap the gateway cannot enforce is worse than none: the team plans its spend on it. So
    `llm.gateway.requestsPerMinute` and `monthlyBudgetUsd` (overall) are refused, pointing at the
    per-provider limits, which the gateway's store enforces across replicas."""
    gateway = view.spec.llm.gateway
    if gateway is None:
        return
    for field, key in UNENFORCED_GATEWAY_CAPS.items():
        if getattr(gateway, field) is None:
            continue
        yield Finding(
            ("spec", "llm", "gateway", key),
            f"`llm.gateway.{key}` caps the whole gateway, which LiteLLM enforces only with its database, and "
            "mlrig's gateway runs without one: nothing would enforce it. Cap each provider instead "
            f"(`llm.gateway.limits.<provider>.{key}`, enforced across the gateway's replicas), or remove it",
        )


@project_rule
def vector_instance_class_fits_engine(view: ProjectView) -> Iterator[Finding]:
    """RDS classes start with `db.`, OpenSearch ones end with `.search`: the other engine's
    class passes the schema and fails the database's creation half-way through apply."""
    database = view.spec.llm.vector_database
    if database is None or database.instance_class is None:
        return
    opensearch = database.instance_class.endswith(".search")
    if opensearch != (database.engine == "opensearch"):
        expected = (
            "an OpenSearch class such as r6g.large.search"
            if database.engine == "opensearch"
            else ("an RDS class such as db.r6g.large")
        )
        yield Finding(
            ("spec", "llm", "vectorDatabase", "instanceClass"),
            f"'{database.instance_class}' is not a class of engine {database.engine}: use {expected}",
        )
