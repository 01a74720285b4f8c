"""The whole adoption journey, as a platform team lives it, with mlrig installed from its wheel
into a fresh virtual environment (no checkout, no network):

pip install → mlrig init platform → mlrig init project ×2 → validate → plan → generate → commit →
affected → upgrade (a new wheel, the lock bumped, generate) → everything still consistent.

The fresh environment gets mlrig only from the wheel; its dependencies come from the test
environment's site-packages through a `.pth` file, minus anything of mlrig's (the editable
install of this checkout must not leak in)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .wheel import build_wheel

pytestmark = pytest.mark.slow
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
TEMPLATE_CHANGE = "# Upgrade marker: a change shipped by the new mlrig.\n"
ENVIRONMENTS = ("dev", "staging", "prod")


def lock_for(wheel: Path, version: str) -> str:
    """What the lock command writes for `mlrig==version`: mlrig with its wheel's real hash (its
    dependencies, installed from the test environment here, are left out)."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"mlrig=={version} \\\n    --hash=sha256:{digest}\n"


class Environment:
    """A fresh virtual environment holding mlrig from a wheel."""

    def __init__(self, root: Path):
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
        self.python = root / "bin" / "python"
        purelib = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dependencies = root.parent / "dependencies"
        dependencies.mkdir()
        for entry in SITE_PACKAGES.iterdir():
            if not entry.name.lower().startswith(("mlrig", "__editable__", "_mlrig")) and not entry.name.endswith(
                ".pth"
            ):
                (dependencies / entry.name).symlink_to(entry)
        (Path(purelib) / "dependencies.pth").write_text(f"{dependencies}\n")

    def install(self, wheel: Path) -> None:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(self.python),
                "install",
                "--no-deps",
                "--no-index",
                "--force-reinstall",
                "--disable-pip-version-check",
                "-q",
                str(wheel),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def run(self, *args: str, cwd: Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "COLUMNS"))}
        env.update(PYTHONNOUSERSITE="1", PATH=f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        done = subprocess.run(
            [str(self.root / "bin" / "mlrig"), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == expect, f"mlrig {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "platform",
        "GIT_AUTHOR_EMAIL": "platform@example.com",
        "GIT_COMMITTER_NAME": "platform",
        "GIT_COMMITTER_EMAIL": "platform@example.com",
    }
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env).stdout


def test_from_pip_install_to_a_platform_with_two_teams_and_an_upgrade(tmp_path: Path):
    version = "0.1.0"
    first, _ = build_wheel(tmp_path / "v1", version=version)
    venv = Environment(tmp_path / "venv")
    venv.install(first)
    where = subprocess.run(
        [
            str(venv.python),
            "-c",
            "import importlib.metadata as m, mlrig; print(mlrig.__file__); print(m.version('mlrig'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONNOUSERSITE": "1", "PATH": os.environ["PATH"]},
    ).stdout.split()
    assert where[0].startswith(str(venv.root)) and where[1] == version, "mlrig comes from the wheel, nothing else"

    # The platform team starts its repository.
    lock = tmp_path / "requirements.lock"
    lock.write_text(lock_for(first, version))
    work = tmp_path / "work"
    work.mkdir()
    venv.run(
        "init", "platform", "acme-platform", "--no-input", "--name", "acme-ml", "--isolation", "account",
        "--env", "dev:dev:us-east-1:111111111111", "--env", "staging:staging:us-east-1:222222222222",
        "--env", "prod:prod:us-east-1:333333333333", "--github-org", "acme", "--owner", "@acme/platform",
        "--lock", str(lock),
        cwd=work,
    )  # fmt: skip
    repo = work / "acme-platform"
    assert (repo / "requirements.lock").read_text() == lock.read_text()

    # Two teams join.
    venv.run("init", "project", "fraud", "--no-input", "--repository", "acme/fraud", "--template", "tabular", cwd=repo)
    venv.run(
        "init", "project", "assistant", "--no-input", "--repository", "acme/assistant", "--template", "llm",
        "--app-dir", str(work / "assistant"),
        cwd=repo / "bundles",
    )  # fmt: skip
    assert (work / "assistant" / "docker" / "tuning" / "Dockerfile").is_file()
    assert "3 bundle(s) valid" in venv.run("validate", cwd=repo).stdout
    plan = venv.run("plan", "bundles", "--env", "dev", cwd=repo).stdout
    assert "Planned 3 stack(s) of 3 bundle(s)" in plan
    generated = venv.run("generate", cwd=repo).stdout
    assert "created Pulumi.fraud.prod.yaml" in generated and "created .github/projects/assistant/" in generated
    venv.run("generate", "--check", cwd=repo)

    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "acme-ml platform with two teams")

    # A change to one team's prod settings affects its prod stack only.
    bundle = repo / "bundles" / "fraud.yaml"
    bundle.write_text(
        bundle.read_text().replace(
            "{ name: gpu-train, max: 16, capacity: on-demand }", "{ name: gpu-train, max: 24, capacity: on-demand }"
        )
    )
    assert venv.run("affected", "--base", "HEAD", cwd=repo).stdout.split() == ["fraud.prod"]
    git(repo, "commit", "-q", "-am", "fraud: more prod GPUs")

    # The upgrade: a new mlrig whose CI templates changed. Bump the pin and the lock first...
    upgraded = "0.2.0"
    second, _ = build_wheel(tmp_path / "v2", version=upgraded, patch=add_template_change)
    (repo / "requirements.in").write_text((repo / "requirements.in").read_text().replace(version, upgraded))
    (repo / "requirements.lock").write_text(lock_for(second, upgraded))
    stale = venv.run("generate", "--check", cwd=repo)
    assert "requirements.lock pins mlrig 0.2.0 but this is mlrig 0.1.0" in stale.stderr
    # ... install what the lock says (CI does exactly this), then regenerate.
    venv.install(second)
    assert venv.run("--version", cwd=repo).stdout.strip().endswith(upgraded)
    check = venv.run("generate", "--check", "--diff", cwd=repo, expect=1)
    assert "stale: .github/workflows/mlrig-deploy.yml" in check.stderr and f"+{TEMPLATE_CHANGE.strip()}" in check.stdout
    assert "warning" not in check.stderr
    venv.run("generate", cwd=repo)
    venv.run("generate", "--check", cwd=repo)
    assert "3 bundle(s) valid" in venv.run("validate", cwd=repo).stdout
    changed = git(repo, "status", "--porcelain").split("\n")
    assert all(line[3:].startswith((".github/", "requirements.")) for line in changed if line), changed
    git(repo, "commit", "-q", "-am", "mlrig 0.2.0")
    # The new mlrig is the program of every stack: the upgrade plans and applies all of them.
    upgraded_stacks = venv.run("affected", "--base", "HEAD~1", cwd=repo).stdout.split()
    assert sorted(upgraded_stacks) == sorted(
        f"{b}.{e}" for b in ("acme-ml", "fraud", "assistant") for e in ENVIRONMENTS
    )


def add_template_change(source: Path) -> None:
    template = source / "ci" / "templates" / "platform" / "deploy.yml.j2"
    lines = template.read_text().splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if line.startswith("name:"))
    template.write_text("".join([*lines[:header], TEMPLATE_CHANGE, *lines[header:]]))
