"""What each cluster object waits for: what its pods need at start, and no more.

Pulumi creates a resource after everything it depends on and deletes it before them; Pulumi also
records every resource's dependencies in the stack's state, which it rewrites after every step.
A pod that starts before the Pod Identity association of its service account gets no AWS
credentials, and one whose Secret is not synced yet does not start: so every object that runs
pods waits for its workload's identity and for the sources of the secrets it reads. And no object
waits for the identities of every workload: then each of the project's n objects would depend on
n resources, and a big project's plan and state would grow with n². Likewise an object waits for
the pools its pods are scheduled to and the repositories its images come from, not for every
pool and registry of the project (up to 50 of each); on teardown it still goes before the
NodePools of its own pools, so their nodes drain empty.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlrig.checks.graph import mapping_items

from .conftest import Graph

PLANS = [(p, e) for p in ("fraud-detection", "rag-assistant") for e in ("dev", "staging", "prod")]
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SM_SECRET = "aws:secretsmanager/secret:Secret"
RDS_INSTANCE = "aws:rds/instance:Instance"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
AWAITED = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def service_accounts_of(resource: dict[str, Any]) -> set[str]:
    """The service accounts the object's pods run as (Deployments, InferenceServices, workflows)."""
    return {str(v) for k, v in mapping_items(resource["inputs"].get("spec") or {}) if k == "serviceAccountName"}


def secrets_read(resource: dict[str, Any]) -> set[str]:
    """Secrets the object's pods cannot start without: `envFrom`, `secretKeyRef`, volumes."""
    found: set[str] = set()
    for key, value in mapping_items(resource["inputs"].get("spec") or {}):
        if not isinstance(value, dict) or value.get("optional"):
            continue
        if key in ("secretRef", "secretKeyRef") and value.get("name"):
            found.add(str(value["name"]))
        elif key == "secret" and (value.get("secretName") or value.get("name")):
            found.add(str(value.get("secretName") or value["name"]))
    return found


def kubernetes(plan: Any, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in plan.resources
        if r["type"].startswith("kubernetes:") and (kind is None or r["type"].endswith(f":{kind}"))
    ]


def identity_of(plan: Any, service_account: str) -> list[dict[str, Any]]:
    """The Pod Identity association of a service account, its role and the role's policies."""
    associations = [a for a in plan.of_type(ASSOCIATION) if a["inputs"]["serviceAccount"] == service_account]
    found = list(associations)
    for association in associations:
        roles = [r for r in plan.of_type(ROLE) if r["outputs"].get("arn") == association["inputs"]["roleArn"]]
        assert len(roles) == 1, association["name"]
        found += roles
        found += [p for p in plan.of_type(ROLE_POLICY) if p["inputs"]["role"] == roles[0]["inputs"]["name"]]
    return found


def sources_of(plan: Any, external_secret: dict[str, Any]) -> list[dict[str, Any]]:
    """The AWS resources an ExternalSecret's remote keys come from: a Secrets Manager secret (by
    name or ARN), or the RDS instance whose master secret it is."""
    spec = external_secret["inputs"]["spec"]
    keys = {str(d["remoteRef"]["key"]) for d in spec.get("data") or []}
    keys |= {str(d["extract"]["key"]) for d in spec.get("dataFrom") or [] if "extract" in d}
    found = []
    for key in keys:
        secrets = [s for s in plan.of_type(SM_SECRET) if key in (s["inputs"].get("name"), s["outputs"].get("arn"))]
        databases = [
            d
            for d in plan.of_type(RDS_INSTANCE)
            if key in {m.get("secretArn") for m in d["outputs"].get("masterUserSecrets") or []}
        ]
        assert secrets or databases, f"{external_secret['name']} reads {key}, which this stack does not create"
        found += secrets + databases
    return found


def missing(graph: Graph, resource: dict[str, Any], needed: list[dict[str, Any]]) -> list[str]:
    return [n["name"] for n in needed if n["urn"] not in graph.depends_on(resource["urn"])]


