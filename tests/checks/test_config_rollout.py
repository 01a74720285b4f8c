"""MLRIG-DEP-110: a server that reads its configuration from a ConfigMap of the stack rolls when
that configuration changes (LiteLLM and Vector read their file once, at start)."""

from __future__ import annotations

import pytest

from mlrig import naming
from mlrig.checks import catalogue, run_check
from mlrig.checks.config_rollout import config_maps_read
from mlrig.checks.graph import StackGraph

from .helpers import findings, k8s, record

CONFIG = {"vector.yaml": "sinks: {}\n"}


def config_map(name: str = "logger", data: dict | None = None) -> dict:
    metadata = {"name": name, "namespace": "demo"}
    return record(
        "kubernetes:core/v1:ConfigMap",
        name,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or CONFIG},
    )


def server(annotations: dict | None = None, *, reads: str = "volume", name: str = "logger") -> dict:
    container: dict = {"name": "vector", "image": "timberio/vector"}
    pod: dict = {"containers": [container]}
    if reads == "volume":
        pod["volumes"] = [{"name": "config", "configMap": {"name": name}}]
    elif reads == "envFrom":
        container["envFrom"] = [{"configMapRef": {"name": name}}]
    else:
        container["env"] = [{"name": "URL", "valueFrom": {"configMapKeyRef": {"name": name, "key": "url"}}}]
    template: dict = {"spec": pod}
    if annotations is not None:
        template["metadata"] = {"annotations": annotations}
    return k8s("Deployment", "apps/v1", "logger-deployment", {"replicas": 2, "template": template})


@pytest.mark.parametrize("reads", ["volume", "envFrom", "configMapKeyRef"])
def test_a_server_whose_configuration_change_restarts_nothing_is_found(reads):
    """A new endpoint's log route reached the logger's ConfigMap, and no running Vector."""
    [found] = findings("MLRIG-DEP-110", config_map(), server(reads=reads))
    assert "reads ConfigMap(s) logger" in found.message and "carries no mlrig.io/config-digest" in found.message
    assert "rolled_on_change" in found.hint


def test_a_server_carrying_the_digest_of_its_configuration_passes():
    current = {naming.CONFIG_DIGEST_ANNOTATION: naming.config_digest(CONFIG)}
    assert findings("MLRIG-DEP-110", config_map(), server(current)) == []


def test_a_digest_of_an_older_configuration_is_stale():
    older = {naming.CONFIG_DIGEST_ANNOTATION: naming.config_digest({"vector.yaml": "sinks: {old: {}}\n"})}
    [found] = findings("MLRIG-DEP-110", config_map(), server(older))
    assert "a stale mlrig.io/config-digest" in found.message


def test_a_configuration_not_known_before_the_apply_and_one_the_stack_does_not_write_are_not_judged():
    unknown = config_map(data={"vector.yaml": None})  # an Output not yet resolved in a first preview
    assert findings("MLRIG-DEP-110", unknown, server()) == []
    assert findings("MLRIG-DEP-110", server()) == []  # a ConfigMap someone else writes


def test_what_a_pod_reads_from_config_maps():
    pod = {
        "volumes": [{"name": "a", "configMap": {"name": "one"}}, {"name": "b", "emptyDir": {}}],
        "initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "two"}}, {"secretRef": {"name": "s"}}]}],
        "containers": [
            {"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "three", "key": "k"}}}]}
        ],
    }
    assert config_maps_read(pod) == {"one", "two", "three"}


@pytest.mark.parametrize(("project", "environment"), [("rag-assistant", "prod"), ("fraud-detection", "dev")])
def test_mlrigs_servers_roll_when_their_configuration_changes(project_plan, project, environment):
    """The gateway, the feedback collector and the inference logger read ConfigMaps the stack
    writes; each carries their digest (not vacuously: the servers below do read one)."""
    plan = project_plan(project, environment)
    graph = StackGraph.of(plan.stack, plan.resources)
    readers = [
        r.k8s_name
        for r in graph.kubernetes("Deployment")
        if config_maps_read(r.inputs["spec"]["template"]["spec"]) & {c.k8s_name for c in graph.kubernetes("ConfigMap")}
    ]
    assert "inference-logger" in readers or "llm-gateway" in readers, readers
    assert run_check(catalogue()["MLRIG-DEP-110"], graph) == []


def test_a_server_reading_two_config_maps_carries_the_digest_of_both():
    other = {"url": "https://search.example"}
    both = {f"logger/{k}": v for k, v in CONFIG.items()} | {f"search/{k}": v for k, v in other.items()}
    deployment = server({naming.CONFIG_DIGEST_ANNOTATION: naming.config_digest(both)})
    container = deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "search"}}]
    assert findings("MLRIG-DEP-110", config_map(), config_map("search", other), deployment) == []
    only_one = server({naming.CONFIG_DIGEST_ANNOTATION: naming.config_digest(CONFIG)})
    only_one["inputs"]["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "search"}}]
    [found] = findings("MLRIG-DEP-110", config_map(), config_map("search", other), only_one)
    assert "reads ConfigMap(s) logger, search" in found.message and "a stale" in found.message
