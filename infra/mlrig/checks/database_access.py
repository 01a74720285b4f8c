"""Database credentials go only to workloads that need them.

RDS keeps each database's master password in a secret it manages (`rds!db-…`); External Secrets
syncs it into a namespace Secret. The master user owns the database: it can write, drop and
grant. A model server only reads (it queries the vector store the index refresh writes), so a
model server given the master credentials turns any bug or injected prompt in it into write and
drop rights on the whole database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import Violation, check
from .graph import Resource, StackGraph, dig

EXTERNAL_SECRET = "ExternalSecret"
RDS_MASTER_SECRET = ":secret:rds!"  # the name RDS gives the secrets it manages
RDS_INSTANCE = "aws:rds/instance:Instance"


def master_secret_arns(graph: StackGraph) -> set[str]:
    """ARNs of the master-user secrets of the databases in the plan."""
    found = set()
    for instance in graph.everywhere(RDS_INSTANCE):
        for secret in instance.get("masterUserSecrets") or []:
            if isinstance(secret, Mapping) and secret.get("secretArn"):
                found.add(str(secret["secretArn"]))
    return found


def master_credential_secrets(graph: StackGraph, namespace: str | None) -> set[str]:
    """Secrets of the namespace External Secrets fills from a database's master-user secret."""
    masters = master_secret_arns(graph)
    found = set()
    for external in graph.kubernetes(EXTERNAL_SECRET):
        if external.namespace != namespace:
            continue
        keys = {str(dig(item, "remoteRef", "key") or "") for item in external.spec.get("data") or []}
        if any(k in masters or RDS_MASTER_SECRET in k for k in keys):
            found.add(str(dig(external.spec, "target", "name") or external.k8s_name))
    return found


def secrets_read(containers: list[Any]) -> set[str]:
    """Secrets containers read through `envFrom` or `env[].valueFrom.secretKeyRef`."""
    names = set()
    for container in containers:
        if not isinstance(container, Mapping):
            continue
        for source in container.get("envFrom") or []:
            if dig(source, "secretRef", "name"):
                names.add(str(dig(source, "secretRef", "name")))
        for variable in container.get("env") or []:
            if dig(variable, "valueFrom", "secretKeyRef", "name"):
                names.add(str(dig(variable, "valueFrom", "secretKeyRef", "name")))
    return names


def reader_containers(isvc: Resource) -> list[Any]:
    """A model server's containers: it serves queries, it reads."""
    predictor = isvc.spec.get("predictor") or {}
    return [*(predictor.get("containers") or []), *([predictor["model"]] if predictor.get("model") else [])]


@check(
    "MLRIG-SEC-009",
    "A model server that only reads a database is not given its master credentials",
    "The master user can write, drop and grant: a model server holding its password turns any bug or "
    "injected request into write access to the whole database, where a reader role could only SELECT.",
    applies_to=("kubernetes:serving.kserve.io/v1beta1:InferenceService",),
)
def readers_get_no_master_credentials(graph: StackGraph) -> Iterator[Violation]:
    for isvc in graph.kubernetes("InferenceService"):
        masters = master_credential_secrets(graph, isvc.namespace)
        for secret in sorted(secrets_read(reader_containers(isvc)) & masters):
            yield Violation(
                isvc,
                f"InferenceService {isvc.k8s_name} reads Secret {secret}, which holds a database's master "
                "credentials; a model server only reads",
                "give it a reader role's credentials (SELECT on what it queries) and keep the master user for "
                "the job that creates roles",
            )
