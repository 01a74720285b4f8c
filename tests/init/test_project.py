"""`mlrig init project`: a team's bundle from a template that validates and plans, written only
when valid and never over a file; and what the platform must gain to admit it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlrig import examples
from mlrig.bundle.validate import validate_paths
from mlrig.init.admission import platform_admission
from mlrig.init.project import ProjectAnswers
from mlrig.plan.runner import Planner

from .conftest import run_init

IDENTITY_KEYS = ("platform", "repository", "access", "ci")


def init_project(repo: Path, name: str, *flags: str):
    return run_init("project", name, "--no-input", *flags, cwd=repo)


def spec_without_identity(document: dict) -> dict:
    return {k: v for k, v in document["spec"].items() if k not in IDENTITY_KEYS}


@pytest.mark.parametrize("template", ["tabular", "llm", "vision"])
def test_every_template_makes_a_bundle_that_validates_with_the_platform(platform_repo: Path, template: str):
    result = init_project(platform_repo, "team-a", "--repository", "acme/team-a", "--template", template)
    assert result.exit_code == 0, result.output
    validated = validate_paths([platform_repo / "bundles"])
    assert validated.valid, "\n".join(d.text() for d in validated.diagnostics)
    project = validated.projects["team-a"]
    assert project.platform.name == "acme-ml" and project.bundle.spec.repository == "acme/team-a"
    assert list(project.environments) == ["dev", "staging", "prod"]


@pytest.mark.slow
@pytest.mark.parametrize("template", ["tabular", "llm", "vision"])
def test_every_template_plans_in_prod(platform_repo: Path, template: str):
    assert init_project(platform_repo, "team-a", "--repository", "acme/team-a", "--template", template).exit_code == 0
    project = validate_paths([platform_repo / "bundles"]).projects["team-a"]
    plan = Planner().project(project, "prod")
    assert plan.of_type("aws:s3/bucket:Bucket") and plan.of_type("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate")
    assert plan.of_type("kubernetes:karpenter.sh/v1:NodePool")


@pytest.mark.parametrize(("template", "example"), [("tabular", "fraud-detection.yaml"), ("llm", "rag-assistant.yaml")])
def test_the_templates_are_the_shipped_examples_under_the_teams_identity(platform_repo: Path, template, example):
    assert init_project(platform_repo, "team-a", "--repository", "acme/team-a", "--template", template).exit_code == 0
    written = spec_without_identity(yaml.safe_load((platform_repo / "bundles/team-a.yaml").read_text()))
    shipped = spec_without_identity(yaml.safe_load(examples.path(example).read_text()))
    if template == "llm":
        # The application's entry point for torchrun, and a neutral name for the API endpoint.
        assert written["pipelines"]["fine-tune"].pop("command") == ["python", "-m", "team_a"]
        shipped["serving"]["endpoints"][1]["name"] = "api"
        # A new team has no capacity reservation admitted yet (nor a placement group, which needs one).
        tune = shipped["compute"]["pools"][0]
        tune.pop("reservations"), tune.pop("placementGroup")
        shipped["monitoring"]["alerts"] = [{"type": "pagerduty", "target": "team-a-oncall"}]
    else:
        shipped["storage"].pop("prodReadAccessFromDev")
        shipped["monitoring"]["alerts"] = [{"type": "slack", "target": "#team-a-alerts"}]
    assert written == shipped


def test_overrides_follow_the_platforms_tiers_whatever_their_environment_names(tmp_path: Path, lock_file: Path):
    repo = tmp_path / "p"
    result = run_init(
        "platform",
        str(repo),
        "--no-input",
        "--name",
        "corp",
        "--isolation",
        "cluster",
        "--env",
        "sandbox:dev:eu-west-1",
        "--env",
        "live:prod:eu-west-1",
        "--lock",
        str(lock_file),
    )
    assert result.exit_code == 0, result.output
    assert init_project(repo, "vision-x", "--repository", "corp/vision-x", "--template", "vision").exit_code == 0
    bundle = yaml.safe_load((repo / "bundles/vision-x.yaml").read_text())
    assert set(bundle["spec"]["environments"]) == {"sandbox", "live"}
    assert validate_paths([repo / "bundles"]).valid


def test_the_people_and_owners_given_are_in_the_bundle(platform_repo: Path):
    result = init_project(
        platform_repo,
        "fraud",
        "--repository",
        "acme/fraud",
        "--team",
        "risk-ml",
        "--cost-center",
        "cc-1234",
        "--data-scientist",
        "arn:aws:iam::111111111111:role/risk-scientists",
        "--ml-engineer",
        "arn:aws:iam::111111111111:role/risk-engineers",
        "--prod-approver",
        "@acme/risk-leads",
    )
    assert result.exit_code == 0, result.output
    project = validate_paths([platform_repo / "bundles"]).projects["fraud"]
    metadata, spec = project.bundle.metadata, project.bundle.spec
    assert (metadata.team, metadata.owners, metadata.cost_center) == ("risk-ml", ["@acme/risk-ml"], "cc-1234")
    assert spec.access.data_scientists == ["arn:aws:iam::111111111111:role/risk-scientists"]
    assert spec.ci.prod_approvers == ["@acme/risk-leads"]


def test_an_existing_bundle_is_never_overwritten(platform_repo: Path):
    (platform_repo / "bundles/fraud.yaml").write_text("# ours\n")
    result = init_project(platform_repo, "fraud", "--repository", "acme/fraud")
    assert result.exit_code == 1 and "bundles/fraud.yaml" in result.output
    assert (platform_repo / "bundles/fraud.yaml").read_text() == "# ours\n"


def test_a_name_another_bundle_has_is_refused_before_anything_is_written(platform_repo: Path):
    result = init_project(platform_repo, "acme-ml", "--repository", "acme/x")
    assert result.exit_code == 1 and "also a platform's name" in result.output
    assert str(platform_repo / "bundles/acme-ml.yaml") in result.output, "the diagnostic names the would-be file"
    assert not (platform_repo / "bundles/acme-ml.yaml").exists()


def test_outside_a_platform_repository_the_command_says_where_it_looked(tmp_path: Path):
    result = init_project(tmp_path, "fraud", "--repository", "acme/fraud")
    assert result.exit_code == 2 and "--root DIR" in result.output


def test_the_repository_is_required_without_a_terminal(platform_repo: Path):
    result = init_project(platform_repo, "fraud")
    assert result.exit_code == 2 and "--repository is required" in result.output


def test_the_project_is_admitted_in_the_platform_bundle_keeping_its_comments(platform_repo: Path):
    platform = platform_repo / "bundles" / "platform.yaml"
    before = platform.read_text()
    result = init_project(
        platform_repo, "fraud", "--repository", "acme/fraud", "--data-scientist", "arn:aws:iam::111111111111:role/ds"
    )
    assert result.exit_code == 0, result.output
    after = platform.read_text()
    assert "admitted fraud in" in result.output and "the platform team reviews this" in result.output
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in after.splitlines() for line in comments)
    admission = yaml.safe_load(after)["spec"]["tenancy"]["projects"]["fraud"]
    assert admission == {
        "repository": "acme/fraud",
        "principals": ["arn:aws:iam::111111111111:role/ds"],
        "prodApprovers": ["@acme/fraud"],
    }
    assert validate_paths([platform_repo / "bundles"]).valid


def test_a_different_admission_of_the_same_name_is_the_platform_teams_call(platform_repo: Path):
    platform = platform_repo / "bundles" / "platform.yaml"
    assert init_project(platform_repo, "fraud", "--repository", "acme/fraud").exit_code == 0
    (platform_repo / "bundles" / "fraud.yaml").unlink()
    before = platform.read_text()
    result = init_project(platform_repo, "fraud", "--repository", "acme/fraud-v2")
    assert result.exit_code == 1 and "already admits a project 'fraud' with other values" in result.output
    assert platform.read_text() == before and not (platform_repo / "bundles" / "fraud.yaml").exists()


def test_the_admission_snippet_is_the_platforms_tenancy_entry_for_the_project():
    answers = ProjectAnswers(
        name="fraud",
        platform="acme-ml",
        repository="acme/fraud",
        owners=("@acme/fraud",),
        data_scientists=("arn:aws:iam::111111111111:role/ds",),
        ml_engineers=("arn:aws:iam::111111111111:role/mle", "arn:aws:iam::111111111111:role/ds"),
        prod_approvers=("@acme/leads",),
    )
    snippet = platform_admission(answers)
    assert all(line.startswith("  ") for line in snippet.splitlines()), "indented to sit under spec:"
    assert yaml.safe_load(snippet) == {
        "tenancy": {
            "projects": {
                "fraud": {
                    "repository": "acme/fraud",
                    "principals": ["arn:aws:iam::111111111111:role/ds", "arn:aws:iam::111111111111:role/mle"],
                    "prodApprovers": ["@acme/leads"],
                }
            }
        }
    }
