"""Every core Kubernetes object of the project plans passes `kubernetes-validate --strict` for the
cluster's Kubernetes version, and mlrig's own pods meet the restricted security profile."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from .conftest import objects

CORE_TYPE_PREFIXES = (
    "kubernetes:core/v1:",
    "kubernetes:apps/v1:",
    "kubernetes:rbac.authorization.k8s.io/v1:",
    "kubernetes:networking.k8s.io/v1:",
    "kubernetes:policy/v1:",
    "kubernetes:batch/v1:",
    "kubernetes:scheduling.k8s.io/v1:",
    "kubernetes:admissionregistration.k8s.io/v1:",
)
PLANS = [(p, e) for p in ("fraud-detection", "rag-assistant") for e in ("dev", "staging", "prod")]


def validation_version(cluster_version: str) -> str:
    """The cluster's version, or the newest the checker knows when the cluster is newer."""
    latest = kubernetes_validate.utils.latest_version()
    wanted = tuple(int(x) for x in cluster_version.split("."))
    newest = tuple(int(x) for x in latest.split(".")[:2])
    return cluster_version if wanted <= newest else ".".join(map(str, newest))


def core_objects(plan: Any) -> list[dict[str, Any]]:
    return [r["inputs"] for r in plan.resources if r["type"].startswith(CORE_TYPE_PREFIXES)]


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_every_core_kubernetes_object_passes_strict_validation(project_plan, example_result, project, environment):
    plan = project_plan(project, environment)
    env = example_result.projects[project].environments[environment]
    version = validation_version(env.platform_environment.spec.cluster.version)
    manifests = core_objects(plan)
    kinds = {m["kind"] for m in manifests}
    assert {
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "ServiceAccount",
        "RoleBinding",
        "Deployment",
        "Service",
    } <= kinds
    failures = []
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message} at {list(error.path)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("project", "environment"), [("rag-assistant", "prod"), ("fraud-detection", "dev")])
def test_mlrig_pods_run_as_non_root_without_privileges_and_with_resources(project_plan, project, environment):
    plan = project_plan(project, environment)
    deployments = objects(plan, "Deployment")
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["limits"] and container["resources"]["requests"]
            assert ":" in container["image"] and not container["image"].endswith(":latest")


def test_replicated_servers_keep_a_replica_through_node_drains(project_plan):
    plan = project_plan("rag-assistant", "prod")
    budgets = {b["metadata"]["name"]: b["spec"] for b in objects(plan, "PodDisruptionBudget")}
    for deployment in objects(plan, "Deployment"):
        name, spec = deployment["metadata"]["name"], deployment["spec"]
        if spec["replicas"] > 1:
            assert budgets[name] == {"maxUnavailable": 1, "selector": spec["selector"]}
    assert {"mlflow", "llm-gateway", "inference-logger", "feedback-collector"} <= set(budgets)


def test_single_replica_servers_have_no_budget_that_would_block_drains(project_plan):
    assert not objects(project_plan("fraud-detection", "dev"), "PodDisruptionBudget")
