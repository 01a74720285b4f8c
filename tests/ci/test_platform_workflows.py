"""The platform repository's workflows: what runs when, where, with which rights.

The reference architecture's CI/CD: PR → validation + preview; merge → staging; release → prod
behind an approval (and issue 5)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlrig import naming
from mlrig.bundle.validate import ValidationResult
from mlrig.ci import actions

from .conftest import parse

PR = ".github/workflows/mlrig-pull-request.yml"
DEPLOY = ".github/workflows/mlrig-deploy.yml"
RELEASE = ".github/workflows/mlrig-release.yml"
DRIFT = ".github/workflows/mlrig-drift.yml"
SHA_PIN = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def workflows(platform_workflows: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {path: parse(text) for path, text in platform_workflows.items()}


def steps_using(job: dict[str, Any], action: actions.PinnedAction) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action.repository + "@")]


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job.get("steps", []))


def all_jobs(workflows: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, name, job) for path, wf in workflows.items() for name, job in wf["jobs"].items()]


# --- safe by construction --------------------------------------------------------------------------


def test_every_action_is_pinned_to_a_full_commit_with_its_version(platform_workflows: dict[str, str]) -> None:
    for path, text in platform_workflows.items():
        uses = [line for line in text.splitlines() if "uses:" in line]
        assert uses, path
        for line in uses:
            assert SHA_PIN.match(line), f"{path}: unpinned or uncommented action: {line.strip()}"


def test_workflows_grant_nothing_by_default(workflows: dict[str, dict[str, Any]]) -> None:
    for path, wf in workflows.items():
        assert wf["permissions"] == {}, path


def test_only_jobs_that_assume_a_deployment_role_may_request_an_oidc_token(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for path, name, job in all_jobs(workflows):
        assumes = bool(steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS))
        assert (job["permissions"].get("id-token") == "write") == assumes, f"{path}:{name}"
        assert set(job["permissions"].values()) <= {"read", "write"}
        assert job["permissions"].get("contents") == "read", f"{path}:{name}"


def test_pull_request_comments_and_issues_are_writable_only_where_they_are_posted(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for path, name, job in all_jobs(workflows):
        comments = "gh pr comment" in runs(job)
        files_issues = "gh issue create" in runs(job)
        assert (job["permissions"].get("pull-requests") == "write") == comments, f"{path}:{name}"
        assert (job["permissions"].get("issues") == "write") == files_issues, f"{path}:{name}"
        assert comments == (path == PR and name.startswith("preview-"))
        assert files_issues == (path == DRIFT)


def test_no_expression_is_interpolated_into_a_script(workflows: dict[str, dict[str, Any]]) -> None:
    for path, name, job in all_jobs(workflows):
        assert "${{" not in runs(job), f"{path}:{name} interpolates into run:"


def test_checkouts_do_not_persist_the_token_and_every_job_has_a_timeout(workflows: dict[str, dict[str, Any]]) -> None:
    for path, name, job in all_jobs(workflows):
        assert isinstance(job["timeout-minutes"], int), f"{path}:{name}"
        for step in steps_using(job, actions.CHECKOUT):
            assert step["with"]["persist-credentials"] is False, f"{path}:{name}"


# --- pull requests ---------------------------------------------------------------------------------


def test_a_pull_request_is_validated_checked_for_stale_files_tested_and_previewed(
    workflows: dict[str, dict[str, Any]],
) -> None:
    wf = workflows[PR]
    assert wf["on"] == {"pull_request": {"branches": ["main", "release"]}}
    assert "mlrig validate --format github" in runs(wf["jobs"]["validate"])
    assert "mlrig generate --check" in runs(wf["jobs"]["validate"])
    assert "python3 dev.py test" in runs(wf["jobs"]["test"])
    assert 'mlrig affected --base "$BASE_REF"' in runs(wf["jobs"]["affected"])
    assert wf["jobs"]["affected"]["steps"][-1]["env"]["BASE_REF"] == "${{ github.event.pull_request.base.sha }}"


def test_a_pull_request_previews_only_the_affected_stacks_of_each_environment(
    workflows: dict[str, dict[str, Any]], example_result: ValidationResult
) -> None:
    wf = workflows[PR]
    platform = next(iter(example_result.platforms.values()))
    for env in platform.environments.values():
        job = wf["jobs"][f"preview-{env.name}"]
        assert job["needs"] == ["validate", "affected"]
        assert job["if"] == f"needs.affected.outputs.any_{env.name} == 'true'"
        assert job["strategy"]["matrix"] == f"${{{{ fromJSON(needs.affected.outputs.matrix_{env.name}) }}}}"
        assert "environment" not in job, "previews run outside the deploy environments"
        assert 'pulumi preview --stack "$STACK" --diff' in runs(job)
        role = steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS)[0]["with"]["role-to-assume"]
        assert role == naming.platform_preview_role_arn(platform.name, env.name, env.account or "", env.region)
        assert "deployer" not in role, "a pull request can rewrite its workflow: it must not reach a role that applies"
        preview = next(s for s in job["steps"] if s["name"] == "pulumi preview")
        assert preview["env"]["MLRIG_ASSUME_DEPLOYMENT_ROLE"] == "false", "nor may the program assume it"


# --- promotion: dev → staging on merge, prod on release --------------------------------------------


def test_a_merge_applies_dev_then_staging_and_never_prod(workflows: dict[str, dict[str, Any]]) -> None:
    wf = workflows[DEPLOY]
    assert wf["on"] == {"push": {"branches": ["main"]}}
    jobs = wf["jobs"]
    assert set(jobs) == {"affected", "up-dev-platform", "up-dev-projects", "up-staging-platform", "up-staging-projects"}
    assert "up-dev-projects" in jobs["up-staging-platform"]["needs"]
    assert "up-dev-platform" in jobs["up-staging-platform"]["needs"]
    assert "up-dev-platform" in jobs["up-dev-projects"]["needs"], "project stacks read the platform's outputs"
    assert "up-staging-platform" in jobs["up-staging-projects"]["needs"]
    # staging runs only when dev succeeded (or had nothing to do)
    condition = jobs["up-staging-platform"]["if"]
    assert "needs.up-dev-platform.result" in condition and "needs.up-dev-projects.result" in condition
    assert "failure" not in condition and '["success", "skipped"]' in condition


def test_a_release_applies_prod_in_the_prod_environment_only(workflows: dict[str, dict[str, Any]]) -> None:
    wf = workflows[RELEASE]
    assert wf["on"] == {"push": {"branches": ["release"], "tags": ["v*"]}}
    applies = {name: job for name, job in wf["jobs"].items() if name.startswith("up-")}
    assert set(applies) == {"up-prod-platform", "up-prod-projects"}
    assert all(job["environment"] == "prod" for job in applies.values())


def test_every_apply_runs_in_its_environment_with_that_environments_deployer_role(
    workflows: dict[str, dict[str, Any]], example_result: ValidationResult
) -> None:
    platform = next(iter(example_result.platforms.values()))
    for path in (DEPLOY, RELEASE):
        for name, job in workflows[path]["jobs"].items():
            if not name.startswith("up-"):
                continue
            env = platform.environments[job["environment"]]
            credentials = steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS)[0]["with"]
            assert credentials["role-to-assume"] == naming.platform_deployer_role_arn(
                platform.name, env.name, env.account or "", env.region
            )
            assert credentials["aws-region"] == env.region
            assert 'pulumi up --stack "$STACK" --yes' in runs(job)


def test_applies_of_one_stack_queue_and_are_never_cancelled_mid_way(workflows: dict[str, dict[str, Any]]) -> None:
    for path in (DEPLOY, RELEASE):
        for name, job in workflows[path]["jobs"].items():
            if name.startswith("up-"):
                assert job["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
        assert "concurrency" not in workflows[path], "a pending run replaced by a newer one would lose its changes"


def test_pulumi_uses_the_platform_state_backend(workflows: dict[str, dict[str, Any]]) -> None:
    pulumi_steps = 0
    for path, name, job in all_jobs(workflows):
        for step in job["steps"]:
            if re.search(r"^\s*(if )?pulumi (preview|up|stack)", str(step.get("run", "")), re.MULTILINE):
                assert step["env"]["PULUMI_BACKEND_URL"] == "s3://acme-pulumi-state", f"{path}:{name}"
                pulumi_steps += 1
    assert pulumi_steps == 3 + 4 + 2 + 3  # previews, dev+staging applies, prod applies, drift


# --- drift ----------------------------------------------------------------------------------------


def test_every_stack_is_checked_for_drift_every_night(
    workflows: dict[str, dict[str, Any]], example_result: ValidationResult
) -> None:
    wf = workflows[DRIFT]
    assert wf["on"]["schedule"] == [{"cron": "17 4 * * *"}]
    checked = [stack for job in wf["jobs"].values() for stack in job["strategy"]["matrix"]["stack"]]
    expected = [e.stack for p in example_result.platforms.values() for e in p.environments.values()]
    expected += [e.stack for p in example_result.projects.values() for e in p.environments.values()]
    assert sorted(checked) == sorted(expected)
    for job in wf["jobs"].values():
        assert "--refresh --expect-no-changes" in runs(job)
        assert "gh issue comment" in runs(job) and "gh issue create" in runs(job)
        assert "environment" not in job and "deployer" not in str(job)
        assert "'MLRIG_ASSUME_DEPLOYMENT_ROLE': 'false'" in str(job)
