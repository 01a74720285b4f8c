"""`mlrig parity`: staging against prod and dev against staging of a project."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrig import examples
from mlrig.bundle.validate import ValidationResult
from mlrig.parity import (
    TIER_RULES,
    Side,
    default_pairs,
    override_paths,
    override_scope,
    project_parity,
    run_parity_command,
)
from mlrig.plan.runner import Planner

from .conftest import edit

Run = Callable[..., tuple[int, str, str]]


@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_parity_holds_for_the_examples_in_every_pair(
    project: str, example_result: ValidationResult, example_planner: Planner
) -> None:
    bundle = example_result.projects[project]
    pairs = default_pairs(bundle)
    assert pairs == [("dev", "staging"), ("staging", "prod")]
    for pair in pairs:
        report = project_parity(bundle, pair, example_planner)
        assert report.unexplained == [], [d.as_dict() for d in report.unexplained]
        assert report.differences, "tiers do differ; every difference is explained"


def test_the_prod_overrides_of_the_examples_explain_what_they_change(
    example_result: ValidationResult, example_planner: Planner
) -> None:
    report = project_parity(example_result.projects["fraud-detection"], ("staging", "prod"), example_planner)
    reasons = {d.explained_by for d in report.differences}
    assert "override spec.environments.prod.compute.pools.name=gpu-train.max" in reasons
    assert "tier rule dev-schedules-suspended" not in reasons  # staging and prod both run their schedules
    assert "tier rule database-by-tier" in reasons


def test_environment_names_accounts_and_generated_ids_are_normalised_away() -> None:
    side = Side("dev", "dev", "111111111111", "us-east-1", "10.10.0.0/16", ("arn:aws:iam::111111111111:role/ds",))
    assert side.normalise("fraud-detection--dev--data--111111111111") == "fraud-detection--<env>--data--<account>"
    assert side.normalise("arn:aws:kms:us-east-1:111111111111:key/4b992223-5f50-5c77-9aad-5c05284cc9cf") == (
        "arn:aws:kms:<region>:<account>:key/<uuid>"
    )
    assert side.normalise("/dev/xvda") == "/dev/xvda"  # a device, not the environment
    assert side.normalise("arn:aws:iam::111111111111:role/ds") == "arn:aws:iam::111111111111:role/ds"  # a person
    assert side.normalise("sg-0a654c12dd3194c56 in 10.10.0.0/16") == "sg-<id> in <vpc-cidr>"


def test_an_override_explains_only_the_resources_of_what_it_names() -> None:
    [path] = list(override_paths({"compute": {"pools": [{"name": "gpu-train", "max": 16}]}}))
    assert path == ("compute", "pools", "name=gpu-train", "max")
    scope = override_scope(path)
    pool = {"type": "kubernetes:karpenter.sh/v1:NodePool", "name": "p--prod-pools-gpu-train-nodepool", "inputs": {}}
    other = {"type": "kubernetes:karpenter.sh/v1:NodePool", "name": "p--prod-pools-cpu-batch-nodepool", "inputs": {}}
    bucket = {"type": "aws:s3/bucket:Bucket", "name": "data", "inputs": {}, "_component": "mlrig:project:Storage"}
    assert scope(pool, "spec.limits.cpu") and not scope(other, "spec.limits.cpu") and not scope(bucket, "tags")
    tags = override_scope(("tags", "owner"))
    assert tags(bucket, "tags.owner") and not tags(bucket, "versioning")


def test_a_pool_override_explains_its_queue_flavors_and_the_projects_cluster_queue_only() -> None:
    """A pool's max sizes the ClusterQueue's quota and its sharing shapes the pool's flavors;
    another pool's flavors stay unexplained."""
    scope = override_scope(("compute", "pools", "name=gpu-train", "sharing"))
    kueue = "kubernetes:kueue.x-k8s.io/v1beta2"
    queue = {"type": f"{kueue}:ClusterQueue", "name": "p--dev-queues-cluster-queue", "inputs": {}}
    flavor = {"type": f"{kueue}:ResourceFlavor", "name": "p--dev-queues-gpu-train-gpu-flavor", "inputs": {}}
    other = {"type": f"{kueue}:ResourceFlavor", "name": "p--dev-queues-cpu-batch-flavor", "inputs": {}}
    assert scope(queue, "spec.resourceGroups") and scope(flavor, "spec.nodeLabels")
    assert not scope(other, "spec.nodeLabels")


