"""rules/compute.py: GPU pools use NVIDIA GPU families with enough GPUs, bounds are ordered,
GPU requests land on GPU pools."""

from __future__ import annotations

import pytest

from mlrig.aws_catalog import is_gpu_family, nvidia_gpus

from ..helpers import check_project, errors, explain, only

POOL = "spec.compute.pools[1]"  # gpu-train in the fraud example


def test_a_pool_whose_min_exceeds_its_max_is_rejected():
    error = only(check_project({"spec.compute.pools[0].min": 9}), "pool_bounds_ordered")
    assert error.path == "spec.compute.pools[0].min"
    assert error.message == "min (9) is greater than max (8) in pool 'cpu-batch'"


def test_a_pool_whose_min_equals_its_max_is_fine():
    assert check_project({"spec.compute.pools[0].min": 8}).valid


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("m6i.2xlarge", "not a GPU instance type"),
        ("inf2.xlarge", "AWS Inferentia2, not NVIDIA GPUs"),
        ("trn1.32xlarge", "Trainium"),
        ("g4ad.xlarge", "AMD"),
    ],
)
def test_a_gpu_pool_needs_nvidia_gpu_instance_types(instance_type: str, expected: str):
    error = only(check_project({f"{POOL}.instanceTypes": ["g5.2xlarge", instance_type]}), "gpu_pools_use_gpu_instances")
    assert error.path == f"{POOL}.instanceTypes[1]" and expected in error.message


def test_a_gpu_pool_asking_more_gpus_than_an_instance_has_is_rejected():
    result = check_project({f"{POOL}.instanceTypes": ["g5.12xlarge", "g6.2xlarge"], f"{POOL}.gpu.count": 4})
    error = only(result, "gpu_pools_use_gpu_instances")
    assert error.path == f"{POOL}.instanceTypes[1]"
    assert error.message == "'g6.2xlarge' has 1 GPU(s), fewer than gpu.count 4"


def test_a_gpu_pool_of_four_gpu_instances_may_ask_for_four():
    assert check_project({f"{POOL}.instanceTypes": ["g5.12xlarge", "p4d.24xlarge"], f"{POOL}.gpu.count": 4}).valid


def test_a_gpu_instance_in_a_cpu_pool_is_rejected():
    error = only(check_project({"spec.compute.pools[0].instanceTypes": ["g5.xlarge"]}), "gpu_pools_use_gpu_instances")
    assert "GPU instance in CPU pool" in error.message


def test_an_arm64_gpu_family_needs_an_arm64_pool():
    error = only(check_project({f"{POOL}.instanceTypes": ["g5g.xlarge"]}), "gpu_pools_use_gpu_instances")
    assert "arm64" in error.message
    small = {"cpu": "3", "memory": "6Gi", "gpu": 1}  # what a g5g.xlarge node (4 vCPU, 8 GiB) can hold
    changes = {
        f"{POOL}.instanceTypes": ["g5g.xlarge"],
        f"{POOL}.architecture": "arm64",
        "spec.pipelines.train.resources": small,
    }
    assert check_project(changes).valid


def test_a_pipeline_requesting_gpus_without_a_pool_is_rejected():
    result = check_project({}, deletions=("spec.pipelines.train.pool",))
    error = only(result, "gpu_requests_have_gpu_pools")
    assert error.path == "spec.pipelines.train.pool"


def test_a_pipeline_requesting_gpus_on_a_cpu_pool_is_rejected():
    error = only(check_project({"spec.pipelines.train.pool": "cpu-batch"}), "gpu_requests_have_gpu_pools")
    assert "has no GPUs" in error.message


def test_a_pipeline_requesting_more_gpus_than_its_pool_nodes_have_is_rejected():
    error = only(check_project({"spec.pipelines.train.resources.gpu": 2}), "gpu_requests_have_gpu_pools")
    assert error.path == "spec.pipelines.train.resources.gpu"


def test_an_endpoint_requesting_gpus_needs_a_gpu_pool():
    error = only(check_project({"spec.serving.endpoints[0].resources.gpu": 1}), "gpu_requests_have_gpu_pools")
    assert error.path == "spec.serving.endpoints[0].pool"
    # Its 4 replicas (2 canary variants × minReplicas 2) need 4 one-GPU nodes: without the dev
    # override that caps gpu-train at 1 node, the pool holds them.
    assert check_project(
        {"spec.serving.endpoints[0].resources.gpu": 1, "spec.serving.endpoints[0].pool": "gpu-train"},
        deletions=("spec.environments.dev",),
    ).valid


