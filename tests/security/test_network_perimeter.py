"""A project namespace's network perimeter is the platform's.

Kubernetes' `edit` role (a data scientist or ML engineer in dev) and `admin` (the CI deployer)
include writing NetworkPolicies and Services. NetworkPolicies only add up, and the platform's own
namespaces (monitoring, argo, kserve, kube-system…) have no ingress policies: what kept a team's
pods away from them was the team's own `default-deny` and egress rules. Before these policies a
data scientist in dev could delete `default-deny` (or add an allow-all egress), then from a pod
POST to Alertmanager's unauthenticated API a silence matching every namespace — every team's alerts,
prod included under namespace isolation — or an alert labelled with another team's namespace, which
the shared Alertmanager routes to that team's receivers (its PagerDuty). The same team could create
a Service whose `externalIPs` named another team's database address or the Pod Identity agent's:
kube-proxy on every node then sent that traffic, from every namespace, to the team's pod.

The namespace's admission policies, evaluated here by an independent CEL implementation, refuse
both, and admit every Service mlrig writes and the platform's deployer and kube-system's
controllers writing the namespace's NetworkPolicies."""

from __future__ import annotations

from typing import Any

import pytest

from .admission import named, objects, passes

NAMESPACE = "fraud-detection"
PERIMETER = f"{NAMESPACE}--network-perimeter"
SERVICES = f"{NAMESPACE}--service-scope"
DEPLOYER = "arn:aws:sts::111111111111:assumed-role/acme-ml-dev-platform-deployer/pulumi"
PERSONA = "arn:aws:sts::111111111111:assumed-role/fraud-detection--dev--data-scientist/alice"

ALLOW_ALL_EGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "allow-all", "namespace": NAMESPACE},
    "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
}

# (username, groups) of whoever acts for the project in the cluster.
PROJECT_REQUESTERS = {
    "a data scientist in dev": (PERSONA, ("mlrig:fraud-detection:data-scientist", "system:authenticated")),
    "an ML engineer in dev": (PERSONA, ("mlrig:fraud-detection:ml-engineer", "system:authenticated")),
    "the project's CI deployer": (PERSONA, ("mlrig:fraud-detection:ci-deployer", "system:authenticated")),
    "a pipeline pod's service account (bound a role by the CI deployer)": (
        "system:serviceaccount:fraud-detection:fraud-detection--wl--train",
        ("system:serviceaccounts", "system:serviceaccounts:fraud-detection", "system:authenticated"),
    ),
    "another namespace's service account bound here": (
        "system:serviceaccount:rag-assistant:default",
        ("system:serviceaccounts", "system:serviceaccounts:rag-assistant", "system:authenticated"),
    ),
    "anyone, through a role bound to system:unauthenticated": ("system:anonymous", ("system:unauthenticated",)),
}


@pytest.fixture(scope="module")
def perimeter(dev_plan):
    return named(dev_plan, "ValidatingAdmissionPolicy", PERIMETER)


@pytest.fixture(scope="module")
def service_scope(dev_plan):
    return named(dev_plan, "ValidatingAdmissionPolicy", SERVICES)


def default_deny(plan: Any) -> dict[str, Any]:
    return named(plan, "NetworkPolicy", "default-deny")


@pytest.mark.parametrize(
    ("policy_name", "resource", "operations"),
    [
        (PERIMETER, "networkpolicies", {"CREATE", "UPDATE", "DELETE"}),
        (SERVICES, "services", {"CREATE", "UPDATE"}),
    ],
)
def test_the_policies_guard_the_projects_namespace_only(dev_plan, policy_name, resource, operations):
    binding = named(dev_plan, "ValidatingAdmissionPolicyBinding", policy_name)["spec"]
    assert binding["policyName"] == policy_name and binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": NAMESPACE}
    policy = named(dev_plan, "ValidatingAdmissionPolicy", policy_name)["spec"]
    assert policy["failurePolicy"] == "Fail"
    (rule,) = policy["matchConstraints"]["resourceRules"]
    assert rule["resources"] == [resource] and set(rule["operations"]) == operations


@pytest.mark.parametrize("who", sorted(PROJECT_REQUESTERS))
def test_nobody_acting_for_the_project_may_delete_default_deny(perimeter, dev_plan, who):
    username, groups = PROJECT_REQUESTERS[who]
    assert not passes(perimeter, None, "DELETE", username=username, groups=groups)


