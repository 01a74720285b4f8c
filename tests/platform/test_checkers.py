"""Independent checkers: every Kubernetes object of a core API group passes `kubernetes-validate
--strict` for the cluster's version, and every IAM document passes parliament with no finding of
MEDIUM or above, except the justified entries of parliament_allowlist.yaml."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import kubernetes_validate
import parliament
import pytest
import yaml
from kubernetes_validate.utils import all_versions, latest_version
from parliament import analyze_policy_string, enhance_finding, override_config
from platform_helpers import iam_documents

ALLOWLIST = Path(__file__).with_name("parliament_allowlist.yaml")
# API groups served by Kubernetes itself (kubernetes-validate has their schemas); CRDs of add-ons
# and Helm releases are not Kubernetes objects it can check.
CORE_GROUPS = {
    "core",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "coordination.k8s.io",
    "admissionregistration.k8s.io",
    "certificates.k8s.io",
}
# As `parliament --include-community-auditors` does: their findings' severities live here.
override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))
SEVERITY = {"MUTE": -1, "INFO": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def minor(version: str) -> tuple[int, int]:
    major, minor_, *_ = version.split(".")
    return int(major), int(minor_)


def schema_version(cluster_version: str) -> str:
    """The cluster's version, or the newest kubernetes-validate knows that is not newer."""
    wanted = minor(cluster_version)
    return max((v for v in all_versions() if minor(v) <= wanted), key=minor)


def core_objects(plan):
    for resource in plan.resources:
        match = re.fullmatch(r"kubernetes:([^/]+)/([^:]+):(\w+)", resource["type"])
        if match and match.group(1) in CORE_GROUPS:
            group, version, kind = match.groups()
            body = {k: v for k, v in resource["inputs"].items() if k not in ("apiVersion", "kind")}
            for field in ("stringData", "data"):  # generated secret values the mocks leave unknown
                if isinstance(body.get(field), dict):
                    body[field] = {key: "(computed)" if value is None else value for key, value in body[field].items()}
            api_version = version if group == "core" else f"{group}/{version}"
            yield resource["name"], {"apiVersion": api_version, "kind": kind, **body}


def test_schema_version_falls_back_to_the_newest_supported_not_newer_than_the_cluster():
    assert schema_version("1.34") == "1.34.0"
    assert schema_version("1.99") == latest_version()


def test_every_core_kubernetes_object_passes_strict_validation(every_plan):
    checked = 0
    for plan in every_plan:
        version = schema_version(str(plan.outputs["clusterVersion"]))
        for name, document in core_objects(plan):
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{plan.stack} {name}: {error.message}")
            checked += 1
    assert checked >= 6


def test_strict_validation_would_catch_an_unknown_field():
    bad = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spce": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, schema_version("1.34"), strict=True)


def load_allowlist() -> list[dict[str, str]]:
    entries = yaml.safe_load(ALLOWLIST.read_text()) or []
    for entry in entries:
        assert entry.get("reason", "").strip(), f"allowlist entry without a reason: {entry}"
    return entries


def matches(entry: dict[str, str], token: str, name: str, issue: str, detail: str) -> bool:
    """An entry names the issue and a regex of the resource name; optionally a regex of the
    policy's resource type and of the finding's detail."""
    return (
        entry["issue"] == issue
        and re.search(entry["resource"], name) is not None
        and re.search(entry.get("type", ""), token) is not None
        and re.search(entry.get("detail", ""), detail) is not None
    )


@functools.cache  # the same documents recur across plans and tests
def findings(document: str) -> list[tuple[str, str, str]]:
    """(issue, severity, detail) of parliament's findings, community auditors included."""
    policy = analyze_policy_string(document, include_community_auditors=True)
    return [(f.issue, f.severity, str(f.detail)) for f in map(enhance_finding, policy.findings)]


def test_every_iam_document_passes_parliament(every_plan):
    entries = load_allowlist()
    problems = []
    checked = 0
    for plan in every_plan:
        for token, name, document in iam_documents(plan):
            checked += 1
            for issue, severity, detail in findings(document):
                if SEVERITY.get(severity, 4) >= SEVERITY["MEDIUM"] and not any(
                    matches(e, token, name, issue, detail) for e in entries
                ):
                    problems.append(f"{plan.stack} {token} {name}: {severity} {issue} {detail}")
    assert checked > 20
    assert not problems, "\n".join(problems)


def test_every_allowlist_entry_is_still_needed(every_plan):
    entries = load_allowlist()
    used = {
        index
        for plan in every_plan
        for token, name, document in iam_documents(plan)
        for issue, _, detail in findings(document)
        for index, entry in enumerate(entries)
        if matches(entry, token, name, issue, detail)
    }
    assert [e for i, e in enumerate(entries) if i not in used] == []


def test_parliament_would_catch_a_wildcard_grant():
    document = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
    assert any(SEVERITY.get(severity, 4) >= SEVERITY["MEDIUM"] for _, severity, _ in findings(document))
