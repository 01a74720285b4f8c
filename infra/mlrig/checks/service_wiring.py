"""Service wiring: every in-cluster address a stack writes down reaches something.

Addresses: a configuration, an environment variable or a custom resource that names
`http://<service>.<namespace>.svc[.cluster.local][:<port>]` (a tracking URI, the inference
logger, a shadow mirror, a graph step) only works when that Service exists with that port. The
Services are the stack's own, and those KServe makes in RawDeployment mode: `<isvc>-predictor`
for each InferenceService's predictor and `<graph>` for each InferenceGraph, both on port 80.
Only namespaces the stack creates are judged (another namespace's Services, made by Helm charts,
are not in the graph).

Graph steps: an InferenceGraph's Splitter posts each request's body to its step's `serviceUrl`;
left empty, KServe fills it with `/v1/models/<model name>:predict`, the model name being the
predictor's `--model_name` argument, else the InferenceService's name (kserve v0.15
`GetPredictorEndpoint`, `GetModelName`). The step only works if the server answers that path: a
custom server answers to its `MODEL_NAME` (mlrig's contract for custom images), and vLLM
(KServe's Hugging Face server with `--backend=vllm`) serves only the OpenAI API, its v1 predict
answering "does not support inference".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from . import Violation, check
from .graph import Resource, StackGraph, strings

SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
INFERENCE_GRAPH = "kubernetes:serving.kserve.io/v1alpha1:InferenceGraph"
KSERVE_SERVICE_PORT = 80
URL = re.compile(
    r"https?://([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?(:(\d+))?"
)
OPENAI_PATHS = ("/openai/v1/chat/completions", "/openai/v1/completions")


def service_ports(graph: StackGraph) -> dict[tuple[str | None, str], set[int]]:
    """(namespace, Service) → its ports, the graph's own and those KServe makes."""
    found: dict[tuple[str | None, str], set[int]] = {}
    for service in graph.everywhere(SERVICE):
        ports = {int(p["port"]) for p in service.spec.get("ports") or [] if isinstance(p, Mapping) and p.get("port")}
        found.setdefault((service.namespace, service.k8s_name), set()).update(ports)
    for isvc in graph.everywhere(INFERENCE_SERVICE):
        found.setdefault((isvc.namespace, f"{isvc.k8s_name}-predictor"), set()).add(KSERVE_SERVICE_PORT)
    for inference_graph in graph.everywhere(INFERENCE_GRAPH):
        found.setdefault((inference_graph.namespace, inference_graph.k8s_name), set()).add(KSERVE_SERVICE_PORT)
    return found


def own_namespaces(graph: StackGraph) -> set[str]:
    return {n.k8s_name for n in graph.of_type(NAMESPACE)}


@check(
    "MLRIG-DEP-103",
    "Every in-cluster address names a Service that exists, on a port it exposes",
    "A tracking URI, logger URL, mirror or graph step naming a Service that does not exist (or a port "
    "it does not expose) fails every call, while everything deploys.",
    applies_to=(),
)
def cluster_addresses_resolve(graph: StackGraph) -> Iterator[Violation]:
    namespaces = own_namespaces(graph)
    if not namespaces:
        return
    services = service_ports(graph)
    for resource in graph.resources:
        if not resource.is_kubernetes or resource.kind == NAMESPACE.rsplit(":", 1)[-1]:
            continue
        reported: set[str] = set()
        for text in strings(resource.inputs.get("spec") or resource.inputs.get("data") or {}):
            for match in URL.finditer(text):
                service, namespace, port = match.group(1), match.group(3), int(match.group(7) or 80)
                if namespace not in namespaces or match.group(0) in reported:
                    continue
                reported.add(match.group(0))
                ports = services.get((namespace, service))
                if ports is None:
                    yield Violation(
                        resource,
                        f"{resource.kind} {resource.k8s_name} calls {match.group(0)}: namespace {namespace} has "
                        f"no Service {service}",
                        "point the address at a Service the stack creates (or KServe makes: <isvc>-predictor)",
                    )
                elif port not in ports:
                    yield Violation(
                        resource,
                        f"{resource.kind} {resource.k8s_name} calls {match.group(0)}: Service {service} exposes "
                        f"port(s) {', '.join(str(p) for p in sorted(ports))}, not {port}",
                        "use a port the Service exposes",
                    )


