"""The LLM gateway's limits hold across its replicas and restarts: LiteLLM counts in a shared store
(Valkey, Redis protocol) the gateway owns, not in each pod's memory."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlrig import naming, pins
from mlrig.project.gateway import STORE_PORT, STORE_USER

from .conftest import Graph, named, objects

STORE = "llm-gateway-store"


def gateway_config(plan) -> dict[str, Any]:
    return yaml.safe_load(named(plan, "ConfigMap", "llm-gateway")["data"]["config.yaml"])


def store_pod(plan) -> dict[str, Any]:
    return named(plan, "Deployment", STORE)["spec"]["template"]


@pytest.fixture(scope="module")
def prod(project_plan):
    return project_plan("rag-assistant", "prod")


def test_the_gateways_router_counts_in_the_store_the_gateway_deploys(prod):
    """Without `redis_host`/`redis_port` every replica of LiteLLM's router counts rate windows and
    provider spend in its own memory: with two replicas a $2000 budget is $2000 per pod, per pod
    lifetime."""
    router = gateway_config(prod)["router_settings"]
    assert router["redis_host"] == f"{STORE}.rag-assistant.svc.cluster.local"
    service = named(prod, "Service", STORE)["spec"]
    (port,) = service["ports"]
    assert router["redis_port"] == port["port"] == STORE_PORT
    pod = store_pod(prod)
    assert service["selector"] == pod["metadata"]["labels"]
    (container,) = pod["spec"]["containers"]
    assert {"name": port["targetPort"], "containerPort": STORE_PORT} in container["ports"]
    # The spend of each provider budget is what the store holds.
    assert set(router["provider_budget_config"]) == {"openai", "anthropic"}


def test_the_bundles_rate_limits_are_enforced_not_only_weights_of_the_random_pick(prod):
    """Under `simple-shuffle` LiteLLM reads a deployment's `rpm`/`tpm` as weights of its random
    pick; only the `enforce_model_rate_limits` pre-call check answers 429 past them."""
    router = gateway_config(prod)["router_settings"]
    assert router["routing_strategy"] == "simple-shuffle"
    assert "enforce_model_rate_limits" in router["optional_pre_call_checks"]


def test_the_token_limit_is_split_across_replicas_so_together_they_never_pass_it(prod, plan_variant):
    """LiteLLM 1.83.10 shares request counts through the store but checks tokens against each
    replica's own count: each replica gets its share of the bundle's tokensPerMinute."""
    models = {m["model_name"]: m["litellm_params"] for m in gateway_config(prod)["model_list"]}
    assert models["openai/*"]["tpm"] * 2 <= 300000 and models["openai/*"]["tpm"] == 150000
    assert models["openai/*"]["rpm"] == 600  # requests are counted once, in the store

    def three_replicas(project):
        project["spec"]["llm"]["gateway"]["replicas"] = 3

    plan = plan_variant("rag-assistant", three_replicas, "staging")
    models = {m["model_name"]: m["litellm_params"] for m in gateway_config(plan)["model_list"]}
    assert models["openai/*"]["tpm"] == 100000


def test_a_gateway_without_limits_needs_no_store(plan_variant):
    def unlimited(project):
        gateway = project["spec"]["llm"]["gateway"]
        gateway.pop("limits", None)

    plan = plan_variant("rag-assistant", unlimited, "dev")
    router = gateway_config(plan)["router_settings"]
    assert "redis_host" not in router and "optional_pre_call_checks" not in router
    assert not [d for d in objects(plan, "Deployment") if d["metadata"]["name"] == STORE]
    assert not [s for s in objects(plan, "Service") if s["metadata"]["name"] == STORE]


def test_the_overall_budget_is_not_written_where_litellm_ignores_it_without_a_database(prod):
    """`litellm_settings.max_budget` is enforced by LiteLLM only from its database; mlrig's gateway
    runs none, so the setting would only pretend. The README says the overall budget is not
    enforced."""
    settings = gateway_config(prod)["litellm_settings"]
    assert "max_budget" not in settings and "budget_duration" not in settings


def test_the_projects_own_llm_is_not_blocked_by_the_openai_budget(prod):
    """A provider budget filters every route of that provider: the project's own vLLM endpoint
    behind the gateway must not count as `openai`."""
    config = gateway_config(prod)
    hosted = next(m["litellm_params"] for m in config["model_list"] if m["model_name"] == "llm")
    provider = hosted["model"].split("/", 1)[0]
    assert provider == "hosted_vllm"
    assert provider not in config["router_settings"]["provider_budget_config"]


def test_the_store_runs_restricted_as_the_images_own_user_on_a_read_only_root(prod):
    pod = store_pod(prod)["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == STORE_USER == 999
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == pins.VALKEY.reference and pins.VALKEY in pins.IMAGES
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_the_store_keeps_counters_through_a_container_restart_on_its_data_volume(prod):
    """The image's working directory /data must be writable (its entrypoint refuses otherwise);
    the append-only file there outlives a container restart, not the pod."""
    pod = store_pod(prod)["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    data_dir = args[args.index("--dir") + 1]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == data_dir == "/data")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume and volume["emptyDir"]["sizeLimit"]
    assert not objects(prod, "PersistentVolumeClaim") or all(
        c["metadata"]["name"] != STORE for c in objects(prod, "PersistentVolumeClaim")
    )


def test_the_store_is_one_pod_that_karpenter_leaves_on_its_on_demand_node(prod):
    """Every move empties the store: one replica (two would count apart), replaced by `Recreate`,
    on on-demand capacity and not consolidated away; a one-replica budget would block every drain,
    so there is none."""
    deployment = named(prod, "Deployment", STORE)["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
    pod = deployment["template"]
    assert pod["spec"]["nodeSelector"] == {"karpenter.sh/capacity-type": "on-demand"}
    assert pod["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}
    assert not [b for b in objects(prod, "PodDisruptionBudget") if b["metadata"]["name"] == STORE]


def test_the_gateway_starts_after_its_store_and_is_deleted_before_it(prod):
    graph = Graph(prod)
    (gateway,) = [d for d in graph.kind("Deployment") if d["inputs"]["metadata"]["name"] == "llm-gateway"]
    (store,) = [d for d in graph.kind("Deployment") if d["inputs"]["metadata"]["name"] == STORE]
    (service,) = [s for s in graph.kind("Service") if s["inputs"]["metadata"]["name"] == STORE]
    assert graph.deleted_before(gateway, store) and graph.deleted_before(gateway, service)


def test_the_store_fits_the_namespace_quota_beside_mlrigs_other_servers(prod):
    """The quota's general allowance holds mlrig's own always-on servers (limits, as the quota
    counts them), the store included."""
    quota = named(prod, "ResourceQuota", "project-quota")["spec"]["hard"]
    servers = ("mlflow", "llm-gateway", STORE, "feedback-collector", "inference-logger")
    cores = 0.0
    for deployment in objects(prod, "Deployment"):
        if deployment["metadata"]["name"] in servers:
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            limit = container["resources"]["limits"]["cpu"]
            cores += deployment["spec"]["replicas"] * (
                float(limit[:-1]) / 1000 if limit.endswith("m") else float(limit)
            )
    assert cores <= 16 <= int(quota["limits.cpu"])


def test_a_changed_limit_rolls_the_gateways_pods(project_plan, plan_variant):
    """LiteLLM reads its configuration once, at start: an updated ConfigMap alone left the running
    gateway on its old limits. The pod template carries the configuration's digest."""

    def digest(plan) -> str:
        gateway = named(plan, "Deployment", "llm-gateway")["spec"]["template"]["metadata"]
        return gateway["annotations"]["mlrig.io/config-digest"]

    before = project_plan("rag-assistant", "staging")
    assert digest(before) == naming.config_digest(named(before, "ConfigMap", "llm-gateway")["data"])

    def more_requests(project):
        project["spec"]["llm"]["gateway"]["limits"]["openai"]["requestsPerMinute"] = 900

    assert digest(plan_variant("rag-assistant", more_requests, "staging")) != digest(before)


def test_the_scheduling_check_places_the_store_on_the_platforms_general_nodes(example_result, example_planner):
    """The store's pod is one the scheduling check sees (not skipped for want of a pool): its
    on-demand selector matches the platform's general NodePool, and it fits a node there."""
    from mlrig.checks.runner import principal_owners, stack_graph
    from mlrig.checks.scheduling import placement_fits, placements

    target = example_result.projects["rag-assistant"]
    targets = [*example_result.platforms.values(), *example_result.projects.values()]
    graph = stack_graph(target, "prod", example_planner, principal_owners(targets))
    [store] = [p for p in placements(graph) if STORE in p.pod.label]
    assert store.shapes and {shape.pool_name for shape in store.shapes} == {"general"}
    assert placement_fits(store)
