"""Alerts on Argo's custom metrics read series that only the project's own workflows may write.

Argo's controller serves the custom metrics of every namespace's workflows as one set of series,
labelled only as each metric's definition says, and a project's alerts pick theirs by the
`project` and `environment` labels. Whoever may create a Workflow in some namespace (Argo
aggregates its kinds into `edit`: a data scientist in dev) writes those labels. So an alert of a
project namespace on `argo_workflows_*` is sound only while an admission policy of that namespace,
bound with Deny, holds every Workflow, WorkflowTemplate and CronWorkflow there on create and update
(`project/workspace.py`, `<namespace>--workflow-metrics`); each other project's namespace has its
own, so no namespace's workflows may label a metric for another.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .. import naming
from . import Violation, check
from .alerting import ARGO_PREFIX, alerts
from .graph import Resource, StackGraph, as_list, dig

ARGO_GROUP = "argoproj.io"
ARGO_KINDS = frozenset({"workflows", "workflowtemplates", "cronworkflows"})
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


def reads_argo_metrics(rule: Resource) -> bool:
    return any(ARGO_PREFIX in str(alert["expr"]) for alert in alerts(rule))


def denies_in(binding: Resource, namespace: str) -> bool:
    """Whether a policy binding denies (not only warns or audits) in `namespace`."""
    selected = dig(binding.inputs, "spec", "matchResources", "namespaceSelector", "matchLabels") or {}
    actions = as_list(dig(binding.inputs, "spec", "validationActions"))
    return "Deny" in actions and isinstance(selected, Mapping) and selected.get(NAMESPACE_LABEL) == namespace


def held_kinds(policy: Resource) -> set[str]:
    """The Argo kinds a policy holds on both create and update."""
    held: set[str] = set()
    for rule in as_list(dig(policy.spec, "matchConstraints", "resourceRules")):
        if not isinstance(rule, Mapping) or ARGO_GROUP not in as_list(rule.get("apiGroups")):
            continue
        if {"CREATE", "UPDATE"} <= set(as_list(rule.get("operations"))) or "*" in as_list(rule.get("operations")):
            held |= {str(r) for r in as_list(rule.get("resources"))} & ARGO_KINDS
    return held


def guarded_kinds(graph: StackGraph, namespace: str) -> set[str]:
    """Argo kinds an admission policy bound with Deny to `namespace` holds."""
    policies = {p.k8s_name: p for p in graph.kubernetes("ValidatingAdmissionPolicy")}
    found: set[str] = set()
    for binding in graph.kubernetes("ValidatingAdmissionPolicyBinding"):
        policy = policies.get(str(dig(binding.inputs, "spec", "policyName")))
        if policy is not None and denies_in(binding, namespace):
            found |= held_kinds(policy)
    return found


@check(
    "MLRIG-SEC-012",
    "An alert on Argo's custom metrics reads series only its own namespace's workflows may write",
    "Argo serves every namespace's custom metrics as one set of series, labelled as each definition "
    "says: without a policy holding a namespace's workflows to their own project's labels, another "
    "team's Workflow overwrites this project's drift or quality gauge (its alert silenced) or raises "
    "its failure counter (its on-call paged).",
    applies_to=("kubernetes:monitoring.coreos.com/v1:PrometheusRule",),
)
def argo_metric_alerts_are_guarded(graph: StackGraph) -> Iterator[Violation]:
    for rule in graph.kubernetes("PrometheusRule"):
        namespace = rule.namespace
        if namespace is None or namespace in naming.PLATFORM_NAMESPACES or not reads_argo_metrics(rule):
            continue
        missing = sorted(ARGO_KINDS - guarded_kinds(graph, namespace))
        if missing:
            yield Violation(
                rule,
                f"PrometheusRule {rule.k8s_name} in {namespace} alerts on Argo's custom metrics, but no admission "
                f"policy of the namespace holds its {', '.join(missing)} to the project's own metric labels",
                "bind the namespace's workflow-metrics admission policy (project/workspace.py) with Deny",
            )
