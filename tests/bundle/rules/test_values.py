"""rules/values.py: ordered autoscaling bounds, meaningful rollout percentages, and fields that
only make sense together."""

from __future__ import annotations

import pytest

from ..helpers import check_project, explain, only

ENDPOINT = "spec.serving.endpoints[0]"


def test_autoscaling_min_above_max_is_rejected():
    # scorer: 2..10 in the base; prod overrides both bounds, so dev and staging break.
    error = only(check_project({f"{ENDPOINT}.autoscaling.minReplicas": 11}), "autoscaling_bounds_ordered")
    assert error.path == f"{ENDPOINT}.autoscaling.minReplicas"
    assert "in environments dev, staging" in error.message


def test_autoscaling_min_equal_to_max_is_fine():
    assert check_project({f"{ENDPOINT}.autoscaling.minReplicas": 10}).valid


@pytest.mark.parametrize(("strategy", "percent"), [("canary", 0), ("canary", 100), ("ab", 100)])
def test_a_canary_or_ab_rollout_sending_all_traffic_one_way_is_rejected(strategy: str, percent: int):
    result = check_project({f"{ENDPOINT}.rollout": {"strategy": strategy, "percent": percent}})
    assert only(result, "rollout_percent_meaningful").path == f"{ENDPOINT}.rollout.percent"


def test_a_shadow_rollout_mirroring_nothing_is_rejected():
    result = check_project({f"{ENDPOINT}.rollout": {"strategy": "shadow", "percent": 0}})
    assert "mirrors no request" in only(result, "rollout_percent_meaningful").message


@pytest.mark.parametrize("percent", [0, 10, 50, 99])
def test_a_direct_rollout_with_a_percent_that_does_nothing_is_rejected(percent: int):
    """`direct` has one revision: a written share of it is a mistake (the team meant a canary)."""
    result = check_project({f"{ENDPOINT}.rollout": {"strategy": "direct", "percent": percent}})
    error = only(result, "rollout_percent_meaningful")
    assert error.path == f"{ENDPOINT}.rollout.percent"
    assert f"percent {percent} would do nothing" in error.message and "remove `percent`" in error.message


def test_a_direct_rollout_inheriting_a_canary_percent_from_the_base_is_rejected_where_direct():
    """The base's canary writes percent 10; prod switches to `direct` but keeps the percent."""
    result = check_project(
        {
            f"{ENDPOINT}.rollout": {"strategy": "canary", "percent": 10},
            "spec.environments.prod.serving.endpoints": [{"name": "scorer", "rollout": {"strategy": "direct"}}],
        }
    )
    assert only(result, "rollout_percent_meaningful").message.startswith("in environment prod:")


# `direct` with 100 is what direct means (all traffic to the one revision); without `percent` the
# model's default share does not apply to it.
@pytest.mark.parametrize(
    "rollout",
    [
        {"strategy": "canary", "percent": 1},
        {"strategy": "ab", "percent": 50},
        {"strategy": "shadow", "percent": 100},
        {"strategy": "direct", "percent": 100},
        {"strategy": "direct"},
    ],
)
def test_meaningful_rollouts_pass(rollout: dict):
    assert check_project({f"{ENDPOINT}.rollout": rollout}).valid


def test_streaming_mode_only_applies_to_inference_pipelines():
    assert (
        only(check_project({"spec.pipelines.train.mode": "streaming"}), "mode_only_for_inference").path
        == "spec.pipelines.train.mode"
    )
    assert check_project({"spec.pipelines.score-batch.mode": "streaming"}).valid


def test_retraining_on_drift_needs_a_training_pipeline():
    fraud_without_training = check_project({}, deletions=("spec.pipelines.train",))
    assert only(fraud_without_training, "retraining_needs_training").path == "spec.monitoring.retrainOnDrift"


def test_a_vector_index_refresh_needs_a_vector_database():
    result = check_project({}, base="rag", deletions=("spec.llm.vectorDatabase",))
    assert only(result, "vector_refresh_needs_database").path == "spec.pipelines.index-docs.type"


def test_a_gateway_without_providers_is_rejected():
    result = check_project({"spec.llm.gateway.providers": []}, base="rag", deletions=("spec.llm.gateway.limits",))
    assert only(result, "gateway_has_providers").path == "spec.llm.gateway.providers"
    assert check_project({}, base="rag").valid


@pytest.mark.parametrize("value", ["db.x2iedn.32xlarge; drop", "db r6g large", "", "r6g.large"])
def test_a_vector_database_class_that_is_no_class_is_rejected_before_apply(value: str):
    result = check_project({"spec.llm.vectorDatabase.instanceClass": value}, base="rag")
    assert [d.path for d in result.diagnostics] == ["spec.llm.vectorDatabase.instanceClass"], explain(result)


@pytest.mark.parametrize(("engine", "value"), [("pgvector", "r6g.large.search"), ("opensearch", "db.r6g.large")])
def test_a_vector_database_class_of_the_other_engine_is_rejected(engine: str, value: str):
    changes = {"spec.llm.vectorDatabase.engine": engine, "spec.llm.vectorDatabase.instanceClass": value}
    error = only(check_project(changes, base="rag"), "vector_instance_class_fits_engine")
    assert f"not a class of engine {engine}" in error.message


@pytest.mark.parametrize(("engine", "value"), [("pgvector", "db.r6g.large"), ("opensearch", "r6g.large.search")])
def test_a_vector_database_class_of_its_engine_passes(engine: str, value: str):
    changes = {"spec.llm.vectorDatabase.engine": engine, "spec.llm.vectorDatabase.instanceClass": value}
    assert check_project(changes, base="rag").valid


@pytest.mark.parametrize(("key", "value"), [("monthlyBudgetUsd", 4000), ("requestsPerMinute", 1000)])
def test_a_gateway_wide_cap_nothing_enforces_is_refused(key: str, value: int):
    # LiteLLM caps a whole proxy only with its database; the gateway runs without one, so a team
    # that wrote an overall budget planned its spend on a cap that never held.
    error = only(check_project({f"spec.llm.gateway.{key}": value}, base="rag"), "gateway_caps_are_enforced")
    assert error.path == f"spec.llm.gateway.{key}"
    assert f"llm.gateway.limits.<provider>.{key}" in error.message


def test_a_gateway_wide_cap_set_in_one_environment_is_refused_there():
    result = check_project({"spec.environments.prod.llm.gateway.monthlyBudgetUsd": 4000}, base="rag")
    error = only(result, "gateway_caps_are_enforced")
    assert error.path == "spec.environments.prod.llm.gateway.monthlyBudgetUsd", explain(result)
    assert error.message.startswith("in environment prod:")


def test_per_provider_caps_are_accepted():
    assert check_project({}, base="rag").valid
