"""MLRIG-DEP-001/002: pods fit a node of their pool; pools' limits hold what must run together."""

from __future__ import annotations

from mlrig.instance_facts import facts_of, kube_reserved_cpu_millis, node_allocatable

from .helpers import core_addons, efa_device_plugin, findings, k8s, nodepool

GPU_TAINTS = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
ON_POOL = {
    "nodeSelector": {"mlrig.io/pool": "gpu-serve"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}


def isvc(cpu: str, memory: str, replicas: int = 1):
    model = {
        "modelFormat": {"name": "huggingface"},
        "resources": {"requests": {"cpu": cpu, "memory": memory, "nvidia.com/gpu": "1"}},
    }
    return k8s(
        "InferenceService",
        "serving.kserve.io/v1beta1",
        "llm",
        {"predictor": {**ON_POOL, "minReplicas": replicas, "model": model}},
    )


def test_allocatable_matches_karpenters_published_figures():
    assert node_allocatable(facts_of("g5.2xlarge")).cpu_millis == 7910  # Karpenter v1.8.1 reference
    assert node_allocatable(facts_of("g5.2xlarge")).memory_mib == 29317
    assert node_allocatable(facts_of("p4d.24xlarge")).memory_mib == 1082712
    assert kube_reserved_cpu_millis(8) == 90 and facts_of("g5.2xlarge").max_pods == 58


def test_an_8_cpu_32gi_model_server_does_not_fit_an_8_vcpu_32gib_node():
    pool = nodepool("gpu-serve", ["g6.2xlarge", "g5.2xlarge"], taints=GPU_TAINTS)
    [found] = findings("MLRIG-DEP-001", pool, isvc("8", "32Gi"), context=tuple(core_addons()))
    assert "requests 8 CPU, 32Gi memory, 1 GPU(s)" in found.message and "7775m CPU, 29277Mi memory" in found.message
    assert "g5.4xlarge" in found.hint or "g6.4xlarge" in found.hint


def test_a_model_server_that_leaves_room_for_reserved_and_daemonsets_fits():
    pool = nodepool("gpu-serve", ["g6.2xlarge", "g5.2xlarge"], taints=GPU_TAINTS)
    assert findings("MLRIG-DEP-001", pool, isvc("7", "26Gi"), context=tuple(core_addons())) == []


def test_a_pod_that_tolerates_no_pool_and_selects_none_is_reported_when_the_pools_are_known():
    pool = nodepool("gpu-serve", ["g5.2xlarge"], taints=GPU_TAINTS)
    pod = k8s(
        "Deployment",
        "apps/v1",
        "api",
        {
            "template": {
                "spec": {
                    "nodeSelector": {"mlrig.io/pool": "nope"},
                    "containers": [{"resources": {"requests": {"cpu": "1"}}}],
                }
            }
        },
    )
    [found] = findings("MLRIG-DEP-001", pool, pod, context=tuple(core_addons()))
    assert "matches no NodePool" in found.message


def fine_tune(workers: int):
    worker = {
        "name": "worker",
        **{**ON_POOL, "nodeSelector": {"mlrig.io/pool": "gpu-tune"}},
        "container": {
            "image": "x:1",
            "resources": {"requests": {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "4"}},
        },
    }
    main = {
        "name": "main",
        "steps": [[{"name": "worker", "template": "worker", "withSequence": {"count": str(workers)}}]],
    }
    return k8s("WorkflowTemplate", "argoproj.io/v1alpha1", "fine-tune", {"templates": [main, worker]})


def test_two_four_gpu_workers_do_not_fit_a_pool_limited_to_four_gpus():
    pool = nodepool(
        "gpu-tune",
        ["g6e.12xlarge", "g5.12xlarge"],
        taints=GPU_TAINTS,
        labels={"mlrig.io/pool": "gpu-tune"},
        limits={"cpu": "48", "memory": "384Gi", "nvidia.com/gpu": "4"},
    )
    [found] = findings("MLRIG-DEP-002", pool, fine_tune(2), context=tuple(core_addons()))
    assert "runs 2 pod(s)" in found.message and "8 GPU(s)" in found.message


def test_a_pool_limited_to_eight_gpus_holds_two_four_gpu_workers():
    pool = nodepool(
        "gpu-tune",
        ["g6e.12xlarge", "g5.12xlarge"],
        taints=GPU_TAINTS,
        labels={"mlrig.io/pool": "gpu-tune"},
        limits={"cpu": "96", "memory": "768Gi", "nvidia.com/gpu": "8"},
    )
    assert findings("MLRIG-DEP-002", pool, fine_tune(2), context=tuple(core_addons())) == []


def test_pods_whose_nodes_the_graph_does_not_hold_are_not_judged():
    """A project stack checked alone (CrossGuard) does not see the platform's general pool."""
    pod = k8s(
        "Deployment",
        "apps/v1",
        "api",
        {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "500"}}}]}}},
    )
    assert findings("MLRIG-DEP-001", pod) == []