def test_a_vllm_endpoint_without_gpus_is_rejected():
    result = check_project({"spec.serving.endpoints[0].resources.gpu": 0}, base="rag")
    error = only(result, "vllm_endpoints_use_gpus")
    assert error.path == "spec.serving.endpoints[0].resources"


def test_the_examples_gpu_pools_pass(example_result):
    assert example_result.valid, explain(example_result)


def test_the_catalog_knows_gpu_counts():
    assert nvidia_gpus("p4d.24xlarge") == 8 and nvidia_gpus("g6.xlarge") == 1 and nvidia_gpus("m6i.large") == 0
    assert nvidia_gpus("g5.3xlarge") is None
    assert is_gpu_family("g6e.xlarge") and not is_gpu_family("c7i.large")


# --- instance type names (botocore's EC2 model) -----------------------------------------------


@pytest.mark.parametrize(
    ("typo", "suggestion"), [("m6i.2xlarg", "m6i.2xlarge"), ("g5.2xlarg", "g5.2xlarge"), ("zz9.2xlarge", None)]
)
def test_an_instance_type_ec2_does_not_know_is_rejected_in_cpu_and_gpu_pools(typo: str, suggestion: str | None):
    pool = 0 if typo.startswith(("m", "z")) else 1  # cpu-batch, gpu-train
    error = only(check_project({f"spec.compute.pools[{pool}].instanceTypes": [typo]}), "pool_instance_types_exist")
    assert error.path == f"spec.compute.pools[{pool}].instanceTypes[0]"
    assert f"'{typo}' is not an EC2 instance type" in error.message and "botocore" in error.message
    if suggestion:
        assert f"did you mean '{suggestion}'" in error.message


def test_every_real_instance_type_is_accepted_in_a_cpu_pool():
    assert check_project({"spec.compute.pools[0].instanceTypes": ["m7i.4xlarge", "c7g.2xlarge", "r6i.large"]}).valid


def test_a_typo_in_the_system_node_group_is_rejected():
    from ..helpers import check_platform

    error = only(
        check_platform({"spec.cluster.systemNodeGroup.instanceTypes": ["m6i.larg"]}), "system_node_group_types_exist"
    )
    assert "did you mean 'm6i.large'" in error.message


# --- the cluster's Kubernetes version ---------------------------------------------------------


@pytest.mark.parametrize("version", ["1.30", "1.32", "1.34"])
def test_a_kubernetes_version_the_pinned_karpenter_supports_is_accepted(version: str):
    from ..helpers import check_platform

    assert check_platform({"spec.cluster.version": version}).valid


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.35", "not supported by Karpenter 1.8.1, the release this mlrig pins (it supports 1.29 to 1.34)"),
        ("1.99", "not supported by Karpenter 1.8.1"),
        ("1.29", "too old for mlrig: project namespaces are guarded by ValidatingAdmissionPolicies"),
        ("1.09", "use 1.30 or later"),
    ],
)
def test_a_cluster_that_could_not_run_mlrig_objects_or_karpenter_is_rejected_once(version: str, expected: str):
    from ..helpers import check_platform

    error = only(check_platform({"spec.cluster.version": version}), "cluster_version_supported")
    assert error.path == "spec.cluster.version" and expected in error.message


def test_an_environment_override_of_the_version_is_reported_where_it_is_written():
    from ..helpers import check_platform

    error = only(check_platform({"spec.environments.dev.cluster": {"version": "1.35"}}), "cluster_version_supported")
    assert error.path == "spec.environments.dev.cluster.version"


def test_a_newer_kubernetes_is_allowed_with_a_karpenter_release_the_bundle_chooses():
    from ..helpers import check_platform

    assert check_platform({"spec.cluster.version": "1.35", "spec.cluster.addons.karpenter.version": "1.9.0"}).valid
    assert check_platform({"spec.cluster.version": "1.35", "spec.cluster.addons.karpenter.enabled": False}).valid
    # ... but never below what mlrig's own objects need
    result = check_platform({"spec.cluster.version": "1.29", "spec.cluster.addons.karpenter.version": "1.9.0"})
    assert only(result, "cluster_version_supported").path == "spec.cluster.version"


# --- scheduling fit (per environment, after overrides) ---------------------------------------


