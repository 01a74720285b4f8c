"""The application repository skeleton `mlrig init project --app-dir` writes is what the team's
generated workflows and mlrig's pipelines expect: a Dockerfile per registry, the `.[dev]` extra,
lint-clean code whose unit tests pass, and an entry point that runs every step every planned
pipeline starts it with."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlrig.bundle.validate import validate_paths
from mlrig.ci.render import render_project_workflows
from mlrig.plan.runner import Planner

from .conftest import run_init

BIN = Path(sys.executable).parent


@pytest.fixture(params=["tabular", "llm", "vision"])
def app(request, platform_repo: Path, tmp_path: Path) -> tuple[Path, str, Path]:
    """(application directory, template, platform repository)."""
    directory = tmp_path / "app"
    result = run_init(
        "project",
        "team-a",
        "--no-input",
        "--repository",
        "acme/team-a",
        "--template",
        request.param,
        "--app-dir",
        str(directory),
        cwd=platform_repo,
    )
    assert result.exit_code == 0, result.output
    return directory, request.param, platform_repo


def test_every_dockerfile_the_generated_workflows_build_exists(app):
    directory, _, repo = app
    project = validate_paths([repo / "bundles"]).projects["team-a"]
    workflows = "".join(render_project_workflows(project).values())
    # Each build step gets its Dockerfile through `env:` (no bundle value is spliced into a script).
    assert 'docker build --platform "linux/$ARCHITECTURE" --file "$DOCKERFILE"' in workflows
    built = {yaml.safe_load(value) for value in re.findall(r"DOCKERFILE: (.+)", workflows)}
    assert built == {f"docker/{r}/Dockerfile" for r in project.bundle.spec.registries}
    for path in built:
        dockerfile = (directory / path).read_text()
        assert 'ENTRYPOINT ["python", "-m", "team_a"]' in dockerfile and "USER 1000:1000" in dockerfile
        copied = [part for line in dockerfile.splitlines() if line.startswith("COPY") for part in line.split()[1:-1]]
        assert copied and all((directory / source).exists() for source in copied), copied


def test_the_pull_request_workflow_finds_what_it_runs(app):
    directory, _, _ = app
    pyproject = (directory / "pyproject.toml").read_text()
    assert "[project.optional-dependencies]\n" in pyproject and 'dev = ["pytest>=8.3", "ruff>=0.8"]' in pyproject
    assert list((directory / "tests/unit").glob("test_*.py")) and list(
        (directory / "tests/integration").glob("test_*.py")
    )


def test_the_skeleton_is_lint_clean_and_its_own_tests_pass(app):
    directory, _, _ = app
    lint = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "."], cwd=directory, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=directory,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(directory / "src")},
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


def planned_steps(plan) -> list[tuple[str, str, list[str]]]:
    """(pipeline, step, arguments) of every step container of every WorkflowTemplate."""
    found = []
    for template in plan.of_type("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"):
        spec = template["inputs"]["spec"]
        pipeline = template["inputs"]["metadata"]["name"]
        tasks = [t for tpl in spec["templates"] for t in (tpl.get("dag") or {}).get("tasks", [])]
        dag_steps = [
            p["value"] for t in tasks for p in (t.get("arguments") or {}).get("parameters", []) if p["name"] == "step"
        ]
        for tpl in spec["templates"]:
            container = tpl.get("container")
            if not container or not container.get("args"):
                continue
            step = container["args"][0].removeprefix("--step=")
            steps = dag_steps if step == "{{inputs.parameters.step}}" else [step]
            arguments = [re.sub(r"\{\{workflow\.parameters\.([^}]+)\}\}", "x", a) for a in container["args"][1:]]
            found += [(pipeline, s, arguments) for s in steps]
    return found


@pytest.mark.slow
def test_the_entry_point_runs_every_step_the_planned_pipelines_start_it_with(app, tmp_path: Path):
    directory, _, repo = app
    project = validate_paths([repo / "bundles"]).projects["team-a"]
    steps = planned_steps(Planner().project(project, "prod"))
    assert {step for _, step, _ in steps} >= {"run", "compare", "promote"}
    outputs = tmp_path / "outputs"
    for pipeline, step, arguments in steps:
        done = subprocess.run(
            [sys.executable, "-m", "team_a", f"--step={step}", *arguments],
            cwd=directory,
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "PYTHONPATH": str(directory / "src"),
                "MLRIG_PIPELINE": pipeline,
                "MLRIG_OUTPUTS": str(outputs),
            },
            timeout=60,
        )
        assert done.returncode == 0, (pipeline, step, done.stderr)
    assert (outputs / "decision").read_text() in ("promote", "reject")
    assert (outputs / "drifted").read_text() in ("true", "false")
