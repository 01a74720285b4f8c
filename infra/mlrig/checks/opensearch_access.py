"""OpenSearch fine-grained access control: every IAM principal a domain lets in is mapped.

With fine-grained access control (FGAC) a signed request passes the domain access policy and is
then refused (403) unless an OpenSearch security role is mapped to the caller's IAM role. AWS has
no API for those mappings: only the domain's master user sets them, through the security REST API
inside the VPC. mlrig's mapping Job (`project/vector_search.py`) says what it maps in annotations:
the domain, and security role -> IAM role ARNs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .. import naming
from . import Violation, check
from .graph import Resource, StackGraph, as_list, dig

DOMAIN = "aws:opensearch/domain:Domain"
JOB = "kubernetes:batch/v1:Job"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def allowed_principals(domain: Resource) -> set[str]:
    """IAM principals the domain access policy allows (by ARN)."""
    text = domain.get("accessPolicies")
    if not isinstance(text, str):
        return set()
    document: dict[str, Any] = json.loads(text)
    found: set[str] = set()
    for statement in as_list(document.get("Statement")):
        if statement.get("Effect") == "Allow":
            found |= {str(p) for p in as_list(dig(statement, "Principal", "AWS"))}
    return found


def mapping_jobs(graph: StackGraph, domain_name: str) -> list[Resource]:
    return [
        job
        for job in graph.of_type(JOB)
        if job.annotations.get(naming.OPENSEARCH_DOMAIN_ANNOTATION) == domain_name
        and naming.OPENSEARCH_ROLE_MAPPINGS_ANNOTATION in job.annotations
    ]


def mapped_principals(job: Resource) -> set[str]:
    mappings = json.loads(job.annotations[naming.OPENSEARCH_ROLE_MAPPINGS_ANNOTATION])
    return {str(arn) for arns in mappings.values() for arn in arns}


def job_role(graph: StackGraph, job: Resource) -> str | None:
    """The IAM role EKS Pod Identity gives the Job's pods (None: none, or unknown)."""
    account = dig(job.spec, "template", "spec", "serviceAccountName")
    for association in graph.of_type(POD_IDENTITY):
        if association.get("namespace") == job.namespace and association.get("serviceAccount") == account:
            role = association.get("roleArn")
            return str(role) if role else None
    return None


@check(
    "MLRIG-SEC-008",
    "Every IAM principal an OpenSearch domain with fine-grained access control lets in is mapped to a "
    "security role, by a Job running as the master user",
    "With fine-grained access control a principal the domain access policy allows but no OpenSearch security "
    "role maps gets 403 on every call: the index-refresh pipeline cannot write and serving cannot search. Only "
    "the master user can create the mappings.",
    applies_to=(DOMAIN, JOB, POD_IDENTITY),
)
def opensearch_principals_are_mapped(graph: StackGraph) -> Iterator[Violation]:
    for domain in graph.of_type(DOMAIN):
        if not dig(domain.inputs, "advancedSecurityOptions", "enabled"):
            continue
        name = str(domain.get("domainName") or domain.name)
        master = dig(domain.inputs, "advancedSecurityOptions", "masterUserOptions", "masterUserArn")
        clients = allowed_principals(domain) - {str(master)}
        jobs = mapping_jobs(graph, name)
        mapped: set[str] = set()
        for job in jobs:
            role = job_role(graph, job)
            if master and role != master:
                yield Violation(
                    job,
                    f"{job.k8s_name} maps roles on {name} as {role or 'no IAM role'}, not as its master user "
                    f"{master}: the security API refuses it",
                    "run the Job with a service account whose Pod Identity association names the master user's role",
                )
            else:
                mapped |= mapped_principals(job)
        for principal in sorted(clients - mapped):
            yield Violation(
                domain,
                f"{principal} may reach {name} but no OpenSearch security role is mapped to it: every call gets 403",
                "map it (a Job running as the master user PUTs `_plugins/_security/api/rolesmapping/<role>`), "
                "or remove it from the domain access policy",
            )