# --- graph steps -----------------------------------------------------------------------------------


def _argument(args: list[Any], name: str) -> str | None:
    for i, arg in enumerate(args):
        text = str(arg)
        if text.startswith(f"{name}="):
            return text.split("=", 1)[1]
        if text == name and i + 1 < len(args):
            return str(args[i + 1])
    return None


def kserve_model_name(isvc: Resource) -> str:
    """The model name KServe puts in a graph step's default URL (`GetModelName`)."""
    predictor = isvc.spec.get("predictor") or {}
    model = predictor.get("model")
    args = (model or {}).get("args") or (((predictor.get("containers") or [{}])[0]) or {}).get("args") or []
    return _argument(list(args), "--model_name") or isvc.k8s_name


def served_paths(isvc: Resource) -> tuple[str, ...] | None:
    """Request paths the predictor's server answers with a model, when the graph can tell."""
    predictor = isvc.spec.get("predictor") or {}
    model = predictor.get("model")
    if isinstance(model, Mapping):
        if "--backend=vllm" in (model.get("args") or []):
            return OPENAI_PATHS
        return (f"/v1/models/{kserve_model_name(isvc)}:predict",)
    containers = predictor.get("containers") or []
    if not containers or not isinstance(containers[0], Mapping):
        return None
    env = {e.get("name"): e.get("value") for e in containers[0].get("env") or [] if isinstance(e, Mapping)}
    name = env.get("MODEL_NAME") or _argument(list(containers[0].get("args") or []), "--model_name")
    return (f"/v1/models/{name or isvc.k8s_name}:predict",)


def step_path(step: Mapping[str, Any], isvc: Resource) -> tuple[str, str]:
    """(host, path) a step's requests go to: its serviceUrl, else the one KServe fills in."""
    url = str(step.get("serviceUrl") or "")
    if not url:
        return f"{isvc.k8s_name}-predictor", f"/v1/models/{kserve_model_name(isvc)}:predict"
    found = re.match(r"https?://([^/.:]+)[^/]*(/.*)?$", url)
    return (found.group(1), found.group(2) or "/") if found else ("", url)


@check(
    "MLRIG-DEP-104",
    "Every InferenceGraph step calls a path its InferenceService's server answers",
    "The Splitter posts to the step's URL (by default /v1/models/<InferenceService>:predict); a custom "
    "server answering to another model name, or vLLM without a v1 predict, fails every request the "
    "graph routes to it.",
    applies_to=(INFERENCE_GRAPH,),
)
def graph_steps_reach_their_models(graph: StackGraph) -> Iterator[Violation]:
    services = {(i.namespace, i.k8s_name): i for i in graph.everywhere(INFERENCE_SERVICE)}
    for inference_graph in graph.of_type(INFERENCE_GRAPH):
        for node_name, node in (inference_graph.spec.get("nodes") or {}).items():
            for step in (node or {}).get("steps") or []:
                isvc = services.get((inference_graph.namespace, step.get("serviceName")))
                if not isinstance(step, Mapping) or isvc is None:
                    continue
                paths = served_paths(isvc)
                host, path = step_path(step, isvc)
                if paths is None:
                    continue
                if host != f"{isvc.k8s_name}-predictor" or path not in paths:
                    yield Violation(
                        inference_graph,
                        f"InferenceGraph {inference_graph.k8s_name} node {node_name}: step {step.get('name')!r} "
                        f"posts to {host}{path}, but InferenceService {isvc.k8s_name}'s server answers "
                        f"{' or '.join(paths)} on {isvc.k8s_name}-predictor",
                        "set the step's serviceUrl to the predictor's Service and the path its server answers",
                    )