# --- what pods need at start -------------------------------------------------------------------


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_pods_start_after_their_service_account_and_its_aws_identity(project_plan, project, environment):
    """Every object that runs pods as a service account waits for that service account, its
    Pod Identity association, the association's role and the role's policy."""
    plan = project_plan(project, environment)
    graph = Graph(plan)
    accounts = {a["inputs"]["metadata"]["name"]: a for a in kubernetes(plan, "ServiceAccount")}
    checked = set()
    for resource in kubernetes(plan):
        for account in service_accounts_of(resource):
            needed = [accounts[account], *identity_of(plan, account)]
            assert missing(graph, resource, needed) == [], resource["name"]
            checked.add(resource["inputs"]["kind"])
    assert {"WorkflowTemplate", "InferenceService", "Deployment"} & checked
    awaited = [r for r in kubernetes(plan) if r["inputs"]["kind"] in AWAITED and service_accounts_of(r)]
    assert awaited and all(r["inputs"]["kind"] in checked for r in awaited)


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_pods_start_after_the_secrets_they_read_and_the_secrets_after_their_sources(project_plan, project, environment):
    """A pod's required Secret is made by an ExternalSecret, which the External Secrets Operator
    fills from a Secrets Manager secret or an RDS master secret through the namespace's
    SecretStore: all of them exist before the pod, and outlive it on teardown."""
    plan = project_plan(project, environment)
    graph = Graph(plan)
    external_secrets = kubernetes(plan, "ExternalSecret")
    stores = kubernetes(plan, "SecretStore")
    by_target = {str(e["inputs"]["spec"]["target"]["name"]): e for e in external_secrets}
    for external_secret in external_secrets:
        assert missing(graph, external_secret, [*stores, *sources_of(plan, external_secret)]) == []
    readers = 0
    for resource in kubernetes(plan):
        for secret in secrets_read(resource) & set(by_target):
            assert missing(graph, resource, [by_target[secret]]) == [], (resource["name"], secret)
            readers += 1
    assert readers  # the tracking server reads its database secret in every plan


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_access_entries_wait_for_the_role_they_name(project_plan, project, environment):
    plan = project_plan(project, environment)
    graph = Graph(plan)
    for entry in plan.of_type(ACCESS_ENTRY):
        (role,) = [r for r in plan.of_type(ROLE) if r["outputs"].get("arn") == entry["inputs"]["principalArn"]]
        assert missing(graph, entry, [role]) == []


def test_a_pipeline_waits_for_its_own_identity_not_the_other_pipelines(project_plan):
    plan = project_plan("rag-assistant", "prod")
    graph = Graph(plan)
    templates = kubernetes(plan, "WorkflowTemplate")
    assert len(templates) > 1
    for template in templates:
        (mine,) = service_accounts_of(template)
        others = [a for a in plan.of_type(ASSOCIATION) if a["inputs"]["serviceAccount"] != mine]
        assert others
        assert all(a["urn"] not in graph.depends_on(template["urn"]) for a in others), template["name"]


# --- bounded as the project grows ---------------------------------------------------------------

NO_POOL_PIPELINES = ("index-docs", "evaluate-release", "monitor")


def grown(copies: int):
    """rag-assistant with `copies` more of each pipeline off the pools and of its API endpoint."""

    def edit(document: dict[str, Any]) -> None:
        spec = document["spec"]
        for n in range(copies):
            for name in NO_POOL_PIPELINES:
                spec["pipelines"][f"{name}-{n}"] = copy.deepcopy(spec["pipelines"][name])
            (api,) = [e for e in spec["serving"]["endpoints"] if e["name"] == "assistant-api"]
            spec["serving"]["endpoints"].append({**copy.deepcopy(api), "name": f"assistant-api-{n}"})

    return edit


def dependency_counts(plan: Any) -> tuple[int, int]:
    """(the most dependencies of one Kubernetes resource, all dependency URNs of the plan)."""
    counts = {r["urn"]: len(r["options"].get("dependencies") or ()) for r in plan.resources}
    return max(counts[r["urn"]] for r in kubernetes(plan)), sum(counts.values())


