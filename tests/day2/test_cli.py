"""The day-2 commands on the command line: help with examples, usage errors, lazy imports, and
the model field the cost estimate reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrig import cli as cli_module
from mlrig import examples
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


# What the commands a person runs most often must not load: the Pulumi SDK and its providers
# (plan, diff, cost, graph), boto3/botocore (bootstrap, preflight, price refresh; instance type
# names are checked against the snapshot shipped in the package), Jinja (init, generate) and
# ruamel (migrate, init), croniter (cost; it runs `file` on the interpreter when imported), and
# mlrig's own modules of those commands. Each would add from 20 ms to seconds to a command that
# needs none of it.
NOT_FOR_HELP_OR_VALIDATE = (
    "pulumi",
    "pulumi_aws",
    "pulumi_kubernetes",
    "boto3",
    "botocore",
    "jinja2",
    "ruamel",
    "croniter",
    "mlrig.plan",
    "mlrig.init",
    "mlrig.generate",
    "mlrig.ci",
)


def modules_loaded_by(args: list[str], cwd: Path) -> set[str]:
    """The top modules (and mlrig's sub-packages) in sys.modules after `mlrig ARGS` ran as the
    console script runs it."""
    probe = (
        "import json, os, sys\n"
        "from mlrig.entry import main\n"
        "def _exit(code): raise SystemExit(code)\n"
        "os._exit = _exit  # a command that ends at once: list the modules first\n"
        f"sys.argv = ['mlrig', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert "MODULES " in done.stderr, done.stdout + done.stderr
    loaded = json.loads(done.stderr.rsplit("MODULES ", 1)[1])
    return {".".join(name.split(".")[:2]) if name.startswith("mlrig.") else name.split(".")[0] for name in loaded}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "bundles/fraud-detection.yaml"], ["validate"], ["diff", "--help"], ["cost", "--help"]],
    ids=" ".join,
)
def test_help_and_validate_import_only_what_they_need(args: list[str], tmp_path: Path) -> None:
    examples.copy_to(tmp_path / "bundles")
    loaded = modules_loaded_by(args, tmp_path)
    assert loaded.isdisjoint(NOT_FOR_HELP_OR_VALIDATE), sorted(loaded & set(NOT_FOR_HELP_OR_VALIDATE))
    if args[0] == "validate":
        assert {"mlrig.bundle", "pydantic", "yaml"} <= loaded  # it did validate


def test_init_still_finds_its_sub_commands() -> None:
    result = CliRunner().invoke(cli_module.cli, ["init", "--help"], standalone_mode=False)
    assert result.exit_code == 0, result.output
    assert "platform" in result.output and "project" in result.output
    result = CliRunner().invoke(cli_module.cli, ["init", "project", "--help"], standalone_mode=False)
    assert result.exit_code == 0 and "--platform" in result.output, result.output


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
