"""Fixtures of the CI tests: the example bundles' workflows rendered to disk, and throwaway git
repositories holding a copy of the example bundles."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrig import examples
from mlrig.bundle.validate import ValidationResult
from mlrig.ci.render import render_platform_workflows, render_project_workflows


def write_files(base: Path, files: dict[str, str]) -> list[Path]:
    written = []
    for relative, content in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


@pytest.fixture(scope="session")
def platform_workflows(example_result: ValidationResult) -> dict[str, str]:
    """`.github/workflows/<file>` → text, of the example platform repository."""
    platform = next(iter(example_result.platforms.values()))
    return render_platform_workflows(platform, list(example_result.projects.values()))


@pytest.fixture(scope="session")
def project_workflows(example_result: ValidationResult) -> dict[str, dict[str, str]]:
    """project → `.github/workflows/<file>` → text, of every example project repository."""
    return {name: render_project_workflows(p) for name, p in sorted(example_result.projects.items())}


@pytest.fixture(scope="session")
def all_workflow_files(
    tmp_path_factory: pytest.TempPathFactory,
    platform_workflows: dict[str, str],
    project_workflows: dict[str, dict[str, str]],
) -> list[Path]:
    """Every generated workflow, written under one repository-shaped directory per repository."""
    base = tmp_path_factory.mktemp("workflows")
    files = write_files(base / "platform", platform_workflows)
    for project, workflows in project_workflows.items():
        files += write_files(base / project, workflows)
    return files


def parse(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    if True in document:
        document["on"] = document.pop(True)
    return document


def run_git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )
    return done.stdout


@pytest.fixture
def bundle_repo(tmp_path: Path) -> Callable[..., Path]:
    """A git repository with the example bundles committed; returns its root."""

    def make() -> Path:
        repo = tmp_path / "repo"
        examples.copy_to(repo / "bundles")
        (repo / "infra").mkdir()
        (repo / "infra" / "program.py").write_text("# the program\n")
        (repo / "docs").mkdir()
        (repo / "docs" / "guide.md").write_text("# guide\n")
        (repo / "Pulumi.yaml").write_text("name: mlrig\nruntime: python\n")
        run_git(repo, "init", "-q", "-b", "main")
        commit(repo, "initial")
        return repo

    return make


def commit(repo: Path, message: str) -> str:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)
    return run_git(repo, "rev-parse", "HEAD").strip()
