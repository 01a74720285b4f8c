"""`mlrig plan`: validation first, clear errors with exit 1, the JSON contract, a readable tree,
and an --out file that is written whole or not at all."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from mlrig import examples
from mlrig.plan import command
from mlrig.plan.command import run_plan_command

PLATFORM = str(examples.path("platform.yaml"))


def run(bundles, envs=(), fmt="text", out=None, planner=None, detail=False):
    """The command without its checks: these tests are about planning (tests/checks/test_plan_hook.py
    covers the checks)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_plan_command(
        list(bundles),
        list(envs),
        fmt,
        out,
        stdout=Console(file=stdout, width=200, soft_wrap=True),
        stderr=Console(file=stderr, width=200, soft_wrap=True),
        planner=planner,
        checks=False,
        detail=detail,
    )
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A copy of the example platform bundle, free to break."""
    target = tmp_path / "bundles"
    target.mkdir()
    shutil.copy(PLATFORM, target / "platform.yaml")
    return target


def test_the_json_plan_of_a_platform_follows_the_contract(example_planner):
    code, out, err = run([PLATFORM], envs=["dev"], fmt="json", planner=example_planner)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["bundle"] == {"name": "acme-ml", "kind": "Platform", "file": PLATFORM}
    assert list(payload["environments"]) == ["dev"]
    dev = payload["environments"]["dev"]
    assert dev["stack"] == "acme-ml.dev"
    assert dev["outputs"]["clusterName"]
    for resource in dev["resources"]:
        assert {"urn", "type", "name", "parent", "custom", "id", "inputs", "outputs", "options"} <= set(resource)
        assert {"protect", "retainOnDelete", "dependsOn", "provider"} <= set(resource["options"])
        assert resource["urn"].startswith("urn:pulumi:acme-ml.dev::mlrig::")
    types = {r["type"] for r in dev["resources"]}
    assert {
        "aws:ec2/vpc:Vpc",
        "aws:eks/cluster:Cluster",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    } <= types


@pytest.fixture
def small_platform_program(monkeypatch):
    """Stand-in for the platform program where a test is about the command, not the landing zone."""
    import pulumi
    import pulumi_aws as aws

    import mlrig.platform.stack as platform_stack

    def deploy(platform, environment, settings=None):
        aws.s3.Bucket("state", bucket=f"{environment.stack}-state")
        pulumi.export("clusterName", environment.stack)

    monkeypatch.setattr(platform_stack, "deploy_platform", deploy)


def test_every_environment_is_planned_when_none_is_named(bundle_dir: Path, small_platform_program):
    code, out, err = run([str(bundle_dir / "platform.yaml")], fmt="json")
    assert code == 0, err
    assert list(json.loads(out)["environments"]) == ["dev", "staging", "prod"]


def test_the_detailed_text_plan_is_a_tree_of_environment_component_and_resources_with_counts(example_planner):
    code, out, _ = run([PLATFORM], envs=["staging"], planner=example_planner, detail=True)
    assert code == 0
    assert "Platform acme-ml" in out
    assert "staging stack acme-ml.staging:" in out
    assert "Network" in out and "Cluster" in out
    assert "aws:eks:Cluster ×1" in out
    assert out.strip().splitlines()[-1].startswith("Planned 1 stack(s) of 1 bundle(s):")


def test_the_default_text_plan_is_a_summary_per_stack(example_planner, example_result):
    project = example_result.projects["fraud-detection"].file
    code, out, _ = run([project], envs=["prod"], planner=example_planner)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Project fraud-detection (")
    stack = next(line for line in lines if line.strip().startswith("prod: stack fraud-detection.prod"))
    assert "resources (+" in stack and "components)" in stack and "protected" in stack
    components = next(line for line in lines if line.strip().startswith("components:"))
    assert "Pipelines " in components and "Storage " in components  # a project's parts, not its one root
    assert any(line.strip().startswith("types: ") and "aws:s3:Bucket ×4" in line for line in lines)
    assert any(line.strip().startswith("protected: ") and "aws:s3:Bucket ×4" in line for line in lines)
    assert "│" not in out, "the tree is for --detail"
    assert "(+" in lines[-1] and "components" in lines[-1]


def test_an_invalid_bundle_is_reported_with_its_position_and_exits_1(bundle_dir: Path):
    path = bundle_dir / "platform.yaml"
    path.write_text(path.read_text().replace("tier: staging", "tier: stagin"))
    code, out, err = run([str(path)])
    assert code == 1
    assert out == ""
    assert "platform.yaml:" in err and "spec.environments.staging.tier" in err
    assert "nothing planned" in err


def test_an_unknown_environment_exits_1_and_lists_the_known_ones():
    code, _, err = run([PLATFORM], envs=["qa"])
    assert code == 1
    assert "no environment 'qa'" in err
    assert "dev, staging, prod" in err


def test_a_path_that_does_not_exist_is_a_usage_error():
    code, _, err = run(["bundles/nope.yaml"])
    assert code == 2
    assert "nope.yaml" in err


def test_out_writes_the_json_contract_atomically(tmp_path: Path, small_platform_program):
    target = tmp_path / "plan.json"
    code, out, err = run([PLATFORM], envs=["dev"], fmt="json", out=str(target))
    assert code == 0, err
    assert out == ""
    assert json.loads(target.read_text())["environments"]["dev"]["stack"] == "acme-ml.dev"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"], "no temporary file is left behind"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_out_dash_puts_the_json_plan_on_stdout_and_writes_no_file(
    tmp_path: Path, monkeypatch, small_platform_program, fmt: str
):
    """`--out -` is stdout, as everywhere on the command line: before, it wrote a file named `-`."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run([PLATFORM], envs=["dev"], fmt=fmt, out="-")
    assert code == 0, err
    assert json.loads(out)["environments"]["dev"]["stack"] == "acme-ml.dev", "stdout is the JSON plan, nothing else"
    assert list(tmp_path.iterdir()) == [], "no file named '-' (or any other) is written"
    if fmt == "text":
        assert "Planned 1 stack(s) of 1 bundle(s)" in err, "the text summary moves to stderr"
    assert "wrote" not in out + err


