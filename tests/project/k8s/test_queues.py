"""Queues (Kueue): each project environment's ClusterQueue holds its pools' capacity, admits only
its own namespace, lends idle GPUs inside its environment's cohort and takes them back; pipeline
steps on pools go through the project's LocalQueue; a multi-worker run is admitted whole.

The shapes are the Kueue v0.19.2 API (`kueue.x-k8s.io/v1beta2`); the structural facts these tests
hold objects to were read from its CRDs (config/components/crd/bases at v0.19.2, commit 8eab6877)
and are written here, so the suite needs nothing but itself."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import named, objects, templates_of

KUEUE_API = "kueue.x-k8s.io/v1beta2"

# --- Kueue v0.19.2 CRD facts (openAPIV3Schema of v1beta2) ------------------------------------------
CLUSTER_QUEUE_SPEC_FIELDS = {
    "admissionChecksStrategy",
    "admissionScope",
    "cohortName",
    "concurrentAdmissionPolicy",
    "fairSharing",
    "flavorFungibility",
    "namespaceSelector",
    "preemption",
    "queueingStrategy",
    "resourceGroups",
    "stopPolicy",
}
QUEUEING_STRATEGIES = {"StrictFIFO", "BestEffortFIFO"}
RECLAIM_WITHIN_COHORT = {"Never", "LowerPriority", "Any"}
BORROW_WITHIN_COHORT = {"Never", "LowerPriority"}
WITHIN_CLUSTER_QUEUE = {"Never", "LowerPriority", "LowerOrNewerEqualPriority"}
MAX_RESOURCE_GROUPS, MAX_FLAVORS, MAX_RESOURCES = 16, 64, 64
FLAVOR_RESOURCE_FIELDS = {"name", "nominalQuota", "borrowingLimit", "lendingLimit"}
RESOURCE_FLAVOR_SPEC_FIELDS = {"nodeLabels", "nodeTaints", "tolerations", "topologyName"}
MAX_NODE_LABELS, MAX_NODE_TAINTS = 8, 8
TAINT_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}
LOCAL_QUEUE_SPEC_FIELDS = {"clusterQueue", "fairSharing", "stopPolicy"}
WORKLOAD_PRIORITY_CLASS_FIELDS = {"apiVersion", "kind", "metadata", "value", "description"}


def kueue(plan, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects(plan, kind) if o["apiVersion"] == KUEUE_API]


def cluster_queue(plan) -> dict[str, Any]:
    (queue,) = kueue(plan, "ClusterQueue")
    return queue


def flavors_of(queue: dict[str, Any], resource: str) -> dict[str, dict[str, str]]:
    """flavor -> {field: value} of the resource group covering `resource`."""
    for group in queue["spec"]["resourceGroups"]:
        if resource in group["coveredResources"]:
            return {
                f["name"]: {k: v for r in f["resources"] if r["name"] == resource for k, v in r.items() if k != "name"}
                for f in group["flavors"]
            }
    return {}


@pytest.mark.parametrize(
    ("project", "environment"), [(p, e) for p in ("fraud-detection", "rag-assistant") for e in ("dev", "prod")]
)
def test_kueue_objects_have_the_shape_of_the_pinned_crds(project_plan, project, environment):
    plan = project_plan(project, environment)
    queue = cluster_queue(plan)
    spec = queue["spec"]
    assert set(spec) <= CLUSTER_QUEUE_SPEC_FIELDS
    assert spec["queueingStrategy"] in QUEUEING_STRATEGIES
    assert spec["preemption"]["reclaimWithinCohort"] in RECLAIM_WITHIN_COHORT
    assert spec["preemption"]["borrowWithinCohort"]["policy"] in BORROW_WITHIN_COHORT
    assert spec["preemption"]["withinClusterQueue"] in WITHIN_CLUSTER_QUEUE
    groups = spec["resourceGroups"]
    assert 1 <= len(groups) <= MAX_RESOURCE_GROUPS
    covered: list[str] = []
    flavor_names: list[str] = []
    for group in groups:
        assert 1 <= len(group["flavors"]) <= MAX_FLAVORS and 1 <= len(group["coveredResources"]) <= MAX_RESOURCES
        covered += group["coveredResources"]
        for flavor in group["flavors"]:
            flavor_names.append(flavor["name"])
            # CRD rule: every flavor lists exactly the covered resources
            assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]
            assert all(set(r) <= FLAVOR_RESOURCE_FIELDS for r in flavor["resources"])
            # CRD rule: a borrowing limit only inside a cohort
            assert spec.get("cohortName") or all("borrowingLimit" not in r for r in flavor["resources"])
    assert len(covered) == len(set(covered)) and len(flavor_names) == len(set(flavor_names))
    for flavor in kueue(plan, "ResourceFlavor"):
        assert set(flavor["spec"]) <= RESOURCE_FLAVOR_SPEC_FIELDS
        assert len(flavor["spec"]["nodeLabels"]) <= MAX_NODE_LABELS
        assert len(flavor["spec"].get("nodeTaints", [])) <= MAX_NODE_TAINTS
        assert {t["effect"] for t in flavor["spec"].get("nodeTaints", [])} <= TAINT_EFFECTS
    for local in kueue(plan, "LocalQueue"):
        assert set(local["spec"]) <= LOCAL_QUEUE_SPEC_FIELDS
    for priority in kueue(plan, "WorkloadPriorityClass"):
        assert set(priority) <= WORKLOAD_PRIORITY_CLASS_FIELDS and isinstance(priority["value"], int)


def test_a_projects_queue_admits_workloads_of_its_own_namespace_only(project_plan):
    queue = cluster_queue(project_plan("fraud-detection", "prod"))
    assert queue["metadata"]["name"] == "fraud-detection"
    assert queue["spec"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "fraud-detection"}}


def test_pipelines_name_the_local_queue_of_their_namespace_which_points_at_their_own_cluster_queue(project_plan):
    plan = project_plan("fraud-detection", "prod")
    (local,) = kueue(plan, "LocalQueue")
    assert local["metadata"] == {**local["metadata"], "name": "pipelines", "namespace": "fraud-detection"}
    assert local["spec"] == {"clusterQueue": "fraud-detection"}
    namespace = named(plan, "Namespace", "fraud-detection")
    assert namespace["metadata"]["labels"]["mlrig.io/kueue"] == "enabled"  # the platform's webhook scope


def test_projects_of_an_environment_share_a_cohort_and_lend_only_whole_gpus(project_plan):
    fraud, rag = (
        cluster_queue(project_plan("fraud-detection", "prod")),
        cluster_queue(project_plan("rag-assistant", "prod")),
    )
    assert fraud["spec"]["cohortName"] == rag["spec"]["cohortName"] == "acme-ml-prod"
    assert "acme-ml-gpu" in flavors_of(fraud, "nvidia.com/gpu") and "acme-ml-gpu" in flavors_of(rag, "nvidia.com/gpu")
    assert cluster_queue(project_plan("fraud-detection", "staging"))["spec"]["cohortName"] == "acme-ml-staging"


def test_a_project_takes_its_share_back_from_borrowers_whatever_priority_they_claim(project_plan):
    preemption = cluster_queue(project_plan("fraud-detection", "prod"))["spec"]["preemption"]
    # priorities are each team's own: they order work inside its queue, never across teams
    assert preemption == {
        "reclaimWithinCohort": "Any",
        "borrowWithinCohort": {"policy": "Never"},
        "withinClusterQueue": "LowerPriority",
    }


def test_the_queue_holds_each_pool_at_max_and_the_bundles_borrowing_limit(project_plan):
    queue = cluster_queue(project_plan("fraud-detection", "prod"))
    cpu = flavors_of(queue, "cpu")
    # cpu-batch: 8 × m6i/m7i.2xlarge (8 vCPU); gpu-train: 16 × g5/g6.2xlarge in prod
    assert cpu["fraud-detection--cpu-batch"] == {"nominalQuota": "64"}
    assert cpu["fraud-detection--gpu-train"] == {"nominalQuota": "128"}
    assert flavors_of(queue, "nvidia.com/gpu") == {"acme-ml-gpu": {"nominalQuota": "16", "borrowingLimit": "4"}}


def test_a_time_sliced_pools_slices_are_counted_apart_and_never_lent(project_plan):
    queue = cluster_queue(project_plan("fraud-detection", "dev"))  # dev: 1 GPU × 4 replicas
    assert flavors_of(queue, "nvidia.com/gpu") == {
        "fraud-detection--gpu-train--gpu": {"nominalQuota": "4", "borrowingLimit": "0"}
    }
    flavor = named(project_plan("fraud-detection", "dev"), "ResourceFlavor", "fraud-detection--gpu-train--gpu")
    assert flavor["spec"]["nodeLabels"]["mlrig.io/gpu-sharing"] == "time-slicing"


def test_serving_keeps_its_room_on_a_shared_pool(project_plan):
    """gpu-serve (4 × 1 GPU in dev) also runs the llm endpoint at up to 4 replicas × 2 variants:
    the queue gives pipelines none of its GPUs, as replicas come first."""
    queue = cluster_queue(project_plan("rag-assistant", "dev"))
    # gpu-tune holds 2 × 4 GPUs, gpu-serve's 4 are the endpoint's
    assert flavors_of(queue, "nvidia.com/gpu") == {"acme-ml-gpu": {"nominalQuota": "8"}}


def test_a_pool_flavor_selects_exactly_its_pools_nodes(project_plan):
    plan = project_plan("fraud-detection", "prod")
    flavor = named(plan, "ResourceFlavor", "fraud-detection--gpu-train")
    pool = named(plan, "NodePool", "fraud-detection--gpu-train")["spec"]["template"]
    assert flavor["spec"]["nodeLabels"] == pool["metadata"]["labels"]
    assert flavor["spec"]["nodeTaints"] == pool["spec"]["taints"]


def queued(template: dict[str, Any]) -> dict[str, str]:
    return (template.get("metadata") or {}).get("labels") or {}


def test_pooled_steps_wait_in_the_projects_queue_with_their_priority(project_plan):
    plan = project_plan("fraud-detection", "prod")
    train = templates_of(named(plan, "WorkflowTemplate", "train"))["main"]
    assert queued(train) == {
        "kueue.x-k8s.io/queue-name": "pipelines",
        "kueue.x-k8s.io/priority-class": "fraud-detection--training",
    }
    # a preempted or evicted step is retried: Kueue deletes its pods
    assert train["retryStrategy"]["retryPolicy"] == "Always"
    score = templates_of(named(plan, "WorkflowTemplate", "score-batch"))["main"]
    assert queued(score)["kueue.x-k8s.io/priority-class"] == "fraud-detection--batch-inference"
    priorities = {p["metadata"]["name"]: p["value"] for p in kueue(plan, "WorkloadPriorityClass")}
    assert priorities == {"fraud-detection--training": 1000, "fraud-detection--batch-inference": 100}


def test_steps_on_the_general_nodes_are_not_queued(project_plan):
    plan = project_plan("fraud-detection", "prod")
    for name in ("compare", "step"):
        template = templates_of(named(plan, "WorkflowTemplate", "deploy-model"))[name]
        assert not queued(template) and template["retryStrategy"]["retryPolicy"] == "OnFailure"


def test_the_workers_of_a_distributed_run_are_admitted_together_or_not_at_all(project_plan):
    templates = templates_of(named(project_plan("rag-assistant", "prod"), "WorkflowTemplate", "fine-tune"))
    worker = templates["worker"]["metadata"]
    assert worker["labels"]["kueue.x-k8s.io/pod-group-name"] == "{{workflow.uid}}"
    assert worker["annotations"] == {"kueue.x-k8s.io/pod-group-total-count": "2"}
    # the rendezvous daemon runs on the general nodes, outside the group
    assert "metadata" not in templates["rendezvous"]


def test_endpoint_replicas_on_a_pool_outrank_the_projects_queued_pods(project_plan):
    plan = project_plan("rag-assistant", "prod")
    priority = named(plan, "PriorityClass", "rag-assistant--serving")
    assert priority["value"] == 10000 and priority["preemptionPolicy"] == "PreemptLowerPriority"
    assert priority["globalDefault"] is False
    for isvc in objects(plan, "InferenceService"):
        predictor = isvc["spec"]["predictor"]
        on_pool = "nodeSelector" in predictor
        assert predictor.get("priorityClassName") == ("rag-assistant--serving" if on_pool else None)


def test_without_queueing_nothing_is_queued(plan_variant):
    def no_queue(project: dict) -> None:
        project["spec"]["compute"]["queueing"] = {"enabled": False}

    plan = plan_variant("fraud-detection", no_queue, "prod")
    assert not kueue(plan, "ClusterQueue") and not kueue(plan, "LocalQueue")
    assert "mlrig.io/kueue" not in named(plan, "Namespace", "fraud-detection")["metadata"]["labels"]
    assert not queued(templates_of(named(plan, "WorkflowTemplate", "train"))["main"])


def test_a_platform_without_kueue_gets_no_queue_objects(plan_variant):
    def no_kueue(platform: dict) -> None:
        platform["spec"]["cluster"]["addons"]["kueue"] = {"enabled": False}

    plan = plan_variant("rag-assistant", None, "dev", platform_edit=no_kueue)
    assert not kueue(plan, "ClusterQueue") and not kueue(plan, "WorkloadPriorityClass")
    worker = templates_of(named(plan, "WorkflowTemplate", "fine-tune"))["worker"]
    assert "metadata" not in worker