def test_a_step_requesting_a_whole_8_vcpu_node_does_not_fit_it():
    result = check_project({"spec.pipelines.train.resources": {"cpu": "8", "memory": "32Gi", "gpu": 1}})
    # One finding per node offer: dev's time-sliced node advertises 4 GPUs, staging's and prod's 1.
    errors = [e for e in result.diagnostics if e.rule == "workloads_fit_pool_nodes"]
    assert [e.path for e in errors] == ["spec.pipelines.train.resources"] * 2, explain(result)
    for error in errors:
        assert (
            "requests 8 CPU, 32Gi memory, 1 GPU(s)" in error.message
            # 7910m / 29317Mi less aws-node, kube-proxy, ebs-csi-node and s3-csi-node (10m, 40Mi)
            and "offers at most 7765m CPU, 29237Mi memory" in error.message
        )
        assert "g5.4xlarge" in error.message
    assert "in environment dev" in errors[0].message and "4 GPU(s)" in errors[0].message


def test_a_step_that_leaves_room_for_kube_reserved_and_daemonsets_fits():
    assert check_project({"spec.pipelines.train.resources": {"cpu": "7", "memory": "26Gi", "gpu": 1}}).valid


def test_a_logged_endpoint_counts_the_kserve_logger_sidecar():
    result = check_project(
        {"spec.serving.endpoints[0].resources": {"cpu": "7.7", "memory": "26Gi", "gpu": 1}}, base="rag"
    )
    error = only(result, "workloads_fit_pool_nodes")
    assert "request-logger sidecar" in error.message


def test_a_gang_of_workers_needing_more_nodes_than_the_pools_max_is_rejected_in_that_environment():
    result = check_project(
        {"spec.environments.dev": {"compute": {"pools": [{"name": "gpu-tune", "max": 1}]}}}, base="rag"
    )
    error = only(result, "pool_max_holds_workloads")
    assert error.path == "spec.environments.dev.compute.pools[0].max"
    assert error.message.startswith(
        "in environment dev: pool 'gpu-tune' may launch 1 node(s), but 'fine-tune' runs 2 pods"
    )
    assert "raise max to 2" in error.message


def test_distributed_training_workers_count_against_the_pools_max_too():
    found = errors(check_project({"spec.pipelines.train.workers": 5}), "pool_max_holds_workloads")
    staging = [e for e in found if e.path == "spec.compute.pools[1].max"]
    assert staging and "'train' runs 5 pods" in staging[0].message and "raise max to 5" in staging[0].message


def test_a_pool_that_may_launch_no_node_holds_no_workload():
    found = errors(check_project({"spec.environments.dev.compute.pools[0].max": 0}), "pool_max_holds_workloads")
    train = [e for e in found if "'train'" in e.message]
    assert train and train[0].path == "spec.environments.dev.compute.pools[0].max"
    assert "may launch 0 node(s), but 'train' runs 1 pods" in train[0].message and "raise max to 1" in train[0].message


def test_a_pool_whose_max_holds_every_worker_passes():
    assert check_project(
        {"spec.environments.dev": {"compute": {"pools": [{"name": "gpu-tune", "max": 2}]}}}, base="rag"
    ).valid


def test_workers_that_each_take_a_nodes_only_efa_interface_need_a_node_each():
    """A g5.24xlarge holds 4 one-GPU workers by GPUs, but has one EFA interface, and every GPU
    step on an EFA pool requests one: validation counted GPUs only and passed `max: 1` for two
    workers, whose second worker then never found a node (the plan's MLRIG-DEP-002 said so)."""
    efa_pool = {"spec.compute.pools[1].instanceTypes": ["g5.24xlarge"], "spec.compute.pools[1].efa": True}
    changes = {**efa_pool, "spec.pipelines.train.workers": 2}
    one_node = {"spec.environments.dev.compute.pools[0]": {"name": "gpu-train", "max": 1}}
    error = only(check_project({**changes, **one_node}), "pool_max_holds_workloads")
    assert error.path == "spec.environments.dev.compute.pools[0].max"
    assert "'train' runs 2 pods of 7 CPU, 26Gi memory, 1 GPU(s), 1 EFA interface(s) together" in error.message
    assert "raise max to 2" in error.message
    two_nodes = {"spec.environments.dev.compute.pools[0]": {"name": "gpu-train", "max": 2}}
    assert check_project({**changes, **two_nodes}).valid
