"""Policy sizes: every IAM document of a stack fits the quota AWS holds it to.

AWS measures a policy without white space and refuses a longer one when the resource is created
or updated (IAM "LimitExceeded", S3 "Policies must be less than 20 KB", KMS "MalformedPolicyDocument"),
so the apply stops half-way. Quotas (IAM and STS quotas, S3 and KMS developer guides): a role's
trust policy 2,048 characters by default; a role's inline policies 10,240 together; a managed
policy 6,144; a bucket policy 20 KB; a key policy 32 KB.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..tenancy import TRUST_POLICY_CHARACTERS, policy_characters
from . import Violation, check
from .graph import Resource, StackGraph, json_value

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
INLINE_POLICIES_CHARACTERS = 10_240
MANAGED_POLICY_CHARACTERS = 6_144
BUCKET_POLICY_BYTES = 20_480
KEY_POLICY_BYTES = 32_768


def characters(document: Any) -> int | None:
    """The size AWS counts: the JSON without white space (None when the plan does not know it)."""
    value = json_value(document)
    return policy_characters(value) if isinstance(value, dict) else None


def _too_long(resource: Resource, field: str, limit: int, what: str) -> Iterator[Violation]:
    size = characters(resource.inputs.get(field))
    if size is not None and size > limit:
        yield Violation(
            resource,
            f"{what} is {size} characters; AWS allows {limit}, so creating it fails",
            "split the grants over fewer, broader-named resources, or name fewer principals",
        )


@check(
    "MLRIG-DEP-010",
    "Every IAM document fits the size AWS allows it",
    "AWS refuses a trust policy, inline or managed policy, bucket policy or key policy above its "
    "size quota when the resource is created, and the apply stops half-way.",
    applies_to=(ROLE, ROLE_POLICY, MANAGED_POLICY, BUCKET_POLICY, KEY, KEY_POLICY),
)
def iam_documents_fit_their_quotas(graph: StackGraph) -> Iterator[Violation]:
    for role in graph.of_type(ROLE):
        yield from _too_long(role, "assumeRolePolicy", TRUST_POLICY_CHARACTERS, "the role's trust policy")
    inline: dict[str, list[tuple[Resource, int]]] = {}
    for policy in graph.of_type(ROLE_POLICY):
        size, owner = characters(policy.inputs.get("policy")), policy.inputs.get("role")
        if size is not None and isinstance(owner, str):
            inline.setdefault(owner, []).append((policy, size))
    for role_name, policies in inline.items():
        total = sum(size for _, size in policies)
        if total > INLINE_POLICIES_CHARACTERS:
            yield Violation(
                policies[-1][0],
                f"the inline policies of role {role_name} are {total} characters together; IAM allows "
                f"{INLINE_POLICIES_CHARACTERS} per role, so the last one put fails",
                "move grants into a managed policy attached to the role",
            )
    for policy in graph.of_type(MANAGED_POLICY):
        yield from _too_long(policy, "policy", MANAGED_POLICY_CHARACTERS, "the managed policy")
    for policy in graph.of_type(BUCKET_POLICY):
        yield from _too_long(policy, "policy", BUCKET_POLICY_BYTES, "the bucket policy")
    for key in graph.of_type(KEY, KEY_POLICY):
        yield from _too_long(key, "policy", KEY_POLICY_BYTES, "the key policy")
