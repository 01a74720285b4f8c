"""Nothing Pulumi waits for depends on a secret no resource sets.

Some secrets are filled by a person after the first apply (LLM provider keys, alert-route
credentials): Secrets Manager holds them empty, so their ExternalSecrets cannot sync and their
Kubernetes Secrets do not exist. Pulumi waits for Deployments (and StatefulSets, DaemonSets,
Jobs) to be ready: any of them that required such a Secret would fail the first `pulumi up`.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlrig.project.filled_secrets import person_filled_secrets
from mlrig.project.vector_roles import generated_secret_purposes

from .conftest import objects

AWAITED_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
STACKS = [(p, e) for p in ("fraud-detection", "rag-assistant") for e in ("dev", "staging", "prod")]


def remote_keys(external_secret: dict[str, Any]) -> set[str]:
    spec = external_secret["spec"]
    keys = {d["remoteRef"]["key"] for d in spec.get("data", [])}
    keys |= {d["extract"]["key"] for d in spec.get("dataFrom", []) if "extract" in d}
    return keys


def secret_references(pod: dict[str, Any]) -> list[tuple[str, bool]]:
    """(Secret name, optional) of every reference a pod spec makes to a Secret."""
    found: list[tuple[str, bool]] = []
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                found.append((source["secretRef"]["name"], bool(source["secretRef"].get("optional"))))
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.append((ref["name"], bool(ref.get("optional"))))
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            found.append((volume["secret"]["secretName"], bool(volume["secret"].get("optional"))))
    return found


def unfilled_secret_names(plan) -> set[str]:
    """Secrets Manager secrets the plan creates without setting a value."""
    valued = {v["inputs"]["secretId"] for v in plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")}
    return {
        s["inputs"]["name"]
        for s in plan.of_type("aws:secretsmanager/secret:Secret")
        if s["outputs"].get("arn") not in valued and s.get("id") not in valued
    }


@pytest.mark.parametrize(("project", "environment"), STACKS, ids=[f"{p}.{e}" for p, e in STACKS])
def test_no_awaited_workload_requires_a_secret_a_person_fills(project_plan, example_result, project, environment):
    plan = project_plan(project, environment)
    unfilled = unfilled_secret_names(plan)
    # The same list `mlrig secrets` prints, and the secrets a Job of the stack generates (the
    # pgvector reader's password), are exactly what the plan leaves empty.
    env = example_result.projects[project].environments[environment]
    names = {f"mlrig/{project}/{environment}/{s.purpose}" for s in person_filled_secrets(env)}
    generated = {f"mlrig/{project}/{environment}/{p}" for p in generated_secret_purposes(env.spec)}
    assert names | generated == unfilled and not names & generated
    assert not any(s.awaited for s in person_filled_secrets(env))
    waiting_on_people = {
        e["spec"]["target"]["name"] for e in objects(plan, "ExternalSecret") if remote_keys(e) & unfilled
    }
    required = [
        f"{kind} {workload['metadata']['name']} requires Secret {name}"
        for kind in AWAITED_KINDS
        for workload in objects(plan, kind)
        for name, optional in secret_references(workload["spec"]["template"]["spec"])
        if name in waiting_on_people and not optional
    ]
    assert required == []
