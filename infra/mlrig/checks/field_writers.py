"""One writer per field: a field of a project object that a CI or pipeline writer patches is either
left to that writer, or written by the stack with the value that writer recorded.

Besides the stack, two writers patch fields of a project's Kubernetes objects: the release CI moves
every image of the project's repositories (field manager `mlrig-release`, allowed by the CI
deployer's admin rights), and the model CD pipeline's promote step points InferenceServices at a
promoted model (`mlrig-promote`, allowed by a Role granting `patch` on them by name). After such a
patch the writer owns the field under server-side apply, and because KServe's and Argo's CRDs
declare no list types it owns the whole list around it (a WorkflowTemplate's `spec.templates`, a
custom server's `spec.predictor.containers`). The stack's next apply that changes anything in that
list then fails with a conflict; forced, it puts back the value it last knew: an older image or
model.

The stack defers to a writer in one of two ways, and the check requires one of them for every
field a writer writes:

- it reads that writer's record: the object names, in its `mlrig.io/recorded-fields` annotation
  (field manager -> SSM parameter), the parameter the writer records its value in, and the writer's
  own identity may put that parameter (otherwise the record stays empty and the stack never
  learns the value);
- or the field is its own field under server-side apply (no list on its path) and the stack
  ignores it (`ignoreChanges`): the writer then owns it alone.

An object the stack forces its apply on (`pulumi.com/patchForce`) must read every writer's record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .. import naming
from . import Violation, check
from .graph import Resource, StackGraph, as_list, dig, json_value

ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
IAM_ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REPOSITORY = "aws:ecr/repository:Repository"
ROLLED_KINDS = ("WorkflowTemplate", "CronWorkflow", "InferenceService")
MODEL_URI_ENV = "MODEL_URI"
PATCH_VERBS = {"patch", "update", "*"}


def paths(value: Any, at: str = "spec") -> Iterator[tuple[str, Any]]:
    """(path, value) of every leaf under `value`, paths as Pulumi's ignoreChanges writes them."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from paths(item, f"{at}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, f"{at}[{index}]")
    else:
        yield at, value


def atomic_unit(path: str) -> str:
    """What server-side apply tracks as one field when every list is atomic: the path up to its
    first list."""
    return path.split("[", 1)[0]


# --- who writes what -------------------------------------------------------------------------------


def project_repositories(graph: StackGraph) -> list[str]:
    return [str(r.get("name")) for r in graph.of_type(REPOSITORY) if r.get("name")]


def rolled_fields(resource: Resource, repositories: Iterable[str]) -> list[str]:
    """The image fields the release CI moves: every image of one of the project's repositories."""
    wanted = tuple(f"/{repository}:" for repository in repositories)
    return [
        path
        for path, value in paths(resource.spec)
        if path.endswith(".image") and isinstance(value, str) and any(w in value for w in wanted)
    ]


def model_fields(resource: Resource) -> list[str]:
    """The model location the promote step moves: a built-in runtime's `storageUri`, a custom
    server's `MODEL_URI`."""
    found = [path for path, _ in paths(resource.spec) if path.endswith(".storageUri")]
    for path, value in paths(resource.spec):
        if path.endswith(".name") and value == MODEL_URI_ENV:
            found.append(path.removesuffix(".name") + ".value")
    return found


def promote_roles(graph: StackGraph) -> dict[tuple[str | None, str], list[Resource]]:
    """(namespace, InferenceService) -> the Roles that let a pipeline patch it by name."""
    found: dict[tuple[str | None, str], list[Resource]] = {}
    for role in graph.kubernetes("Role"):
        for rule in as_list(role.inputs.get("rules")):
            if not isinstance(rule, Mapping) or "inferenceservices" not in as_list(rule.get("resources")):
                continue
            if not PATCH_VERBS & set(as_list(rule.get("verbs"))):
                continue
            for name in as_list(rule.get("resourceNames")):
                found.setdefault((role.namespace, str(name)), []).append(role)
    return found


def policy_statements(graph: StackGraph, role_name: str) -> Iterator[Mapping[str, Any]]:
    for policy in graph.of_type(ROLE_POLICY):
        if policy.get("role") == role_name:
            document = json_value(policy.get("policy")) or {}
            yield from (s for s in as_list(document.get("Statement")) if isinstance(s, Mapping))


def may_put(graph: StackGraph, role_name: str, parameter: str) -> bool:
    """Whether the IAM role's own policies allow `ssm:PutParameter` on `parameter`."""
    for statement in policy_statements(graph, role_name):
        actions = set(as_list(statement.get("Action")))
        if statement.get("Effect") != "Allow" or not actions & {"ssm:PutParameter", "ssm:*", "*"}:
            continue
        if any(re.fullmatch(arn_pattern(r), f"parameter{parameter}") for r in as_list(statement.get("Resource"))):
            return True
    return False


