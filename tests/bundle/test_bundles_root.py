"""A bundle is always checked with every bundle of its bundles root (the nearest directory named
`bundles`, or holding the Platform bundle): whichever file is named, from whichever sub-folder,
by `validate`, the pre-commit hook, `plan` or the program `pulumi up` runs."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from mlrig import examples
from mlrig.bundle.root import bundles_root, repository_root
from mlrig.bundle.validate import validate_paths
from mlrig.plan.command import run_plan_command
from mlrig.program import ProgramError, load_target


@pytest.fixture
def teams(tmp_path: Path) -> Path:
    """bundles/platform.yaml and a team's bundle in bundles/teams/risk/."""
    bundles = tmp_path / "bundles"
    examples.copy_to(bundles)
    (bundles / "teams" / "risk").mkdir(parents=True)
    shutil.move(bundles / "fraud-detection.yaml", bundles / "teams" / "risk" / "fraud-detection.yaml")
    return bundles


def test_the_bundles_root_is_the_nearest_directory_named_bundles(teams: Path):
    assert bundles_root(teams / "teams" / "risk" / "fraud-detection.yaml") == teams.resolve()
    assert bundles_root(teams / "teams") == teams.resolve()


def test_without_a_bundles_directory_the_root_is_where_the_platform_bundle_is(tmp_path: Path):
    (tmp_path / "infra-config" / "ml").mkdir(parents=True)
    (tmp_path / "infra-config" / ".git").mkdir()  # a repository of bundles without a bundles/ directory
    shutil.copy(examples.path("platform.yaml"), tmp_path / "infra-config" / "platform.yaml")
    team = tmp_path / "infra-config" / "ml" / "fraud-detection.yaml"
    shutil.copy(examples.path("fraud-detection.yaml"), team)
    assert bundles_root(team) == (tmp_path / "infra-config").resolve()


def test_the_walk_stops_at_the_repository_root(tmp_path: Path):
    shutil.copy(examples.path("platform.yaml"), tmp_path / "platform.yaml")
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / ".git").mkdir()
    assert bundles_root(repo / "config" / "x.yaml") == (repo / "config").resolve()


def test_validating_one_file_in_a_sub_folder_finds_its_platform(teams: Path):
    result = validate_paths([teams / "teams" / "risk" / "fraud-detection.yaml"])
    assert result.valid and result.projects["fraud-detection"].platform.name == "acme-ml"


def test_the_program_pulumi_up_runs_finds_the_platform_of_a_bundle_in_a_sub_folder(teams: Path):
    target = load_target(teams / "teams" / "risk" / "fraud-detection.yaml")
    assert target.name == "fraud-detection" and target.platform.name == "acme-ml"  # type: ignore[union-attr]


def test_a_bundle_without_any_platform_is_a_clear_program_error(tmp_path: Path):
    shutil.copy(examples.path("fraud-detection.yaml"), tmp_path / "fraud-detection.yaml")
    with pytest.raises(ProgramError, match="no Platform bundle was found"):
        load_target(tmp_path / "fraud-detection.yaml")


def test_plan_of_a_bundle_in_a_sub_folder_gets_to_planning(teams: Path, monkeypatch):
    import mlrig.plan.command as command

    planned = []
    monkeypatch.setattr(command, "plan_all", lambda selection, stderr, planner: planned.extend(selection) or [])
    monkeypatch.setattr(command, "contract", lambda plans: {})
    err = io.StringIO()
    code = run_plan_command(
        [str(teams / "teams" / "risk" / "fraud-detection.yaml")],
        ["dev"],
        "json",
        None,
        stdout=Console(file=io.StringIO()),
        stderr=Console(file=err),
    )
    assert code == 0, err.getvalue()
    assert [(target.name, envs) for target, envs in planned] == [("fraud-detection", ["dev"])]


def test_a_name_taken_by_another_file_is_reported_on_the_file_being_validated(tmp_path: Path):
    """The pre-commit hook validates the changed file: the clash must show there (both files named)."""
    bundles = tmp_path / "bundles"
    examples.copy_to(bundles)
    text = examples.path("rag-assistant.yaml").read_text().replace("name: rag-assistant", "name: fraud-detection")
    (bundles / "ads-ranking.yaml").write_text(text)
    result = validate_paths([bundles / "ads-ranking.yaml"])
    [error] = [d for d in result.diagnostics if d.rule == "bundle_names_unique"]
    assert error.file == str(bundles / "ads-ranking.yaml") and error.path == "metadata.name"
    assert "fraud-detection.yaml" in error.message and not result.valid


def test_in_a_directory_a_name_clash_is_reported_on_the_later_file(tmp_path: Path):
    bundles = tmp_path / "bundles"
    examples.copy_to(bundles)
    text = examples.path("rag-assistant.yaml").read_text().replace("name: rag-assistant", "name: fraud-detection")
    (bundles / "zz-copy.yaml").write_text(text)
    [error] = [d for d in validate_paths([bundles]).diagnostics if d.rule == "bundle_names_unique"]
    assert error.file == str(bundles / "zz-copy.yaml") and "fraud-detection.yaml" in error.message


def test_the_pre_commit_hook_fails_on_the_file_with_the_clash(tmp_path: Path):
    bundles = tmp_path / "bundles"
    examples.copy_to(bundles)
    text = examples.path("rag-assistant.yaml").read_text().replace("name: rag-assistant", "name: fraud-detection")
    (bundles / "ads-ranking.yaml").write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "mlrig", "validate", "bundles/ads-ranking.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "bundles/ads-ranking.yaml:" in done.stdout, done.stdout + done.stderr


def test_the_repository_root_is_found_from_a_sub_directory(tmp_path: Path):
    examples.copy_to(tmp_path / "bundles")
    (tmp_path / "Pulumi.yaml").write_text("name: mlrig\n")
    assert repository_root(tmp_path / "bundles") == tmp_path.resolve()
    assert repository_root(tmp_path.parent) is None or repository_root(tmp_path.parent) != tmp_path.resolve()


def test_outside_a_repository_an_ancestors_platform_bundle_is_not_adopted(tmp_path: Path):
    """A Platform bundle lying in a parent directory (a scratch or home directory) is someone
    else's: the walk must not take that directory, and everything below it, for the bundle set."""
    shutil.copy(examples.path("platform.yaml"), tmp_path / "platform.yaml")
    project_dir = tmp_path / "work" / "team"
    project_dir.mkdir(parents=True)
    shutil.copy(examples.path("fraud-detection.yaml"), project_dir / "fraud-detection.yaml")
    assert bundles_root(project_dir / "fraud-detection.yaml") == project_dir.resolve()
    (tmp_path / ".git").mkdir()  # inside a repository the platform bundle above is the set's
    assert bundles_root(project_dir / "fraud-detection.yaml") == tmp_path.resolve()


def test_validating_many_files_of_one_directory_looks_for_its_bundles_root_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Each look lists the directory and sniffs its files for a Platform bundle: once per file
    made validating a thousand files quadratic (most of its 14 s)."""
    from mlrig.bundle import validate as validate_module

    bundles = examples.copy_to(tmp_path / "bundles")
    looked: list[Path] = []

    def counting_root(path: str | Path) -> Path:
        looked.append(Path(path))
        return bundles_root(path)

    monkeypatch.setattr(validate_module, "bundles_root", counting_root)
    result = validate_paths([bundles / name for name in examples.FILES])
    assert result.valid and len(result.projects) == 2
    assert looked == [bundles.resolve()]