def test_daemonset_requests_come_from_the_plans_release_values():
    """A node-exporter given 1 CPU by the platform's values takes it from every node."""
    from .helpers import record

    kps = record(
        "kubernetes:helm.sh/v3:Release",
        "kps",
        {
            "chart": "kube-prometheus-stack",
            "values": {"prometheus-node-exporter": {"resources": {"requests": {"cpu": "1"}}}},
        },
    )
    pool = nodepool("gpu-serve", ["g6.2xlarge"], taints=GPU_TAINTS)
    assert findings("MLRIG-DEP-001", pool, isvc("7", "26Gi"), context=(*core_addons(), kps))
    assert findings("MLRIG-DEP-001", pool, isvc("6", "26Gi"), context=(*core_addons(), kps)) == []


# --- shared GPUs and EFA ---------------------------------------------------------------------------


def shared_pool(config: str, instance_types: list[str], limits: dict[str, str] | None = None, **labels: str):
    return nodepool(
        "gpu-share",
        instance_types,
        taints=GPU_TAINTS,
        labels={"mlrig.io/pool": "gpu-share", "nvidia.com/device-plugin.config": config, **labels},
        limits=limits,
    )


def sliced_job(workers: int, gpus: str = "1"):
    step = {
        "name": "step",
        **{**ON_POOL, "nodeSelector": {"mlrig.io/pool": "gpu-share"}},
        "container": {"image": "x:1", "resources": {"requests": {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": gpus}}},
    }
    main = {"name": "main", "steps": [[{"name": "step", "template": "step", "withSequence": {"count": str(workers)}}]]}
    return k8s("WorkflowTemplate", "argoproj.io/v1alpha1", "score", {"templates": [main, step]})


def test_a_time_sliced_node_takes_as_many_one_gpu_pods_as_its_replicas():
    """4 pods of one slice each need one g5.2xlarge whose GPU is shared 4 ways: a 1-GPU limit holds them."""
    pool = shared_pool("time-slicing-4", ["g5.2xlarge"], limits={"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"})
    assert findings("MLRIG-DEP-002", pool, sliced_job(4), context=tuple(core_addons())) == []
    whole = nodepool(
        "gpu-share",
        ["g5.2xlarge"],
        taints=GPU_TAINTS,
        labels={"mlrig.io/pool": "gpu-share"},
        limits={"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"},
    )
    assert findings("MLRIG-DEP-002", whole, sliced_job(4), context=tuple(core_addons()))  # whole GPUs: 4 nodes


def test_a_mig_node_advertises_its_instances():
    # p4d: 8 A100s of 40 GiB, 7 × 1g.5gb each: 56 one-slice pods on one node
    pool = shared_pool(
        "mig-single",
        ["p4d.24xlarge"],
        limits={"cpu": "96", "memory": "1152Gi", "nvidia.com/gpu": "8"},
        **{"nvidia.com/mig.config": "all-1g.5gb"},
    )
    assert findings("MLRIG-DEP-002", pool, sliced_job(56), context=tuple(core_addons())) == []
    assert findings("MLRIG-DEP-002", pool, sliced_job(57), context=tuple(core_addons()))


def test_a_pod_asking_for_two_shared_gpus_never_starts():
    pool = shared_pool("time-slicing-4", ["g5.12xlarge"])
    [found] = findings("MLRIG-DEP-001", pool, sliced_job(1, gpus="2"), context=tuple(core_addons()))
    assert "one GPU slice at most" in found.message


def test_efa_requests_count_against_the_nodes_interfaces():
    pool = nodepool("gpu-tune", ["g5.12xlarge"], taints=GPU_TAINTS, labels={"mlrig.io/pool": "gpu-tune"})
    worker = {
        "name": "worker",
        **{**ON_POOL, "nodeSelector": {"mlrig.io/pool": "gpu-tune"}},
        "container": {
            "image": "x:1",
            "resources": {
                "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1", "vpc.amazonaws.com/efa": "2"}
            },
        },
    }
    main = {"name": "main", "steps": [[{"name": "worker", "template": "worker"}]]}
    template = k8s("WorkflowTemplate", "argoproj.io/v1alpha1", "tune", {"templates": [main, worker]})
    context = (*core_addons(), efa_device_plugin())
    [found] = findings("MLRIG-DEP-001", pool, template, context=context)  # g5.12xlarge has 1 EFA
    assert "2 EFA interface(s)" in found.message and "device plugin" not in found.message


def test_the_efa_and_mountpoint_daemonsets_take_their_share_of_the_nodes_they_run_on():
    from .helpers import record

    efa = efa_device_plugin()
    s3 = record("kubernetes:helm.sh/v3:Release", "s3", {"chart": "aws-mountpoint-s3-csi-driver", "values": {}})
    pool = nodepool("gpu-serve", ["g6.2xlarge"], taints=GPU_TAINTS)
    # g6.2xlarge has no EFA: only the s3-csi-node DaemonSet (10m, 40Mi) joins the core add-ons there
    [found] = findings("MLRIG-DEP-001", pool, isvc("8", "32Gi"), context=(*core_addons(), efa, s3))
    assert "7765m CPU, 29237Mi memory" in found.message


def test_a_projects_own_daemonsets_count_on_the_nodes_they_select():
    pool = nodepool("gpu-serve", ["g6.2xlarge"], taints=GPU_TAINTS)
    prepull = k8s(
        "DaemonSet",
        "apps/v1",
        "prepull-gpu-serve",
        {
            "template": {
                "spec": {
                    **ON_POOL,
                    "initContainers": [{"resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                    "containers": [{"resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                }
            }
        },
    )
    [found] = findings("MLRIG-DEP-001", pool, prepull, isvc("8", "32Gi"), context=tuple(core_addons()))
    assert "7765m CPU, 29261Mi memory" in found.message


def test_the_daemonsets_of_an_mlrig_platform_are_a_new_list_for_every_caller():
    from mlrig.checks.daemonsets import mlrig_daemonsets

    first = mlrig_daemonsets(monitoring=True, device_plugin=True, dcgm_exporter=True)
    names = [d.name for d in first]
    first.clear()  # the answer is cached; a caller's change must not reach the next caller
    assert [d.name for d in mlrig_daemonsets(monitoring=True, device_plugin=True, dcgm_exporter=True)] == names


def test_quantities_read_the_same_from_text_and_numbers():
    from mlrig.checks import quantities

    assert quantities.cpu_millis("500m") == 500 and quantities.cpu_millis("4") == quantities.cpu_millis(4) == 4000
    assert quantities.memory_mib("16Gi") == 16384 and quantities.memory_mib("1G") == 954
    assert quantities.cpu_millis("four") is None and quantities.memory_mib(None) is None


def test_gpu_pods_stay_pending_on_nodes_without_the_nvidia_device_plugin():
    """Without the device plugin a GPU node advertises no `nvidia.com/gpu`: the pod never starts."""
    pool = nodepool("gpu-serve", ["g6.2xlarge"], taints=GPU_TAINTS)
    without_plugin = tuple(r for r in core_addons() if r["name"] != "nvidia-device-plugin")
    [found] = findings("MLRIG-DEP-001", pool, isvc("2", "8Gi"), context=without_plugin)
    assert "no NVIDIA device plugin runs on the nodes of pool 'gpu-serve'" in found.message
    assert "nvidiaDevicePlugin" in found.hint
    assert findings("MLRIG-DEP-001", pool, isvc("2", "8Gi"), context=tuple(core_addons())) == []


def test_efa_pods_stay_pending_on_nodes_without_the_efa_device_plugin():
    pool = nodepool("gpu-tune", ["p5.48xlarge"], taints=GPU_TAINTS)
    step = {
        "name": "main",
        **{**ON_POOL, "nodeSelector": {"mlrig.io/pool": "gpu-tune"}},
        "container": {
            "image": "x:1",
            "resources": {
                "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32"}
            },
        },
    }
    template = k8s("WorkflowTemplate", "argoproj.io/v1alpha1", "pretrain", {"templates": [step]})
    [found] = findings("MLRIG-DEP-001", pool, template, context=tuple(core_addons()))
    assert "no EFA device plugin runs on the nodes of pool 'gpu-tune'" in found.message
    assert findings("MLRIG-DEP-001", pool, template, context=(*core_addons(), efa_device_plugin())) == []
