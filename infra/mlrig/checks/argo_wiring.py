"""Argo wiring: every workflow a schedule or a step starts exists, and every step may do what it does.

References: a CronWorkflow runs `workflowSpec.workflowTemplateRef.name`, a resource step creates
a Workflow from the template its manifest names, a WorkflowTemplate starts at `entrypoint`, ends in
`onExit`, and its DAG tasks and steps call templates by name. Argo resolves each name only when a
run starts (the apiserver validates none of it: the chart installs minimal CRDs), so a wrong name
is a run that fails every time, silently for a schedule or a trigger.

Permissions: a step's pods run as the workflow's service account, or as the one its template names
(a template-level `serviceAccountName`, as the deploy-models import step does). Argo's executor reports every
step's result by creating and patching `workflowtaskresults` (Argo 3.4+), and a resource step runs
its action (`create`, `patch`, …) on its manifest's kind with that identity. Kubernetes RBAC
allows a request when a Role (or ClusterRole) bound to the service account in the namespace has a
rule for the API group, resource and verb; a rule with `resourceNames` never allows `create`
(the name is not known when the request is authorized).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from . import Violation, check
from .graph import Resource, StackGraph

WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CRON_WORKFLOW = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
# The executor's own calls (Argo 3.4+ `workflowtaskresults`), whatever the step does.
EXECUTOR_PERMISSIONS = (
    ("argoproj.io", "workflowtaskresults", "create"),
    ("argoproj.io", "workflowtaskresults", "patch"),
)
# The verbs kubectl (Argo's resource step) needs per action.
ACTION_VERBS: dict[str, tuple[str, ...]] = {
    "create": ("create",),
    "apply": ("get", "create", "patch"),
    "patch": ("patch",),
    "replace": ("update",),
    "delete": ("delete",),
    "get": ("get",),
}
IRREGULAR_PLURALS = {"Policy": "policies"}


def templates_of(template: Resource) -> dict[str, Mapping[str, Any]]:
    return {str(t.get("name")): t for t in template.spec.get("templates") or [] if isinstance(t, Mapping)}


def called_templates(item: Mapping[str, Any]) -> Iterator[str]:
    """Names of the templates a DAG or steps template calls (not `templateRef`s to other templates)."""
    tasks = list((item.get("dag") or {}).get("tasks") or [])
    for group in item.get("steps") or []:
        tasks += group if isinstance(group, list) else [group]
    for task in tasks:
        if isinstance(task, Mapping) and task.get("template"):
            yield str(task["template"])


def manifest_of(item: Mapping[str, Any]) -> dict[str, Any] | None:
    text = (item.get("resource") or {}).get("manifest")
    if not isinstance(text, str):
        return None
    try:
        found = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return found if isinstance(found, dict) else None


def workflow_templates(graph: StackGraph) -> dict[tuple[str | None, str], Resource]:
    return {(t.namespace, t.k8s_name): t for t in graph.everywhere(WORKFLOW_TEMPLATE)}


@check(
    "MLRIG-DEP-101",
    "Every workflow a schedule or a step starts, and every template it calls, exists",
    "Argo resolves template names only when a run starts: a CronWorkflow or trigger naming a "
    "WorkflowTemplate that does not exist, or a task calling a missing template, fails every run.",
    applies_to=(WORKFLOW_TEMPLATE, CRON_WORKFLOW),
)
def argo_references_resolve(graph: StackGraph) -> Iterator[Violation]:
    known = workflow_templates(graph)
    for cron in graph.of_type(CRON_WORKFLOW):
        ref = (cron.spec.get("workflowSpec") or {}).get("workflowTemplateRef") or {}
        if ref.get("name") and (cron.namespace, ref["name"]) not in known:
            yield Violation(
                cron,
                f"CronWorkflow {cron.k8s_name} runs WorkflowTemplate {ref['name']!r}, which namespace "
                f"{cron.namespace} does not have",
                "name a WorkflowTemplate of the same namespace",
            )
    for template in graph.of_type(WORKFLOW_TEMPLATE):
        names = templates_of(template)
        for field_name in ("entrypoint", "onExit"):
            wanted = template.spec.get(field_name)
            if wanted and wanted not in names:
                yield Violation(
                    template,
                    f"WorkflowTemplate {template.k8s_name}: {field_name} {wanted!r} is not one of its templates",
                    f"add the template or fix {field_name}",
                )
        for item in names.values():
            for called in called_templates(item):
                if called not in names:
                    yield Violation(
                        template,
                        f"WorkflowTemplate {template.k8s_name}: template {item.get('name')!r} calls {called!r}, "
                        "which it does not define",
                        "define the template or fix the name",
                    )
            manifest = manifest_of(item)
            ref = ((manifest or {}).get("spec") or {}).get("workflowTemplateRef") or {}
            if manifest and manifest.get("kind") == "Workflow" and ref.get("name"):
                namespace = (manifest.get("metadata") or {}).get("namespace") or template.namespace
                if (namespace, ref["name"]) not in known:
                    yield Violation(
                        template,
                        f"WorkflowTemplate {template.k8s_name}: step {item.get('name')!r} creates a Workflow from "
                        f"WorkflowTemplate {ref['name']!r}, which namespace {namespace} does not have",
                        "name a WorkflowTemplate of the same namespace",
                    )


# --- RBAC ------------------------------------------------------------------------------------------


def plural(kind: str) -> str:
    return IRREGULAR_PLURALS.get(kind, kind.lower() + ("es" if kind.endswith("s") else "s"))


def api_group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def rule_allows(rule: Mapping[str, Any], group: str, resource: str, verb: str) -> bool:
    def has(key: str, value: str) -> bool:
        values = rule.get(key) or []
        return "*" in values or value in values

    if verb == "create" and rule.get("resourceNames"):
        return False  # a create request has no name when it is authorized
    return has("apiGroups", group) and has("resources", resource) and has("verbs", verb)


def bound_rules(graph: StackGraph) -> dict[tuple[str | None, str], list[Mapping[str, Any]] | None]:
    """The rules bound to each service account in its own namespace, by (namespace, name); None
    when one of its bindings names a role the graph cannot see (its rules are unknown). One pass
    over the bindings for the whole stack, not one per workflow."""
    roles = {(r.namespace, r.k8s_name): r for r in graph.everywhere(ROLE)}
    cluster_roles = {r.k8s_name: r for r in graph.everywhere(CLUSTER_ROLE)}
    bound: dict[tuple[str | None, str], list[Mapping[str, Any]] | None] = {}
    for binding in graph.everywhere(ROLE_BINDING):
        namespace = binding.namespace
        ref = binding.inputs.get("roleRef") or {}
        ref_name = str(ref.get("name") or "")
        role = roles.get((namespace, ref_name)) if ref.get("kind") == "Role" else cluster_roles.get(ref_name)
        rules = None if role is None else [r for r in role.inputs.get("rules") or [] if isinstance(r, Mapping)]
        accounts = {
            str(s.get("name"))
            for s in binding.inputs.get("subjects") or []
            if isinstance(s, Mapping)
            and s.get("kind") == "ServiceAccount"
            and (s.get("namespace") or namespace) == namespace
        }
        for account in accounts:
            key = (namespace, account)
            so_far = bound.setdefault(key, [])
            if rules is None:
                bound[key] = None
            elif so_far is not None:
                so_far.extend(rules)
    return bound


def step_account(template: Resource, item: Mapping[str, Any]) -> str:
    """The service account a template's pods run as: its own `serviceAccountName`, else the
    workflow's (Argo's template-level override)."""
    return str(item.get("serviceAccountName") or template.spec.get("serviceAccountName") or "default")


def needed_permissions(template: Resource) -> Iterator[tuple[str, str, tuple[str, str, str]]]:
    """(service account, what needs it, (API group, resource, verb)) for every step of the template."""
    items = templates_of(template).values()
    accounts = sorted({step_account(template, {})} | {step_account(template, item) for item in items})
    for account in accounts:
        for group, resource, verb in EXECUTOR_PERMISSIONS:
            yield account, "Argo's executor (every step)", (group, resource, verb)
    for item in items:
        manifest = manifest_of(item)
        if manifest is None:
            continue
        action = str((item.get("resource") or {}).get("action") or "")
        group, resource = api_group(str(manifest.get("apiVersion") or "")), plural(str(manifest.get("kind") or ""))
        for verb in ACTION_VERBS.get(action, ()):
            needer = f"resource step {item.get('name')!r} ({action} {manifest.get('kind')})"
            yield step_account(template, item), needer, (group, resource, verb)


@check(
    "MLRIG-DEP-102",
    "Every workflow's service account may do what its steps do",
    "A step runs as the workflow's service account: without a Role for the executor's task results "
    "or for a resource step's action (a retraining trigger creating a Workflow), the step gets a 403 "
    "and the run fails.",
    applies_to=(WORKFLOW_TEMPLATE, ROLE, ROLE_BINDING),
)
def workflow_steps_are_authorized(graph: StackGraph) -> Iterator[Violation]:
    bound = bound_rules(graph)
    for template in graph.of_type(WORKFLOW_TEMPLATE):
        for account, needer, (group, resource, verb) in needed_permissions(template):
            rules = bound.get((template.namespace, account), [])
            if rules is None:
                continue  # bound to a role the graph cannot see
            if not any(rule_allows(rule, group, resource, verb) for rule in rules):
                yield Violation(
                    template,
                    f"WorkflowTemplate {template.k8s_name}: {needer} needs {verb} on {resource} "
                    f"({group or 'core'}), which no Role bound to service account {account} in namespace "
                    f"{template.namespace} allows",
                    f"bind {account} to a Role allowing {verb} on {group}/{resource}"
                    + (" (without resourceNames: they never match a create)" if verb == "create" else ""),
                )
