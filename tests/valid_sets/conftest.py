"""Valid bundle sets nobody wrote the code for: each directory of `sets/` holds one platform and its
projects, written from the bundle reference and deliberately unlike the shipped examples; two more
sets are written by `mlrig init`, as a user would. Each set is validated and planned once per
session, in the one environment its point is about (the others plan the same components)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrig.bundle.validate import ValidationResult, validate_paths
from mlrig.checks import Finding
from mlrig.checks.runner import check_stack, principal_owners
from mlrig.cli import cli
from mlrig.plan.engine import StackPlan
from mlrig.plan.runner import Planner

SETS = Path(__file__).parent / "sets"
# The environment each set is planned in: the one that shows what the set is about.
PLANNED = {
    "account": "production",  # a prod account with its own deployment role and region
    "arm64": "prod",  # four zones in us-west-2, Graviton system nodes
    "efa-placement": "prod",
    "every-kind": "staging",
    "five-envs": "dev-b",  # the second dev-tier environment
    "gpu-sharing": "dev",
    "long-names": "p",  # every name a bundle item gives at the longest its derived names allow
    "llm-opensearch": "prod",
    "max-counts": "prod",
    "minimal": "dev",
    "namespace": "dev",  # not the shared cluster's owner
    "no-gpu": "prod",
    "one-env": "live",
    "overrides": "prod",  # the environment whose overrides change pools, endpoints and pipelines
    "reservations": "prod",
    "second-org": "prod",  # the stack that administered the repository and its prod reviewers
    "shared-queue": "sandbox",  # the dev tier, where the time-sliced pool trains
    "cross-region-import": "live",  # imports the champion from staging's bucket in another region
    "init-namespace": "work",
    "init-account": "prod",
}


@dataclass
class PlannedSet:
    name: str
    directory: Path
    result: ValidationResult
    environment: str
    plans: dict[str, StackPlan] = field(default_factory=dict)  # by stack
    findings: dict[str, list[Finding]] = field(default_factory=dict)  # by stack


def init_set(root: Path, name: str) -> Path:
    """A platform repository written by `mlrig init platform` and `mlrig init project` (every
    template), as a user would start one; its bundles directory."""
    runner = CliRunner()
    if name == "init-namespace":
        flags = ["--isolation", "namespace", "--env", "work:dev:eu-north-1", "--env", "live:prod:eu-north-1"]
        platform = ["--name", "initco", "--github-org", "initco", "--owner", "@initco/platform", *flags]
    else:
        flags = ["--isolation", "account", "--state-account", "999999999999"]
        flags += ["--env", "dev:dev:ca-central-1:777777777777", "--env", "prod:prod:ca-central-1:888888888888"]
        platform = ["--name", "acct", "--github-org", "acct", "--owner", "@acct/platform", *flags]
    repo = root / name
    made = runner.invoke(cli, ["init", "platform", str(repo), "--no-input", "--no-lock", *platform])
    assert made.exit_code == 0, made.output
    org = "initco" if name == "init-namespace" else "acct"
    for template in ("tabular", "llm", "vision"):
        project = [f"{template}-app", "--template", template, "--repository", f"{org}/{template}-app"]
        added = runner.invoke(cli, ["init", "project", *project, "--root", str(repo), "--no-input"])
        assert added.exit_code == 0, added.output
    return repo / "bundles"


@pytest.fixture(scope="session")
def set_directories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    written = {d.name: d for d in sorted(SETS.iterdir()) if d.is_dir()}
    root = tmp_path_factory.mktemp("init")
    return {**written, **{name: init_set(root, name) for name in ("init-namespace", "init-account")}}


_PLANNED: dict[str, PlannedSet] = {}


@pytest.fixture(scope="session")
def planned(set_directories: dict[str, Path]):
    """`planned("arm64")`: the set validated, and every stack of its environment planned and checked."""

    def plan(name: str) -> PlannedSet:
        if name not in _PLANNED:
            directory = set_directories[name]
            result = validate_paths([directory])
            assert result.valid, "\n".join(d.text() for d in result.diagnostics)
            environment = PLANNED[name]
            found = PlannedSet(name, directory, result, environment)
            planner = Planner()
            targets = [*result.platforms.values(), *result.projects.values()]
            owners = principal_owners(targets)
            for target in targets:
                stack = target.environments[environment].stack
                found.plans[stack] = planner.plan(target, environment)
                found.findings[stack] = check_stack(target, environment, planner, owners)
            _PLANNED[name] = found
        return _PLANNED[name]

    return plan
