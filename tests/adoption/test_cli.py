"""The command line as a newcomer meets it: help with examples and whole summaries, one
diagnostic format everywhere, commands that find the repository from any directory in it, and
errors that name what failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrig import examples
from mlrig.cli import cli


def mlrig(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrig", *args], cwd=cwd, capture_output=True, text=True, timeout=300, **kwargs
    )


def help_of(*command: str) -> str:
    result = CliRunner().invoke(cli, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    examples.copy_to(tmp_path / "bundles")
    (tmp_path / "Pulumi.yaml").write_text("name: mlrig\nruntime: python\n")
    return tmp_path


def test_command_summaries_are_whole_sentences_not_cut_off():
    text = help_of()
    commands = text.split("Commands:", 1)[1]
    assert "..." not in commands
    for command in ("validate", "plan", "generate", "affected", "bootstrap", "init", "schema"):
        assert f"  {command} " in text


@pytest.mark.parametrize(
    "command",
    [("validate",), ("plan",), ("generate",), ("affected",), ("bootstrap",), ("init", "platform"), ("init", "project")],
)
def test_every_command_shows_examples(command):
    assert "Examples:" in help_of(*command)


def test_help_explains_the_github_format_and_that_plan_takes_directories():
    assert "annotation" in help_of("validate")
    assert "directories" in help_of("plan")
    assert "--detail" in help_of("plan")


def test_every_command_prints_a_bundle_error_in_the_same_form(repo: Path):
    bundle = repo / "bundles" / "fraud-detection.yaml"
    bundle.write_text(bundle.read_text().replace('schedule: "0 3 * * 0"', 'schedule: "0 25 * * 0"'))
    line = next(i for i, text in enumerate(bundle.read_text().splitlines(), 1) if "0 25 * * 0" in text)
    expected = f"bundles/fraud-detection.yaml:{line}:17: spec.pipelines.train.schedule: '0 25 * * 0' is not a valid"
    for args in (["validate"], ["plan", "bundles"], ["generate"]):
        done = mlrig(*args, cwd=repo)
        assert done.returncode == 1, done.stdout + done.stderr
        assert expected in done.stdout + done.stderr, (args, done.stdout + done.stderr)


def test_generate_and_validate_find_the_repository_from_its_bundles_directory(repo: Path):
    assert mlrig("generate", cwd=repo / "bundles").returncode == 0
    assert (repo / "Pulumi.acme-ml.dev.yaml").is_file()
    done = mlrig("validate", cwd=repo / "bundles")
    assert done.returncode == 0 and "3 bundle(s) valid" in done.stdout


def test_affected_outside_a_git_repository_says_to_use_root(repo: Path):
    done = mlrig("affected", "--base", "HEAD", cwd=repo)
    assert done.returncode == 2 and "not in a git repository" in done.stderr and "--root" in done.stderr


def test_generate_far_from_any_repository_says_to_use_root(tmp_path: Path):
    done = mlrig("generate", cwd=tmp_path)
    assert done.returncode == 2 and "pass --root DIR" in done.stderr


def test_validating_a_directory_without_bundles_is_an_error_not_a_silent_pass(tmp_path: Path):
    (tmp_path / "emtpy").mkdir()
    done = mlrig("validate", "emtpy", cwd=tmp_path)
    assert done.returncode == 2 and "no bundle files" in done.stderr


def onto_a_full_disk(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`mlrig ARGS` with standard output on a device that refuses every write."""
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [sys.executable, "-m", "mlrig", *args], cwd=cwd, stdout=full, stderr=subprocess.PIPE, text=True
        )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_failed_write_to_standard_output_names_it(tmp_path: Path):
    done = onto_a_full_disk("schema", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: cannot write the schema to standard output: No space left on device"


def test_validate_ends_without_teardown_once_its_whole_result_is_written(repo: Path):
    """The console script's `validate` ends with `os._exit` (no teardown of what it built), after
    writing everything, with its exit code: an atexit hook registered before it never runs."""
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('TEARDOWN'))\n"
        "from mlrig.entry import main\n"
        "main()\n"
    )
    bundle = repo / "bundles" / "fraud-detection.yaml"
    for expected in (0, 1):
        done = subprocess.run(
            [sys.executable, "-c", probe, "validate", "--format", "json"], cwd=repo, capture_output=True, text=True
        )
        assert done.returncode == expected, done.stderr
        report = json.loads(done.stdout)  # the whole document, flushed before the end
        assert report["valid"] is (expected == 0) and len(report["files"]) == 3
        assert "TEARDOWN" not in done.stderr
        bundle.write_text(bundle.read_text().replace('schedule: "0 3 * * 0"', 'schedule: "0 25 * * 0"'))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_validate_names_a_failed_write_to_standard_output(repo: Path):
    done = onto_a_full_disk("validate", cwd=repo)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: standard output: No space left on device"


def test_the_text_plan_is_never_wrapped_when_piped(repo: Path):
    done = mlrig("plan", "bundles/platform.yaml", "--env", "dev", "--detail", cwd=repo, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert any(
        "aws:iam:RolePolicyAttachment ×" in line and "AmazonEKSClusterPolicy" in line
        for line in done.stdout.splitlines()
    )
    assert not [line for line in done.stdout.splitlines() if line.strip("│ ").startswith("acme-ml-dev-")]
