"""The platform repository's workflows: what runs when, where, with which rights.

PR → validation and an offline plan, with no credentials; merge → dev, then staging; release
branch → prod behind an approval. Apply jobs install only hash-locked runtime dependencies and a
pinned Pulumi CLI."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlrig import naming
from mlrig.bundle.validate import ValidationResult
from mlrig.ci import actions
from mlrig.ci.render import (
    GITHUB_APP_CLIENT_ID_VARIABLE,
    GITHUB_APP_PRIVATE_KEY_SECRET,
    PR_REPORTS,
    render_platform_workflows,
)

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


def matrix_stacks(job: dict[str, Any]) -> list[str]:
    """The stacks of a job whose matrix lists them (`stack: [...]` or `include: [{stack: ...}]`)."""
    matrix = job["strategy"]["matrix"]
    return list(matrix["stack"]) if "stack" in matrix else [entry["stack"] for entry in matrix["include"]]


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
        checks_out = bool(steps_using(job, actions.CHECKOUT))
        assert (job["permissions"].get("contents") == "read") == checks_out, f"{path}:{name}"


def test_pull_request_comments_and_issues_are_writable_only_where_they_are_posted(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for path, name, job in all_jobs(workflows):
        comments = "gh pr comment" in runs(job)
        files_issues = "gh issue create" in runs(job)
        assert (job["permissions"].get("pull-requests") == "write") == comments, f"{path}:{name}"
        assert (job["permissions"].get("issues") == "write") == files_issues, f"{path}:{name}"
        assert comments == (path == PR and name == "comment")
        assert files_issues == (path == DRIFT and name.startswith("drift-"))


def test_no_expression_is_interpolated_into_a_script(workflows: dict[str, dict[str, Any]]) -> None:
    for path, name, job in all_jobs(workflows):
        assert "${{" not in runs(job), f"{path}:{name} interpolates into run:"


def test_checkouts_do_not_persist_the_token_and_every_job_has_a_timeout(workflows: dict[str, dict[str, Any]]) -> None:
    for path, name, job in all_jobs(workflows):
        assert isinstance(job["timeout-minutes"], int), f"{path}:{name}"
        for step in steps_using(job, actions.CHECKOUT):
            assert step["with"]["persist-credentials"] is False, f"{path}:{name}"


# --- pull requests ---------------------------------------------------------------------------------


def test_a_pull_request_is_validated_checked_for_stale_files_and_planned_offline(
    workflows: dict[str, dict[str, Any]],
) -> None:
    wf = workflows[PR]
    assert wf["on"] == {"pull_request": {"branches": ["main", "release"]}}
    assert set(wf["jobs"]) == {"validate", "plan", "comment"}
    assert "mlrig validate --format github" in runs(wf["jobs"]["validate"])
    assert "mlrig generate --check" in runs(wf["jobs"]["validate"])
    plan = wf["jobs"]["plan"]
    assert "needs" not in plan, "the plan starts with the validation, not after it: the comment comes sooner"
    assert '.venv/bin/mlrig affected --base "$BASE_SHA" --head HEAD --format json' in runs(plan)
    assert '.venv/bin/mlrig plan "$bundle" "${options[@]}" --format json --out "plans/$number.json"' in runs(plan)
    assert "python -m mlrig.ci.plan_summary affected.json plans" in runs(plan)
    affected = next(s for s in plan["steps"] if s["name"] == "mlrig affected")
    assert affected["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"


def test_a_pull_request_never_holds_cloud_credentials(workflows: dict[str, dict[str, Any]]) -> None:
    """F2: the PR runs its own code; a role that reads state would hand it every secret in it."""
    wf = workflows[PR]
    for name, job in wf["jobs"].items():
        assert "id-token" not in job["permissions"], name
        assert not steps_using(job, actions.CONFIGURE_AWS_CREDENTIALS), name
        assert not steps_using(job, actions.PULUMI), "the offline plan needs no Pulumi CLI"
        assert "environment" not in job
        assert "secrets." not in str(job), name
    assert "pulumi preview" not in str(wf) and "role-to-assume" not in str(wf)


def test_a_pull_request_does_not_run_mlrigs_own_test_suite(workflows: dict[str, dict[str, Any]]) -> None:
    """A platform repository's PR check stays green when a team adds its bundle."""
    text = str(workflows[PR])
    assert "dev.py" not in text and "pytest" not in text


