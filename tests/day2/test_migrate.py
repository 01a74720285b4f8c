"""`mlrig migrate`: bundles written for mlrig 0.1.0 become valid 0.2.0 bundles, comments kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrig import examples
from mlrig.bundle.validate import validate_paths
from mlrig.migrate import command as migrate_command
from mlrig.migrate import m0004_gateway_caps as gateway_caps
from mlrig.migrate.command import run_migrate_command
from mlrig.migrate.document import load_documents
from mlrig.migrate.registry import applicable, by_version, migrations
from mlrig.migrate.versions import CURRENT, version_hint
from mlrig.plan.runner import Planner

FIXTURE = Path(__file__).parent / "fixtures" / "v0.1.0" / "bundles"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def old_bundles(tmp_path: Path) -> Path:
    target = tmp_path / "bundles"
    shutil.copytree(FIXTURE, target)
    return target


def migrate(run: Run, *paths: Path, check: bool = False, diff: bool = False) -> tuple[int, str, str]:
    return run(run_migrate_command, [str(p) for p in paths], check=check, diff=diff)


def test_bundles_written_for_0_1_0_do_not_validate_and_the_error_says_how_to_migrate(old_bundles: Path) -> None:
    platform = old_bundles / "platform.yaml"
    platform.write_text(platform.read_text().replace("    secretsProvider:", "    # secretsProvider:"))
    result = validate_paths([old_bundles])
    assert not result.valid
    admitted = [d for d in result.diagnostics if "is not admitted" in d.message]
    assert admitted and all("`mlrig migrate` admits every existing project" in d.message for d in admitted)


def test_check_exits_1_while_a_migration_is_pending_and_writes_nothing(old_bundles: Path, run: Run) -> None:
    before = {p.name: p.read_text() for p in old_bundles.iterdir()}
    code, out, _ = migrate(run, old_bundles, check=True)
    assert code == 1
    assert "pending 0001-tenancy" in out and "pending 0002-secrets-provider" in out and "pending 0003-file-names" in out
    code, out, _ = migrate(run, old_bundles, diff=True)
    assert code == 0 and "+  tenancy:" in out  # the platform's diff
    assert "fraud.yaml → " in out and out.count("rename ") == 1  # and fraud.yaml's move
    assert {p.name: p.read_text() for p in old_bundles.iterdir()} == before


def test_migrated_0_1_0_bundles_validate_and_plan(old_bundles: Path, run: Run) -> None:
    code, _, err = migrate(run, old_bundles)
    assert code == 0, err
    assert sorted(p.name for p in old_bundles.iterdir()) == [
        "fraud-detection.yaml",
        "platform.yaml",
        "rag-assistant.yaml",
    ]
    result = validate_paths([old_bundles])
    assert result.valid, "\n".join(d.text() for d in result.diagnostics)
    fraud = next(p for p in result.projects.values() if p.name == "fraud-detection")
    plan = Planner().plan(fraud, "prod")
    assert plan.of_type("aws:iam/role:Role")
    assert migrate(run, old_bundles, check=True)[0] == 0  # nothing pending any more


def test_the_tenancy_admits_exactly_what_each_project_uses_today(old_bundles: Path, run: Run) -> None:
    migrate(run, old_bundles)
    result = validate_paths([old_bundles])
    platform = next(iter(result.platforms.values())).bundle.spec.tenancy
    fraud = platform.projects["fraud-detection"]
    assert fraud.repository == "acme/fraud-detection"
    assert "arn:aws:iam::111111111111:role/fraud-oncall" in fraud.principals  # a prod-only override
    assert fraud.prod_approvers == ["@acme/ml-leads"]
    assert platform.prod_read_access_from_dev is True  # 0.1.0's default, which both projects relied on
    assert set(platform.principal_accounts or []) == {"111111111111", "222222222222", "333333333333"}
    text = (old_bundles / "platform.yaml").read_text()
    assert "prodReadAccessFromDev: true # review:" in text
    assert "awskms://alias/acme-pulumi-secrets-{environment}?region=us-east-1" in text


def test_every_comment_and_untouched_line_survives(old_bundles: Path, run: Run) -> None:
    originals = {p.name: p.read_text().splitlines() for p in old_bundles.iterdir()}
    migrate(run, old_bundles)
    # rag-assistant's gateway-wide budget is commented out under a review line, nothing else moves.
    rag = (old_bundles / "rag-assistant.yaml").read_text().splitlines()
    cap = "      monthlyBudgetUsd: 4000"
    at = originals["rag-assistant.yaml"].index(cap)
    assert rag[at : at + 2] == [f"      # {gateway_caps.REVIEW}", "      # monthlyBudgetUsd: 4000"]
    assert rag[:at] + rag[at + 2 :] == originals["rag-assistant.yaml"][:at] + originals["rag-assistant.yaml"][at + 1 :]
    assert (old_bundles / "fraud-detection.yaml").read_text().splitlines() == originals["fraud.yaml"]
    platform = (old_bundles / "platform.yaml").read_text().splitlines()
    changed = {line for line in originals["platform.yaml"] if "secretsProvider" in line}
    for line in originals["platform.yaml"]:
        if line not in changed:
            assert line in platform, line  # flow maps, quoting, comments: byte for byte
    remaining = iter(platform)  # in their order: the original lines are a subsequence of the new file
    assert all(any(line == new for new in remaining) for line in originals["platform.yaml"] if line not in changed)


def test_current_bundles_have_nothing_to_migrate(tmp_path: Path, run: Run) -> None:
    examples.copy_to(tmp_path / "bundles")
    before = {p.name: p.read_text() for p in (tmp_path / "bundles").iterdir()}
    code, out, _ = migrate(run, tmp_path / "bundles", check=True)
    assert code == 0 and "up to date" in out
    assert {p.name: p.read_text() for p in (tmp_path / "bundles").iterdir()} == before


def test_a_failure_while_writing_leaves_every_file_as_it_was(
    old_bundles: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name: p.read_text() for p in old_bundles.iterdir()}
    real_replace = os.replace
    calls = {"n": 0}

    def failing_replace(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second file of the migration
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(migrate_command.os, "replace", failing_replace)
    code, _, err = migrate(run, old_bundles)
    assert code == 2 and "no file was changed" in err
    monkeypatch.setattr(migrate_command.os, "replace", real_replace)
    assert {p.name: p.read_text() for p in old_bundles.iterdir()} == before


def test_bad_yaml_gets_validates_diagnostics_and_a_missing_path_exits_2(old_bundles: Path, run: Run) -> None:
    (old_bundles / "broken.yaml").write_text("apiVersion: mlrig/v1\nkind: [unclosed\n")
    code, _, err = migrate(run, old_bundles)
    assert code == 1 and "broken.yaml:2:7" in err and "this [ is not closed" in err
    assert migrate(run, old_bundles / "nowhere")[0] == 2


def test_the_registry_is_keyed_by_format_version_and_validate_names_the_way_forward() -> None:
    assert [m.id for m in migrations()] == [
        "0001-tenancy",
        "0002-secrets-provider",
        "0003-file-names",
        "0004-gateway-caps",
    ]
    assert set(by_version()) == {CURRENT}
    assert applicable(load_documents([examples.DIRECTORY])) == migrations()
    assert "upgrade mlrig" in version_hint("mlrig/v9")
    assert "no migration from mlrig/v0 is known" in version_hint("mlrig/v0")
    assert CURRENT == "mlrig/v1"  # fixed by contract


def test_validate_says_what_to_do_with_a_bundle_of_another_format_version(tmp_path: Path) -> None:
    examples.copy_to(tmp_path / "bundles")
    platform = tmp_path / "bundles/platform.yaml"
    platform.write_text(platform.read_text().replace("apiVersion: mlrig/v1", "apiVersion: mlrig/v3"))
    result = validate_paths([platform])
    [error] = [d for d in result.diagnostics if d.path == "apiVersion"]
    assert "unsupported apiVersion 'mlrig/v3'" in error.message and "upgrade mlrig" in error.message
    assert error.message.count("reads mlrig/v1") == 1, "the version this mlrig reads is said once"


def test_a_bundle_of_an_older_format_is_pointed_at_mlrig_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrig.migrate import versions

    monkeypatch.setattr(versions, "OLDER", ("mlrig/v0",))
    hint = versions.version_hint("mlrig/v0")
    assert "`mlrig migrate` rewrites it to mlrig/v1" in hint and "{" not in hint


GATEWAY_CAPS = """\
apiVersion: mlrig/v1
kind: Project
metadata: { name: chat }
spec:
  llm:
    gateway:
      providers: [openai]
      requestsPerMinute: 500   # team-wide
      monthlyBudgetUsd: 900
  environments:
    prod:
      llm:
        gateway: { providers: [openai], monthlyBudgetUsd: 2000 }
"""


def test_gateway_wide_caps_are_commented_out_for_review_or_left_to_the_team(tmp_path: Path) -> None:
    (tmp_path / "chat.yaml").write_text(GATEWAY_CAPS)
    [document] = load_documents([tmp_path])
    assert len(gateway_caps.pending([document])) == 3
    done = gateway_caps.apply([document])
    assert done == [
        f"{document.path}: spec.llm.gateway.requestsPerMinute commented out (never enforced; cap each provider instead)",
        f"{document.path}: spec.llm.gateway.monthlyBudgetUsd commented out (never enforced; cap each provider instead)",
        f"{document.path}: spec.environments.prod.llm.gateway.monthlyBudgetUsd: remove it by hand "
        "(never enforced; cap each provider instead)",
    ]
    lines = document.text.splitlines()
    assert lines[7:11] == [
        f"      # {gateway_caps.REVIEW}",
        "      # requestsPerMinute: 500   # team-wide",
        f"      # {gateway_caps.REVIEW}",
        "      # monthlyBudgetUsd: 900",
    ]
    assert "gateway: { providers: [openai], monthlyBudgetUsd: 2000 }" in document.text  # a flow map: by hand
    assert [p for p in gateway_caps.pending([document]) if "spec.llm" in p] == []
