"""Servers read their configuration once, at start: a change must reach the running process.

A ConfigMap update alone restarts nothing. A volume's files are refreshed in place (LiteLLM and
Vector do not watch them), and environment variables are fixed when the container starts. So a
long-running server that reads a ConfigMap the stack writes carries that ConfigMap's digest on its
pod template (`naming.CONFIG_DIGEST_ANNOTATION`): a changed configuration changes the template,
and the Deployment rolls its pods.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import naming
from . import Violation, check
from .graph import Resource, StackGraph, as_list, dig

SERVERS = ("Deployment", "StatefulSet", "DaemonSet")


def config_maps_read(pod: Mapping[str, Any]) -> set[str]:
    """Names of the ConfigMaps a pod spec reads: mounted as volumes, or as environment variables
    (`envFrom`, `valueFrom.configMapKeyRef`) of its containers and init containers."""
    names = {dig(volume, "configMap", "name") for volume in as_list(pod.get("volumes"))}
    for container in [*as_list(pod.get("containers")), *as_list(pod.get("initContainers"))]:
        names |= {dig(source, "configMapRef", "name") for source in as_list(dig(container, "envFrom"))}
        names |= {dig(variable, "valueFrom", "configMapKeyRef", "name") for variable in as_list(dig(container, "env"))}
    return {name for name in names if isinstance(name, str)}


def known_data(config_map: Resource) -> dict[str, str] | None:
    """The ConfigMap's `data` when every value is known at plan time, else None."""
    data = config_map.inputs.get("data")
    if not isinstance(data, Mapping) or not all(isinstance(value, str) for value in data.values()):
        return None
    return dict(data)


def expected_digest(config_maps: list[Resource]) -> str | None:
    """The digest a server reading `config_maps` carries: of the one ConfigMap's data, or of
    every one's data keyed `<name>/<key>`; None while a value is unknown (a first preview)."""
    found = [known_data(config_map) for config_map in config_maps]
    if any(data is None for data in found):
        return None
    if len(config_maps) == 1:
        return naming.config_digest(found[0] or {})
    merged = {
        f"{c.k8s_name}/{key}": value
        for c, data in zip(config_maps, found, strict=True)
        for key, value in (data or {}).items()
    }
    return naming.config_digest(merged)


@check(
    "MLRIG-DEP-110",
    "A server rolls when the configuration it reads from the stack changes",
    "LiteLLM and Vector read their configuration file once, at start, and environment variables are "
    "fixed when a container starts: an updated ConfigMap alone reaches no running process, so a "
    "changed gateway limit or a new endpoint's log route would not take effect until the pods "
    "happened to restart. Accepted: the pod template carries the digest of the ConfigMaps of the "
    "stack it reads (`mlrig.io/config-digest`), so a change rolls the pods.",
    applies_to=tuple(f"kubernetes:apps/v1:{kind}" for kind in SERVERS),
)
def servers_roll_on_config_change(graph: StackGraph) -> Iterator[Violation]:
    config_maps = {(r.namespace, r.k8s_name): r for r in graph.kubernetes("ConfigMap")}
    for server in graph.kubernetes(*SERVERS):
        template = dig(server.inputs, "spec", "template") or {}
        names = sorted(config_maps_read(template.get("spec") or {}))
        read = [config_maps[(server.namespace, name)] for name in names if (server.namespace, name) in config_maps]
        expected = expected_digest(read) if read else None
        if expected is None:
            continue
        found = (dig(template, "metadata", "annotations") or {}).get(naming.CONFIG_DIGEST_ANNOTATION)
        if found != expected:
            yield Violation(
                server,
                f"{server.kind} '{server.k8s_name}' reads ConfigMap(s) {', '.join(c.k8s_name for c in read)} of "
                f"this stack, but its pod template carries {'no' if found is None else 'a stale'} "
                f"{naming.CONFIG_DIGEST_ANNOTATION}",
                "put the digest of the ConfigMap's data on the pod template (project/kube.py: rolled_on_change)",
            )
