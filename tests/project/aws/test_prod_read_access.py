"""`storage.prodReadAccessFromDev: false` removes dev's read access to prod data, and only that:
dev still reads staging data, and nothing else of the access table changes."""

from __future__ import annotations

import pytest

from .conftest import SAMPLE_KEYS, AwsWorld
from .iam_eval import StackIam
from .test_access_matrix import DATA_CLASSES, ENVIRONMENTS, OPERATIONS, PERSONAS, expected

CASES = [
    (persona, home, target, data_class, operation)
    for persona in PERSONAS
    for home in ENVIRONMENTS
    for target in ENVIRONMENTS
    for data_class in DATA_CLASSES
    for operation in OPERATIONS
]


def _id(case: tuple[str, str, str, str, str]) -> str:
    persona, home, target, data_class, operation = case
    allowed = expected(persona, home, target, data_class, operation, prod_read_from_dev=False)
    where = "" if home == target else f"{target} "
    return f"without prod read access: {persona} in {home} {'can' if allowed else 'cannot'} {operation} {where}{data_class}"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_access_table_without_prod_read_access_from_dev(
    case: tuple[str, str, str, str, str], no_prod_read_world: AwsWorld, no_prod_read_iam: dict[str, StackIam]
) -> None:
    persona, home, target, data_class, operation = case
    role = no_prod_read_iam[home].persona_role(persona)
    bucket = no_prod_read_iam[target].bucket(data_class)
    key = SAMPLE_KEYS[data_class][0] + ("" if operation == "read" else ".probe")
    allowed = expected(persona, home, target, data_class, operation, prod_read_from_dev=False)
    assert no_prod_read_world.can(role, operation, bucket, key) is allowed


def test_prod_grants_dev_nothing_without_prod_read_access(no_prod_read_iam: dict[str, StackIam]) -> None:
    """Neither the prod bucket policy nor the prod key policy names a dev role."""
    prod, dev = no_prod_read_iam["prod"], no_prod_read_iam["dev"]
    dev_roles = [r["arn"] for r in dev.roles.values()]
    documents = [*prod.bucket_policies.values(), prod.key_policy]
    assert not [arn for arn in dev_roles for doc in documents if arn in str(doc)]
