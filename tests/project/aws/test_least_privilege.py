"""Least privilege, checked on every IAM document of every project plan: no wildcard actions, no S3
action on every resource, and parliament (an independent IAM linter) finds nothing of MEDIUM
severity or above beyond the justified allowlist. Prod stateful resources are protected."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from parliament import analyze_policy_string, enhance_finding

from mlrig.plan.engine import StackPlan

from .conftest import ENVIRONMENTS, PROJECTS

STACKS = [(p, e) for p in PROJECTS for e in ENVIRONMENTS]
STACK_IDS = [f"{p}.{e}" for p, e in STACKS]
FAILING_SEVERITIES = {"CRITICAL", "HIGH", "MEDIUM", "INVALID", "MALFORMED"}
ALLOWLIST = yaml.safe_load((Path(__file__).parent / "parliament_allowlist.yaml").read_text())
# Actions without resource-level permissions: `Resource: "*"` is the only way to grant them.
ACTIONS_WITHOUT_RESOURCES = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}
STATEFUL_TYPES = {
    "aws:s3/bucket:Bucket",
    "aws:ecr/repository:Repository",
    "aws:rds/instance:Instance",
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
    "aws:opensearch/domain:Domain",
    "aws:glue/catalogDatabase:CatalogDatabase",
}


@dataclass(frozen=True)
class IamDocument:
    resource: str
    resource_type: str
    field: str
    kind: str  # identity | trust | resource
    document: dict[str, Any]

    @property
    def statements(self) -> list[dict[str, Any]]:
        statements = self.document["Statement"]
        return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_strings(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(value, str) and '"Statement"' in value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return
        if isinstance(parsed, dict) and "Statement" in parsed:
            yield path, parsed
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _policy_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _policy_strings(item, f"{path}[{index}]")


def iam_documents(plan: StackPlan) -> list[IamDocument]:
    """Every policy document in the plan's inputs, wherever it sits."""
    documents = []
    for resource in plan.resources:
        for field, document in _policy_strings(resource["inputs"]):
            if field == "assumeRolePolicy":
                kind = "trust"
            elif any("Principal" in s for s in _as_list(document["Statement"])):
                kind = "resource"
            else:
                kind = "identity"
            documents.append(IamDocument(resource["name"], resource["type"], field, kind, document))
    return documents


def allowed(document: IamDocument, issue: str, detail: str) -> bool:
    return any(
        entry["issue"] == issue
        and entry["detail"] in detail
        and document.kind in entry["kinds"]
        and document.resource_type in entry.get("resource_types", [document.resource_type])
        for entry in ALLOWLIST
    )


@pytest.fixture(params=STACKS, ids=STACK_IDS)
def documents(request: pytest.FixtureRequest, project_plan: Callable[[str, str], StackPlan]) -> list[IamDocument]:
    project, environment = request.param
    found = iam_documents(project_plan(project, environment))
    assert {d.kind for d in found} == {"identity", "trust", "resource"}
    return found


@pytest.mark.slow
def test_every_iam_document_passes_parliament(documents: list[IamDocument]) -> None:
    findings = []
    for document in documents:
        policy = analyze_policy_string(json.dumps(document.document))
        for finding in map(enhance_finding, policy.findings):
            if finding.severity in FAILING_SEVERITIES and not allowed(document, finding.issue, str(finding.detail)):
                findings.append(
                    f"{document.resource} ({document.kind}): {finding.severity} {finding.issue} {finding.detail}"
                )
    assert findings == []


def _delegates_to_iam(document: IamDocument, statement: dict[str, Any]) -> bool:
    """A key policy's account-root statement grants nothing itself: it lets the account's IAM
    policies grant use of the key (which these tests check on their own)."""
    principal = statement.get("Principal")
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    return (
        document.resource_type == "aws:kms/key:Key"
        and isinstance(aws, str)
        and aws.endswith(":root")
        and "Condition" not in statement
    )


@pytest.mark.slow
def test_no_allow_statement_grants_a_wildcard_action(documents: list[IamDocument]) -> None:
    wildcards = [
        f"{d.resource}: {action}"
        for d in documents
        for s in d.statements
        if s["Effect"] == "Allow" and not _delegates_to_iam(d, s)
        for action in _as_list(s.get("Action", [])) + _as_list(s.get("NotAction", []))
        if action == "*" or action.endswith(":*") or "NotAction" in s
    ]
    assert wildcards == []


@pytest.mark.slow
def test_no_s3_action_is_granted_on_every_resource(documents: list[IamDocument]) -> None:
    offending = [
        f"{d.resource}: {s.get('Sid')}"
        for d in documents
        if d.kind == "identity"
        for s in d.statements
        if s["Effect"] == "Allow"
        and any(str(a).startswith("s3:") for a in _as_list(s["Action"]))
        and "*" in _as_list(s["Resource"])
    ]
    assert offending == []


@pytest.mark.slow
def test_identity_policies_use_resource_star_only_for_actions_without_resources(documents: list[IamDocument]) -> None:
    offending = [
        f"{d.resource}: {s['Action']}"
        for d in documents
        if d.kind == "identity"
        for s in d.statements
        if s["Effect"] == "Allow"
        and "*" in _as_list(s["Resource"])
        and not set(_as_list(s["Action"])) <= ACTIONS_WITHOUT_RESOURCES
    ]
    assert offending == []


@pytest.mark.slow
@pytest.mark.parametrize("project", PROJECTS)
def test_prod_stateful_resources_are_protected_and_retained(
    project: str, project_plan: Callable[[str, str], StackPlan]
) -> None:
    plan = project_plan(project, "prod")
    stateful = [r for r in plan.resources if r["type"] in STATEFUL_TYPES]
    assert {r["type"] for r in stateful} >= {
        "aws:s3/bucket:Bucket",
        "aws:ecr/repository:Repository",
        "aws:rds/instance:Instance",
        "aws:kms/key:Key",
        "aws:secretsmanager/secret:Secret",
    }
    unprotected = [r["name"] for r in stateful if not (r["options"]["protect"] and r["options"]["retainOnDelete"])]
    assert unprotected == []


@pytest.mark.slow
@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_dev_and_staging_stateful_resources_can_be_torn_down(
    environment: str, project_plan: Callable[[str, str], StackPlan]
) -> None:
    plan = project_plan("fraud-detection", environment)
    protected = [r["name"] for r in plan.resources if r["type"] in STATEFUL_TYPES and r["options"]["protect"]]
    assert protected == []
