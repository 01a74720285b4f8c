"""No wildcard data access: nobody is allowed every S3 action, or object actions on every resource."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from .. import Violation, check
from ..graph import StackGraph, as_list, json_value

POLICIES = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
}
DATA_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion")


@check(
    "MLRIG-SEC-005",
    "No wildcard access to data",
    "`s3:*`, `*`, or object actions on `Resource: *` grant every bucket in the account, other teams' and "
    "prod's included, the opposite of the access matrix.",
    applies_to=tuple(POLICIES),
)
def no_wildcard_data_access(graph: StackGraph) -> Iterator[Violation]:
    for policy in graph.of_type(*POLICIES):
        document = json_value(policy.inputs.get(POLICIES[policy.type]))
        if not isinstance(document, dict):
            continue
        for statement in as_list(document.get("Statement")):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in as_list(statement.get("Action"))]
            wildcard = [a for a in actions if a in ("*", "s3:*")]
            resources = [str(r) for r in as_list(statement.get("Resource"))]
            data = [a for a in actions if any(fnmatch.fnmatchcase(d.lower(), a.lower()) for d in DATA_ACTIONS)]
            sid = statement.get("Sid") or "(no Sid)"
            if wildcard:
                yield Violation(
                    policy, f"statement {sid} allows {', '.join(wildcard)}", "list the actions the principal needs"
                )
            elif data and "*" in resources:
                yield Violation(
                    policy,
                    f"statement {sid} allows {', '.join(data)} on Resource *",
                    "scope it to the project's bucket ARNs and prefixes",
                )
