"""CI trust is scoped: roles GitHub Actions assume name the audience and the exact subject."""

from __future__ import annotations

from collections.abc import Iterator

from .. import Violation, check
from ..graph import StackGraph, as_list, json_value

GITHUB = "token.actions.githubusercontent.com"
ROLE = "aws:iam/role:Role"


@check(
    "MLRIG-SEC-007",
    "GitHub OIDC trust names the audience and exact subjects; no pull requests into staging or prod",
    "A trust policy without `aud`, with a wildcard `sub` or StringLike, lets any repository or branch of "
    "GitHub (or any pull request, forks included) assume the role.",
    applies_to=(ROLE,),
)
def ci_trust_is_scoped(graph: StackGraph) -> Iterator[Violation]:
    for role in graph.of_type(ROLE):
        document = json_value(role.inputs.get("assumeRolePolicy"))
        if not isinstance(document, dict):
            continue
        for statement in as_list(document.get("Statement")):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            federated = (
                [str(p) for p in as_list((statement.get("Principal") or {}).get("Federated"))]
                if isinstance(statement.get("Principal"), dict)
                else []
            )
            if not any(p.endswith(f"oidc-provider/{GITHUB}") for p in federated):
                continue
            conditions = statement.get("Condition") or {}
            equals = conditions.get("StringEquals") or {}
            audience = as_list(equals.get(f"{GITHUB}:aud"))
            subjects = [str(s) for s in as_list(equals.get(f"{GITHUB}:sub"))]
            problems = []
            if audience != ["sts.amazonaws.com"]:
                problems.append("StringEquals on :aud = sts.amazonaws.com is missing")
            if not subjects:
                problems.append("StringEquals on :sub is missing")
            if any("*" in s or "?" in s for s in subjects):
                problems.append("a :sub has a wildcard")
            loose = [
                op
                for op in conditions
                if op.startswith(("StringLike", "ForAnyValue:StringLike")) and f"{GITHUB}:sub" in (conditions[op] or {})
            ]
            if loose:
                problems.append(f":sub is matched with {', '.join(loose)}")
            if graph.tier in ("staging", "prod") and any(s.endswith(":pull_request") for s in subjects):
                problems.append("a pull_request subject may assume a staging/prod role")
            if problems:
                yield Violation(
                    role,
                    f"role {role.inputs.get('name') or role.name} trusts GitHub loosely: {'; '.join(problems)}",
                    "trust exact `repo:<org>/<repo>:environment:<env>` subjects with StringEquals and aud sts.amazonaws.com",
                )
