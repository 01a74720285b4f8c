"""The day-2 commands on the command line: help with examples, usage errors, lazy imports, and
the model field the cost estimate reads."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from mlrig import cli as cli_module
from mlrig.bundle.defaults import DEFAULT_EXPECTED_MINUTES
from mlrig.bundle.model import PipelineType
from mlrig.bundle.validate import ValidationResult

COMMANDS = [["diff"], ["cost"], ["cost", "estimate"], ["cost", "refresh-prices"], ["parity"], ["graph"], ["migrate"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_day_2_command_has_help_with_examples(command: list[str]) -> None:
    result = CliRunner().invoke(cli_module.cli, [*command, "--help"], standalone_mode=False)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    if command[-1] not in ("estimate", "refresh-prices"):
        assert "Examples:" in result.output and f"mlrig {command[0]}" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["diff"],
        ["diff", "--base", "x", "--format", "yaml"],
        ["parity"],
        ["graph", "--format", "png"],
        ["migrate", "--nope"],
    ],
    ids=" ".join,
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(cli_module.cli, args, standalone_mode=False)
    assert result.exit_code == 2


def test_the_diff_help_names_the_report_file_the_pull_request_workflow_writes() -> None:
    from mlrig.ci.render import PR_REPORTS

    [diff_report] = [report for report in PR_REPORTS if "mlrig diff" in report.run]
    result = CliRunner().invoke(cli_module.cli, ["diff", "--help"], standalone_mode=False)
    assert f"> pr-report/{diff_report.file}" in result.output


def test_help_and_validate_do_not_import_the_pulumi_sdk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    probe = (
        "import sys\n"
        "from mlrig import cli\n"
        "for args in (['--help'], ['diff', '--help'], ['cost', '--help'], ['migrate', '--help']):\n"
        "    try:\n"
        "        cli.cli.main(args, prog_name='mlrig')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('pulumi' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


def test_every_pipeline_type_has_a_documented_expected_run_time(example_result: ValidationResult) -> None:
    assert set(DEFAULT_EXPECTED_MINUTES) == set(PipelineType.__args__)  # type: ignore[attr-defined]
    fraud = example_result.projects["fraud-detection"].environments["prod"].spec.pipelines
    assert fraud["train"].expected_minutes == DEFAULT_EXPECTED_MINUTES["training"] == 120
    assert fraud["features"].expected_minutes == 30


def test_a_declared_expected_run_time_is_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mlrig import examples
    from mlrig.bundle.validate import validate_paths

    examples.copy_to(tmp_path / "bundles")
    bundle = tmp_path / "bundles/fraud-detection.yaml"
    bundle.write_text(
        bundle.read_text().replace("      pool: gpu-train\n", "      pool: gpu-train\n      expectedMinutes: 45\n", 1)
    )
    result = validate_paths([tmp_path / "bundles"])
    assert result.valid, [d.text() for d in result.diagnostics]
    assert result.projects["fraud-detection"].environments["dev"].spec.pipelines["train"].expected_minutes == 45
