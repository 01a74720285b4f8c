"""`mlrig init platform`: a platform repository that validates, plans, is generated-clean from
its first commit, runs mlrig's program from a two-line entry point, and is written whole or
not at all."""

from __future__ import annotations

import json
import os
import re
import runpy
import stat
from pathlib import Path

import pytest
import yaml

from mlrig.bundle.validate import validate_paths
from mlrig.ci.render import GENERATED_HEADER
from mlrig.init import commands, lock
from mlrig.init.lock import installed_version, locked_version
from mlrig.plan.engine import plan_stack

from .conftest import ACCOUNT_FLAGS, PLATFORM_FLAGS, STATE_ACCOUNT, generate, prebuilt_lock, run_init


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_the_repository_holds_the_program_the_bundle_the_lock_the_policies_and_the_generated_files(
    platform_repo: Path,
):
    files = files_of(platform_repo)
    assert {
        "Pulumi.yaml",
        "__main__.py",
        "bundles/platform.yaml",
        "requirements.in",
        "requirements.lock",
        ".gitignore",
        ".pre-commit-config.yaml",
        "README.md",
        "aws/mlrig-deployer-policy.json",
        "aws/mlrig-deployer-trust-111111111111.json",
        "aws/mlrig-deployer-trust-333333333333.json",
        "Pulumi.acme-ml.dev.yaml",
        "Pulumi.acme-ml.prod.yaml",
        ".github/workflows/mlrig-deploy.yml",
        ".github/CODEOWNERS",
        "schemas/bundle.schema.json",
    } <= files
    assert not [f for f in files if ".mlrig-init-" in f], "no staging directory is left behind"
    assert locked_version((platform_repo / "requirements.lock").read_text()) == installed_version()
    assert f"mlrig=={installed_version()}" in (platform_repo / "requirements.in").read_text()


def test_the_pulumi_program_is_mlrigs_from_a_two_line_entry_point(platform_repo: Path, monkeypatch):
    entry = (platform_repo / "__main__.py").read_text()
    assert [line for line in entry.splitlines() if line.strip()] == [
        "from mlrig.program import main  # the program `pulumi up` runs: mlrig's, from the installed package",
        "main()",
    ]
    project = yaml.safe_load((platform_repo / "Pulumi.yaml").read_text())
    assert project["name"] == "mlrig" and project["runtime"]["name"] == "python" and "main" not in project
    monkeypatch.chdir(platform_repo)  # Pulumi runs the program from the project directory
    config = yaml.safe_load((platform_repo / "Pulumi.acme-ml.dev.yaml").read_text())["config"]
    planned = plan_stack(
        lambda: runpy.run_path(str(platform_repo), run_name="__main__"), stack="acme-ml.dev", config=config
    )
    assert planned.of_type("aws:eks/cluster:Cluster") and planned.of_type("aws:ec2/vpc:Vpc")


def test_a_new_repository_is_valid_and_generated_clean(platform_repo: Path):
    result = validate_paths([platform_repo / "bundles"])
    assert result.valid and list(result.platforms) == ["acme-ml"]
    platform = result.platforms["acme-ml"]
    assert platform.isolation == "account"
    assert [(e.name, e.tier, e.account) for e in platform.environments.values()] == [
        ("dev", "dev", "111111111111"),
        ("staging", "staging", "222222222222"),
        ("prod", "prod", "333333333333"),
    ]
    assert platform.bundle.spec.github.organization == "acme"
    assert platform.bundle.spec.state.account == STATE_ACCOUNT
    assert generate(platform_repo, check=True)[0] == 0
    for generated in platform_repo.glob("Pulumi.*.*.yaml"):
        assert GENERATED_HEADER in generated.read_text().splitlines()[0]


def test_the_readme_walks_through_the_first_steps_of_this_platform(platform_repo: Path):
    readme = (platform_repo / "README.md").read_text()
    for step in (
        "pip install --require-hashes -r requirements.lock",
        "aws iam create-role --role-name mlrig-deployer --assume-role-policy-document file://aws/mlrig-deployer-trust-222222222222.json",
        "mlrig bootstrap",
        "pulumi login 's3://acme-ml-pulumi-state?region=us-east-1&awssdk=v2'",
        # the first apply runs as each environment's deployment role, from the state account
        "[profile acme-ml-prod]\n   role_arn = arn:aws:iam::333333333333:role/mlrig-deployer\n"
        "   source_profile = <your profile>\n   region = us-east-1",
        f"from your credentials in account {STATE_ACCOUNT}",
        # each environment's secrets have their own key, named by alias ARN in its account
        "AWS_PROFILE=acme-ml-prod pulumi stack init acme-ml.prod --secrets-provider "
        "'awskms:///arn:aws:kms:us-east-1:333333333333:alias/acme-ml-prod-pulumi-secrets?region=us-east-1'",
        "AWS_PROFILE=acme-ml-dev pulumi up -s acme-ml.dev",
        "mlrig init project",
        "## Upgrade mlrig",
    ):
        assert step in readme, step
    assert "is not written yet" not in readme, "the lock was given"


