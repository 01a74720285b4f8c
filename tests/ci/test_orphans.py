"""Stacks left without a bundle (a deleted environment, a renamed project, a deleted bundle)
keep their resources: `mlrig affected` and `mlrig generate` say so, name the stacks, and print
how to destroy them; `generate --check --diff` shows what is stale."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from mlrig.ci.affected import affected_stacks, run_affected_command
from mlrig.generate import run_generate_command

from .conftest import commit


def remove_environment(platform: Path, name: str) -> None:
    lines = platform.read_text().splitlines(keepends=True)
    start = lines.index(f"    {name}:\n")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("      "))
    platform.write_text("".join(lines[:start] + lines[end:]))


def rename(bundle: Path, old: str, new: str) -> None:
    """Rename a project as its team and the platform team would: the bundle moves to
    `<new>.yaml` (a file is named after its bundle) and the platform's admission follows."""
    (bundle.parent / f"{new}.yaml").write_text(bundle.read_text().replace(f"name: {old}", f"name: {new}", 1))
    bundle.unlink()
    platform = bundle.parent / "platform.yaml"
    platform.write_text(platform.read_text().replace(f"\n      {old}:\n", f"\n      {new}:\n", 1))


def affected(repo: Path, base: str = "HEAD") -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_affected_command(
        str(repo), base, None, "json", stdout=Console(file=out, width=300), stderr=Console(file=err, width=300)
    )
    return code, json.loads(out.getvalue()) if code == 0 else {}, err.getvalue()


def generate(repo: Path, *, check: bool = False, diff: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_generate_command(
        str(repo),
        check=check,
        diff=diff,
        stdout=Console(file=out, width=300, soft_wrap=True),
        stderr=Console(file=err, width=300, soft_wrap=True),
    )
    return code, out.getvalue(), err.getvalue()


def test_removing_an_environment_reports_its_stacks_as_deleted_with_how_to_destroy_them(
    bundle_repo: Callable[[], Path],
) -> None:
    repo = bundle_repo()
    remove_environment(repo / "bundles/platform.yaml", "staging")
    code, payload, err = affected(repo)
    assert code == 0
    deleted = {tuple(d["stacks"]): d.get("reason") for d in payload["deleted"]}
    assert deleted == {
        ("acme-ml.staging",): "environment",
        ("fraud-detection.staging",): "environment",
        ("rag-assistant.staging",): "environment",
    }
    assert "environment staging was removed" in err
    assert "pulumi destroy -s acme-ml.staging && pulumi stack rm acme-ml.staging" in err


def test_a_renamed_project_is_reported_as_a_rename_not_just_new_stacks(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    rename(repo / "bundles/rag-assistant.yaml", "rag-assistant", "rag-helper")
    code, payload, err = affected(repo)
    assert code == 0
    assert set(payload["stacks"]) == {"rag-helper.dev", "rag-helper.staging", "rag-helper.prod"}
    assert payload["deleted"] == [
        {
            "bundle": "bundles/rag-assistant.yaml",
            "stacks": ["rag-assistant.dev", "rag-assistant.staging", "rag-assistant.prod"],
            "reason": "renamed",
            "renamedTo": "rag-helper",
        }
    ]
    assert "rag-assistant was renamed to rag-helper" in err and "pulumi stack rm rag-assistant.prod" in err


def test_a_project_moved_to_a_new_file_under_a_new_name_for_the_same_repository_is_a_rename(
    bundle_repo: Callable[[], Path],
) -> None:
    repo = bundle_repo()
    rename(repo / "bundles/rag-assistant.yaml", "rag-assistant", "helper")
    commit(repo, "rename the assistant")
    [gone] = affected_stacks(repo, "HEAD~1", "HEAD").deleted
    assert (gone.reason, gone.name, gone.renamed_to) == ("renamed", "rag-assistant", "helper")


def test_a_bundle_moved_into_a_sub_folder_orphans_nothing(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    (repo / "bundles/teams").mkdir()
    (repo / "bundles/rag-assistant.yaml").rename(repo / "bundles/teams/rag-assistant.yaml")
    assert affected(repo)[1]["deleted"] == []


def test_generate_deletes_the_stack_configs_of_a_removed_environment_and_says_how_to_destroy_them(
    bundle_repo: Callable[[], Path],
) -> None:
    repo = bundle_repo()
    assert generate(repo)[0] == 0
    remove_environment(repo / "bundles/platform.yaml", "staging")
    code, out, err = generate(repo)
    assert code == 0 and "deleted Pulumi.acme-ml.staging.yaml" in out
    assert "environment staging was removed from the platform" in err
    assert "pulumi destroy -s fraud-detection.staging && pulumi stack rm fraud-detection.staging" in err


def test_generate_recognises_a_renamed_project_from_its_old_stack_configs(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    assert generate(repo)[0] == 0
    rename(repo / "bundles/rag-assistant.yaml", "rag-assistant", "rag-helper")
    code, _, err = generate(repo)
    assert code == 0 and "rag-assistant was renamed to rag-helper (bundles/rag-assistant.yaml)" in err


def test_check_with_diff_prints_a_unified_diff_of_every_stale_file(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    assert generate(repo)[0] == 0
    owners = repo / "bundles/fraud-detection.yaml"
    owners.write_text(owners.read_text().replace('owners: ["@acme/risk-ml"]', 'owners: ["@acme/fraud-team"]'))
    code, out, err = generate(repo, check=True, diff=True)
    assert code == 1 and "stale: .github/CODEOWNERS" in err
    assert "--- a/.github/CODEOWNERS\n+++ b/.github/CODEOWNERS\n" in out
    assert (
        "\n-/bundles/fraud-detection.yaml @acme/risk-ml\n" in out
        and "\n+/bundles/fraud-detection.yaml @acme/fraud-team\n" in out
    )
    assert generate(repo, check=True)[1] == "", "without --diff, no diff"


def test_generate_warns_when_the_lock_pins_another_mlrig(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    (repo / "requirements.lock").write_text("mlrig==99.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    code, _, err = generate(repo)
    assert code == 0 and "requirements.lock pins mlrig 99.0.0 but this is mlrig" in err
