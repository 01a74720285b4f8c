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


@pytest.mark.parametrize(("strategy", "percent"), [("canary", 1), ("ab", 50), ("shadow", 100), ("direct", 100)])
def test_meaningful_rollouts_pass(strategy: str, percent: int):
    assert check_project({f"{ENDPOINT}.rollout": {"strategy": strategy, "percent": percent}}).valid


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