def test_the_deployer_trust_policy_lets_in_its_own_account_and_the_state_account(platform_repo: Path):
    """The state account's administrators run bootstrap and the first apply through this role."""
    trust = json.loads((platform_repo / "aws/mlrig-deployer-trust-222222222222.json").read_text())
    own, operators = trust["Statement"]
    assert own["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    assert operators["Principal"] == {"AWS": f"arn:aws:iam::{STATE_ACCOUNT}:root"}
    for statement in (own, operators):
        assert statement["Effect"] == "Allow" and statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]


def test_without_a_state_account_the_prod_account_holds_the_state_and_administers_the_others(tmp_path: Path):
    """The default keeps trust flowing from the most trusted environment down, never from dev up."""
    flags = [f for f in PLATFORM_FLAGS if f not in ("--state-account", STATE_ACCOUNT)]
    result = run_init("platform", str(tmp_path / "p"), *flags, "--no-lock")
    assert result.exit_code == 0, result.output
    assert "state:" not in (tmp_path / "p/bundles/platform.yaml").read_text(), "the default applies"
    dev = json.loads((tmp_path / "p/aws/mlrig-deployer-trust-111111111111.json").read_text())
    assert [s["Principal"]["AWS"] for s in dev["Statement"]] == [
        "arn:aws:iam::111111111111:root",
        "arn:aws:iam::333333333333:root",
    ]
    prod = json.loads((tmp_path / "p/aws/mlrig-deployer-trust-333333333333.json").read_text())
    assert [s["Principal"]["AWS"] for s in prod["Statement"]] == ["arn:aws:iam::333333333333:root"]


def test_a_malformed_state_account_is_a_usage_error(tmp_path: Path):
    flags = [STATE_ACCOUNT[:6] if f == STATE_ACCOUNT else f for f in PLATFORM_FLAGS]
    result = run_init("platform", str(tmp_path / "p"), *flags, "--no-lock")
    assert result.exit_code == 2 and "--state-account '444444' is not" in result.output


def test_the_readme_names_every_github_environment_the_workflows_use(platform_repo: Path):
    """The generated workflows run jobs in each environment and, once a team's stacks administer
    its repository, nightly drift jobs in `mlrig--drift`; the GitHub App key must be a secret of
    exactly the environments whose jobs mint its token."""
    readme = " ".join((platform_repo / "README.md").read_text().split())
    workflows = "".join(p.read_text() for p in (platform_repo / ".github" / "workflows").glob("*.yml"))
    used = set(re.findall(r'environment: "([^"]+)"', workflows))
    assert used == {"dev", "staging", "prod"}  # no team yet: no repository to administer
    assert "its GitHub environments (dev, staging, prod, and `mlrig--drift`" in readme
    assert "`MLRIG_GITHUB_APP_PRIVATE_KEY` of `staging`, `prod`, `mlrig--drift`" in readme


def test_cluster_isolation_needs_no_accounts_and_no_trust_policies(tmp_path: Path):
    repo = tmp_path / "p"
    result = run_init("platform", str(repo), "--no-input", "--name", "shared-ml", "--isolation", "cluster", "--no-lock")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (repo / "aws").iterdir()] == ["mlrig-deployer-policy.json"]
    readme = (repo / "README.md").read_text()
    assert "Attach\n   `aws/mlrig-deployer-policy.json`" in readme and "is not written yet" in readme
    assert lock.lock_command_text() in readme
    environments = validate_paths([repo / "bundles"]).platforms["shared-ml"].environments
    assert list(environments) == ["dev", "staging", "prod"]
    assert [e.spec.network.cidr for e in environments.values()] == ["10.10.0.0/16", "10.20.0.0/16", "10.30.0.0/16"]


def test_existing_files_are_never_overwritten_and_nothing_is_written(tmp_path: Path, lock_file: Path):
    repo = tmp_path / "p"
    repo.mkdir()
    (repo / "README.md").write_text("ours\n")
    result = run_init("platform", str(repo), *PLATFORM_FLAGS, "--lock", str(lock_file))
    assert result.exit_code == 1 and "README.md" in result.output and "nothing was written" in result.output
    assert files_of(repo) == {"README.md"} and (repo / "README.md").read_text() == "ours\n"


