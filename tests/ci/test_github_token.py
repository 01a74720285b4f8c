"""Every generated job that runs pulumi on a stack owning GitHub resources (ProjectRepository:
environments, variables, branch protection, workflow files) hands the GitHub provider an App
token for the repositories those resources live in.

Without one the provider (pulumi-github, bridged from terraform-provider-github) falls back to
`gh auth token`, then to an anonymous client: reading a private repository's environment, secret
or branch protection answers 404, which the provider takes as "deleted" and drops from the state
(a refresh then plans to create them all again: a false drift every night), and prod's approver
team lookups fail outright. So the check is by stack, from what the offline plan says each stack
owns, over every job of every workflow that runs `pulumi up|preview|refresh|destroy|import`,
whatever the template: a new job shape that cannot be matched to its stacks fails the test."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlrig.bundle.validate import ValidationResult
from mlrig.ci import actions
from mlrig.ci.render import platform_ci
from mlrig.plan.engine import StackPlan

from .conftest import parse

pytestmark = pytest.mark.slow

PULUMI = re.compile(r"^\s*pulumi (up|preview|refresh|destroy|import)\b", re.MULTILINE)
WRITES = {"up", "destroy", "import"}
AFFECTED_MATRIX = re.compile(r"^\$\{\{ fromJSON\(needs\.affected\.outputs\.matrix_(\w+?)(_platform|_projects)?\) \}\}$")
MATRIX_VALUE = re.compile(r"\$\{\{ matrix\.(\w+) \}\}")
TOKEN_OUTPUT = re.compile(r"^\$\{\{ steps\.([\w-]+)\.outputs\.token \}\}$")


def github_repositories(plan: StackPlan) -> set[str] | None:
    """The repositories a stack's GitHub resources live in; None when it owns none."""
    github = [r for r in plan.resources if r["type"].startswith("github:") or r["type"] == "pulumi:providers:github"]
    if not github:
        return None
    return {r["inputs"]["repository"] for r in github if "repository" in r["inputs"]}


def matrix_entries(job: dict[str, Any], stacks_of: Callable[[str, str | None], list[str]]) -> list[dict[str, str]]:
    """The matrix entries a job may run with: listed in the workflow, or every stack the
    `affected` job's output of that environment (and kind) may hold."""
    matrix = job.get("strategy", {}).get("matrix")
    if isinstance(matrix, dict) and "stack" in matrix:
        return [{"stack": stack} for stack in matrix["stack"]]
    if isinstance(matrix, dict) and "include" in matrix:
        return list(matrix["include"])
    found = AFFECTED_MATRIX.match(matrix) if isinstance(matrix, str) else None
    if found is None:
        raise AssertionError(f"cannot tell which stacks this job runs pulumi on (matrix {matrix!r}); teach this test")
    kind = {"_platform": "Platform", "_projects": "Project", None: None}[found.group(2)]
    return [{"stack": stack} for stack in stacks_of(found.group(1), kind)]


def resolve(value: str, entry: dict[str, str]) -> str:
    return MATRIX_VALUE.sub(lambda m: entry.get(m.group(1), m.group(0)), value)


def problems(
    workflows: dict[str, dict[str, Any]],
    repositories_of: Callable[[str], set[str] | None],
    stacks_of: Callable[[str, str | None], list[str]],
    organization: str,
) -> Iterator[str]:
    for path, workflow in workflows.items():
        for name, job in workflow["jobs"].items():
            steps = job.get("steps", [])
            for index, step in enumerate(steps):
                commands = set(PULUMI.findall(str(step.get("run", ""))))
                if not commands:
                    continue
                for entry in matrix_entries(job, stacks_of):
                    needed = repositories_of(entry["stack"])
                    if needed is None:
                        continue
                    where = f"{path}:{name} ({entry['stack']}, owns GitHub resources of {sorted(needed)})"
                    yield from token_problems(job, steps[:index], step, entry, needed, commands, organization, where)


