"""rules/compute.py: GPU pools use NVIDIA GPU families with enough GPUs, bounds are ordered,
GPU requests land on GPU pools."""

from __future__ import annotations

import pytest

from mlrig.aws_catalog import is_gpu_family, nvidia_gpus

from ..helpers import check_project, explain, only

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
        ("g5.3xlarge", "unknown size"),
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
    assert check_project({f"{POOL}.instanceTypes": ["g5g.xlarge"], f"{POOL}.architecture": "arm64"}).valid


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
    assert check_project(
        {"spec.serving.endpoints[0].resources.gpu": 1, "spec.serving.endpoints[0].pool": "gpu-train"}
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
