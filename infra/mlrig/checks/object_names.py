"""Names of Kubernetes objects as the cluster takes them: one resource per object, and names short
enough for the objects KServe derives from them.

Every name a bundle's items give is checked for its own limits at validation; these checks see the
names as planned, so a derived name nobody measured (an endpoint's `-canary` InferenceService, its
`-predictor` Deployment) is caught too.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import naming
from . import Violation, check
from .graph import Resource, StackGraph

# Resources that patch or render an object another resource (or the cluster) owns, by design.
NOT_OWNERS = ("Patch", "Release", "ConfigFile", "ConfigGroup")


def object_key(resource: Resource) -> tuple[str, str, str | None, str] | None:
    """(API group and version, kind, namespace, name) of the object a resource declares, or None
    when it patches or renders objects rather than declaring one."""
    if not resource.is_kubernetes or resource.kind.endswith(NOT_OWNERS):
        return None
    api = resource.type.split(":")[1]
    group = api.rsplit("/", 1)[0] if "/" in api else api
    return group, resource.kind, resource.namespace, resource.k8s_name


@check(
    "MLRIG-DEP-107",
    "Each Kubernetes object is declared by one resource",
    "Two resources declaring the same object (kind, namespace and name) fight over it: the second "
    "create fails with AlreadyExists, or under server-side apply each apply undoes the other's fields.",
)
def one_resource_per_object(graph: StackGraph) -> Iterator[Violation]:
    seen: dict[tuple[str, str, str | None, str], Resource] = {}
    for resource in (*graph.context, *graph.resources):
        key = object_key(resource)
        if key is None:
            continue
        first = seen.setdefault(key, resource)
        if first is not resource:
            where = f" in namespace {key[2]}" if key[2] else ""
            yield Violation(
                resource,
                f"{key[1]} '{key[3]}'{where} is also declared by {first.name} ({first.type})",
                "give one of the two a different name (for bundle items, rename the item that derives it)",
            )


def kserve_labels(resource: Resource) -> list[tuple[str, str]]:
    """(what, value) of the pod label and the host DNS label KServe (RawDeployment) derives for an
    InferenceService's predictor (`isvc.<name>-predictor`, `<name>-predictor-<namespace>`) or an
    InferenceGraph's router (`isvc.<name>`, `<name>-<namespace>`)."""
    component = resource.k8s_name
    if resource.kind == "InferenceService":
        component = naming.kserve_predictor(component)
    found = [("pod label", naming.KSERVE_POD_LABEL_PREFIX + component)]
    if resource.namespace:
        found.append(("host label", naming.kserve_host_label(component, resource.namespace)))
    return found


@check(
    "MLRIG-DEP-108",
    "KServe can label and address the pods of every InferenceService and InferenceGraph",
    "KServe labels the pods it runs `app: isvc.<service>-predictor` (a graph's router `isvc.<graph>`) "
    "and derives their host `<service>-predictor-<namespace>.<domain>`; a label value and a DNS label "
    "each hold 63 characters, so for a longer name the API server refuses the Deployment or KServe's "
    "reconcile fails on the host, and the endpoint never serves while everything else deploys.",
    applies_to=(
        "kubernetes:serving.kserve.io/v1beta1:InferenceService",
        "kubernetes:serving.kserve.io/v1alpha1:InferenceGraph",
    ),
)
def kserve_derived_names_fit(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.kubernetes("InferenceService", "InferenceGraph"):
        for what, value in kserve_labels(resource):
            if len(value) > naming.LABEL_VALUE_LIMIT:
                yield Violation(
                    resource,
                    f"KServe would derive the {what} '{value}' ({len(value)} characters, over "
                    f"{naming.LABEL_VALUE_LIMIT})",
                    "shorten the endpoint's name (or the project's)",
                )


@check(
    "MLRIG-DEP-109",
    "Argo accepts every CronWorkflow's name",
    "Argo names each run of a CronWorkflow `<name>-<10-digit timestamp>` and refuses a CronWorkflow "
    "whose name is over 52 characters: the object is created, and the schedule never fires.",
    applies_to=("kubernetes:argoproj.io/v1alpha1:CronWorkflow",),
)
def cron_workflow_names_fit(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.kubernetes("CronWorkflow"):
        if len(resource.k8s_name) > naming.ARGO_CRON_NAME_LIMIT:
            yield Violation(
                resource,
                f"CronWorkflow name '{resource.k8s_name}' is {len(resource.k8s_name)} characters, over Argo's "
                f"{naming.ARGO_CRON_NAME_LIMIT}",
                "shorten the pipeline's name",
            )
