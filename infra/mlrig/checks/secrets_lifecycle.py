"""Secrets lifecycle: nothing Pulumi waits for depends on a secret value that nothing sets.

Pulumi awaits Deployments, StatefulSets, DaemonSets and Jobs until their pods are ready. A pod
that needs a Kubernetes Secret (`envFrom`, `env.valueFrom.secretKeyRef`, a `secret` volume; not
`optional: true`) cannot start before the Secret exists. When an ExternalSecret makes that Secret
from an AWS Secrets Manager secret, the External Secrets Operator can only sync a secret that has
a value (an AWSCURRENT version). A secret the stack creates without a `SecretVersion` has none: the
pods stay in CreateContainerConfigError and the first `pulumi up` times out.

A secret a person fills by hand is accepted when it says so: the tag `mlrig:filled-by` (who fills
it) and a `description` saying how to set it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import Violation, check
from .graph import Resource, StackGraph, dig

AWAITED = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
)
EXTERNAL_SECRET = "ExternalSecret"
SM_SECRET = "aws:secretsmanager/secret:Secret"
SM_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SKIP_AWAIT = "pulumi.com/skipAwait"
FILLED_BY_TAG = "mlrig:filled-by"


def required_secrets(pod: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets a pod cannot start without."""
    names: set[str] = set()
    for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef") or {}
            if ref.get("name") and not ref.get("optional"):
                names.add(str(ref["name"]))
        for variable in container.get("env") or []:
            ref = dig(variable, "valueFrom", "secretKeyRef") or {}
            if ref.get("name") and not ref.get("optional"):
                names.add(str(ref["name"]))
    for volume in pod.get("volumes") or []:
        secret = volume.get("secret") or {}
        if secret.get("secretName") and not secret.get("optional"):
            names.add(str(secret["secretName"]))
        for source in dig(volume, "projected", "sources") or []:
            ref = source.get("secret") or {}
            if ref.get("name") and not ref.get("optional"):
                names.add(str(ref["name"]))
    return names


def pod_template(workload: Resource) -> Mapping[str, Any]:
    return dig(workload.spec, "template", "spec") or {}


def is_awaited(workload: Resource) -> bool:
    return str(workload.annotations.get(SKIP_AWAIT, "")).lower() != "true"


def remote_keys(external_secret: Resource) -> list[str]:
    spec = external_secret.spec
    keys = [dig(item, "remoteRef", "key") for item in spec.get("data") or []]
    keys += [dig(item, "extract", "key") for item in spec.get("dataFrom") or []]
    return [str(k) for k in keys if k]


def target_name(external_secret: Resource) -> str:
    return str(dig(external_secret.spec, "target", "name") or external_secret.k8s_name)


def has_value(secret: Resource, graph: StackGraph) -> bool:
    ids = {secret.urn, *(str(v) for v in (secret.get("arn"), secret.get("id"), secret.get("name")) if v)}
    return any(str(version.inputs.get("secretId")) in ids for version in graph.everywhere(SM_VERSION))


def filled_by_a_person(secret: Resource) -> bool:
    tags = secret.inputs.get("tags") or {}
    return bool(tags.get(FILLED_BY_TAG)) and bool(secret.inputs.get("description"))


def empty_secrets(graph: StackGraph) -> dict[str, Resource]:
    """Secrets Manager secrets of the plan (by name) that no resource gives a value."""
    return {
        str(secret.get("name")): secret
        for secret in graph.everywhere(SM_SECRET)
        if secret.get("name") and not has_value(secret, graph) and not filled_by_a_person(secret)
    }


@check(
    "MLRIG-DEP-003",
    "Nothing Pulumi awaits waits for a secret value nobody sets",
    "A Deployment or Job whose pods need a Secret synced from a Secrets Manager secret without a value "
    "never becomes ready, so the first `pulumi up` times out after about ten minutes.",
    applies_to=(*AWAITED, "kubernetes:external-secrets.io/v1:ExternalSecret", SM_SECRET),
)
def awaited_workloads_have_secret_values(graph: StackGraph) -> Iterator[Violation]:
    empty = empty_secrets(graph)
    if not empty:
        return
    synced: dict[tuple[str | None, str], list[str]] = {}
    for external in graph.kubernetes(EXTERNAL_SECRET):
        synced.setdefault((external.namespace, target_name(external)), []).extend(remote_keys(external))
    for workload in graph.of_type(*AWAITED):
        if not is_awaited(workload):
            continue
        for secret in sorted(required_secrets(pod_template(workload))):
            missing = [key for key in synced.get((workload.namespace, secret), []) if key in empty]
            if missing:
                yield Violation(
                    workload,
                    f"{workload.k8s_name} needs Secret '{secret}', synced from {', '.join(missing)}, which nothing "
                    "gives a value: its pods never start and Pulumi's await fails",
                    f"create a SecretVersion, mark the reference `optional: true` (and document the secret, tag "
                    f"`{FILLED_BY_TAG}`), or set the annotation {SKIP_AWAIT}: 'true' on {workload.k8s_name}",
                )


def created_secrets(graph: StackGraph) -> set[tuple[str | None, str]]:
    """(namespace, name) of the Secrets the stack (or its platform's) makes: Secret objects, and
    the targets of ExternalSecrets, which the External Secrets Operator creates."""
    made = {(s.namespace, s.k8s_name) for s in graph.kubernetes("Secret", everywhere=True)}
    return made | {(e.namespace, target_name(e)) for e in graph.kubernetes(EXTERNAL_SECRET, everywhere=True)}


