"""The Pulumi entry point: `pulumi up` (infra/__main__.py, config mlrig:bundle/environment) and
`mlrig plan` run the same program; bad config fails with a clear message, not a traceback."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import pytest

from mlrig import examples
from mlrig.plan.engine import PlanError, plan_stack

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "infra"  # Pulumi.yaml: `main: infra/`


def pulumi_up(config: dict[str, str], stack: str = "acme-ml.dev"):
    """What `pulumi up` runs — the Python language host does `run_in_stack(lambda:
    runpy.run_path(<main>, run_name="__main__"))` — under the plan engine's mocks."""
    return plan_stack(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack=stack, config=config)


def test_pulumi_up_registers_exactly_what_mlrig_plan_shows(platform_plan, example_repo):
    # example_repo is the working directory: Pulumi runs the program from the repository root
    planned = platform_plan("dev")
    applied = pulumi_up(
        {"mlrig:bundle": "bundles/platform.yaml", "mlrig:environment": "dev", "aws:region": "us-east-1"}
    )
    assert applied.to_json() == planned.to_json()
    assert applied.of_type("aws:eks/cluster:Cluster")


def test_a_project_bundle_dispatches_to_the_project_program(monkeypatch, example_repo):
    import mlrig.project.stack as project_stack

    calls = []
    monkeypatch.setattr(
        project_stack, "deploy_project", lambda project, env, settings=None: calls.append((project.name, env.stack))
    )
    pulumi_up(
        {"mlrig:bundle": "bundles/fraud-detection.yaml", "mlrig:environment": "staging"},
        stack="fraud-detection.staging",
    )
    assert calls == [("fraud-detection", "fraud-detection.staging")]


def test_an_invalid_bundle_fails_the_stack_with_every_diagnostic(tmp_path: Path, monkeypatch):
    shutil.copy(examples.path("platform.yaml"), tmp_path / "platform.yaml")
    bundle = tmp_path / "platform.yaml"
    bundle.write_text(bundle.read_text().replace("tier: staging", "tier: stagin").replace("tier: prod", "tier: live"))
    with pytest.raises(PlanError) as caught:
        pulumi_up({"mlrig:bundle": str(bundle), "mlrig:environment": "dev"})
    message = caught.value.message
    assert f"bundle {bundle} is invalid" in message
    assert "spec.environments.staging.tier" in message
    assert "spec.environments.prod.tier" in message
    assert "Traceback" not in message


def test_an_environment_the_bundle_does_not_have_is_named_with_the_ones_it_has(example_repo):
    with pytest.raises(PlanError) as caught:
        pulumi_up({"mlrig:bundle": "bundles/platform.yaml", "mlrig:environment": "qa"}, stack="acme-ml.qa")
    assert caught.value.message == "Platform acme-ml has no environment 'qa'; its environments: dev, staging, prod"


def test_missing_stack_config_names_the_key_to_set():
    with pytest.raises(PlanError) as caught:
        pulumi_up({"mlrig:environment": "dev"})
    assert "mlrig:bundle" in caught.value.message


def test_a_bundle_path_that_does_not_exist_is_a_clear_error():
    with pytest.raises(PlanError) as caught:
        pulumi_up({"mlrig:bundle": "bundles/missing.yaml", "mlrig:environment": "dev"})
    assert caught.value.message == "bundles/missing.yaml: no such file or directory"


def test_a_stack_whose_name_does_not_match_its_bundle_gets_a_warning(monkeypatch, example_repo):
    import mlrig.platform.stack as platform_stack

    monkeypatch.setattr(platform_stack, "deploy_platform", lambda platform, env, settings=None: None)
    plan = pulumi_up({"mlrig:bundle": "bundles/platform.yaml", "mlrig:environment": "dev"}, stack="scratch")
    assert plan.warnings == ["stack 'scratch' deploys bundles/platform.yaml (dev); mlrig names it 'acme-ml.dev'"]


def test_the_bundle_path_is_resolved_from_the_project_root_whatever_the_working_directory(tmp_path, monkeypatch):
    """Pulumi may run the program from its `main:` directory: `mlrig:bundle` stays relative to
    the repository root (where Pulumi.yaml is)."""
    from mlrig.program import bundle_path

    examples.copy_to(tmp_path / "bundles")
    (tmp_path / "Pulumi.yaml").write_text("name: mlrig\nruntime: python\nmain: infra/\n")
    (tmp_path / "infra").mkdir()
    monkeypatch.chdir(tmp_path / "infra")
    assert bundle_path("bundles/platform.yaml", None).resolve() == (tmp_path / "bundles/platform.yaml").resolve()
    assert bundle_path("bundles/platform.yaml", str(tmp_path)) == tmp_path / "bundles/platform.yaml"
    monkeypatch.chdir(tmp_path)
    assert bundle_path("bundles/platform.yaml", None) == Path("bundles/platform.yaml")