def test_answers_that_make_an_invalid_bundle_write_nothing(tmp_path: Path):
    repo = tmp_path / "p"
    result = run_init(
        "platform",
        str(repo),
        "--no-input",
        "--name",
        "acme-ml",
        "--isolation",
        "account",
        "--state-account",
        STATE_ACCOUNT,
        "--env",
        "dev:dev:us-east-1",
        "--no-lock",
    )
    assert result.exit_code == 1
    assert "p/bundles/platform.yaml:" in result.output and "account" in result.output
    assert not repo.exists()


def test_a_malformed_environment_flag_is_a_usage_error(tmp_path: Path):
    result = run_init(
        "platform", str(tmp_path / "p"), "--no-input", "--name", "a", "--env", "prod:production:us-east-1"
    )
    assert result.exit_code == 2 and "tier 'production' is not one of dev, staging, prod" in result.output


def test_without_flags_and_without_a_terminal_what_is_required_is_named(tmp_path: Path):
    result = run_init("platform", str(tmp_path / "p"), "--no-input", "--isolation", "account", "--no-lock")
    assert result.exit_code == 2 and "--account dev=ID is required" in result.output


def test_on_a_terminal_what_the_flags_leave_open_is_asked(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(commands, "is_interactive", lambda no_input: True)
    answers = "\n".join(
        [
            "acme-ml",  # platform name
            "account",  # isolation
            "eu-west-1",  # region
            "111111111111",  # dev account
            "222222222222",  # staging account
            "333333333333",  # prod account
            "444444444444",  # state account
            "acme",  # GitHub organisation
            "",  # platform repository: the default
            "",  # platform team: the default
        ]
    )
    result = run_init("platform", str(tmp_path / "p"), "--no-lock", input=answers + "\n")
    assert result.exit_code == 0, result.output
    platform = validate_paths([tmp_path / "p" / "bundles"]).platforms["acme-ml"]
    assert {e.region for e in platform.environments.values()} == {"eu-west-1"}
    assert platform.bundle.spec.github.repository == "acme/acme-ml-platform"
    assert platform.bundle.metadata.owners == ["@acme/platform"]
    assert platform.bundle.spec.state.account == "444444444444"


def test_a_prebuilt_lock_without_hashes_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.lock"
    bad.write_text(f"mlrig=={installed_version()}\npulumi==3.272.0\n")
    result = run_init("platform", str(tmp_path / "p"), *PLATFORM_FLAGS, "--lock", str(bad))
    assert result.exit_code == 2 and "has no --hash" in result.output and not (tmp_path / "p").exists()


def test_the_lock_is_compiled_with_the_documented_command_when_a_tool_is_installed(tmp_path: Path, monkeypatch):
    """A stand-in `uv` on PATH: init runs exactly LOCK_COMMANDS["uv"] and keeps what it wrote."""
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "uv"
    calls = tmp_path / "calls"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {calls}\n'
        f"cat > requirements.lock <<'LOCK'\n{prebuilt_lock(installed_version())}LOCK\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    repo = tmp_path / "p"
    result = run_init("platform", str(repo), *PLATFORM_FLAGS)
    assert result.exit_code == 0, result.output
    assert calls.read_text().split() == lock.LOCK_COMMANDS["uv"][1:]
    assert locked_version((repo / "requirements.lock").read_text()) == installed_version()


def test_without_a_lock_tool_the_repository_is_written_and_the_lock_command_is_the_next_step(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(lock, "available_tool", lambda: None)
    result = run_init("platform", str(tmp_path / "p"), *PLATFORM_FLAGS)
    assert result.exit_code == 0
    assert "requirements.lock was not written (neither uv nor pip-compile is installed" in result.output
    assert lock.lock_command_text() in result.output
    assert not (tmp_path / "p" / "requirements.lock").exists()


@pytest.mark.parametrize("flags", [ACCOUNT_FLAGS])
def test_environments_keep_the_order_and_names_given(tmp_path: Path, flags):
    result = run_init(
        "platform",
        str(tmp_path / "p"),
        "--no-input",
        "--name",
        "x",
        "--isolation",
        "account",
        "--state-account",
        STATE_ACCOUNT,
        *flags,
        "--no-lock",
    )
    assert result.exit_code == 0
    assert "dev:\n      tier: dev" in (tmp_path / "p/bundles/platform.yaml").read_text()
