"""The platform has the last word on dev reading prod data: where its
`tenancy.prodReadAccessFromDev` is false (the default), a project that says nothing gets no
dev→prod reads, and (validation) a project that asks for them is rejected."""

from __future__ import annotations

import pytest

from mlrig.plan.engine import StackPlan

from .conftest import SAMPLE_KEYS, moto_world, plan_variant
from .iam_eval import StackIam


@pytest.fixture(scope="module")
def platform_forbids_iam(tmp_path_factory: pytest.TempPathFactory, repo_root) -> dict[str, StackIam]:
    """fraud-detection saying nothing about prod reads, on a platform that does not allow them."""
    plans: dict[str, StackPlan] = plan_variant(
        tmp_path_factory.mktemp("platform-forbids"),
        repo_root,
        "fraud-detection.yaml",
        [("    prodReadAccessFromDev: true\n", "")],
        "platform-forbids",
        platform_replacements=[("prodReadAccessFromDev: true ", "prodReadAccessFromDev: false")],
    )
    return {e: StackIam.of(plan) for e, plan in plans.items()}


@pytest.mark.slow
def test_where_the_platform_forbids_it_dev_cannot_read_prod_data(platform_forbids_iam: dict[str, StackIam]) -> None:
    # F7: only the project decided (`prodReadAccessFromDev`, default true); now the platform does.
    prod, dev = platform_forbids_iam["prod"], platform_forbids_iam["dev"]
    dev_roles = [r["arn"] for r in dev.roles.values()]
    documents = [*prod.bucket_policies.values(), prod.key_policy]
    assert not [arn for arn in dev_roles for doc in documents if arn in str(doc)]
    with moto_world(list(platform_forbids_iam.values())) as world:
        for persona in ("data-scientist", "ml-engineer"):
            role = dev.persona_role(persona)
            assert not world.can(role, "read", prod.bucket("data"), SAMPLE_KEYS["data"][0])
            assert world.can(role, "read", platform_forbids_iam["staging"].bucket("data"), SAMPLE_KEYS["data"][0])