def token_problems(
    job: dict[str, Any],
    earlier: list[dict[str, Any]],
    step: dict[str, Any],
    entry: dict[str, str],
    needed: set[str],
    commands: set[str],
    organization: str,
    where: str,
) -> Iterator[str]:
    env = step.get("env", {})
    token_ref = TOKEN_OUTPUT.match(str(env.get("GITHUB_TOKEN", "")))
    if token_ref is None:
        yield f"{where}: `pulumi {' '.join(sorted(commands))}` runs without a GITHUB_TOKEN from an App token step"
        return
    if env.get("GITHUB_OWNER") != organization:
        yield f"{where}: GITHUB_OWNER is {env.get('GITHUB_OWNER')!r}, not the platform's organisation"
    minted = [
        s
        for s in earlier
        if s.get("id") == token_ref.group(1)
        and str(s.get("uses", "")).startswith(actions.CREATE_GITHUB_APP_TOKEN.repository)
    ]
    if not minted:
        yield f"{where}: GITHUB_TOKEN names step {token_ref.group(1)!r}, which does not mint an App token before it"
        return
    options = minted[0]["with"]
    granted = {r.strip() for r in resolve(str(options.get("repositories", "")), entry).split(",")}
    if options.get("owner") != organization or not needed <= granted:
        yield f"{where}: the token covers {sorted(granted)} of {options.get('owner')!r}"
    if "environment" not in job:
        yield f"{where}: the App key is an environment secret, but the job runs in no GitHub environment"
    permissions = {k: v for k, v in options.items() if k.startswith("permission-")}
    if not commands & WRITES and set(permissions.values()) != {"read"}:
        yield f"{where}: `pulumi {' '.join(sorted(commands))}` writes nothing, yet the token may write: {permissions}"


@pytest.fixture(scope="module")
def checker(
    example_result: ValidationResult,
    platform_plan: Callable[[str], StackPlan],
    project_plan: Callable[[str, str], StackPlan],
) -> Callable[[dict[str, dict[str, Any]]], list[str]]:
    platform = next(iter(example_result.platforms.values()))
    ci = platform_ci(platform, example_result.projects.values())
    plans = {e.stack: platform_plan(name) for name, e in platform.environments.items()}
    for project in example_result.projects.values():
        plans.update({e.stack: project_plan(project.name, name) for name, e in project.environments.items()})
    owned = {stack: github_repositories(plan) for stack, plan in plans.items()}

    def stacks_of(key: str, kind: str | None) -> list[str]:
        (env,) = [e for e in ci.environments if e.key == key]
        return [s.stack for s in env.stacks if kind is None or s.kind == kind]

    def check(workflows: dict[str, dict[str, Any]]) -> list[str]:
        return list(problems(workflows, owned.__getitem__, stacks_of, platform.bundle.spec.github.organization or ""))

    return check


@pytest.fixture(scope="module")
def workflows(platform_workflows: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {path: parse(text) for path, text in platform_workflows.items()}


def test_every_job_that_runs_pulumi_on_a_stack_owning_github_resources_has_a_token_for_them(
    checker: Callable[[dict[str, dict[str, Any]]], list[str]],
    workflows: dict[str, dict[str, Any]],
    project_plan: Callable[[str, str], StackPlan],
) -> None:
    assert github_repositories(project_plan("fraud-detection", "prod")) == {"fraud-detection"}, (
        "the examples' prod project stacks administer their repository: the check has work to do"
    )
    assert checker(workflows) == []


def test_the_check_catches_a_drift_job_that_refreshes_a_repository_without_a_token(
    checker: Callable[[dict[str, dict[str, Any]]], list[str]], workflows: dict[str, dict[str, Any]]
) -> None:
    """How the nightly drift was generated before: every stack of an environment in one job,
    no token, no environment."""
    drift = copy.deepcopy(workflows[".github/workflows/mlrig-drift.yml"])
    plain, repositories = drift["jobs"]["drift-prod"], drift["jobs"].pop("drift-prod--repositories")
    plain["strategy"]["matrix"]["stack"] += [entry["stack"] for entry in repositories["strategy"]["matrix"]["include"]]
    found = checker({"drift.yml": drift})
    assert found and all("drift.yml:drift-prod" in p and "without a GITHUB_TOKEN" in p for p in found)
    assert {p.split("(")[1].split(",")[0] for p in found} == {"fraud-detection.prod", "rag-assistant.prod"}


def test_the_check_catches_a_token_that_may_write_where_pulumi_only_reads_or_covers_another_repository(
    checker: Callable[[dict[str, dict[str, Any]]], list[str]], workflows: dict[str, dict[str, Any]]
) -> None:
    drift = copy.deepcopy(workflows[".github/workflows/mlrig-drift.yml"])
    job = drift["jobs"]["drift-staging--repositories"]
    token = next(s for s in job["steps"] if s.get("id") == "github-app")
    token["with"]["permission-contents"] = "write"
    assert any("writes nothing, yet the token may write" in p for p in checker({"drift.yml": drift}))
    token["with"]["permission-contents"] = "read"
    token["with"]["repositories"] = "rag-assistant"
    found = checker({"drift.yml": drift})
    assert (
        len(found) == 1 and "fraud-detection.staging" in found[0] and "the token covers ['rag-assistant']" in found[0]
    )
    del job["environment"]
    assert any("runs in no GitHub environment" in p for p in checker({"drift.yml": drift}))
