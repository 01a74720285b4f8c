"""The URLs the shared Alertmanager posts a project's alerts to come from a Secret only the platform writes.

A project's AlertmanagerConfig names its webhook and Slack URLs by reference to a Secret of its
own namespace (`urlSecret`, `apiURL`), and the Prometheus operator writes whatever that Secret
holds into the shared Alertmanager's configuration. `edit` and `admin` write Secrets and (the
External Secrets chart aggregates them) ExternalSecrets: without a policy holding both, whoever
acts for the project points Alertmanager, which runs in the monitoring namespace past every
project's NetworkPolicies, at Prometheus' lifecycle API or any in-cluster service or host. So an
AlertmanagerConfig taking URLs from Secrets is sound only while an admission policy of its
namespace, bound with Deny, holds Secrets and ExternalSecrets on create, update and delete
(`project/workspace.py`, `<namespace>--alert-routes-locked`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import naming
from . import Violation, check
from .graph import StackGraph, mapping_items
from .network_perimeter import unguarded

WRITES = frozenset({"CREATE", "UPDATE", "DELETE"})
HELD: dict[tuple[str, str], frozenset[str]] = {
    ("", "secrets"): WRITES,
    ("external-secrets.io", "externalsecrets"): WRITES,
}
# Receiver fields whose value is a URL taken from a Secret (monitoring.coreos.com/v1alpha1).
URL_SECRET_FIELDS = ("urlSecret", "apiURL")


def url_secrets(value: Any) -> Iterator[str]:
    """Names of the Secrets a receiver takes a URL from, anywhere in an AlertmanagerConfig spec."""
    for key, item in mapping_items(value):
        if key in URL_SECRET_FIELDS and isinstance(item, Mapping) and item.get("name"):
            yield str(item["name"])


@check(
    "MLRIG-SEC-014",
    "The URLs the shared Alertmanager posts a project's alerts to come from a Secret only the platform writes",
    "The operator copies a receiver's URL Secret into the shared Alertmanager's configuration: if the "
    "project's people or workloads may write that Secret (edit and admin may), they point Alertmanager, "
    "past every project's NetworkPolicies, at Prometheus' /-/quit or any in-cluster service or host.",
    applies_to=("kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig",),
)
def alert_route_secrets_are_the_platforms(graph: StackGraph) -> Iterator[Violation]:
    for config in graph.kubernetes("AlertmanagerConfig"):
        namespace = config.namespace
        secrets = sorted(set(url_secrets(config.spec)))
        if namespace is None or namespace in naming.PLATFORM_NAMESPACES or not secrets:
            continue
        missing = unguarded(graph, namespace, HELD)
        if missing:
            yield Violation(
                config,
                f"AlertmanagerConfig {config.k8s_name} in {namespace} takes receiver URLs from Secret(s) "
                f"{', '.join(secrets)}, but no admission policy of the namespace bound with Deny holds its "
                f"{'; '.join(missing)}",
                "bind the namespace's alert-routes-locked admission policy (project/workspace.py)",
            )
