"""Cross-environment grants admit exactly the roles the access table names.

Prod's bucket and key policies admit other environments' roles as their account principal
narrowed by `aws:PrincipalArn` (never by naming them: they belong to another stack). This proves,
with moto, that the narrowing holds: the account principal alone lets nobody else in.

(A module of its own: moto's mocked backend is process-wide, so this world must not overlap the
module-scoped world of test_access_matrix.py.)
"""

from __future__ import annotations

from .conftest import SAMPLE_KEYS, moto_world
from .iam_eval import StackIam


def test_a_dev_account_role_outside_the_access_table_cannot_read_prod_data_even_with_iam_rights(
    example_iam: dict[str, dict[str, StackIam]],
) -> None:
    """Prod's bucket and key policies admit the dev account only through `aws:PrincipalArn` on the
    dev persona roles: any other role of the dev account, even one whose own policy allows
    everything on the prod bucket and every key, reads nothing there."""
    dev, prod = example_iam["fraud-detection"]["dev"], example_iam["fraud-detection"]["prod"]
    intruder = StackIam(stack="intruder", account=dev.account)
    name = "dev-account-admin"
    intruder.roles[name] = {
        "trust": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{dev.account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        },
        "tags": {},
        "arn": f"arn:aws:iam::{dev.account}:role/{name}",
    }
    intruder.role_policies[name] = [
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
                {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"},
            ],
        }
    ]
    bucket = prod.bucket("data")
    with moto_world([dev, prod, intruder]) as world:
        assert world.can(dev.persona_role("data-scientist"), "read", bucket, SAMPLE_KEYS["data"][0])
        assert not world.can(name, "read", bucket, SAMPLE_KEYS["data"][0])