@pytest.mark.parametrize("who", sorted(PROJECT_REQUESTERS))
def test_nobody_acting_for_the_project_may_open_its_egress(perimeter, dev_plan, who):
    username, groups = PROJECT_REQUESTERS[who]
    assert not passes(perimeter, ALLOW_ALL_EGRESS, "CREATE", username=username, groups=groups)
    loosened = {**default_deny(dev_plan), "spec": {"podSelector": {"matchLabels": {"none": "none"}}}}
    assert not passes(perimeter, loosened, "UPDATE", username=username, groups=groups)


def test_the_platforms_deployer_writes_the_namespaces_network_policies(perimeter, dev_plan):
    for policy in objects(dev_plan, "NetworkPolicy"):
        assert passes(perimeter, policy, "CREATE", username=DEPLOYER)
        assert passes(perimeter, policy, "UPDATE", username=DEPLOYER)
    assert passes(perimeter, None, "DELETE", username=DEPLOYER)


def test_deleting_the_namespace_still_removes_its_network_policies(perimeter):
    for controller in ("namespace-controller", "generic-garbage-collector"):
        username = f"system:serviceaccount:kube-system:{controller}"
        groups = ("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated")
        assert passes(perimeter, None, "DELETE", username=username, groups=groups)


@pytest.mark.parametrize(
    "external_ips",
    [
        ["169.254.170.23"],  # the Pod Identity agent: every pod's credential requests
        ["10.0.3.17"],  # another team's database in the VPC: its connections and passwords
        ["203.0.113.10"],  # an address outside: every pod's traffic to it
    ],
)
def test_a_service_may_not_take_other_pods_traffic_with_external_ips(service_scope, external_ips):
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "trap", "namespace": NAMESPACE},
        "spec": {"selector": {"app": "trap"}, "ports": [{"port": 80}], "externalIPs": external_ips},
    }
    for operation in ("CREATE", "UPDATE"):
        assert not passes(
            service_scope, service, operation, username=PERSONA, groups=PROJECT_REQUESTERS["a data scientist in dev"][1]
        )


@pytest.mark.parametrize(
    ("project", "environment"),
    [("fraud-detection", "dev"), ("fraud-detection", "prod"), ("rag-assistant", "dev"), ("rag-assistant", "prod")],
)
def test_every_namespace_has_both_policies_and_every_service_mlrig_writes_is_admitted(
    project_plan, project, environment
):
    plan = project_plan(project, environment)
    (namespace,) = [n["metadata"]["name"] for n in objects(plan, "Namespace")]
    own = named(plan, "ValidatingAdmissionPolicy", f"{namespace}--service-scope")
    named(plan, "ValidatingAdmissionPolicy", f"{namespace}--network-perimeter")
    services = objects(plan, "Service")
    assert services, "expected mlrig's own Services (tracking server, endpoints)"
    for service in services:
        assert passes(own, service, "CREATE", username=DEPLOYER), service["metadata"]["name"]


# --- volumes: a bound on what a namespace may claim ----------------------------------------------


def gib(quantity: str) -> float:
    units = {"Ti": 1024, "Gi": 1, "Mi": 1 / 1024}
    return next(float(quantity[: -len(u)]) * f for u, f in units.items() if quantity.endswith(u))


@pytest.mark.parametrize(
    ("project", "environment"),
    [("fraud-detection", "dev"), ("fraud-detection", "prod"), ("rag-assistant", "dev"), ("rag-assistant", "prod")],
)
def test_a_data_scientist_cannot_claim_hundreds_of_terabytes_of_volumes(project_plan, project, environment):
    # 20 claims of gp2's 16 TiB each were 320 TiB of EBS, billed to the shared account with no project tag.
    plan = project_plan(project, environment)
    hard = named(plan, "ResourceQuota", "project-quota")["spec"]["hard"]
    assert gib(hard["requests.storage"]) <= 2048
    claimed = sum(gib(c["spec"]["resources"]["requests"]["storage"]) for c in objects(plan, "PersistentVolumeClaim"))
    assert claimed <= gib(hard["requests.storage"]), "mlrig's own claims must fit the quota"
