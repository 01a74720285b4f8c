"""`mlrig diff --head-plans DIR`: the head's plans taken from `mlrig plan --out` files, never from
plans of another revision, and the same report as planning the head again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bundle.helpers import TINY_PLATFORM, TINY_PROJECT
from mlrig.bundle.validate import validate_paths
from mlrig.diff.command import run_diff_command
from mlrig.diff.planning import STACKS_PER_WORKER, worker_count
from mlrig.plan import parallel
from mlrig.plan.command import run_plan_command
from mlrig.plan.provenance import inputs_digest, provenance

from .conftest import commit, edit, run_git

Run = Callable[..., tuple[int, str, str]]

STACKS = ["scorer.dev", "scorer.live"]


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    """A platform repository of one small platform and one project, committed: the base."""
    repo = tmp_path / "repo"
    (repo / "bundles").mkdir(parents=True)
    (repo / "bundles/platform.yaml").write_text(TINY_PLATFORM)
    (repo / "bundles/scorer.yaml").write_text(TINY_PROJECT)
    run_git(repo, "init", "-q", "-b", "main")
    commit(repo, "base")
    return repo


def change_the_project(repo: Path) -> None:
    edit(repo / "bundles/scorer.yaml", "repository: tiny/scorer }", "repository: tiny/scorer, registries: [training] }")
    commit(repo, "a registry")


def plan_into(run: Run, repo: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlrig plan bundles/scorer.yaml --format json --out OUT`, as the pull-request job runs it."""
    out.parent.mkdir(exist_ok=True)
    monkeypatch.chdir(repo)
    code, _, err = run(run_plan_command, ["bundles/scorer.yaml"], [], "json", str(out), checks=False)
    assert code == 0, err


def diff(run: Run, repo: Path, fmt: str, **options: object) -> tuple[int, str, str]:
    return run(run_diff_command, str(repo), "HEAD~1", "HEAD", fmt, **options)


