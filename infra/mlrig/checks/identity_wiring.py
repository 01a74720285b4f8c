"""Identity wiring: every pod runs as a service account that exists, and a pod that calls AWS has
an identity for it.

A pod naming a ServiceAccount that does not exist is refused by the API server's admission (a
Deployment's ReplicaSet never creates it, an Argo step fails at once). A pod that calls AWS (it is
given a region, an `s3://` location or a bucket) gets credentials only from EKS Pod Identity (an
association for exactly its namespace and service account) or IRSA (the service account's
`eks.amazonaws.com/role-arn` annotation); without either, its SDK finds no credentials, or the
node's, and every call is denied.

Pods are read from the objects that describe them: Deployments, StatefulSets, DaemonSets and Jobs
(`spec.template.spec`), WorkflowTemplates (`spec.serviceAccountName`, and a template's own) and
InferenceServices (`spec.predictor`). Service accounts and associations of the whole graph count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import Violation, check
from .graph import Resource, StackGraph, as_list, mapping_items
from .service_wiring import strings

SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
POD_TEMPLATES = ("Deployment", "StatefulSet", "DaemonSet", "Job")
AWS_ENVIRONMENT = ("AWS_REGION", "AWS_DEFAULT_REGION")


def pod_identities(resource: Resource) -> list[tuple[str | None, Mapping[str, Any]]]:
    """(service account, the pod spec that runs as it) of each pod an object describes. A
    WorkflowTemplate's templates run as the workflow's service account, except those that name
    their own (Argo's template-level `serviceAccountName`)."""
    if resource.kind in POD_TEMPLATES:
        pod = (resource.spec.get("template") or {}).get("spec") or {}
        return [(pod.get("serviceAccountName"), pod)]
    if resource.kind == "WorkflowTemplate":
        templates = [t for t in resource.spec.get("templates") or [] if isinstance(t, Mapping)]
        own = [t for t in templates if t.get("serviceAccountName")]
        rest = {**resource.spec, "templates": [t for t in templates if not t.get("serviceAccountName")]}
        return [(resource.spec.get("serviceAccountName"), rest), *((t.get("serviceAccountName"), t) for t in own)]
    if resource.kind == "InferenceService":
        predictor = resource.spec.get("predictor") or {}
        return [(predictor.get("serviceAccountName"), predictor)]
    return []


def calls_aws(pod: Mapping[str, Any]) -> bool:
    """Whether the pod is given what an AWS client needs: a region, an `s3://` location or a bucket."""
    for text in strings(pod):
        if text.startswith("s3://") or "s3://" in text:
            return True
    return any(name in AWS_ENVIRONMENT or name.endswith("_BUCKET") for name in env_names(pod))


def env_names(value: Any) -> Iterator[str]:
    """Names of the environment variables set anywhere in a pod spec."""
    for key, item in mapping_items(value):
        if key == "env":
            yield from (str(env["name"]) for env in as_list(item) if isinstance(env, Mapping) and env.get("name"))


@check(
    "MLRIG-DEP-105",
    "Every pod runs as a service account that exists, with an AWS identity if it calls AWS",
    "A pod naming a missing service account is never admitted; a pod that calls AWS without a Pod "
    "Identity association (or IRSA role) for its exact namespace and service account gets no "
    "credentials, and every call is denied.",
    applies_to=(),
)
def pods_have_their_identities(graph: StackGraph) -> Iterator[Violation]:
    accounts = {(a.namespace, a.k8s_name): a for a in graph.everywhere(SERVICE_ACCOUNT)}
    associated = {(str(a.get("namespace")), str(a.get("serviceAccount"))) for a in graph.everywhere(ASSOCIATION)}
    for resource in graph.resources:
        if not resource.is_kubernetes:
            continue
        for found in pod_identities(resource):
            if found[0]:
                yield from _identity_violations(resource, str(found[0]), found[1], accounts, associated)


def _identity_violations(
    resource: Resource,
    account: str,
    pod: Mapping[str, Any],
    accounts: Mapping[tuple[str | None, str], Resource],
    associated: set[tuple[str, str]],
) -> Iterator[Violation]:
    """A pod of `resource` running as `account`: the service account exists, and has an AWS
    identity if the pod calls AWS."""
    namespace = resource.namespace
    service_account = accounts.get((namespace, account))
    if service_account is None:
        yield Violation(
            resource,
            f"{resource.kind} {resource.k8s_name} runs its pods as service account {account}, which namespace "
            f"{namespace} does not have: they are never admitted",
            "create the ServiceAccount in the same stack, or name one that exists",
        )
        return
    if not calls_aws(pod):
        return
    irsa = IRSA_ANNOTATION in service_account.annotations
    if (str(namespace), account) not in associated and not irsa:
        yield Violation(
            resource,
            f"{resource.kind} {resource.k8s_name} calls AWS as service account {account} in namespace "
            f"{namespace}, which has no Pod Identity association (nor IRSA role): every call is denied",
            "add a PodIdentityAssociation for this namespace and service account",
        )