def test_the_job_that_comments_runs_no_code_of_the_pull_request(workflows: dict[str, dict[str, Any]]) -> None:
    job = workflows[PR]["jobs"]["comment"]
    assert job["permissions"] == {"pull-requests": "write"}
    assert not steps_using(job, actions.CHECKOUT) and not steps_using(job, actions.SETUP_PYTHON)
    (step,) = job["steps"]
    assert step["env"]["REPORT"] == "${{ needs.plan.outputs.report }}", "the report arrives as data"
    assert step["run"].splitlines() == [
        "printf '%s\\n' \"$REPORT\" > comment.md",
        'gh pr comment "$PR_NUMBER" --body-file comment.md',
    ]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_the_report_is_built_from_pluggable_sections(workflows: dict[str, dict[str, Any]]) -> None:
    plan = workflows[PR]["jobs"]["plan"]
    names = [s["name"] for s in plan["steps"]]
    for report in PR_REPORTS:
        step = plan["steps"][names.index(report.name)]
        assert step["run"] == report.run and f"pr-report/{report.file}" in report.run
    assert names.index("Collect the report") == len(names) - 1
    assert plan["outputs"] == {"report": "${{ steps.report.outputs.report }}"}


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
    assert wf["on"] == {"push": {"branches": ["release"]}}, "no tag trigger: any writer can push a tag"
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
    assert pulumi_steps == 4 + 2 + 5  # dev+staging applies, prod applies, drift (staging, prod: 2 jobs each)


# --- drift ----------------------------------------------------------------------------------------


def test_every_stack_is_checked_for_drift_every_night(
    workflows: dict[str, dict[str, Any]], example_result: ValidationResult
) -> None:
    wf = workflows[DRIFT]
    assert wf["on"]["schedule"] == [{"cron": "17 4 * * *"}]
    drift_jobs = [job for name, job in wf["jobs"].items() if name.startswith("drift-")]
    checked = [stack for job in drift_jobs for stack in matrix_stacks(job)]
    expected = [e.stack for p in example_result.platforms.values() for e in p.environments.values()]
    expected += [e.stack for p in example_result.projects.values() for e in p.environments.values()]
    assert sorted(checked) == sorted(expected)
    assert ".venv/bin/mlrig pins check" in runs(wf["jobs"]["pins"])  # pinned tags still exist upstream
    for job in drift_jobs:
        assert "--refresh --expect-no-changes" in runs(job)
        assert "gh issue comment" in runs(job) and "gh issue create" in runs(job)
        assert job.get("environment", naming.DRIFT_GITHUB_ENVIRONMENT) == naming.DRIFT_GITHUB_ENVIRONMENT
        assert "deployer" not in str(job)
        assert "'MLRIG_ASSUME_DEPLOYMENT_ROLE': 'false'" in str(job)


# --- what the jobs install (F11) -----------------------------------------------------------------


def install_steps(job: dict[str, Any]) -> list[str]:
    return [str(s.get("run", "")) for s in job["steps"] if "pip install" in str(s.get("run", ""))]


def test_every_job_that_runs_mlrig_installs_only_the_hash_locked_runtime_requirements(
    workflows: dict[str, dict[str, Any]],
) -> None:
    jobs = [(path, name, job) for path, name, job in all_jobs(workflows) if steps_using(job, actions.SETUP_PYTHON)]
    assert len(jobs) >= 9
    for path, name, job in jobs:
        (script,) = install_steps(job)
        assert "pip install --disable-pip-version-check --require-hashes -r requirements.lock" in script, name
        assert "[dev]" not in script and "dev.py" not in runs(job), f"{path}:{name}: no test or lint tools"
        assert "-e ." not in script, "a platform repository's lock pins mlrig itself"


def test_in_mlrigs_own_repository_mlrig_comes_from_the_checkout_after_the_locked_dependencies(
    example_result: ValidationResult,
) -> None:
    platform = next(iter(example_result.platforms.values()))
    rendered = render_platform_workflows(platform, list(example_result.projects.values()), mlrig_from_checkout=True)
    for text in rendered.values():
        for job in parse(text)["jobs"].values():
            for script in install_steps(job):
                lines = script.splitlines()
                locked = next(i for i, line in enumerate(lines) if "--require-hashes -r requirements.lock" in line)
                assert lines[locked + 1].endswith(
                    "pip install --disable-pip-version-check --no-deps --no-build-isolation -e ."
                )


def test_every_pulumi_cli_is_the_pinned_version(workflows: dict[str, dict[str, Any]]) -> None:
    found = [step for _, _, job in all_jobs(workflows) for step in steps_using(job, actions.PULUMI)]
    assert len(found) == 4 + 2 + 5
    assert all(step["with"] == {"pulumi-version": actions.PULUMI_CLI_VERSION} for step in found)


