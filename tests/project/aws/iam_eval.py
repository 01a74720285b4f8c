"""What the access-matrix tests need besides moto: the IAM documents of a plan, and a small
evaluator for the resource-based side (bucket and key policies), which moto does not evaluate.

moto evaluates the identity side of S3 requests for real (`enable_iam_authentication`); S3 and
KMS also consult the bucket policy and the key policy. AWS's rules, as applied here:
  same account:  S3 allowed if the identity policy or the bucket policy allows it;
                 KMS allowed if the key policy names the principal, or if it names the account
                 principal (`arn:aws:iam::<account>:root`, "delegate to IAM") and the identity
                 policy allows it;
  cross account: both the identity policy and the resource policy must allow it (the resource
                 policy naming the principal or its account).
An explicit Deny anywhere wins.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

from mlrig.plan.engine import StackPlan

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _document(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class StackIam:
    """The IAM-relevant resources of one project stack's plan."""

    stack: str
    account: str
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {trust, tags, arn}
    role_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # role name -> documents
    buckets: dict[str, str] = field(default_factory=dict)  # bucket name -> data class
    bucket_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_arn: str = ""
    key_alias: str = ""
    key_policy: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, plan: StackPlan) -> StackIam:
        iam = cls(stack=plan.stack, account=str(plan.outputs["accountId"]))
        for role in plan.of_type(ROLE):
            inputs, outputs = role["inputs"], role["outputs"]
            iam.roles[inputs["name"]] = {
                "trust": _document(inputs["assumeRolePolicy"]),
                "tags": inputs.get("tags") or {},
                "arn": outputs["arn"],
            }
        for policy in plan.of_type(ROLE_POLICY):
            iam.role_policies.setdefault(policy["inputs"]["role"], []).append(_document(policy["inputs"]["policy"]))
        for bucket in plan.of_type(BUCKET):
            iam.buckets[bucket["inputs"]["bucket"]] = bucket["inputs"]["tags"]["mlrig:data-class"]
        for policy in plan.of_type(BUCKET_POLICY):
            iam.bucket_policies[policy["inputs"]["bucket"]] = _document(policy["inputs"]["policy"])
        (key,) = plan.of_type(KEY)
        (alias,) = plan.of_type(ALIAS)
        iam.key_arn = key["outputs"]["arn"]
        iam.key_policy = _document(key["inputs"]["policy"])
        iam.key_alias = alias["inputs"]["name"]
        return iam

    def bucket(self, data_class: str) -> str:
        (name,) = (b for b, c in self.buckets.items() if c == data_class)
        return name

    def persona_role(self, persona: str) -> str:
        (name,) = (r for r, v in self.roles.items() if v["tags"].get("mlrig:persona") == persona)
        return name


# --- a small policy evaluator (Allow/Deny, wildcards, the condition operators mlrig uses) -----


def _matches(patterns: Any, value: str, *, case_insensitive: bool = False) -> bool:
    for pattern in _as_list(patterns):
        if case_insensitive:
            if fnmatch.fnmatchcase(value.lower(), str(pattern).lower()):
                return True
        elif fnmatch.fnmatchcase(value, str(pattern)):
            return True
    return False


DIRECT, ACCOUNT = "direct", "account"


def _principal_match(statement: dict[str, Any], principal: str | None) -> str | None:
    """DIRECT when the statement names `principal` (or everyone), ACCOUNT when it names only the
    principal's account (which delegates to that account's IAM policies), None otherwise."""
    if "Principal" not in statement:
        return DIRECT  # identity policy
    wanted = statement["Principal"]
    if wanted == "*":
        return DIRECT
    if principal is None:
        return None
    aws_principals = wanted.get("AWS") if isinstance(wanted, dict) else None
    if aws_principals is None:
        return None
    if aws_principals == "*" or principal in _as_list(aws_principals):
        return DIRECT
    account = principal.split(":")[4]
    if any(p.endswith(f":iam::{account}:root") for p in _as_list(aws_principals)):
        return ACCOUNT
    return None


def _condition_holds(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    for operator, entries in condition.items():
        for key, expected in entries.items():
            if key not in context:
                return False
            actual = [str(v) for v in _as_list(context[key])]
            wanted = [str(v) for v in _as_list(expected)]
            base = operator.split(":")[-1]
            if base in ("StringEquals", "ArnEquals"):
                ok = any(a in wanted for a in actual)
            elif base in ("StringLike", "ArnLike"):
                ok = any(_matches(wanted, a) for a in actual)
            elif base == "StringNotEquals":
                ok = all(a not in wanted for a in actual)
            elif base == "Bool":
                ok = any(a.lower() in [w.lower() for w in wanted] for a in actual)
            else:
                raise AssertionError(f"the evaluator does not know condition operator {operator}")
            if not ok:
                return False
    return True


def _applies(
    statement: dict[str, Any], action: str, resource: str, principal: str | None, context: dict[str, Any]
) -> str | None:
    """How the statement applies to the request (DIRECT, ACCOUNT) or None."""
    if "Action" in statement and not _matches(statement["Action"], action, case_insensitive=True):
        return None
    if "NotAction" in statement and _matches(statement["NotAction"], action, case_insensitive=True):
        return None
    if "Resource" in statement and not _matches(statement["Resource"], resource):
        return None
    match = _principal_match(statement, principal)
    if match is None:
        return None
    return match if _condition_holds(statement.get("Condition", {}), context) else None


def decision(
    documents: list[dict[str, Any]],
    action: str,
    resource: str,
    *,
    principal: str | None = None,
    context: dict[str, Any] | None = None,
) -> str:
    """ "allow" (a statement names the principal), "delegate" (a statement names only its
    account: its IAM policies decide), "deny" (explicit) or "none" (no statement applies)."""
    context = context or {}
    result = "none"
    for document in documents:
        for statement in _as_list(document.get("Statement", [])):
            match = _applies(statement, action, resource, principal, context)
            if match is None:
                continue
            if statement["Effect"] == "Deny":
                return "deny"
            if match == DIRECT:
                result = "allow"
            elif result == "none":
                result = "delegate"
    return result
