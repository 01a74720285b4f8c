"""The records other writers leave for the stack (the release CI's image tag, the promote step's
model URIs) live and die with the environment: the stack creates each parameter, empty, and its
writer only overwrites the value, so `pulumi destroy` deletes them and an environment created
again starts with nothing recorded instead of a tag its new, empty repositories never held."""

from __future__ import annotations

import pytest

from mlrig import naming
from mlrig.project.image_tag import recorded_image_tag

PARAMETER = "aws:ssm/parameter:Parameter"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_stack_owns_the_image_tag_record_the_release_ci_writes(project_plan, environment: str) -> None:
    plan = project_plan("fraud-detection", environment)
    (parameter,) = [
        r
        for r in plan.of_type(PARAMETER)
        if r["inputs"]["name"] == f"/mlrig/fraud-detection/{environment}/release/image-tag"
    ]
    # Created as "nothing recorded"; the CI owns the value, so the stack never resets it.
    assert parameter["inputs"]["type"] == "String"
    assert parameter["inputs"]["insecureValue"] == naming.NOT_RECORDED
    assert parameter["options"]["ignoreChanges"] == ["insecureValue"]
    # Deleted with the environment (or the project's last registry): no record survives it.
    assert not parameter["options"]["protect"] and not parameter["options"]["retainOnDelete"]


def test_an_image_tag_record_the_ci_has_not_written_yet_is_nothing_recorded(recwarn) -> None:
    parameter = "/mlrig/p/dev/release/image-tag"
    assert recorded_image_tag({parameter: naming.NOT_RECORDED}, parameter) is None
