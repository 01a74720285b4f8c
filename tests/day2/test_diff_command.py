"""`mlrig diff` on throwaway git repositories of the example bundles: both revisions planned."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrig.diff import command as diff_command
from mlrig.diff.command import run_diff_command
from mlrig.plan.runner import Planner

from .conftest import commit, edit

Run = Callable[..., tuple[int, str, str]]


def diff(run: Run, repo: Path, base: str, head: str | None, fmt: str) -> tuple[int, str, str]:
    return run(run_diff_command, str(repo), base, head, fmt)


def test_a_prod_only_change_shows_its_property_changes_and_cost_delta(
    bundle_repo: Callable[[], Path], run: Run
) -> None:
    repo = bundle_repo()
    bundle = repo / "bundles/fraud-detection.yaml"
    edit(bundle, "max: 16, capacity: on-demand", "max: 24, capacity: on-demand")
    edit(bundle, "minReplicas: 3, maxReplicas: 30", "minReplicas: 4, maxReplicas: 30")
    commit(repo, "more prod capacity")
    code, out, err = diff(run, repo, "HEAD~1", "HEAD", "json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"base", "head", "program", "notes", "dangerous", "refused", "stacks"}
    [stack] = report["stacks"]
    assert stack["stack"] == "fraud-detection.prod" and stack["status"] == "changed"
    # the NodePool, the namespace quota and the project's Kueue ClusterQueue (sized from the pool),
    # and the two canary revisions of the endpoint
    assert stack["counts"] == {"create": 0, "update": 5, "replace": 0, "delete": 0}
    assert report["dangerous"] == []
    changes = {(r["name"], c["path"]): (c["before"], c["after"]) for r in stack["resources"] for c in r["changes"]}
    assert changes[("fraud-detection--prod-pools-gpu-train-nodepool", "spec.limits.nvidia.com/gpu")] == ("16", "24")
    assert changes[("fraud-detection--prod-serving-scorer-stable", "spec.predictor.minReplicas")] == (3, 4)
    queue = [path for name, path in changes if name.endswith("-queues-cluster-queue")]
    assert queue and all(path.startswith("spec.resourceGroups") for path in queue)
    cost = stack["cost"]
    assert cost["after"] > cost["before"] and cost["delta"] == pytest.approx(cost["after"] - cost["before"], abs=0.01)
    assert stack["summary"].startswith("0 to add, 5 to change, 0 to replace, 0 to delete; cost +$")


def test_deleting_a_protected_database_is_called_out_before_anything_else(
    bundle_repo: Callable[[], Path], run: Run
) -> None:
    repo = bundle_repo()
    edit(
        repo / "bundles/rag-assistant.yaml",
        "    prod:\n      serving:",
        "    prod:\n      llm:\n        vectorDatabase: { engine: opensearch }\n      serving:",
    )
    commit(repo, "prod vectors in OpenSearch")
    code, text, _ = diff(run, repo, "HEAD~1", "HEAD", "text")
    assert code == 0
    lines = text.splitlines()
    first_stack = next(i for i, line in enumerate(lines) if line.startswith("rag-assistant.prod"))
    danger = [i for i, line in enumerate(lines) if line.startswith("!!")]
    assert danger and max(danger) < first_stack, "the callout comes before the stacks"
    assert any(
        "DELETE aws:rds/instance:Instance rag-assistant-prod-vectors" in lines[i] and "protected" in lines[i]
        for i in danger
    )
    code, markdown, _ = diff(run, repo, "HEAD~1", "HEAD", "markdown")
    assert markdown.index("[!CAUTION]") < markdown.index("| stack | summary |")
    assert "rag-assistant-prod-vectors" in markdown.split("| stack |")[0]


def test_a_cluster_upgrade_of_two_minor_versions_is_called_out_as_refused(
    bundle_repo: Callable[[], Path], run: Run
) -> None:
    """EKS upgrades one minor version per update: a pull request jumping two would fail its apply."""
    repo = bundle_repo()
    platform = repo / "bundles/platform.yaml"
    edit(platform, 'version: "1.34"', 'version: "1.32"')
    commit(repo, "clusters at 1.32")
    edit(platform, 'version: "1.32"', 'version: "1.34"')
    commit(repo, "clusters straight to 1.34")
    code, out, err = diff(run, repo, "HEAD~1", "HEAD", "json")
    assert code == 0, err
    report = json.loads(out)
    refused = {item["stack"]: item for item in report["refused"]}
    assert set(refused) == {"acme-ml.dev", "acme-ml.staging", "acme-ml.prod"}
    assert all(item["type"] == "aws:eks/cluster:Cluster" for item in refused.values())
    assert (
        "one minor version at a time (version 1.32 → 1.34): merge and apply 1.33, then 1.34"
        in (refused["acme-ml.prod"]["reason"])
    )
    code, text, _ = diff(run, repo, "HEAD~1", "HEAD", "text")
    first_stack = text.index("\nacme-ml.")
    assert text.index("!! 3 change(s) pulumi up will refuse") < first_stack
    code, markdown, _ = diff(run, repo, "HEAD~1", "HEAD", "markdown")
    assert markdown.index("will refuse") < markdown.index("| stack | summary |")


def test_a_deleted_project_shows_its_stacks_wholly_deleted_with_the_destroy_commands(
    bundle_repo: Callable[[], Path], run: Run
) -> None:
    repo = bundle_repo()
    (repo / "bundles/fraud-detection.yaml").unlink()
    commit(repo, "fraud-detection retired")
    code, out, _ = diff(run, repo, "HEAD~1", "HEAD", "json")
    assert code == 0
    stacks = {s["stack"]: s for s in json.loads(out)["stacks"]}
    assert set(stacks) == {"fraud-detection.dev", "fraud-detection.staging", "fraud-detection.prod"}
    prod = stacks["fraud-detection.prod"]
    assert prod["status"] == "deleted" and prod["summary"].startswith("whole stack deleted")
    assert {r["action"] for r in prod["resources"]} == {"delete"}
    assert any("pulumi destroy -s fraud-detection.prod" in note for note in prod["notes"])
    assert prod["cost"]["after"] is None and prod["cost"]["delta"] < 0


def test_a_change_to_mlrigs_own_program_is_noted_not_diffed(
    bundle_repo: Callable[[], Path], run: Run, monkeypatch: pytest.MonkeyPatch, example_planner: Planner
) -> None:
    repo = bundle_repo()
    (repo / "infra/program.py").write_text("# the program, changed\n")
    commit(repo, "program change")
    # Same bundles on both sides: the session's plans of the examples answer both planners.
    monkeypatch.setattr(diff_command, "Planner", lambda: example_planner)
    code, out, _ = diff(run, repo, "HEAD~1", "HEAD", "json")
    assert code == 0
    report = json.loads(out)
    assert len(report["stacks"]) == 9 and {s["status"] for s in report["stacks"]} == {"unchanged"}
    assert any("installed mlrig" in n and "not diffed" in n for n in report["notes"])


def test_bad_input_gets_validates_diagnostics_and_usage_errors_exit_2(
    bundle_repo: Callable[[], Path], run: Run
) -> None:
    repo = bundle_repo()
    code, _, err = diff(run, repo, "no-such-ref", None, "text")
    assert code == 2 and "unknown git ref 'no-such-ref'" in err
    edit(repo / "bundles/fraud-detection.yaml", "capacity: spot\n        max: 8", "capacity: spotty\n        max: 8")
    code, _, err = diff(run, repo, "HEAD", None, "text")
    assert code == 1
    assert "bundles/fraud-detection.yaml:" in err and "spec.compute.pools[0].capacity" in err
    code, _, err = run(run_diff_command, str(repo.parent), "HEAD", None, "text")
    assert code == 2 and "not in a git repository" in err
