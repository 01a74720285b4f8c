"""requirements.lock: what every CI job that runs mlrig installs (`pip install --require-hashes`).
Every runtime dependency pinned with hashes, no test or lint tool, current with pyproject.toml
(`python3 dev.py lock` refreshes it), and the Pulumi CLI pin agrees with the locked SDK (F11)."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlrig.ci import actions

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)")
# Never where credentials are: these run mlrig's own tests and lints, not the platform.
DEV_TOOLS = {
    "pytest", "pytest-xdist", "hypothesis", "moto", "parliament", "kubernetes-validate",
    "check-jsonschema", "zizmor", "ruff", "mypy", "uv", "cel-python", "types-pyyaml",
}  # fmt: skip


def dev_module():
    spec = importlib.util.spec_from_file_location("mlrig_dev", ROOT / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entries() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of every pinned requirement."""
    found: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            found[current] = (match.group(2), [])
        elif current and line.strip().startswith("--hash=sha256:"):
            found[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return found


@pytest.fixture(scope="module")
def pinned() -> dict[str, tuple[str, list[str]]]:
    return entries()


def test_every_runtime_dependency_and_the_build_backend_is_pinned_with_hashes(pinned) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for text in project["project"]["dependencies"] + project["build-system"]["requires"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements.lock: run `python3 dev.py lock`"
        version, _ = pinned[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} ∉ {requirement}"
    for name, (_, hashes) in pinned.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


def test_no_test_or_lint_tool_is_locked(pinned) -> None:
    assert not DEV_TOOLS & set(pinned)


def test_the_lock_was_compiled_from_the_current_pyproject() -> None:
    dev = dev_module()
    header = re.search(r"^# inputs-sha256: ([0-9a-f]{64})$", LOCK.read_text(), re.MULTILINE)
    assert header, "requirements.lock lacks its inputs digest: run `python3 dev.py lock`"
    assert header.group(1) == dev.lock_digest(dev.lock_inputs()), "pyproject.toml changed: run `python3 dev.py lock`"


def test_the_pulumi_cli_pin_is_the_locked_pulumi_sdk(pinned) -> None:
    assert pinned["pulumi"][0] == actions.PULUMI_CLI_VERSION