def test_each_environment_uses_its_own_secrets_key(workflows: dict[str, dict[str, Any]]) -> None:
    for path, name, job in all_jobs(workflows):
        for step in job["steps"]:
            provider = step.get("env", {}).get("PULUMI_SECRETS_PROVIDER")
            if provider is None:
                continue
            env = (
                name.removeprefix("drift-").removesuffix("--repositories")
                if name.startswith("drift-")
                else job["environment"]
            )
            account = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}[env]
            key = f"arn:aws:kms:us-east-1:{account}:alias/acme-ml-{env}-pulumi-secrets"
            assert provider == f"awskms:///{key}?region=us-east-1", f"{path}:{name}"


# --- the GitHub token of ProjectRepository (I1) -----------------------------------------------------


def test_jobs_that_apply_staging_and_prod_project_stacks_get_a_scoped_github_app_token(
    workflows: dict[str, dict[str, Any]],
) -> None:
    with_token = set()
    for path, name, job in all_jobs(workflows):
        tokens = steps_using(job, actions.CREATE_GITHUB_APP_TOKEN)
        if not tokens:
            assert "GITHUB_TOKEN" not in str(job), f"{path}:{name}"
            continue
        with_token.add(name)
        (token,) = tokens
        assert token["with"]["client-id"] == f"${{{{ vars.{GITHUB_APP_CLIENT_ID_VARIABLE} }}}}"
        assert token["with"]["private-key"] == f"${{{{ secrets.{GITHUB_APP_PRIVATE_KEY_SECRET} }}}}"
        assert token["with"]["owner"] == "acme"
        permissions = {k: v for k, v in token["with"].items() if k.startswith("permission-")}
        pulumi = next(s for s in job["steps"] if str(s["name"]).startswith("pulumi "))
        if name.startswith("up-"):
            assert token["with"]["repositories"] == "fraud-detection,rag-assistant"
            assert permissions == {
                "permission-administration": "write",
                "permission-contents": "write",
                "permission-workflows": "write",
                "permission-environments": "write",
                "permission-actions": "read",
                "permission-members": "read",
            }
            assert job["environment"] in ("staging", "prod"), "the App key is an environment secret"
        else:  # a refresh preview writes nothing: every permission read-only, one repository per stack
            assert token["with"]["repositories"] == "${{ matrix.repository }}"
            assert set(permissions.values()) == {"read"} and "permission-workflows" not in permissions
            assert job["environment"] == naming.DRIFT_GITHUB_ENVIRONMENT, "the App key is an environment secret"
        assert pulumi["env"]["GITHUB_TOKEN"] == "${{ steps.github-app.outputs.token }}"
        assert pulumi["env"]["GITHUB_OWNER"] == "acme"
    assert with_token == {
        "up-staging-projects",
        "up-prod-projects",
        "drift-staging--repositories",
        "drift-prod--repositories",
    }


def test_secrets_are_used_only_in_jobs_bound_to_a_github_environment(workflows: dict[str, dict[str, Any]]) -> None:
    for path, name, job in all_jobs(workflows):
        if "secrets." in str(job):
            assert "environment" in job, f"{path}:{name}"


# --- a platform without a GitHub organisation (newcomer W7) ------------------------------------------

NO_GITHUB = """\
apiVersion: mlrig/v1
kind: Platform
metadata: {name: lean, owners: ["@lean/ops"]}
spec:
  tenancy:
    projects:
      app: {repository: lean/app, prodApprovers: ["@lean/leads"]}
  environments:
    dev: {tier: dev, region: us-east-2}
    prod: {tier: prod, region: us-east-2}
"""


def test_a_platform_without_a_github_organisation_gets_only_the_offline_pull_request_workflow(tmp_path) -> None:
    """The program creates no CI role without `github.organization`: no workflow may assume one."""
    from mlrig.bundle.validate import validate_paths

    (tmp_path / "lean.yaml").write_text(NO_GITHUB)
    (tmp_path / "app.yaml").write_text(
        "apiVersion: mlrig/v1\nkind: Project\nmetadata: {name: app}\nspec: {platform: lean, repository: lean/app}\n"
    )
    result = validate_paths([tmp_path])
    assert result.valid, [d.text() for d in result.diagnostics]
    rendered = render_platform_workflows(result.platforms["lean"], list(result.projects.values()))
    assert set(rendered) == {PR}
    assert "role-to-assume" not in rendered[PR] and "id-token" not in rendered[PR]
    from mlrig.ci.render import render_project_workflows

    assert render_project_workflows(result.projects["app"]) == {}