@pytest.mark.slow
def test_the_diff_from_the_head_plans_is_the_diff_that_plans_the_head_itself(
    tiny_repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_the_project(tiny_repo)
    plan_into(run, tiny_repo, tiny_repo / "plans/1.json", monkeypatch)
    for fmt in ("json", "markdown", "text"):
        planned = diff(run, tiny_repo, fmt)
        reused = diff(run, tiny_repo, fmt, head_plans=str(tiny_repo / "plans"))
        assert planned[0] == reused[0] == 0, reused[2]
        assert reused[1] == planned[1], f"--format {fmt}: the same report, byte for byte"
        assert "planned here" not in reused[2], "every head stack came from plans/"
    stacks = json.loads(reused_json := diff(run, tiny_repo, "json", head_plans=str(tiny_repo / "plans"))[1])["stacks"]
    assert [s["stack"] for s in stacks] == STACKS and reused_json
    assert all(s["counts"]["create"] >= 1 for s in stacks), "the new registry shows as added in each stack"


@pytest.mark.slow
def test_plans_of_the_base_revision_are_refused_not_diffed(
    tiny_repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_into(run, tiny_repo, tiny_repo / "plans/1.json", monkeypatch)  # before the change
    change_the_project(tiny_repo)
    code, out, err = diff(run, tiny_repo, "markdown", head_plans=str(tiny_repo / "plans"))
    assert code == 1 and out == ""
    assert "plans/1.json: the plan of scorer.dev cannot stand for the head" in err
    assert "other bundles than the head revision's" in err


@pytest.mark.slow
def test_a_stale_copy_beside_the_right_plan_is_refused_too(
    tiny_repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_into(run, tiny_repo, tiny_repo / "plans/0.json", monkeypatch)  # left over from the base
    change_the_project(tiny_repo)
    plan_into(run, tiny_repo, tiny_repo / "plans/1.json", monkeypatch)
    code, out, err = diff(run, tiny_repo, "json", head_plans=str(tiny_repo / "plans"))
    assert code == 1 and out == "" and "plans/0.json: the plan of scorer.dev cannot stand for the head" in err


@pytest.mark.slow
def test_plans_of_another_mlrig_or_without_provenance_are_refused(
    tiny_repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_the_project(tiny_repo)
    plan_file = tiny_repo / "plans/1.json"
    plan_into(run, tiny_repo, plan_file, monkeypatch)
    contract = json.loads(plan_file.read_text())
    contract["provenance"]["program"] = "mlrig 0.0.1"
    plan_file.write_text(json.dumps(contract))
    code, _, err = diff(run, tiny_repo, "json", head_plans=str(plan_file.parent))
    assert code == 1 and "it was made by mlrig 0.0.1" in err
    del contract["provenance"]
    plan_file.write_text(json.dumps(contract))
    code, _, err = diff(run, tiny_repo, "json", head_plans=str(plan_file.parent))
    assert code == 1 and "records no provenance" in err


@pytest.mark.slow
def test_a_head_stack_missing_from_the_plans_is_planned_and_said_so(
    tiny_repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_the_project(tiny_repo)
    out = tiny_repo / "plans/1.json"
    out.parent.mkdir()
    monkeypatch.chdir(tiny_repo)
    code, _, err = run(run_plan_command, ["bundles/scorer.yaml"], ["dev"], "json", str(out), checks=False)
    assert code == 0, err
    code, reused, err = diff(run, tiny_repo, "json", head_plans=str(out.parent))
    assert code == 0 and "1 head stack(s) had no plan" in err and "scorer.live" in err
    assert reused == diff(run, tiny_repo, "json")[1]


def test_unreadable_plan_files_and_a_missing_directory_are_clear_errors(tiny_repo: Path, run: Run) -> None:
    code, _, err = diff(run, tiny_repo, "json", head_plans=str(tiny_repo / "no-plans"))
    assert code == 2 and "--head-plans" in err and "no such directory" in err
    (tiny_repo / "plans").mkdir()
    (tiny_repo / "plans/1.json").write_text("{ not json")
    code, _, err = diff(run, tiny_repo, "json", head_plans=str(tiny_repo / "plans"))
    assert code == 1 and "plans/1.json: not a plan of `mlrig plan --format json`" in err
    (tiny_repo / "plans/1.json").write_text('{"environments": {"dev": {"stack": 3}}}')
    code, _, err = diff(run, tiny_repo, "json", head_plans=str(tiny_repo / "plans"))
    assert code == 1 and "not a plan" in err
    code, _, err = diff(run, tiny_repo, "json", jobs=0)
    assert code == 2 and "--jobs must be at least 1" in err


@pytest.mark.slow
def test_planning_in_workers_gives_the_serial_report(tiny_repo: Path, run: Run) -> None:
    edit(
        tiny_repo / "bundles/platform.yaml",
        "live: { tier: prod, region: eu-west-1",
        "live: { tier: prod, region: eu-west-2",
    )
    change_the_project(tiny_repo)  # both bundles in one commit: four stacks, two of each side per worker
    serial = diff(run, tiny_repo, "json", jobs=1)
    parallel = diff(run, tiny_repo, "json", jobs=2)
    assert serial[0] == parallel[0] == 0, parallel[2]
    assert parallel[1] == serial[1]
    assert [s["stack"] for s in json.loads(parallel[1])["stacks"]] == ["scorer.dev", "tiny.live", "scorer.live"]


# --- provenance ----------------------------------------------------------------------------------


def targets(directory: Path):  # -> (platform, project)
    result = validate_paths([directory])
    assert result.valid, [d.text() for d in result.diagnostics]
    return result.platforms["tiny"], result.projects["scorer"]


def test_a_plans_provenance_follows_the_bundle_its_platform_and_the_program_not_the_formatting(
    tmp_path: Path,
) -> None:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "bundles/platform.yaml").write_text(TINY_PLATFORM)
    (tmp_path / "bundles/scorer.yaml").write_text(TINY_PROJECT)
    platform, project = targets(tmp_path / "bundles")
    assert provenance(project)["inputs"] == inputs_digest(project, provenance(project)["program"])
    assert inputs_digest(project, "mlrig 1") != inputs_digest(project, "mlrig 2"), "another program"

    (tmp_path / "bundles/scorer.yaml").write_text(
        "# a comment\n" + TINY_PROJECT.replace("{ name: scorer }", "{name: scorer}")
    )
    assert provenance(targets(tmp_path / "bundles")[1]) == provenance(project), "formatting and comments do not count"

    (tmp_path / "bundles/platform.yaml").write_text(
        TINY_PLATFORM.replace("region: eu-west-1 }", "region: eu-west-2 }", 1)
    )
    moved_platform, moved_project = targets(tmp_path / "bundles")
    assert provenance(moved_platform) != provenance(platform)
    assert provenance(moved_project) != provenance(project), "a project's plan reads its platform"

    (tmp_path / "bundles/scorer.yaml").write_text(
        TINY_PROJECT.replace("tiny/scorer }", "tiny/scorer, registries: [training] }")
    )
    assert provenance(targets(tmp_path / "bundles")[1]) != provenance(moved_project)


@pytest.mark.slow
def test_a_json_plan_records_its_provenance(tiny_repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    plan_into(run, tiny_repo, tiny_repo / "plans/1.json", monkeypatch)
    contract = json.loads((tiny_repo / "plans/1.json").read_text())
    assert contract["provenance"] == provenance(targets(tiny_repo / "bundles")[1])


def test_by_default_workers_start_only_when_each_gets_enough_stacks_to_pay_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    assert worker_count(None, STACKS_PER_WORKER - 1) == 1, "a one-bundle change plans in the command's process"
    assert worker_count(None, 3) == 1
    assert worker_count(None, 2 * STACKS_PER_WORKER) == 2
    assert worker_count(None, 30) == 2, "never more than the cores"
    assert worker_count(4, 3) == 3 and worker_count(1, 30) == 1, "an explicit --jobs is taken as given"
