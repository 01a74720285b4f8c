"""Day 2: what later applies and deletes do to a stack that the first apply never shows.

- A Job run on apply is awaited by Pulumi. One that failed stays in the cluster under its name
  with the same spec: the next apply has nothing to change, so it never runs again (and an apply
  that retries it waits on the failed Job again). `pulumi.com/replaceUnready` makes the Kubernetes
  provider replace a Job that has not succeeded.
- Outside prod a stack must be destroyable, and what a team removes must be deletable: AWS refuses
  to delete a bucket with objects (`BucketNotEmpty`) or a repository with images
  (`RepositoryNotEmptyException`), and a deleted secret keeps its name through its recovery window,
  so adding it back (or applying a destroyed dev stack again) fails to create it. Prod keeps its
  data instead: protected and retained (MLRIG-SEC-003).
- A prod database takes a final snapshot when it is deleted, and the snapshot outlives it: under
  a fixed name, the next database of that name (the stack applied again after a deliberate
  deletion) cannot be deleted (`DBSnapshotAlreadyExists`). Its name carries a random suffix made
  and deleted with the database.
- A value another writer records for the stack to build with (the release CI's image tag, the
  promote step's model URI) lives in an SSM parameter. One the writer creates is no resource of
  the stack, so `pulumi destroy` leaves it behind, and the environment created again builds with,
  and forces, a value from before: an image tag its new repositories never held.
- A field the stack ignores after creation (`ignoreChanges`) is never updated again. That is right
  where another writer moves it (the promote step's model location); anywhere else a team's change
  of it (a renamed model) never applies, and `pulumi preview` shows no diff.
- Karpenter replaces the nodes of a NodePool whose spec changed (drift: a pool's instance types
  or capacity types) and removes underused ones (consolidation), evicting what runs there. A
  pipeline step evicted half-way loses its run; `karpenter.sh/do-not-disrupt` on its pod makes
  Karpenter wait for it to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import naming
from . import Violation, check
from .field_writers import ROLLED_KINDS, paths, recorded_fields, writers_of
from .graph import Resource, StackGraph, as_list, waiting_for

JOB = "kubernetes:batch/v1:Job"
BUCKET = "aws:s3/bucket:Bucket"
REPOSITORY = "aws:ecr/repository:Repository"
SECRET = "aws:secretsmanager/secret:Secret"
# What the AWS provider does when an input is left out.
PROVIDER_DEFAULTS = {"forceDestroy": False, "forceDelete": False, "recoveryWindowInDays": 30}


@check(
    "MLRIG-DEP-011",
    "A Job run on apply runs again when it did not succeed",
    "Pulumi waits for a Job to complete; a Job that failed keeps its name and spec, so the next apply "
    "does not run it again and the work it does (an OpenSearch role mapping) is never done.",
    applies_to=(JOB,),
)
def jobs_are_replaced_when_unready(graph: StackGraph) -> Iterator[Violation]:
    for job in graph.of_type(JOB):
        if job.get("metadata", "generateName"):
            continue  # a new name on every replacement
        if str(job.annotations.get(naming.REPLACE_UNREADY_ANNOTATION, "")).lower() != "true":
            yield Violation(
                job,
                f"Job {job.k8s_name} that failed on one apply is not run again on the next",
                f'annotate it {naming.REPLACE_UNREADY_ANNOTATION}: "true"',
            )


@check(
    "MLRIG-DEP-012",
    "Outside prod, buckets, registries and secrets can be deleted and created again",
    "AWS refuses to delete a bucket with objects or a repository with images, so `pulumi destroy` of a dev "
    "stack, or a registry a team removes, fails; a deleted secret keeps its name for its recovery window, so "
    "adding it back fails to create it.",
    applies_to=(BUCKET, REPOSITORY, SECRET),
)
def non_prod_state_can_be_deleted(graph: StackGraph) -> Iterator[Violation]:
    if graph.tier is None or graph.tier == "prod":
        return
    for resource, field, wanted in (
        *((r, "forceDestroy", True) for r in graph.of_type(BUCKET)),
        *((r, "forceDelete", True) for r in graph.of_type(REPOSITORY)),
        *((r, "recoveryWindowInDays", 0) for r in graph.of_type(SECRET)),
    ):
        value = resource.inputs.get(field, PROVIDER_DEFAULTS[field])
        if value != wanted:
            yield Violation(
                resource,
                f"{graph.tier} {resource.type.rsplit(':', 1)[-1]} {resource.name} has {field}={value!r}",
                f"set {field}={wanted!r} outside prod",
            )


DATABASE_TYPES = ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster")
RANDOM_SUFFIXES = {"random:index/randomId:RandomId": "hex", "random:index/randomString:RandomString": "result"}


def _lifetime_suffixes(graph: StackGraph, resource: Resource) -> list[str]:
    """The random values `resource` is built from, each made and deleted with it (a sibling under
    the same component, or its own child). A plan lists every dependency under `dependencies`;
    CrossGuard (`adapter.py`) under `dependsOn`."""
    values = []
    options = resource.options
    for urn in {*as_list(options.get("dependencies")), *as_list(options.get("dependsOn"))}:
        made = graph.by_urn(str(urn))
        if made is None or made.type not in RANDOM_SUFFIXES or made.parent not in (resource.parent, resource.urn):
            continue
        value = made.outputs.get(RANDOM_SUFFIXES[made.type])
        if value:
            values.append(str(value))
    return values


@check(
    "MLRIG-DEP-018",
    "A database's final snapshot is named for that database alone",
    "A final snapshot outlives its database: under a fixed name, the deletion of a database created again "
    "after an earlier deletion fails (DBSnapshotAlreadyExists), and a database without a name for it cannot be "
    "deleted at all.",
    applies_to=DATABASE_TYPES,
)
def final_snapshots_are_named_per_database(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.of_type(*DATABASE_TYPES):
        if resource.inputs.get("skipFinalSnapshot") is True:
            continue
        if "finalSnapshotIdentifier" in resource.inputs and resource.inputs["finalSnapshotIdentifier"] is None:
            continue  # unknown until its suffix is made (a preview's first creation)
        name = resource.inputs.get("finalSnapshotIdentifier")
        kind = resource.type.rsplit(":", 1)[-1]
        if not name:
            yield Violation(
                resource,
                f"{kind} {resource.name} takes a final snapshot but names none: RDS refuses to delete it",
                "set finalSnapshotIdentifier, or skipFinalSnapshot outside prod",
            )
        elif not any(value in str(name) for value in _lifetime_suffixes(graph, resource)):
            yield Violation(
                resource,
                f"{kind} {resource.name}'s final snapshot is always '{name}': once a database of this name was "
                "deleted, deleting the next one fails (DBSnapshotAlreadyExists)",
                "suffix the name with a random value made and deleted with the database "
                "(a RandomId under the same component)",
            )


NAMESPACE = "kubernetes:core/v1:Namespace"


def _waits_for(resource: Resource, reaching: set[str]) -> bool:
    return any(urn in reaching for urn in resource.options.get("dependsOn") or [])


@check(
    "MLRIG-DEP-013",
    "Every namespaced object waits for the namespace its stack creates",
    "An object that does not depend on its namespace is created in parallel with it (the API server "
    "answers NotFound and the provider gives up after five retries) and deleted after it on destroy.",
)
def objects_wait_for_their_namespace(graph: StackGraph) -> Iterator[Violation]:
    reaching = {ns.k8s_name: waiting_for(graph, ns.urn) for ns in graph.of_type(NAMESPACE)}
    for resource in graph.resources:
        if not resource.is_kubernetes or resource.namespace not in reaching:
            continue
        if not _waits_for(resource, reaching[resource.namespace]):
            yield Violation(
                resource,
                f"{resource.kind} {resource.k8s_name} does not wait for namespace {resource.namespace}",
                "pass the namespace (or what waits for it) in depends_on",
            )


PARAMETER = "aws:ssm/parameter:Parameter"


@check(
    "MLRIG-DEP-015",
    "Every record the stack builds from is a parameter the stack owns",
    "A record parameter that its writer (the release CI, the promote step) creates is not in the stack's "
    "state: `pulumi destroy` leaves it behind, and the environment created again builds with, and forces, the "
    "value of the one destroyed, an image tag its new repositories never held.",
    applies_to=(PARAMETER,),
)
def records_are_owned_by_the_stack(graph: StackGraph) -> Iterator[Violation]:
    owned = {str(parameter.get("name")) for parameter in graph.of_type(PARAMETER)}
    for resource in graph.resources:
        for writer, parameter in sorted(recorded_fields(resource).items()):
            if parameter not in owned:
                yield Violation(
                    resource,
                    f"{resource.kind} {resource.k8s_name} is built from {writer}'s record {parameter}, which the "
                    "stack does not create: destroying the environment leaves it behind",
                    f"create {parameter} in the stack (value {naming.NOT_RECORDED!r}, ignore_changes on its value)",
                )


def ignored_fields(resource: Resource) -> list[str]:
    """The fields of `resource`'s spec that the stack ignores after creation."""
    ignored = {str(path) for path in as_list(resource.options.get("ignoreChanges"))}
    return [path for path, _ in paths(resource.spec) if path in ignored]


