"""Helpers that read resources, IAM documents and Helm releases out of plans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlrig.plan.engine import StackPlan

# --- reading plans ------------------------------------------------------------------------------


def as_json(value: Any) -> Any:
    """Provider inputs arrive JSON-encoded; resource inputs as objects."""
    return json.loads(value) if isinstance(value, str) else value


def one(plan: StackPlan, token: str, name_part: str = "") -> dict[str, Any]:
    found = [r for r in plan.of_type(token) if name_part in r["name"]]
    assert len(found) == 1, f"expected one {token} named *{name_part}*, found {[r['name'] for r in found]}"
    return found[0]


def helm_release(plan: StackPlan, release: str) -> dict[str, Any] | None:
    found = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"].get("name") == release]
    return found[0] if found else None


IAM_DOCUMENTS: dict[str, str] = {
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:kms/key:Key": "policy",
}


def iam_documents(plan: StackPlan) -> Iterator[tuple[str, str, str]]:
    """(resource type, resource name, policy JSON) of every IAM document in the plan."""
    for token, field in IAM_DOCUMENTS.items():
        for resource in plan.of_type(token):
            document = resource["inputs"].get(field)
            if document:
                yield token, resource["name"], document if isinstance(document, str) else json.dumps(document)
