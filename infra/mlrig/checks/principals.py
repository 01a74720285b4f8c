"""Key and principal hygiene: KMS keys keep their account root, and resource policies name only
principals that exist when the stack applies.

KMS and S3 reject a policy that names an IAM principal which does not exist (KMS: "principals in
the key policy must exist and be visible to KMS"). A principal exists when this stack creates it,
when a provider of the stack assumes it, or when a stack this one declares (a StackReference)
creates it. A principal another environment's stack creates must be granted as that account plus
an `aws:PrincipalArn` condition, which needs nothing to exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import Violation, check
from .graph import AWS_PROVIDER, Resource, StackGraph, as_list, json_value, strings

KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
POLICY_FIELDS: dict[str, str] = {
    KEY: "policy",
    KEY_POLICY: "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:sqs/queue:Queue": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:sns/topic:Topic": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
}
IAM_PRINCIPAL = re.compile(
    r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):(?P<kind>role|user)/(?:.*/)?(?P<name>[^/]+)$"
)
ROOT = re.compile(r"^(?:arn:[\w-]+:iam::(?P<account>\d{12}):root|(?P<bare>\d{12}))$")


def statements(document: Any) -> list[dict[str, Any]]:
    document = json_value(document)
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def aws_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        return [str(p) for p in as_list(principal.get("AWS")) if p]
    return []


def key_account(key: Resource) -> str | None:
    arn = key.outputs.get("arn") or key.inputs.get("arn")
    if isinstance(arn, str) and arn.count(":") >= 5:
        return arn.split(":")[4] or None
    return None


def keeps_root(document: Any, account: str | None) -> bool:
    for statement in statements(document):
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        if "kms:*" not in as_list(statement.get("Action")):
            continue
        for principal in aws_principals(statement):
            match = ROOT.match(principal)
            if match and (account is None or account in (match["account"], match["bare"])):
                return True
    return False


@check(
    "MLRIG-DEP-004",
    "Every KMS key policy keeps its account root",
    "Without `arn:…:root` allowed `kms:*`, IAM policies cannot grant use of the key, nobody but the named "
    "admin can ever change it (a recreated admin role leaves it unmanageable), and CreateKey by anyone "
    "else fails KMS's lockout check.",
    applies_to=(KEY, KEY_POLICY),
)
def keys_keep_their_root(graph: StackGraph) -> Iterator[Violation]:
    keys = {k.urn: k for k in graph.of_type(KEY)}
    for resource in graph.of_type(KEY, KEY_POLICY):
        policy = resource.inputs.get("policy")
        if policy is None:
            continue  # no policy given: KMS's default key policy is the root statement
        if json_value(policy) is None:
            continue  # unknown until apply
        account = key_account(keys.get(resource.urn) or resource)
        if keeps_root(policy, account):
            continue
        root = f"arn:aws:iam::{account or '<account>'}:root"
        yield Violation(
            resource,
            f"the key policy has no statement allowing {root} `kms:*`",
            f'add {{"Sid": "EnableIamPolicies", "Effect": "Allow", "Principal": {{"AWS": "{root}"}}, '
            '"Action": "kms:*", "Resource": "*"}',
        )


# --- principals that exist --------------------------------------------------------------------


def assumed_roles(graph: StackGraph) -> set[str]:
    """Roles the stack's AWS providers assume: they exist before the stack runs."""
    found: set[str] = set()
    for provider in graph.of_type(AWS_PROVIDER):
        for item in as_list(json_value(provider.inputs.get("assumeRoles")) or provider.inputs.get("assumeRole")):
            role = item.get("roleArn") if isinstance(item, dict) else None
            if isinstance(role, str):
                found.add(role)
    return found


def created_here(graph: StackGraph) -> set[str]:
    names = set()
    for role in graph.of_type("aws:iam/role:Role", "aws:iam/user:User"):
        for value in (role.inputs.get("name"), role.outputs.get("name")):
            if isinstance(value, str):
                names.add(value)
    return names


def owner_of(graph: StackGraph, name: str) -> str | None:
    prefixes = [p for p in graph.principal_owners if name.startswith(p)]
    return graph.principal_owners[max(prefixes, key=len)] if prefixes else None


@check(
    "MLRIG-DEP-005",
    "Resource policies name only principals that exist when the stack applies",
    "KMS and S3 reject a policy naming a principal that does not exist yet, so a policy naming a role "
    "another stack creates fails every apply that is not in that stack's order; nothing in Pulumi "
    "expresses that order unless the stack is a declared dependency.",
    applies_to=tuple(POLICY_FIELDS),
)
def principals_exist(graph: StackGraph) -> Iterator[Violation]:
    here = created_here(graph)
    assumed = assumed_roles(graph)
    exported = set(strings(graph.reference_outputs()))
    dependencies = graph.dependencies()
    for resource in graph.of_type(*POLICY_FIELDS):
        reported: set[str] = set()
        for statement in statements(resource.inputs.get(POLICY_FIELDS[resource.type])):
            for principal in aws_principals(statement):
                match = IAM_PRINCIPAL.match(principal)
                if match is None or principal in reported:
                    continue
                if match["name"] in here or principal in assumed or principal in exported:
                    continue
                owner = owner_of(graph, match["name"])
                if owner is None or owner == graph.stack or owner in dependencies:
                    continue  # pre-existing (e.g. a person's SSO role), or from a declared dependency
                reported.add(principal)
                yield Violation(
                    resource,
                    f"statement {statement.get('Sid') or '(no Sid)'} names {principal}, which stack {owner} creates; "
                    f"this stack does not depend on {owner}, so the policy fails whenever {owner} is not applied first",
                    f'grant the account instead (Principal {{"AWS": "arn:{match["partition"]}:iam::{match["account"]}:root"}}) '
                    f'with Condition {{"ArnEquals": {{"aws:PrincipalArn": "{principal}"}}}}',
                )