def arn_pattern(resource: Any) -> str:
    """The part of a parameter ARN after its account, as a regular expression (IAM wildcards)."""
    text = str(resource)
    text = text.split(":", 5)[-1] if text.startswith("arn:") else text
    return ".*".join(re.escape(part) for part in text.split("*"))


def ci_deployer_roles(graph: StackGraph) -> list[str]:
    return [
        str(r.get("name"))
        for r in graph.of_type(IAM_ROLE)
        if (r.get("tags") or {}).get(naming.TAG_PERSONA) == "ci-deployer" and r.get("name")
    ]


def promote_identities(graph: StackGraph, roles: Iterable[Resource]) -> list[str] | None:
    """IAM roles of the pods bound to the Roles (RoleBinding -> service account -> Pod Identity
    association), None when one of them is unknown at plan time."""
    found: list[str] = []
    for role in roles:
        for binding in graph.kubernetes("RoleBinding"):
            if binding.namespace != role.namespace or dig(binding.inputs, "roleRef", "name") != role.k8s_name:
                continue
            for subject in as_list(binding.inputs.get("subjects")):
                if not isinstance(subject, Mapping) or subject.get("kind") != "ServiceAccount":
                    continue
                for association in graph.of_type(ASSOCIATION):
                    if (association.get("namespace"), association.get("serviceAccount")) != (
                        subject.get("namespace") or role.namespace,
                        subject.get("name"),
                    ):
                        continue
                    arn = association.get("roleArn")
                    if not isinstance(arn, str):
                        return None
                    found.append(arn.rsplit("/", 1)[-1])
    return found


# --- the check -------------------------------------------------------------------------------------


def recorded_fields(resource: Resource) -> dict[str, str]:
    value = json_value(resource.annotations.get(naming.RECORDED_FIELDS_ANNOTATION))
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def writers_of(graph: StackGraph, resource: Resource) -> dict[str, tuple[list[str], list[str] | None]]:
    """Field manager -> (the fields it writes in `resource`, the IAM roles it records with; None
    when unknown at plan time)."""
    writers: dict[str, tuple[list[str], list[str] | None]] = {}
    rolled = rolled_fields(resource, project_repositories(graph))
    if rolled:
        writers[naming.RELEASE_FIELD_MANAGER] = (rolled, ci_deployer_roles(graph))
    roles = promote_roles(graph).get((resource.namespace, resource.k8s_name))
    if resource.kind == "InferenceService" and roles:
        writers[naming.PROMOTE_FIELD_MANAGER] = (model_fields(resource), promote_identities(graph, roles))
    return writers


def deferral_problem(
    graph: StackGraph, resource: Resource, writer: str, fields: list[str], identities: list[str] | None
) -> str | None:
    """Why the stack does not defer to `writer` on `fields`, or None."""
    record = recorded_fields(resource).get(writer)
    forced = resource.annotations.get(naming.PATCH_FORCE_ANNOTATION) == "true"
    if record is not None:
        if identities is not None and not any(may_put(graph, role, record) for role in identities):
            return (
                f"reads the value {writer} writes from {record}, which that writer's identity "
                f"({', '.join(identities) or 'none'}) may not put: the record stays empty"
            )
        return None
    if forced:
        return f"forces its apply without reading {writer}'s record of {', '.join(fields)}: it puts back an older value"
    # A field inside a list is shared whatever the stack ignores; a field of its own is shared
    # unless ignored (not reported when what the stack ignores is unknown).
    known = "ignoreChanges" in resource.options
    ignored = set(as_list(resource.options.get("ignoreChanges")))
    shared = [f for f in fields if atomic_unit(f) != f or (known and f not in ignored)]
    if shared:
        units = sorted({atomic_unit(f) for f in shared})
        return (
            f"{writer} writes {', '.join(shared)}; the stack writes {', '.join(units)} too, without its "
            "record: the next change there fails `pulumi up` with a server-side apply conflict"
        )
    return None


@check(
    "MLRIG-DEP-106",
    "A field a CI or pipeline writer patches is left to it, or written from its record",
    "KServe's and Argo's CRDs declare no list types: after the release CI or the promote step "
    "patches one image or model URI, it owns the whole list, and the stack's next change there "
    "fails `pulumi up` with a server-side apply conflict, or, forced, rolls back to an older "
    "image or model.",
    applies_to=(),
)
def fields_have_one_writer(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.kubernetes(*ROLLED_KINDS):
        for writer, (fields, identities) in writers_of(graph, resource).items():
            if not fields:
                continue
            problem = deferral_problem(graph, resource, writer, fields, identities)
            if problem is not None:
                yield Violation(
                    resource,
                    f"{resource.kind} {resource.k8s_name}: {problem}",
                    hint=(
                        f"build the object with the value {writer} records (and name the parameter in "
                        f"{naming.RECORDED_FIELDS_ANNOTATION}), or ignore a field of its own (`ignore_changes`)"
                    ),
                )