def test_dependencies_per_cluster_object_do_not_grow_with_the_pipelines_and_endpoints(plan_variant):
    few, many = plan_variant("rag-assistant", None, "prod"), plan_variant("rag-assistant", grown(8), "prod")
    added = len(many.resources) - len(few.resources)
    assert added > 150  # 24 pipelines and 8 endpoints, each with its own identity and objects
    (few_worst, few_total), (many_worst, many_total) = dependency_counts(few), dependency_counts(many)
    assert many_worst == few_worst
    # Each added resource brings at most as many dependencies as the worst object already had:
    # the state grows linearly with the project.
    assert many_total - few_total <= added * few_worst


# --- only the capacity and the image repository the pods use -----------------------------------

POOL_LABEL = "mlrig.io/pool"
REPOSITORY = "aws:ecr/repository:Repository"
# Objects whose spec describes the pods they run (their node selector and images).
PODS = ("WorkflowTemplate", "InferenceService", "Deployment", "StatefulSet", "DaemonSet")


def pools_scheduled(resource: dict[str, Any]) -> set[str]:
    """The pools the object's pods are scheduled to: `mlrig.io/pool` in a node selector or in a
    required node affinity."""
    found: set[str] = set()
    for key, value in mapping_items(resource["inputs"].get("spec") or {}):
        if key == "nodeSelector" and isinstance(value, dict) and POOL_LABEL in value:
            found.add(str(value[POOL_LABEL]))
        elif key == "matchExpressions" and isinstance(value, list):
            for expression in value:
                if expression.get("key") == POOL_LABEL and expression.get("operator") == "In":
                    found |= {str(v) for v in expression.get("values") or ()}
    return found


def images_of(resource: dict[str, Any]) -> set[str]:
    return {
        str(v) for k, v in mapping_items(resource["inputs"].get("spec") or {}) if k == "image" and isinstance(v, str)
    }


def capacity_of(plan: Any, pool: str) -> list[dict[str, Any]]:
    """A pool's NodePools (the fallback one too) and the EC2NodeClass they launch nodes of."""
    node_pools = [
        p
        for p in kubernetes(plan, "NodePool")
        if p["inputs"]["spec"]["template"]["metadata"]["labels"][POOL_LABEL] == pool
    ]
    class_names = {p["inputs"]["spec"]["template"]["spec"]["nodeClassRef"]["name"] for p in node_pools}
    classes = [c for c in kubernetes(plan, "EC2NodeClass") if c["inputs"]["metadata"]["name"] in class_names]
    assert node_pools and len(classes) == len(class_names), pool
    return node_pools + classes