def test_a_dev_only_retrain_on_drift_explains_the_monitors_right_to_submit_training() -> None:
    """Under deploy-models `retrainOnDrift` may be set in the dev environment only, and the role
    that lets the monitoring pipeline submit training lives with the pipelines, not monitoring."""
    scope = override_scope(("monitoring", "retrainOnDrift"))
    rbac = "kubernetes:rbac.authorization.k8s.io/v1"
    role = {"type": f"{rbac}:Role", "name": "p--dev-pipelines-role-submit-retraining", "inputs": {}}
    other = {"type": f"{rbac}:Role", "name": "p--dev-pipelines-role-submit-release", "inputs": {}}
    assert scope(role, "") and not scope(other, "")


NAMESPACE_DEPLOY_MODELS = Path(__file__).parent / "fixtures" / "namespace-deploy-models"


@pytest.mark.parametrize("project", ["lexi", "spam"])
def test_parity_holds_on_a_shared_cluster_whose_environments_are_not_named_like_their_tiers(
    project: str, tmp_path: Path, run: Run
) -> None:
    """`abn` (staging) against `prod` (prod): both run in the shared VPC and the prod stack's
    subnet group, a tier label reads `staging` on one side and the environment's own name on the
    other, and lexi's dev trains while staging and prod import its model (deploy-models)."""
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    for bundle in NAMESPACE_DEPLOY_MODELS.glob("*.yaml"):
        (bundles / bundle.name).write_text(bundle.read_text())
    code, out, err = run(run_parity_command, project, str(bundles), [], "json")
    report = json.loads(out)
    assert [pair["unexplained"] for pair in report["pairs"]] == [[], []], err
    assert code == 0
    if project == "lexi":
        dev_staging = report["pairs"][0]["explained"]
        by_pattern = {
            d["resource"].split("::")[-1] for d in dev_staging if d["explainedBy"] == "deployment pattern deploy-models"
        }
        assert {"lexi--<env>--wl--train", "lexi--<env>--wl--model-import", "lexi--<env>-sa-model-import"} <= by_pattern


def test_an_environment_named_like_its_tier_normalises_like_one_that_is_not() -> None:
    prod = Side("prod", "prod", "1", "eu-central-1")
    abn = Side("abn", "staging", "1", "eu-central-1")
    assert prod.normalise("prod") == abn.normalise("staging") == abn.normalise("abn")
    assert prod.normalise("lexi--prod--data") == abn.normalise("lexi--abn--data")
    # Glue spells `prod-eu` `prod_eu` in the catalog database's name.
    assert Side("prod-eu", "prod", "1", "eu-west-2").normalise("manga__prod_eu") == abn.normalise("manga__abn")


def test_every_tier_rule_says_what_it_explains() -> None:
    assert len({rule.id for rule in TIER_RULES}) == len(TIER_RULES)
    assert all(rule.description and rule.types and rule.paths for rule in TIER_RULES)


def test_a_platform_that_drops_monitoring_in_prod_breaks_parity_and_exits_1(tmp_path: Path, run: Run) -> None:
    bundles = tmp_path / "bundles"
    examples.copy_to(bundles)
    edit(
        bundles / "platform.yaml",
        "        systemNodeGroup: { min: 3, max: 6 }",
        "        systemNodeGroup: { min: 3, max: 6 }\n        addons: { monitoring: { enabled: false } }",
    )
    # Without Alertmanager only the routes CloudWatch's alarms reach are accepted.
    edit(
        bundles / "fraud-detection.yaml",
        '{ type: slack, target: "#fraud-ml-alerts" }',
        "{ type: email, target: ml@example.com }",
    )
    edit(
        bundles / "rag-assistant.yaml",
        "{ type: pagerduty, target: genai-oncall }",
        "{ type: email, target: ml@example.com }",
    )
    # ... and no GPU-idle alert (DCGM's metrics are scraped by that Prometheus): left at its default.
    edit(bundles / "fraud-detection.yaml", "    gpuIdle: { belowPercent: 5, forMinutes: 60 }\n", "")
    code, out, err = run(run_parity_command, "fraud-detection", str(bundles), ["staging:prod"], "json")
    assert code == 1, err
    report = json.loads(out)
    assert report["parity"] is False
    [pair] = report["pairs"]
    assert pair["pair"] == ["staging", "prod"]
    only_staging = {d["type"] for d in pair["unexplained"] if d["path"] == "" and d["left"]}
    assert "kubernetes:monitoring.coreos.com/v1:PrometheusRule" in only_staging
    assert set(pair["unexplained"][0]) == {"resource", "type", "path", "left", "right", "explainedBy"}


def test_usage_errors_exit_2(tmp_path: Path, run: Run) -> None:
    examples.copy_to(tmp_path / "bundles")
    code, _, err = run(run_parity_command, "nope", str(tmp_path / "bundles"), [], "text")
    assert code == 2 and "projects: fraud-detection, rag-assistant" in err
    code, _, err = run(run_parity_command, "fraud-detection", str(tmp_path / "bundles"), ["staging"], "text")
    assert code == 2 and "A:B" in err
