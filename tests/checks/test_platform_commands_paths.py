"""The commands that work on a platform (`preflight`, `bootstrap`, `policy-pack config`) given
one file instead of the bundles directory: the platform's file checks the platform with all of
its projects, a project's file says which file to name, and several platforms say which to
choose, each without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlrig import examples
from mlrig.cli import cli


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    examples.copy_to(tmp_path / "bundles")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `mlrig preflight` hands the checks (they need AWS; these tests are about the paths)."""
    seen: dict[str, Any] = {}

    def fake(platform, projects, environment, session):
        seen.update(platform=platform.name, projects=sorted(p.name for p in projects), environment=environment)
        return []

    monkeypatch.setattr("mlrig.checks.preflight.preflight", fake)
    return seen


@pytest.mark.parametrize("path", ["bundles/platform.yaml", "bundles", None], ids=["its file", "directory", "default"])
def test_preflight_of_a_platform_counts_every_project_of_it_whichever_path_names_it(
    repository: Path, checked: dict[str, Any], path: str | None
) -> None:
    """Given the platform's file alone, preflight summed no project's pools into the quotas it
    checks and said "ready for a first apply" for an account whose GPU quota was too low."""
    result = CliRunner().invoke(cli, ["preflight", "--env", "prod", *([path] if path else [])])
    assert result.exit_code == 0, result.output
    assert checked == {"platform": "acme-ml", "projects": ["fraud-detection", "rag-assistant"], "environment": "prod"}


@pytest.mark.parametrize("command", [["preflight", "--env", "dev"], ["bootstrap", "--dry-run"]])
def test_a_platform_command_given_a_project_file_names_the_platform_file_to_give_instead(
    repository: Path, checked: dict[str, Any], command: list[str]
) -> None:
    """It said "platform 'acme-ml' is not defined by any bundle (no Platform bundle was found in
    its bundles directory)", beside that very Platform bundle."""
    result = CliRunner().invoke(cli, [*command, "bundles/fraud-detection.yaml"])
    assert result.exit_code == 2, result.output
    assert "bundles/fraud-detection.yaml is the Project bundle fraud-detection" in result.output
    assert f"name its platform's bundle instead (mlrig {command[0]} bundles/platform.yaml)" in result.output
    assert "not defined by any bundle" not in result.output and "Traceback" not in result.output
    assert checked == {}


def test_a_platform_command_in_a_directory_of_two_platforms_says_to_name_one(
    repository: Path, checked: dict[str, Any]
) -> None:
    platform = (repository / "bundles/platform.yaml").read_text()
    (repository / "bundles/other-ml.yaml").write_text(platform.replace("name: acme-ml", "name: other-ml"))
    result = CliRunner().invoke(cli, ["preflight", "--env", "dev"])
    assert result.exit_code == 2, result.output
    assert "bundles holds 2 Platform bundles (bundles/other-ml.yaml (other-ml), bundles/platform.yaml (acme-ml))" in (
        result.output
    )
    assert "name the one: mlrig preflight bundles/other-ml.yaml" in result.output
    named = CliRunner().invoke(cli, ["preflight", "--env", "dev", "bundles/platform.yaml"])
    assert named.exit_code == 0, named.output
    assert checked["platform"] == "acme-ml" and checked["projects"] == ["fraud-detection", "rag-assistant"]


def test_the_policy_pack_config_of_the_platform_file_knows_its_projects_roles(repository: Path) -> None:
    """MLRIG-DEP-005 reads which stack owns which role from this config: from the platform's file
    alone it knew no project's roles."""
    result = CliRunner().invoke(cli, ["policy-pack", "config", "bundles/platform.yaml"])
    assert result.exit_code == 0, result.output
    assert '"fraud-detection--prod--": "fraud-detection.prod"' in result.output
    assert '"acme-ml-prod-": "acme-ml.prod"' in result.output
