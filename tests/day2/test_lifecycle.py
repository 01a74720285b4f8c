"""Life after the first apply, on the example plans and on `mlrig diff` of real bundle changes:
what a team can remove, what a dev stack's destroy needs, what prod refuses, and whether the
resources that get replaced can be."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mlrig import examples
from mlrig.bundle.validate import validate_paths
from mlrig.diff.command import run_diff_command
from mlrig.plan.engine import StackPlan
from mlrig.plan.runner import Planner

from .conftest import commit, edit

Run = Callable[..., tuple[int, str, str]]
BUCKET = "aws:s3/bucket:Bucket"
REPOSITORY = "aws:ecr/repository:Repository"
SECRET = "aws:secretsmanager/secret:Secret"


def of_type(plan: StackPlan, token: str) -> list[dict]:
    return [r for r in plan.resources if r["type"] == token]


def test_a_dev_stack_can_be_destroyed_with_data_in_its_buckets_and_images_in_its_registries(
    project_plan: Callable[[str, str], StackPlan],
) -> None:
    """AWS refuses to delete a non-empty bucket or repository: a dev destroy must empty them."""
    for environment in ("dev", "staging"):
        plan = project_plan("rag-assistant", environment)
        assert of_type(plan, BUCKET) and all(b["inputs"]["forceDestroy"] is True for b in of_type(plan, BUCKET))
        assert of_type(plan, REPOSITORY) and all(r["inputs"]["forceDelete"] is True for r in of_type(plan, REPOSITORY))


def test_prod_buckets_and_registries_are_kept_not_emptied(project_plan: Callable[[str, str], StackPlan]) -> None:
    plan = project_plan("rag-assistant", "prod")
    for resource in [*of_type(plan, BUCKET), *of_type(plan, REPOSITORY)]:
        assert resource["options"]["protect"] and resource["options"]["retainOnDelete"]
        assert resource["inputs"].get("forceDestroy", resource["inputs"].get("forceDelete")) is False


def test_a_gateway_key_removed_in_dev_can_be_added_back_at_once(project_plan: Callable[[str, str], StackPlan]) -> None:
    """A secret in its recovery window keeps its name: creating it again fails for that long."""
    dev = of_type(project_plan("rag-assistant", "dev"), SECRET)
    prod = of_type(project_plan("rag-assistant", "prod"), SECRET)
    assert dev and {s["inputs"]["recoveryWindowInDays"] for s in dev} == {0}
    assert prod and {s["inputs"]["recoveryWindowInDays"] for s in prod} == {30}
    assert all(s["options"]["protect"] and s["options"]["retainOnDelete"] for s in prod)


def test_the_system_node_group_can_be_replaced_without_colliding_with_its_own_name(
    platform_plan: Callable[[str], StackPlan],
) -> None:
    """New system instance types replace the node group: created beside the old one, so it has a
    name prefix Pulumi completes rather than a fixed name."""
    [group] = of_type(platform_plan("prod"), "aws:eks/nodeGroup:NodeGroup")
    assert "nodeGroupName" not in group["inputs"]
    assert group["inputs"]["nodeGroupNamePrefix"] == "acme-ml-prod-system-"
    assert len(group["inputs"]["nodeGroupNamePrefix"]) + 26 <= 63


def test_the_opensearch_role_mapping_job_runs_again_after_a_failed_apply(tmp_path: Path) -> None:
    bundles = tmp_path / "bundles"
    examples.copy_to(bundles)
    edit(
        bundles / "rag-assistant.yaml",
        "vectorDatabase: { engine: pgvector, storageGiB: 100, dimensions: 1024 }",
        "vectorDatabase: { engine: opensearch, storageGiB: 100, dimensions: 1024 }",
    )
    result = validate_paths([bundles])
    assert result.valid
    plan = Planner().project(result.projects["rag-assistant"], "dev")
    [job] = of_type(plan, "kubernetes:batch/v1:Job")
    assert job["inputs"]["metadata"]["name"].startswith("vector-access-")
    assert job["inputs"]["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"


def test_removing_a_gateway_provider_is_refused_in_prod_and_says_how_to_go_ahead(
    bundle_repo: Callable[[], Path], run: Run
) -> None:
    """The prod secret is protected: pulumi up would stop there and fail the whole prod apply."""
    repo = bundle_repo()
    bundle = repo / "bundles/rag-assistant.yaml"
    edit(bundle, "providers: [openai, anthropic]", "providers: [openai]")
    edit(bundle, "        anthropic: { requestsPerMinute: 300, monthlyBudgetUsd: 1500 }\n", "")
    commit(repo, "no more anthropic")
    code, out, err = run(run_diff_command, str(repo), "HEAD~1", "HEAD", "json")
    assert code == 0, err
    report = json.loads(out)
    [refused] = report["refused"]
    assert refused["stack"] == "rag-assistant.prod" and refused["type"] == SECRET
    assert "refuses to delete a protected resource" in refused["reason"]
    assert "pulumi state unprotect" in refused["reason"]
    dangerous = {(d["stack"], d["type"]) for d in report["dangerous"]}
    assert ("rag-assistant.dev", SECRET) in dangerous and ("rag-assistant.prod", SECRET) in dangerous