def repositories_pulled(plan: Any, resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The project's ECR repositories the object's images come from."""
    images = images_of(resource)
    return [
        r
        for r in plan.of_type(REPOSITORY)
        if any(image.rsplit(":", 1)[0] == r["outputs"]["repositoryUrl"] for image in images)
    ]


def capacity_and_repositories(plan: Any) -> dict[str, set[str]]:
    """URN -> pool / repository name, for every NodePool, EC2NodeClass and repository."""
    owner: dict[str, set[str]] = {}
    pools = {p["inputs"]["spec"]["template"]["metadata"]["labels"][POOL_LABEL] for p in kubernetes(plan, "NodePool")}
    for pool in pools:
        for resource in capacity_of(plan, pool):
            owner.setdefault(resource["urn"], set()).add(f"pool {pool}")
    for repository in plan.of_type(REPOSITORY):
        owner.setdefault(repository["urn"], set()).add(f"repository {repository['inputs']['name']}")
    return owner


def assert_waits_for_what_its_pods_use(plan: Any) -> int:
    """Every object that runs pods waits for the NodePools and EC2NodeClass of each pool its pods
    are scheduled to and for each repository its images come from, and for no other pool or
    repository (directly or through what it waits for). Returns how many objects it checked."""
    graph = Graph(plan)
    owners = capacity_and_repositories(plan)
    checked = 0
    for resource in kubernetes(plan):
        if resource["inputs"].get("kind") not in PODS:
            continue
        pools = pools_scheduled(resource)
        repositories = repositories_pulled(plan, resource)
        needed = [c for pool in sorted(pools) for c in capacity_of(plan, pool)] + repositories
        assert missing(graph, resource, needed) == [], resource["name"]
        expected = {f"pool {p}" for p in pools} | {f"repository {r['inputs']['name']}" for r in repositories}
        awaited = set().union(*(owners[u] for u in graph.depends_on(resource["urn"]) if u in owners))
        assert awaited == expected, resource["name"]
        checked += 1
    return checked


@pytest.mark.parametrize(("project", "environment"), PLANS)
def test_pods_wait_for_their_own_pools_and_repositories_only(project_plan, project, environment):
    plan = project_plan(project, environment)
    assert assert_waits_for_what_its_pods_use(plan)
    templates = kubernetes(plan, "WorkflowTemplate")
    assert any(pools_scheduled(t) for t in templates) or not kubernetes(plan, "NodePool")
    # Every pipeline runs the project's image (the model hub mirror runs KServe's, from no repository).
    pipelines = [t for t in templates if "mlrig.io/pipeline" in t["inputs"]["metadata"]["labels"]]
    assert pipelines and all(repositories_pulled(plan, t) for t in pipelines)


EXTRA = 6


def spread(document: dict[str, Any], extra: int = EXTRA) -> None:
    """rag-assistant with 6 (`extra`) more CPU pools and registries, a training pipeline and a
    custom endpoint on each (pool i, registry i)."""
    spec = document["spec"]
    spec["registries"] += [f"r{i}" for i in range(extra)]
    spec["compute"]["pools"] += [
        {"name": f"cpu-{i}", "instanceTypes": ["m6i.xlarge"], "capacity": "spot", "max": 2} for i in range(extra)
    ]
    for i in range(extra):
        spec["pipelines"][f"train-{i}"] = {"type": "training", "image": f"r{i}", "pool": f"cpu-{i}"}
        spec["serving"]["endpoints"].append(
            {"name": f"api-{i}", "image": f"r{i}", "pool": f"cpu-{i}", "resources": {"cpu": "1", "memory": "2Gi"}}
        )


def test_with_many_pools_and_registries_each_object_waits_for_its_own(plan_variant):
    plan = plan_variant("rag-assistant", spread, "prod")
    assert assert_waits_for_what_its_pods_use(plan) > 2 * EXTRA
    by_name = {r["inputs"]["metadata"]["name"]: r for r in kubernetes(plan)}
    for i in range(EXTRA):
        # The spread really put each pipeline on its own pool and registry.
        template = by_name[f"train-{i}"]
        assert pools_scheduled(template) == {f"cpu-{i}"}
        (repository,) = repositories_pulled(plan, template)
        assert repository["name"].endswith(f"-r{i}")
    graph = Graph(plan)
    owners = capacity_and_repositories(plan)
    for graph_object in kubernetes(plan, "InferenceGraph"):
        endpoint = graph_object["inputs"]["metadata"]["labels"]["mlrig.io/endpoint"]
        services = [
            s
            for s in kubernetes(plan, "InferenceService")
            if s["inputs"]["metadata"]["labels"]["mlrig.io/endpoint"] == endpoint
        ]
        pools = set().union(*(pools_scheduled(s) for s in services))
        awaited = {o for u in graph.depends_on(graph_object["urn"]) for o in owners.get(u, ()) if o.startswith("pool")}
        # An A-B graph waits for the pool of its endpoint's variants only.
        assert awaited == {f"pool {p}" for p in pools}, graph_object["name"]


def test_dependencies_per_cluster_object_do_not_grow_with_the_pools_and_registries(plan_variant):
    # One pooled custom endpoint and training pipeline against six: the same kinds of objects, more of them.
    few = plan_variant("rag-assistant", lambda document: spread(document, 1), "prod")
    many = plan_variant("rag-assistant", spread, "prod")
    assert len(kubernetes(many, "NodePool")) >= len(kubernetes(few, "NodePool")) + EXTRA - 1
    assert dependency_counts(many)[0] == dependency_counts(few)[0]