@check(
    "MLRIG-DEP-111",
    "Nothing Pulumi awaits needs a Secret nobody creates",
    "A pod that needs a Secret (not marked optional) no resource creates never starts: the Deployment or "
    "Job never becomes ready, and the first `pulumi up` times out after about ten minutes (a project on a "
    "platform without the External Secrets Operator waited for its tracking server's database Secret).",
    applies_to=(*AWAITED, "kubernetes:external-secrets.io/v1:ExternalSecret", "kubernetes:core/v1:Secret"),
)
def awaited_workloads_have_their_secrets(graph: StackGraph) -> Iterator[Violation]:
    made = created_secrets(graph)
    for workload in graph.of_type(*AWAITED):
        if not is_awaited(workload):
            continue
        for secret in sorted(required_secrets(pod_template(workload))):
            if (workload.namespace, secret) not in made:
                yield Violation(
                    workload,
                    f"{workload.k8s_name} needs Secret '{secret}', which no resource creates: its pods never "
                    "start and Pulumi's await fails",
                    "create the Secret (or the ExternalSecret that syncs it), or mark the reference `optional: true`",
                )


# --- rotation ------------------------------------------------------------------------------------

LONG_RUNNING = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)
SM_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
RDS_MANAGED = "rds!"  # RDS names the master secrets it manages (and rotates) `rds!db-…`, `rds!cluster-…`
RELOADER_AUTO = "reloader.stakater.com/auto"
RELOADER_SECRETS = "secret.reloader.stakater.com/reload"


def rotating_keys(graph: StackGraph) -> set[str]:
    """Secrets Manager keys (ARN, name or id) whose value changes by itself: RDS-managed master
    secrets, and secrets a SecretRotation rotates."""
    keys: set[str] = set()
    for rotation in graph.everywhere(SM_ROTATION):
        secret_id = rotation.inputs.get("secretId")
        if secret_id:
            keys.add(str(secret_id))
            for secret in graph.everywhere(SM_SECRET):
                names = {str(v) for v in (secret.get("arn"), secret.get("id"), secret.get("name")) if v}
                if str(secret_id) in names:
                    keys |= names
    return keys


def is_rotating(key: str, rotating: set[str]) -> bool:
    name = key.split(":secret:", 1)[-1]
    return name.startswith(RDS_MANAGED) or key in rotating


def env_secrets(container: Mapping[str, Any]) -> set[str]:
    """Secrets a container reads through its environment: fixed for the container's life."""
    names = {str(dig(source, "secretRef", "name")) for source in container.get("envFrom") or []}
    names |= {str(dig(variable, "valueFrom", "secretKeyRef", "name")) for variable in container.get("env") or []}
    return names - {"None"}


def restarts_on_change(
    pod: Mapping[str, Any], container: Mapping[str, Any], secret: str, annotations: Mapping[str, str]
) -> bool:
    """The container is restarted when `secret` changes: Reloader is asked to, or the container
    mounts the Secret and its liveness probe runs a command that reads the mount (and fails when
    the file no longer matches what the container started with)."""
    if str(annotations.get(RELOADER_AUTO, "")).lower() == "true":
        return True
    if secret in {name.strip() for name in str(annotations.get(RELOADER_SECRETS, "")).split(",")}:
        return True
    volumes = {
        str(volume.get("name")) for volume in pod.get("volumes") or [] if dig(volume, "secret", "secretName") == secret
    }
    mounts = [str(m.get("mountPath")) for m in container.get("volumeMounts") or [] if m.get("name") in volumes]
    command = " ".join(str(part) for part in dig(container, "livenessProbe", "exec", "command") or [])
    return any(path and path in command for path in mounts)


@check(
    "MLRIG-DEP-009",
    "A long-running pod that reads a rotating secret through its environment restarts when it rotates",
    "RDS rotates the master passwords it manages every seven days; an environment variable keeps the value "
    "the container started with, so a server's new database connections fail from the first rotation on.",
    applies_to=(*LONG_RUNNING, "kubernetes:external-secrets.io/v1:ExternalSecret"),
)
def rotating_secrets_restart_their_readers(graph: StackGraph) -> Iterator[Violation]:
    rotating = rotating_keys(graph)
    synced: dict[tuple[str | None, str], list[str]] = {}
    for external in graph.kubernetes(EXTERNAL_SECRET):
        keys = list(dict.fromkeys(key for key in remote_keys(external) if is_rotating(key, rotating)))
        if keys:
            synced.setdefault((external.namespace, target_name(external)), []).extend(keys)
    if not synced:
        return
    for workload in graph.of_type(*LONG_RUNNING):
        pod = pod_template(workload)
        annotations = {**workload.annotations, **(dig(workload.spec, "template", "metadata", "annotations") or {})}
        for container in pod.get("containers") or []:
            for secret in sorted(env_secrets(container)):
                rotates = synced.get((workload.namespace, secret), [])
                if rotates and not restarts_on_change(pod, container, secret, annotations):
                    yield Violation(
                        workload,
                        f"container '{container.get('name')}' of {workload.k8s_name} reads Secret '{secret}' "
                        f"(synced from {', '.join(rotates)}, which rotates) through its environment and is never "
                        "restarted: after the first rotation its new connections use a password that no longer works",
                        f"mount Secret '{secret}' in the container and give it a liveness probe (`exec`) that fails "
                        "when the mounted value differs from the environment's, or annotate the pod for Reloader "
                        f"({RELOADER_SECRETS}: {secret})",
                    )
