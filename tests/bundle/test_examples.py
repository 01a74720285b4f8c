"""The example bundles show what a platform engineer would recognise (issue 2, item 7)."""

from __future__ import annotations

from mlrig.bundle.validate import ValidationResult


def test_the_platform_example_has_three_tiers_each_in_its_own_account(example_result: ValidationResult):
    platform = example_result.platforms["acme-ml"]
    assert platform.isolation == "account"
    assert [e.tier for e in platform.environments.values()] == ["dev", "staging", "prod"]
    assert len({e.account for e in platform.environments.values()}) == 3


def test_the_classic_ml_example_covers_the_deploy_code_lifecycle(example_result: ValidationResult):
    prod = example_result.projects["fraud-detection"].environments["prod"].spec
    assert prod.deployment_pattern == "deploy-code"
    assert {p.type for p in prod.pipelines.values()} >= {
        "feature-refresh",
        "training",
        "model-deployment",
        "batch-inference",
        "monitoring",
    }
    train = next(p for p in prod.pipelines.values() if p.type == "training")
    pools = {p.name: p for p in prod.compute.pools}
    assert train.pool is not None and pools[train.pool].gpu is not None and train.resources.gpu >= 1
    assert any(e.rollout.strategy == "canary" for e in prod.serving.endpoints)
    assert prod.monitoring.retrain_on_drift and prod.model_deployment.comparison.baseline_threshold is not None


def test_the_llm_example_covers_the_llmops_additions(example_result: ValidationResult):
    prod = example_result.projects["rag-assistant"].environments["prod"].spec
    pools = {p.name: p for p in prod.compute.pools}
    assert prod.llm.vector_database is not None and prod.llm.gateway is not None and prod.llm.gateway.providers
    assert prod.llm.feedback.enabled and prod.llm.model_hub is not None
    tuning = next(p for p in prod.pipelines.values() if p.type == "fine-tuning")
    assert tuning.pool is not None and pools[tuning.pool].gpu is not None and tuning.base_model
    assert any(p.type == "vector-index-refresh" for p in prod.pipelines.values())
    llm = next(e for e in prod.serving.endpoints if e.runtime == "vllm")
    assert llm.pool is not None and pools[llm.pool].gpu is not None and llm.resources.gpu >= 1