def test_a_program_error_names_the_bundle_and_environment_exits_1_and_leaves_out_untouched(
    tmp_path: Path, monkeypatch, small_platform_program
):
    import mlrig.platform.stack as platform_stack

    def broken(platform, environment, settings=None):
        if environment.name == "prod":
            raise ValueError("no capacity for gpu pool")
        return original(platform, environment)

    original = platform_stack.deploy_platform
    monkeypatch.setattr(platform_stack, "deploy_platform", broken)
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")
    code, _out, err = run([PLATFORM], envs=["dev", "prod"], fmt="json", out=str(target))
    assert code == 1
    assert "plan of platform acme-ml" in err and "environment prod" in err
    assert "ValueError: no capacity for gpu pool" in err
    assert "Traceback" not in err and "site-packages" not in err
    assert target.read_text() == "previous plan\n", "a failed plan never replaces the --out file"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_failed_write_of_out_leaves_no_partial_file(tmp_path: Path, monkeypatch, small_platform_program):
    target = tmp_path / "plan.json"

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(command.os, "replace", failing_replace)
    code, _, err = run([PLATFORM], envs=["dev"], fmt="json", out=str(target))
    assert code == 2
    assert "No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_json_of_several_bundles_is_a_list_of_contract_objects(bundle_dir: Path, small_platform_program):
    second = bundle_dir / "beta-ml.yaml"
    second.write_text(
        (bundle_dir / "platform.yaml")
        .read_text()
        .replace("name: acme-ml", "name: beta-ml")
        .replace("acme-pulumi-state", "beta-pulumi-state")
    )
    code, out, err = run([str(bundle_dir / "platform.yaml"), str(second)], envs=["dev"], fmt="json")
    assert code == 0, err
    payload = json.loads(out)
    assert [p["bundle"]["name"] for p in payload] == ["acme-ml", "beta-ml"]
    assert payload[1]["environments"]["dev"]["stack"] == "beta-ml.dev"


def test_a_project_is_planned_on_its_platforms_outputs_without_printing_the_platform(example_planner):
    project = str(examples.path("fraud-detection.yaml"))
    code, out, err = run([project], envs=["dev"], fmt="json", planner=example_planner)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["bundle"]["kind"] == "Project" and payload["bundle"]["name"] == "fraud-detection"
    dev = payload["environments"]["dev"]
    assert dev["stack"] == "fraud-detection.dev"
    reference = next(r for r in dev["resources"] if r["type"] == "pulumi:pulumi:StackReference")
    assert reference["id"] == "organization/mlrig/acme-ml.dev"
    assert reference["outputs"]["outputs"]["clusterName"], "the platform plan's outputs answer the reference"
    assert "acme-ml.dev" not in {r["urn"].split("::")[0].removeprefix("urn:pulumi:") for r in dev["resources"]}


def test_a_directory_plans_its_platform_first_then_its_projects(small_platform_program, monkeypatch):
    import mlrig.project.stack as project_stack

    monkeypatch.setattr(project_stack, "deploy_project", lambda project, env, settings=None: None)
    code, out, err = run([str(examples.DIRECTORY)], envs=["prod"], fmt="json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload[0]["bundle"]["kind"] == "Platform"
    assert sorted(p["bundle"]["name"] for p in payload[1:]) == ["fraud-detection", "rag-assistant"]
    assert all(list(p["environments"]) == ["prod"] for p in payload)


@pytest.mark.slow
def test_the_same_bundle_gives_byte_identical_json_in_separate_processes(tmp_path: Path):
    """Hash seeds differ between processes; nothing in the plan may depend on them."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        target = tmp_path / f"plan-{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mlrig.cli",
                "plan",
                PLATFORM,
                "--env",
                "dev",
                "--format",
                "json",
                "--out",
                str(target),
            ],
            env=env,
            capture_output=True,
        )  # exit 1 when a mandatory check fires; the plan is written either way
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]


def test_progress_is_shown_on_a_terminal_and_nowhere_else(small_platform_program):
    for terminal in (True, False):
        stderr = io.StringIO()
        code = run_plan_command(
            [PLATFORM],
            ["dev"],
            "json",
            None,
            stdout=Console(file=io.StringIO()),
            stderr=Console(file=stderr, force_terminal=terminal, width=120),
            checks=False,
        )
        assert code == 0
        if terminal:
            assert "planning" in stderr.getvalue() and "acme-ml.dev" in stderr.getvalue()
        else:
            assert stderr.getvalue() == ""


def test_error_text_that_looks_like_markup_is_printed_verbatim(monkeypatch):
    import mlrig.platform.stack as platform_stack

    def broken(platform, environment, settings=None):
        raise KeyError("[/x] pools[0]")

    monkeypatch.setattr(platform_stack, "deploy_platform", broken)
    code, _, err = run([PLATFORM], envs=["dev"])
    assert code == 1
    assert "KeyError: '[/x] pools[0]'" in err


def test_an_out_file_in_a_missing_directory_is_refused_before_planning(tmp_path: Path, monkeypatch):
    import mlrig.platform.stack as platform_stack

    monkeypatch.setattr(platform_stack, "deploy_platform", lambda *_: pytest.fail("planned before checking --out"))
    code, _, err = run([PLATFORM], envs=["dev"], fmt="json", out=str(tmp_path / "missing" / "plan.json"))
    assert code == 2
    assert "does not exist" in err