@check(
    "MLRIG-DEP-016",
    "The stack ignores a field after creation only where another writer moves it",
    "A field the stack ignores is never updated again: where no CI or pipeline writer moves it (no promote "
    "step may patch the InferenceService), a team's change of it in the bundle, a renamed model, never applies "
    "and `pulumi preview` shows no diff.",
    applies_to=(),
)
def ignored_fields_have_another_writer(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.kubernetes(*ROLLED_KINDS):
        written = {field for fields, _ in writers_of(graph, resource).values() for field in fields}
        orphaned = [field for field in ignored_fields(resource) if field not in written]
        if orphaned:
            yield Violation(
                resource,
                f"{resource.kind} {resource.k8s_name} ignores {', '.join(orphaned)} after creation, which no other "
                "writer moves: a change of it in the bundle never applies",
                "ignore a field only where a CI or pipeline writer patches it (and may: its Role and identity)",
            )


ARGO_KINDS = ("WorkflowTemplate", "Workflow", "CronWorkflow")
POD_TEMPLATE_KEYS = ("container", "script", "containerSet")


def undisrupted(metadata: object) -> bool:
    annotations = (metadata or {}).get("annotations") if isinstance(metadata, dict) else None
    return str((annotations or {}).get(naming.DO_NOT_DISRUPT_ANNOTATION, "")).lower() == "true"


def disruptable_steps(spec: dict[str, Any]) -> list[str]:
    """Templates of a Workflow spec whose pods Karpenter may evict before they end."""
    if undisrupted(spec.get("podMetadata")):
        return []
    return [
        str(template.get("name"))
        for template in spec.get("templates") or []
        if any(key in template for key in POD_TEMPLATE_KEYS) and not undisrupted(template.get("metadata"))
    ]


@check(
    "MLRIG-DEP-017",
    "Karpenter lets a pipeline step run to its end",
    "Karpenter replaces the nodes of a NodePool whose spec changed (a pool's instance or capacity types, its "
    "fallback order) and consolidates underused nodes, evicting their pods: a training or fine-tuning step "
    "evicted half-way loses hours of work and its gang's rendezvous.",
    applies_to=(),
)
def pipeline_steps_are_not_disrupted(graph: StackGraph) -> Iterator[Violation]:
    for resource in graph.kubernetes(*ARGO_KINDS):
        steps = disruptable_steps(resource.workflow_spec)
        if steps:
            yield Violation(
                resource,
                f"{resource.kind} {resource.k8s_name}: Karpenter may evict the pods of {', '.join(steps)} before "
                "they end (drift after a pool change, consolidation)",
                f'annotate the workflow\'s pods (spec.podMetadata) {naming.DO_NOT_DISRUPT_ANNOTATION}: "true"',
            )
