"""`mlrig generate`: stack configs, workflows, CODEOWNERS and the schema, written from bundles/,
idempotent, and `--check` failing on a stale tree."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from mlrig import examples
from mlrig.ci.render import GENERATED_HEADER
from mlrig.generate import run_generate_command
from mlrig.init import policy

STACKS = [f"{b}.{e}" for b in ("acme-ml", "fraud-detection", "rag-assistant") for e in ("dev", "staging", "prod")]


def generate(root: Path, *, check: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_generate_command(
        str(root),
        check=check,
        stdout=Console(file=out, soft_wrap=True, width=200),
        stderr=Console(file=err, soft_wrap=True, width=200),
    )
    return code, out.getvalue(), err.getvalue()


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    examples.copy_to(root / "bundles")
    return root


def test_generate_writes_a_stack_config_for_every_bundle_and_environment(repo: Path) -> None:
    code, out, err = generate(repo)
    assert code == 0, err
    for stack in STACKS:
        text = (repo / f"Pulumi.{stack}.yaml").read_text()
        assert text.startswith(f"# {GENERATED_HEADER}\n")
        bundle, env = stack.split(".")
        document = yaml.safe_load(text)
        file = "platform.yaml" if bundle == "acme-ml" else f"{bundle}.yaml"
        assert document["config"] == {
            "aws:region": "us-east-1",
            "mlrig:bundle": f"bundles/{file}",
            "mlrig:environment": env,
        }
        account = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}[env]
        assert document["secretsprovider"] == (
            f"awskms:///arn:aws:kms:us-east-1:{account}:alias/acme-ml-{env}-pulumi-secrets?region=us-east-1"
        ), "each environment's stacks encrypt their secrets with that environment's own key, in its own account"
        assert f"created Pulumi.{stack}.yaml" in out
    for workflow in ("mlrig-pull-request", "mlrig-deploy", "mlrig-release", "mlrig-drift"):
        assert (repo / f".github/workflows/{workflow}.yml").read_text().startswith(f"# {GENERATED_HEADER}")
    assert (repo / ".github/CODEOWNERS").is_file()
    for project in ("fraud-detection", "rag-assistant"):
        for workflow in ("mlrig-pull-request", "mlrig-staging", "mlrig-release"):
            path = repo / f".github/projects/{project}/.github/workflows/{workflow}.yml"
            assert path.read_text().startswith(f"# {GENERATED_HEADER}"), "each team's CI is reviewable here"
    assert (repo / "schemas/bundle.schema.json").read_text().lstrip().startswith("{")


def test_generate_is_idempotent_and_check_passes_right_after(repo: Path) -> None:
    assert generate(repo)[0] == 0
    before = snapshot(repo)
    code, out, _ = generate(repo)
    assert code == 0 and out.startswith("0 file(s) changed")
    assert snapshot(repo) == before
    code, out, _ = generate(repo, check=True)
    assert (code, out.strip()) == (0, "generated files are up to date")


def test_check_fails_on_a_stale_tree_and_writes_nothing(repo: Path) -> None:
    assert generate(repo)[0] == 0
    platform = repo / "bundles/platform.yaml"
    platform.write_text(
        platform.read_text().replace(
            "region: us-east-1\n      network: { cidr: 10.30", "region: us-west-2\n      network: { cidr: 10.30"
        )
    )
    before = snapshot(repo)
    code, _, err = generate(repo, check=True)
    assert code == 1
    assert "stale: Pulumi.acme-ml.prod.yaml (+2 -2 lines)" in err, "region and the secrets key's region"
    assert "stale: Pulumi.fraud-detection.prod.yaml" in err
    assert "stale: Pulumi.acme-ml.dev.yaml" not in err
    assert "run `mlrig generate`" in err
    assert snapshot(repo) == before


def test_check_reports_missing_files(repo: Path) -> None:
    code, _, err = generate(repo, check=True)
    assert code == 1
    assert "missing: Pulumi.acme-ml.dev.yaml" in err and "missing: .github/CODEOWNERS" in err
    assert not (repo / "Pulumi.acme-ml.dev.yaml").exists()


def test_stack_configs_of_a_removed_bundle_are_deleted_and_hand_written_files_kept(repo: Path) -> None:
    assert generate(repo)[0] == 0
    (repo / "Pulumi.hand-made.yaml").write_text("config: {}\n")
    (repo / "bundles/rag-assistant.yaml").unlink()
    code, _, err = generate(repo, check=True)
    assert code == 1 and "extra: Pulumi.rag-assistant.dev.yaml (its bundle or environment no longer exists)" in err
    code, out, _ = generate(repo)
    assert code == 0 and "deleted Pulumi.rag-assistant.prod.yaml" in out
    assert not list(repo.glob("Pulumi.rag-assistant.*.yaml"))
    assert not list(repo.glob(".github/projects/rag-assistant/**/*.yml"))
    assert (repo / "Pulumi.hand-made.yaml").exists(), "only files carrying the generated header are mlrig's"
    assert "rag-assistant" not in (repo / ".github/CODEOWNERS").read_text()


def test_what_pulumi_and_ci_add_to_a_stack_config_survives_regeneration(repo: Path) -> None:
    assert generate(repo)[0] == 0
    config = repo / "Pulumi.fraud-detection.prod.yaml"
    data = yaml.safe_load(config.read_text())
    data["config"]["mlrig:imageTag"] = "3f2a9c1"
    data["config"]["mlrig:environment"] = "hand-edited"
    data["encryptedkey"] = "AQICAHh..."
    config.write_text(yaml.safe_dump(data))
    assert generate(repo)[0] == 0
    kept = yaml.safe_load(config.read_text())
    assert kept["config"]["mlrig:imageTag"] == "3f2a9c1"
    assert kept["config"]["mlrig:environment"] == "prod", "bundle-derived settings are not hand-edited"
    assert kept["encryptedkey"] == "AQICAHh..."
    assert generate(repo, check=True)[0] == 0


def test_invalid_bundles_generate_nothing(repo: Path) -> None:
    bundle = repo / "bundles/fraud-detection.yaml"
    bundle.write_text(bundle.read_text().replace("capacity: spot", "capacity: cheap", 1))
    code, out, err = generate(repo)
    assert code == 1 and out == ""
    assert "fraud-detection.yaml" in err and "nothing was generated" in err
    assert snapshot(repo).keys() == {
        "bundles/fraud-detection.yaml",
        "bundles/platform.yaml",
        "bundles/rag-assistant.yaml",
    }


def test_user_values_in_diagnostics_are_printed_verbatim(repo: Path) -> None:
    bundle = repo / "bundles/fraud-detection.yaml"
    bundle.write_text(bundle.read_text().replace("capacity: spot", 'capacity: "[/x]"', 1))
    code, _, err = generate(repo)
    assert code == 1
    assert "'[/x]' is not allowed" in err and "\\[" not in err


def test_a_root_without_bundles_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = generate(tmp_path)
    assert code == 2 and "no bundles directory" in err
    code, _, err = generate(tmp_path / "missing")
    assert code == 2 and "not a directory" in err


def test_the_secrets_provider_of_a_stack_config_is_mlrigs_and_the_encrypted_key_pulumis(repo: Path) -> None:
    assert generate(repo)[0] == 0
    config = repo / "Pulumi.acme-ml.dev.yaml"
    data = yaml.safe_load(config.read_text())
    data["secretsprovider"] = "awskms://alias/acme-ml-prod-pulumi-secrets?region=us-east-1"  # prod's key in dev
    data["encryptedkey"] = "AQICAHh..."
    config.write_text(yaml.safe_dump(data))
    code, _, err = generate(repo, check=True)
    assert code == 1 and "stale: Pulumi.acme-ml.dev.yaml" in err
    assert generate(repo)[0] == 0
    kept = yaml.safe_load(config.read_text())
    assert kept["secretsprovider"] == (
        "awskms:///arn:aws:kms:us-east-1:111111111111:alias/acme-ml-dev-pulumi-secrets?region=us-east-1"
    )
    assert kept["encryptedkey"] == "AQICAHh..."


# --- never outside the root (F12) --------------------------------------------------------------------


@pytest.mark.parametrize("linked", [".github/projects", ".github", "schemas", ".github/workflows"])
def test_generate_never_writes_or_deletes_through_a_committed_directory_symlink(
    repo: Path, tmp_path: Path, linked: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.yml"
    victim.write_text(f"# {GENERATED_HEADER}\nkeep: me\n")
    link = repo / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    for check in (False, True):
        code, out, err = generate(repo, check=check)
        assert code == 1, (out, err)
        assert f"error: {linked}" in err and "is a symbolic link" in err and "Traceback" not in err
        assert "nothing was generated" in err
    assert sorted(p.name for p in outside.iterdir()) == ["victim.yml"], "nothing written outside the root"
    assert victim.read_text().endswith("keep: me\n"), "nothing deleted outside the root"
    assert not list(repo.glob("Pulumi.*.yaml")), "nothing written inside either: all or nothing"


def test_generate_never_writes_through_a_symlinked_file(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("secret: 1\n")
    (repo / "Pulumi.acme-ml.dev.yaml").symlink_to(outside)
    code, _, err = generate(repo)
    assert code == 1 and "Pulumi.acme-ml.dev.yaml is a symbolic link" in err
    assert outside.read_text() == "secret: 1\n"


def test_a_bundle_file_name_that_would_inject_codeowners_rules_is_reported_not_written(repo: Path) -> None:
    """F3 end to end: whatever validation allows, generate writes no CODEOWNERS line from it."""
    (repo / "bundles/fraud-detection.yaml").rename(repo / "bundles/a @attacker b.yaml")
    code, out, err = generate(repo)
    assert code == 1, (out, err)
    # Rejected by generate's renderer (or, once validation checks bundle file names, by validation).
    assert "a @attacker b.yaml" in err and "Traceback" not in err
    assert not (repo / ".github/CODEOWNERS").exists()


def test_without_a_github_organisation_generate_removes_the_workflows_that_assume_roles(repo: Path) -> None:
    """Newcomer W7: those workflows assumed roles the program never creates."""
    assert generate(repo)[0] == 0
    platform = repo / "bundles/platform.yaml"
    text = platform.read_text()
    platform.write_text(
        text.replace("  github:\n    organization: acme\n    repository: acme/ml-platform\n", "  github:\n")
    )
    code, out, err = generate(repo)
    assert code == 0, err
    assert sorted(p.name for p in (repo / ".github/workflows").iterdir()) == ["mlrig-pull-request.yml"]
    for removed in ("mlrig-deploy.yml", "mlrig-release.yml", "mlrig-drift.yml"):
        assert f"deleted .github/workflows/{removed}" in out
    assert not list((repo / ".github/projects").rglob("*.yml")), "no project role can be assumed either"


# --- the deployer role's documents (aws/) ---------------------------------------------------------

ACCOUNTS = ("111111111111", "222222222222", "333333333333")


def trust(repo: Path, account: str) -> dict:
    return json.loads((repo / f"aws/mlrig-deployer-trust-{account}.json").read_text())


def test_generate_writes_the_deployer_permissions_and_one_trust_policy_per_account(repo: Path) -> None:
    code, out, err = generate(repo)
    assert code == 0, err
    assert sorted(p.name for p in (repo / "aws").iterdir()) == [
        "mlrig-deployer-policy.json",
        *(f"mlrig-deployer-trust-{account}.json" for account in ACCOUNTS),
    ]
    permissions = json.loads((repo / "aws/mlrig-deployer-policy.json").read_text())
    assert permissions == policy.permissions_policy()
    for account in ACCOUNTS:
        principals = [s["Principal"]["AWS"] for s in trust(repo, account)["Statement"]]
        assert principals == [f"arn:aws:iam::{account}:root", "arn:aws:iam::444444444444:root"], (
            "its own account and the state account, whose operators bootstrap and first apply"
        )
        assert f"created aws/mlrig-deployer-trust-{account}.json" in out


def test_a_platform_change_makes_the_trust_documents_stale_and_generate_rewrites_them(repo: Path) -> None:
    assert generate(repo)[0] == 0
    platform = repo / "bundles/platform.yaml"
    text = platform.read_text()
    assert 'account: "444444444444"' in text and 'account: "333333333333"' in text
    # a new state account, and prod moved to another account
    platform.write_text(
        text.replace('account: "444444444444"', 'account: "555555555555"').replace(
            'account: "333333333333"', 'account: "666666666666"'
        )
    )
    code, _, err = generate(repo, check=True)
    assert code == 1
    for account in ("111111111111", "222222222222"):
        assert f"stale: aws/mlrig-deployer-trust-{account}.json" in err
    assert "missing: aws/mlrig-deployer-trust-666666666666.json" in err
    assert "extra: aws/mlrig-deployer-trust-333333333333.json" in err
    assert "aws/mlrig-deployer-policy.json" not in err, "the permissions do not depend on the accounts"

    code, out, err = generate(repo)
    assert code == 0, err
    assert "deleted aws/mlrig-deployer-trust-333333333333.json" in out
    assert trust(repo, "666666666666")["Statement"][1]["Principal"]["AWS"] == "arn:aws:iam::555555555555:root"
    assert generate(repo, check=True)[0] == 0


def test_a_hand_edited_trust_document_is_stale_and_other_files_in_aws_are_left_alone(repo: Path) -> None:
    assert generate(repo)[0] == 0
    edited = repo / "aws/mlrig-deployer-trust-111111111111.json"
    edited.write_text(edited.read_text().replace("444444444444", "999999999999"))
    (repo / "aws/notes.md").write_text("# our own notes\n")
    (repo / "aws/mlrig-deployer-trust-staging.json").write_text("{}\n")  # not an account: not mlrig's name
    code, _, err = generate(repo, check=True)
    assert code == 1 and "stale: aws/mlrig-deployer-trust-111111111111.json" in err
    assert "notes.md" not in err and "trust-staging" not in err
    assert generate(repo)[0] == 0
    assert "999999999999" not in edited.read_text()
    assert (repo / "aws/notes.md").exists() and (repo / "aws/mlrig-deployer-trust-staging.json").exists()


def test_leaving_account_isolation_deletes_the_trust_documents_and_keeps_the_permissions(repo: Path) -> None:
    assert generate(repo)[0] == 0
    platform = repo / "bundles/platform.yaml"
    text = platform.read_text()
    text = text.replace("isolation: account", "isolation: cluster")
    text = re.sub(r'\n\s*account: "(111111111111|222222222222|333333333333|444444444444)"', "", text)
    text = re.sub(r"\n\s*deploymentRole: [^\n]*", "", text)
    platform.write_text(text)
    code, out, err = generate(repo)
    assert code == 0, err
    assert sorted(p.name for p in (repo / "aws").iterdir()) == ["mlrig-deployer-policy.json"]
    assert all(f"deleted aws/mlrig-deployer-trust-{account}.json" in out for account in ACCOUNTS)
