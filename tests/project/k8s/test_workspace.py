"""The project's workspace: namespace, quota, network policies, service accounts and who may do
what in it (the access table: Table 1 of the Big Book of MLOps)."""

from __future__ import annotations

import json

import pytest

from mlrig.project.kube import cpu_cores, memory_gib
from mlrig.project.workspace import CLUSTER_ROLES

from .conftest import named, objects

ENVIRONMENTS = ("dev", "staging", "prod")


def binding_roles(plan) -> dict[str, str]:
    """Kubernetes group -> ClusterRole it is bound to in the namespace."""
    roles = {}
    for binding in objects(plan, "RoleBinding"):
        if binding["roleRef"]["kind"] != "ClusterRole":
            continue
        for subject in binding["subjects"]:
            roles[subject["name"]] = binding["roleRef"]["name"]
    return roles


def access_entries(plan) -> dict[str, list[str]]:
    return {
        r["inputs"]["principalArn"]: r["inputs"]["kubernetesGroups"]
        for r in plan.of_type("aws:eks/accessEntry:AccessEntry")
    }


def test_the_namespace_is_named_after_the_project_under_account_isolation(project_plan):
    plan = project_plan("fraud-detection", "prod")
    namespace = objects(plan, "Namespace")
    assert [n["metadata"]["name"] for n in namespace] == ["fraud-detection"]
    assert namespace[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_under_namespace_isolation_each_environment_has_its_own_namespace_and_groups(plan_variant):
    def namespace_isolation(platform):
        platform["spec"]["isolation"] = "namespace"
        platform["spec"]["state"].pop("account")  # the state lives beside the one shared cluster
        for environment in platform["spec"]["environments"].values():
            environment["account"] = "111111111111"

    plan = plan_variant("fraud-detection", None, "prod", platform_edit=namespace_isolation)
    assert [n["metadata"]["name"] for n in objects(plan, "Namespace")] == ["fraud-detection--prod"]
    assert all(group.startswith("mlrig:fraud-detection--prod:") for group in binding_roles(plan))


# dev: one node whose GPU is time-sliced 4 ways advertises 4 `nvidia.com/gpu`, as pods request them.
@pytest.mark.parametrize(("environment", "gpus"), [("dev", 4), ("staging", 4), ("prod", 16)])
def test_the_quota_holds_the_gpus_of_the_pools_at_their_maximum(project_plan, environment, gpus):
    quota = named(project_plan("fraud-detection", environment), "ResourceQuota", "project-quota")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == str(gpus)


def test_the_quota_counts_every_gpu_of_multi_gpu_instances(project_plan):
    # gpu-tune: g6e.12xlarge / g5.12xlarge carry 4 GPUs, max 2; gpu-serve: 1 GPU, max 4.
    quota = named(project_plan("rag-assistant", "prod"), "ResourceQuota", "project-quota")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == str(2 * 4 + 4 * 1)
    # cpu-batch-less project: CPU and memory of the pools plus the general allowance.
    assert int(quota["spec"]["hard"]["requests.cpu"]) > 2 * 48


def test_containers_get_default_requests_and_limits(project_plan):
    limit_range = named(project_plan("fraud-detection", "dev"), "LimitRange", "container-defaults")
    (limits,) = limit_range["spec"]["limits"]
    assert limits["type"] == "Container" and limits["default"] and limits["defaultRequest"]


def test_all_traffic_is_denied_unless_a_policy_allows_it(project_plan):
    deny = named(project_plan("fraud-detection", "prod"), "NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {}
    assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]


def test_pods_may_resolve_names_through_kube_dns_only_on_port_53(project_plan):
    dns = named(project_plan("fraud-detection", "prod"), "NetworkPolicy", "allow-dns")
    (rule,) = dns["spec"]["egress"]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_the_platform_monitoring_and_ingress_namespaces_may_reach_the_project(project_plan, platform_plan):
    plan = project_plan("fraud-detection", "prod")
    platform_outputs = platform_plan("prod").outputs
    for policy, output in (
        ("allow-from-monitoring-predictors", "monitoringNamespace"),
        ("allow-from-ingress", "ingressNamespace"),
    ):
        (rule,) = named(plan, "NetworkPolicy", policy)["spec"]["ingress"]
        selector = rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        assert selector == platform_outputs[output]


@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_the_monitoring_namespace_reaches_only_the_pods_it_scrapes_on_their_metrics_port(project_plan, project):
    # F9: `allow-from-monitoring` admitted the whole monitoring namespace (Alertmanager included)
    # to every pod, so a webhook route could post to another team's feedback collector.
    plan = project_plan(project, "prod")
    monitors = [o for o in objects(plan, "PodMonitor")]
    from_monitoring = [
        p
        for p in objects(plan, "NetworkPolicy")
        if any("monitoring" in json.dumps(rule.get("from", [])) for rule in p["spec"].get("ingress", []))
    ]
    # One policy per PodMonitor (rag-assistant's gateway is scraped too), each opening only the
    # pods its monitor selects, on the port it scrapes.
    assert len(from_monitoring) == len(monitors) >= 1
    for monitor in monitors:
        (policy,) = [p for p in from_monitoring if p["spec"]["podSelector"] == monitor["spec"]["selector"]]
        assert policy["spec"]["podSelector"] != {}
        (rule,) = policy["spec"]["ingress"]
        scraped = [e["portNumber"] for e in monitor["spec"]["podMetricsEndpoints"]]
        assert [p["port"] for p in rule["ports"]] == scraped and rule["ports"][0]["protocol"] == "TCP"


def test_without_endpoints_nothing_in_the_namespace_is_open_to_the_monitoring_namespace(plan_variant):
    def without_endpoints(project):
        project["spec"].pop("serving")
        project["spec"]["environments"]["prod"].pop("serving")

    plan = plan_variant("fraud-detection", without_endpoints, "prod")
    policies = {p["metadata"]["name"] for p in objects(plan, "NetworkPolicy")}
    assert not [name for name in policies if "monitoring" in name]


def test_egress_beyond_the_namespace_is_https_pod_identity_and_postgres_only(project_plan):
    plan = project_plan("fraud-detection", "prod")
    ports = set()
    for policy in objects(plan, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            if rule["to"] == [{"podSelector": {}}]:
                continue
            ports |= {(p["protocol"], p["port"]) for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 80), ("TCP", 5432)}


@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_every_pod_identity_association_names_a_service_account_the_workspace_creates(project_plan, project):
    plan = project_plan(project, "staging")
    accounts = {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in objects(plan, "ServiceAccount")}
    associations = plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert associations
    for association in associations:
        assert (association["inputs"]["namespace"], association["inputs"]["serviceAccount"]) in accounts


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_personas_are_bound_to_cluster_roles_by_tier_as_the_access_table_says(project_plan, environment):
    plan = project_plan("fraud-detection", environment)
    expected = {f"mlrig:fraud-detection:{persona}": role for persona, role in CLUSTER_ROLES[environment].items()}
    assert binding_roles(plan) == expected


def test_the_access_table_in_kubernetes_terms():
    assert CLUSTER_ROLES == {
        "dev": {"data-scientist": "edit", "ml-engineer": "edit", "ci-deployer": "admin"},
        "staging": {"data-scientist": "view", "ml-engineer": "edit", "ci-deployer": "admin"},
        "prod": {"data-scientist": "view", "ml-engineer": "view", "ci-deployer": "admin"},
    }


def test_a_data_scientist_in_prod_can_only_view_and_only_ci_changes_prod(project_plan):
    roles = binding_roles(project_plan("fraud-detection", "prod"))
    assert roles["mlrig:fraud-detection:data-scientist"] == "view"
    assert roles["mlrig:fraud-detection:ml-engineer"] == "view"
    assert [group for group, role in roles.items() if role != "view"] == ["mlrig:fraud-detection:ci-deployer"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_access_entries_map_the_persona_roles_to_the_bound_groups(project_plan, environment):
    plan = project_plan("fraud-detection", environment)
    entries = access_entries(plan)
    roles = {r["inputs"]["name"]: r for r in plan.of_type("aws:iam/role:Role")}
    assert set(binding_roles(plan)) == {group for groups in entries.values() for group in groups}
    for principal, groups in entries.items():
        role_name = principal.rsplit("/", 1)[1]
        assert role_name in roles, f"access entry for a role the stack does not create: {principal}"
        persona = roles[role_name]["inputs"]["tags"]["mlrig:persona"]
        assert groups == [f"mlrig:fraud-detection:{persona}"]


def test_a_persona_without_principals_gets_no_access_entry_nor_binding(plan_variant):
    def no_data_scientists(project):
        project["spec"]["access"]["dataScientists"] = []

    plan = plan_variant("fraud-detection", no_data_scientists, "dev")
    assert not any("data-scientist" in group for groups in access_entries(plan).values() for group in groups)
    assert "mlrig:fraud-detection:data-scientist" not in binding_roles(plan)
    assert "mlrig:fraud-detection:ml-engineer" in binding_roles(plan)


def test_the_quota_leaves_room_for_unpooled_endpoints_at_their_maximum(project_plan):
    # scorer: 30 replicas × 2 CPU × 2 InferenceServices (canary) on the general nodes in prod.
    quota = named(project_plan("fraud-detection", "prod"), "ResourceQuota", "project-quota")
    assert int(quota["spec"]["hard"]["requests.cpu"]) >= 30 * 2 * 2 + 8 * 8 + 16 * 8


def test_a_project_with_only_the_required_fields_gets_a_working_namespace(plan_variant):
    def required_only(project):
        project["metadata"] = {"name": "fraud-detection"}
        project["spec"] = {"platform": "acme-ml", "repository": "acme/fraud-detection"}

    plan = plan_variant("fraud-detection", required_only, "prod")
    assert [n["metadata"]["name"] for n in objects(plan, "Namespace")] == ["fraud-detection"]
    assert named(plan, "ResourceQuota", "project-quota")["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"
    assert named(plan, "Deployment", "mlflow")
    assert {a["metadata"]["name"] for a in objects(plan, "ServiceAccount")} == {"wl-tracking"}
    assert {"mlrig:fraud-detection:ci-deployer"} == {
        s["name"] for b in objects(plan, "RoleBinding") for s in b["subjects"]
    }
    assert not objects(plan, "WorkflowTemplate") and not objects(plan, "InferenceService")


def gateway_replicas(count: int):
    def edit(project):
        project["spec"]["llm"]["gateway"]["replicas"] = count

    return edit


def test_the_quota_holds_every_gateway_replica_the_bundle_asks_for(plan_variant):
    """The quota counts limits, and a replica it cannot hold is never created: the apply waits on
    the Deployment until it times out. Twelve replicas of 2 cores / 2 GiB were refused past the
    fixed allowance for mlrig's own servers (16 cores), which the bundle allows up to 50."""
    quota = {
        count: named(plan_variant("rag-assistant", gateway_replicas(count), "dev"), "ResourceQuota", "project-quota")
        for count in (2, 12)
    }
    plan = plan_variant("rag-assistant", gateway_replicas(12), "dev")
    gateway = named(plan, "Deployment", "llm-gateway")["spec"]
    limits = gateway["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gateway["replicas"] == 12
    more_cpu = int(quota[12]["spec"]["hard"]["limits.cpu"]) - int(quota[2]["spec"]["hard"]["limits.cpu"])
    more_memory = memory_gib(quota[12]["spec"]["hard"]["limits.memory"]) - memory_gib(
        quota[2]["spec"]["hard"]["limits.memory"]
    )
    assert more_cpu >= 10 * cpu_cores(limits["cpu"])
    assert more_memory >= 10 * memory_gib(limits["memory"])
