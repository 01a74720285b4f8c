"""The project images have one value whoever writes them: the project stack builds them with the
tag the release CI recorded when it rolled them out, and only then forces its apply over the
roll-out's ownership of the templates (Argo's lists are atomic under server-side apply)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlrig import naming
from mlrig.plan.engine import StackPlan
from mlrig.plan.mocks import PlanMocks
from mlrig.project.image_tag import recorded_image_tag

from .conftest import objects

GET_PARAMETERS_BY_PATH = "aws:ssm/getParametersByPath:getParametersByPath"
ROLLED = "0f3c2a9d41b7e6c8a5f2d1b0c9e8f7a6b5c4d3e2"


def project_images(plan: StackPlan, project: str, environment: str) -> dict[str, list[str]]:
    """Images of the project's own repositories, by object (`Kind/name`), wherever they appear."""
    found: dict[str, list[str]] = {}

    def walk(value: Any, into: list[str]) -> None:
        if isinstance(value, dict):
            image = value.get("image")
            if isinstance(image, str) and f"/{project}/{environment}/" in image:
                into.append(image)
            for child in value.values():
                walk(child, into)
        elif isinstance(value, list):
            for child in value:
                walk(child, into)

    for kind in ("WorkflowTemplate", "CronWorkflow", "InferenceService", "DaemonSet"):
        for obj in objects(plan, kind):
            images: list[str] = []
            walk(obj.get("spec"), images)
            if images:
                found[f"{kind}/{obj['metadata']['name']}"] = images
    return found


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every environment's release CI has recorded ROLLED as the tag it rolled out."""
    call = PlanMocks.call

    def with_record(self: PlanMocks, args: Any) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token != GET_PARAMETERS_BY_PATH:
            return call(self, args)
        path = args.args["path"]
        return {
            "id": path,
            "path": path,
            "names": [f"{path}/rolled-image-tag"],
            "values": [ROLLED],
            "types": ["String"],
        }, None

    monkeypatch.setattr(PlanMocks, "call", with_record)
    yield


def test_before_any_roll_out_the_images_have_the_stack_setting_tag_and_the_stack_never_forces(project_plan):
    plan = project_plan("rag-assistant", "prod")
    images = project_images(plan, "rag-assistant", "prod")
    assert any(k.startswith("WorkflowTemplate/") for k in images)
    assert all(image.endswith(":ci") for found in images.values() for image in found)
    for template in objects(plan, "WorkflowTemplate"):
        assert naming.PATCH_FORCE_ANNOTATION not in (template["metadata"].get("annotations") or {})


def test_after_a_roll_out_every_project_image_has_the_tag_the_release_recorded(
    recorded: None, plan_variant: Callable[..., StackPlan]
) -> None:
    # Templates and custom servers alike (and pre-pull pods of custom servers): the next `pulumi up` writes what
    # the roll-out wrote, so it neither conflicts with it nor undoes it, and a pipeline or endpoint
    # added (or replaced by a rename) after the roll-out starts on the image the others run.
    for project in ("fraud-detection", "rag-assistant"):
        plan = plan_variant(project, None, "prod")
        images = project_images(plan, project, "prod")
        kinds = {key.split("/")[0] for key in images}
        assert {"WorkflowTemplate", "InferenceService"} <= kinds
        assert all(image.endswith(f":{ROLLED}") for found in images.values() for image in found), images


def test_after_a_roll_out_the_stack_forces_its_apply_of_the_workflow_templates_only(
    recorded: None, plan_variant: Callable[..., StackPlan]
) -> None:
    plan = plan_variant("fraud-detection", None, "prod")
    templates = objects(plan, "WorkflowTemplate")
    assert templates
    for template in templates:
        assert template["metadata"]["annotations"][naming.PATCH_FORCE_ANNOTATION] == "true"
    # The promote step writes a field of the custom servers' containers and has recorded nothing
    # yet: forcing there would put back the model URI the stack set (test_model_uri_owner.py).
    for kind in ("InferenceService", "CronWorkflow"):
        for obj in objects(plan, kind):
            assert naming.PATCH_FORCE_ANNOTATION not in (obj["metadata"].get("annotations") or {}), kind


def test_the_stack_reads_the_tag_only_from_its_own_environments_parameter(
    monkeypatch: pytest.MonkeyPatch, plan_variant: Callable[..., StackPlan]
) -> None:
    asked: list[str] = []
    call = PlanMocks.call

    def recording(self: PlanMocks, args: Any) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == GET_PARAMETERS_BY_PATH:
            asked.append(args.args["path"])
        return call(self, args)

    monkeypatch.setattr(PlanMocks, "call", recording)
    plan_variant("fraud-detection", None, "staging")
    assert asked == ["/mlrig/fraud-detection/staging/release"]


@pytest.mark.parametrize("value", ["", "v1 --privileged", "latest@sha256:abc", "../other/repo", "a" * 129, "-x"])
def test_a_recorded_value_that_is_no_image_tag_is_ignored(value: str) -> None:
    parameter = "/mlrig/p/prod/release/image-tag"
    assert recorded_image_tag({parameter: value}, parameter) is None


def test_a_recorded_tag_is_read_from_its_parameter_only() -> None:
    parameter = "/mlrig/p/prod/release/image-tag"
    assert recorded_image_tag({parameter: ROLLED, "/mlrig/p/prod/release/other": "x"}, parameter) == ROLLED
    assert recorded_image_tag({"/mlrig/p/prod/release/other": ROLLED}, parameter) is None


def test_the_ci_deployer_may_record_its_environments_tag_and_no_other_parameter(project_plan) -> None:
    for environment in ("staging", "prod"):
        plan = project_plan("fraud-detection", environment)
        (policy,) = [
            r["inputs"]
            for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
            if r["inputs"]["role"] == f"fraud-detection--{environment}--ci-deployer"
        ]
        statements = json.loads(policy["policy"])["Statement"]
        actions = [(s, [s["Action"]] if isinstance(s["Action"], str) else s["Action"]) for s in statements]
        ssm = [s for s, granted in actions if any(a.startswith("ssm:") for a in granted)]
        assert len(ssm) == 1 and ssm[0]["Action"] == "ssm:PutParameter"
        assert ssm[0]["Resource"].endswith(f":parameter/mlrig/fraud-detection/{environment}/release/rolled-image-tag")
