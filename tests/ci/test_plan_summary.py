"""The offline-plan section of the pull-request report: per affected stack, its resources counted by
component and by type, plus the deleted bundles; planned by the real program, summarised readably."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrig.ci.plan_summary import by_component, main, summarise
from mlrig.plan.engine import StackPlan

AFFECTED = {
    "stacks": ["acme-ml.prod", "fraud-detection.prod"],
    "include": [
        {
            "stack": "acme-ml.prod",
            "bundle": "bundles/platform.yaml",
            "environment": "prod",
            "tier": "prod",
            "kind": "Platform",
        },
        {
            "stack": "fraud-detection.prod",
            "bundle": "bundles/fraud-detection.yaml",
            "environment": "prod",
            "tier": "prod",
            "kind": "Project",
        },
    ],
    "deleted": [{"bundle": "bundles/old.yaml", "stacks": ["old.dev", "old.prod"]}],
}


def contract(plan: StackPlan, env: str) -> dict:
    return {"bundle": {}, "environments": {env: plan.as_dict()}}


@pytest.fixture(scope="module")
def plans(platform_plan, project_plan) -> dict[str, dict]:
    return {
        "acme-ml.prod": contract(platform_plan("prod"), "prod"),
        "fraud-detection.prod": contract(project_plan("fraud-detection", "prod"), "prod"),
    }


@pytest.mark.slow
def test_each_affected_stack_is_summarised_by_component_and_type(plans, platform_plan) -> None:
    text = summarise(AFFECTED, plans)
    assert text.startswith("## mlrig: offline plan of the affected stacks\n")
    custom = [r for r in platform_plan("prod").resources if r["custom"]]
    protected = sum(1 for r in custom if r["options"]["protect"])
    assert f"| `acme-ml.prod` | Platform | prod | {len(custom)} | {protected} |" in text
    assert "### `fraud-detection.prod` · Project · environment `prod`" in text
    assert "| Storage `" in text and "| Network `" in text, "components, not the project's wrapper"
    assert "| `aws:s3/bucket:Bucket` |" in text
    assert "**Deleted:** `bundles/old.yaml`. Its stacks (`old.dev`, `old.prod`)" in text


@pytest.mark.slow
def test_component_counts_add_up_to_the_stacks_resources(platform_plan) -> None:
    resources = platform_plan("prod").as_dict()["resources"]
    assert sum(by_component(resources).values()) == sum(1 for r in resources if r["custom"])


def test_nothing_affected_says_so() -> None:
    assert "No stack is affected by this change." in summarise({"include": [], "deleted": []}, {})


def test_a_stack_without_a_plan_is_named_not_hidden() -> None:
    text = summarise({"include": AFFECTED["include"][:1], "deleted": []}, {})
    assert "| `acme-ml.prod` | Platform | prod | not planned | 0 |" in text
    assert "No plan was produced for this stack" in text


def test_the_module_reads_affected_json_and_a_plans_directory(tmp_path: Path, capsys) -> None:
    (tmp_path / "affected.json").write_text(json.dumps({"include": [], "deleted": []}))
    assert main([str(tmp_path / "affected.json"), str(tmp_path / "plans")]) == 0
    assert "No stack is affected" in capsys.readouterr().out
    assert main([]) == 2


def test_a_plan_file_of_several_environments_or_bundles_serves_each_of_its_stacks(tmp_path: Path) -> None:
    """The PR job plans each affected bundle once, for all its affected environments."""
    from mlrig.ci.plan_summary import load_plans

    def bundle(name: str, *envs: str) -> dict:
        return {"bundle": {"name": name}, "environments": {e: {"stack": f"{name}.{e}", "resources": []} for e in envs}}

    (tmp_path / "1.json").write_text(json.dumps(bundle("fraud", "dev", "prod")))
    (tmp_path / "2.json").write_text(json.dumps([bundle("acme", "dev"), bundle("rag", "staging")]))
    plans = load_plans(tmp_path)
    assert sorted(plans) == ["acme.dev", "fraud.dev", "fraud.prod", "rag.staging"]
    assert plans["fraud.prod"]["bundle"]["name"] == "fraud" and plans["rag.staging"]["bundle"]["name"] == "rag"
