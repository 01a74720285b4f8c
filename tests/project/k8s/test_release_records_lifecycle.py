"""The records other writers leave for the stack (the release CI's image tag, the promote step's
model URIs) live and die with the environment: the stack creates each parameter, empty, and its
writer only overwrites the value, so `pulumi destroy` deletes them and an environment created
again starts with nothing recorded instead of a tag its new, empty repositories never held.
Environments whose CI created its own record before keep working from it until the CI records in
the stack's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlrig import naming
from mlrig.plan.engine import StackPlan
from mlrig.plan.mocks import PlanMocks
from mlrig.project.image_tag import recorded_image_tag

from .conftest import objects
from .test_image_owner import GET_PARAMETERS_BY_PATH, ROLLED, project_images

PARAMETER = "aws:ssm/parameter:Parameter"
OWNED = "/mlrig/p/dev/release/rolled-image-tag"
LEGACY = "/mlrig/p/dev/release/image-tag"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_stack_owns_the_image_tag_record_the_release_ci_writes(project_plan, environment: str) -> None:
    plan = project_plan("fraud-detection", environment)
    wanted = f"/mlrig/fraud-detection/{environment}/release/rolled-image-tag"
    (parameter,) = [r for r in plan.of_type(PARAMETER) if r["inputs"]["name"] == wanted]
    # Created as "nothing recorded"; the CI owns the value, so the stack never resets it.
    assert parameter["inputs"]["type"] == "String"
    assert parameter["inputs"]["insecureValue"] == naming.NOT_RECORDED
    assert parameter["options"]["ignoreChanges"] == ["insecureValue"]
    # Deleted with the environment (or the project's last registry): no record survives it.
    assert not parameter["options"]["protect"] and not parameter["options"]["retainOnDelete"]


def test_an_image_tag_record_the_ci_has_not_written_yet_is_nothing_recorded() -> None:
    assert recorded_image_tag({OWNED: naming.NOT_RECORDED}, OWNED, LEGACY) is None
    assert recorded_image_tag({}, OWNED, LEGACY) is None


def test_the_stacks_own_record_wins_over_the_one_the_ci_created_before() -> None:
    assert recorded_image_tag({OWNED: ROLLED, LEGACY: "older"}, OWNED, LEGACY) == ROLLED


def test_until_the_ci_records_in_the_stacks_parameter_the_earlier_record_is_read(
    monkeypatch: pytest.MonkeyPatch, plan_variant: Callable[..., StackPlan]
) -> None:
    """The first apply after the upgrade: the stack just created its record (empty), the CI's old
    one holds the live tag. Built with `mlrig:imageTag` and not forced, the apply would conflict
    with the roll-out's ownership of the templates."""
    call = PlanMocks.call

    def upgrading(self: PlanMocks, args: Any) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token != GET_PARAMETERS_BY_PATH:
            return call(self, args)
        path = args.args["path"]
        names = [f"{path}/rolled-image-tag", f"{path}/image-tag"]
        found = {"names": names, "values": [naming.NOT_RECORDED, ROLLED], "types": ["String", "String"]}
        return {"id": path, "path": path, **found}, None

    monkeypatch.setattr(PlanMocks, "call", upgrading)
    plan = plan_variant("fraud-detection", None, "staging")
    images = project_images(plan, "fraud-detection", "staging")
    assert images and all(image.endswith(f":{ROLLED}") for found in images.values() for image in found)
    assert all(
        (t["metadata"].get("annotations") or {}).get(naming.PATCH_FORCE_ANNOTATION) == "true"
        for t in objects(plan, "WorkflowTemplate")
    )
