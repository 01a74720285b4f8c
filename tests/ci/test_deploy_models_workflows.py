"""A deploy-models project's CI/CD: staging trains nothing, so a merge's integration run in staging
is the model CD (it imports dev's champion, checks, compares and promotes it there); a release rolls
prod and submits prod's model CD, which imports staging's champion and waits for the approval
`mlrig-approve-model.yml` gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlrig import examples
from mlrig.bundle.validate import validate_paths
from mlrig.ci.render import render_project_workflows

from .checkers import assert_workflows_pass_both_checkers
from .conftest import parse, write_files
from .test_platform_workflows import runs

STAGING = ".github/workflows/mlrig-staging.yml"
RELEASE = ".github/workflows/mlrig-release.yml"
APPROVE = ".github/workflows/mlrig-approve-model.yml"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("deploy-models")
    (directory / "platform.yaml").write_text(examples.path("platform.yaml").read_text())
    text = examples.path("fraud-detection.yaml").read_text()
    for old, new in [
        ("deploymentPattern: deploy-code", "deploymentPattern: deploy-models"),
        ("    retrainOnDrift: true\n", "    retrainOnDrift: false\n"),
    ]:
        assert old in text
        text = text.replace(old, new)
    (directory / "fraud-detection.yaml").write_text(text)
    result = validate_paths([directory])
    assert result.valid, [d.text() for d in result.diagnostics]
    return render_project_workflows(result.projects["fraud-detection"])


def test_a_merge_runs_the_model_cd_in_staging_not_training(rendered: dict[str, str]) -> None:
    integration: dict[str, Any] = parse(rendered[STAGING])["jobs"]["integration-staging"]
    (step,) = (s for s in integration["steps"] if s.get("id") == "pipeline")
    assert step["env"]["TEMPLATE"] == "deploy-model"


def test_a_release_submits_prods_model_cd_after_rolling_out(rendered: dict[str, str]) -> None:
    roll = parse(rendered[RELEASE])["jobs"]["roll-prod"]
    names = [s.get("name", "") for s in roll["steps"]]
    submit = names.index("Submit the model release (deploy-models)")
    assert submit == len(names) - 1 and any(n.startswith("Point the prod pipelines") for n in names[:submit])
    assert roll["steps"][submit]["env"]["TEMPLATE"] == "deploy-model"
    assert "workflowTemplateRef" in runs(roll)
    assert APPROVE in rendered, "prod's model CD waits for the manual approval of the prod environment"


def test_deploy_models_workflows_pass_both_checkers(rendered: dict[str, str], tmp_path: Path) -> None:
    assert_workflows_pass_both_checkers(write_files(tmp_path, rendered))
