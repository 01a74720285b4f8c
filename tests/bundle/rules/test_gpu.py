"""rules/gpu.py: GPU sharing suits the pool's GPUs, EFA and placement groups suit its instance
types, reservations are the platform's to give, queued jobs fit their share, and endpoints that
scale to zero or mount the model hub have what they need."""

from __future__ import annotations

from ..helpers import check_project, errors, example, explain, only, set_path, validate

FRAUD_GPU = "spec.compute.pools[1]"  # gpu-train: g5.2xlarge / g6.2xlarge, time-sliced in dev
RAG_TUNE = "spec.compute.pools[0]"  # gpu-tune: g6e.12xlarge / g5.12xlarge, 4 GPUs, EFA, reservations
RAG_SERVE = "spec.compute.pools[1]"  # gpu-serve: g6.2xlarge / g5.2xlarge, the vLLM endpoint's pool


# --- sharing -------------------------------------------------------------------------------------


def test_the_examples_share_gpus_as_declared():
    assert check_project({}).valid and check_project({}, base="rag").valid


def test_a_cpu_pool_has_no_gpus_to_share():
    error = only(
        check_project({"spec.compute.pools[0].sharing": {"mode": "time-slicing", "replicas": 2}}),
        "gpu_sharing_suits_the_pool",
    )
    assert error.path == "spec.compute.pools[0].sharing.mode" and "no GPUs to share" in error.message


def test_time_slicing_needs_its_replicas():
    # dev's override gives replicas; staging and prod have none
    error = only(check_project({f"{FRAUD_GPU}.sharing": {"mode": "time-slicing"}}), "gpu_sharing_suits_the_pool")
    assert error.path == f"{FRAUD_GPU}.sharing" and "needs `replicas`" in error.message
    assert "in environments staging, prod" in error.message


def test_replicas_without_time_slicing_are_a_mistake():
    error = only(check_project({f"{FRAUD_GPU}.sharing": {"replicas": 3}}), "gpu_sharing_suits_the_pool")
    assert error.path == f"{FRAUD_GPU}.sharing.replicas"


def test_a_misspelt_sharing_mode_gets_a_did_you_mean():
    result = check_project({f"{FRAUD_GPU}.sharing": {"mode": "timeslicing", "replicas": 2}})
    assert any("did you mean 'time-slicing'" in e.message for e in result.diagnostics), explain(result)


def test_mig_is_rejected_on_gpus_that_have_no_mig():
    result = check_project({f"{RAG_SERVE}.sharing": {"mode": "mig", "profile": "1g.10gb"}}, base="rag")
    found = errors(result, "gpu_sharing_suits_the_pool")
    assert [e.path for e in found] == [f"{RAG_SERVE}.instanceTypes[0]", f"{RAG_SERVE}.instanceTypes[1]"], explain(
        result
    )
    assert "l4 GPUs, which have no MIG" in found[0].message and "a10g" in found[1].message


def _mig_pool(profile: str | None, instance_type: str = "p4d.24xlarge") -> dict:
    sharing = {"mode": "mig", **({"profile": profile} if profile else {})}
    return {f"{RAG_SERVE}.instanceTypes": [instance_type], f"{RAG_SERVE}.sharing": sharing}


def test_a_mig_pool_of_a100s_is_fine():
    assert check_project(_mig_pool("1g.5gb"), base="rag").valid


def test_a_mig_profile_the_gpu_does_not_have_is_rejected_with_a_did_you_mean():
    # p4d has A100s with 40 GiB: its 1-slice profile is 1g.5gb, 1g.10gb takes two slices
    error = only(check_project(_mig_pool("1g.20gb"), base="rag"), "gpu_sharing_suits_the_pool")
    assert error.path == f"{RAG_SERVE}.sharing.profile"
    assert "has no MIG profile '1g.20gb'" in error.message and "did you mean" in error.message
    assert "1g.5gb, 1g.10gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb" in error.message


def test_mig_needs_a_profile_and_lists_them():
    error = only(check_project(_mig_pool(None, "p5.48xlarge"), base="rag"), "gpu_sharing_suits_the_pool")
    assert "needs a `profile`" in error.message and "1g.10gb" in error.message


def test_a_pod_on_a_shared_pool_gets_one_gpu_and_no_distributed_job_runs_there():
    result = check_project({f"{RAG_TUNE}.sharing": {"mode": "time-slicing", "replicas": 2}}, base="rag")
    found = errors(result, "shared_gpus_serve_one_gpu_pods")
    assert {e.path for e in found} == {"spec.pipelines.fine-tune.resources.gpu", "spec.pipelines.fine-tune.workers"}
    assert all("time-slicing" in e.message for e in found)


def test_a_single_gpu_step_on_a_time_sliced_pool_is_fine():
    assert check_project({f"{FRAUD_GPU}.sharing": {"mode": "time-slicing", "replicas": 8}}).valid


# --- EFA, placement groups, reservations ----------------------------------------------------------


def test_efa_is_rejected_on_instance_types_without_it():
    result = check_project({f"{FRAUD_GPU}.efa": True})
    found = errors(result, "efa_needs_efa_instances")
    assert [e.path for e in found] == [f"{FRAUD_GPU}.instanceTypes[0]", f"{FRAUD_GPU}.instanceTypes[1]"]
    assert "'g5.2xlarge' has no Elastic Fabric Adapter" in found[0].message
    assert "g5.8xlarge" in found[0].message  # the smallest g5 with EFA


def test_efa_on_efa_capable_types_is_fine():
    assert check_project({f"{FRAUD_GPU}.instanceTypes": ["g5.8xlarge", "g6.8xlarge"], f"{FRAUD_GPU}.efa": True}).valid


def test_a_cluster_placement_group_needs_reservations_made_in_it():
    result = check_project({}, base="rag", deletions=(f"{RAG_TUNE}.reservations",))
    error = only(result, "placement_group_needs_reservations")
    assert error.path == f"{RAG_TUNE}.placementGroup" and "Karpenter 1.8" in error.message


def test_a_team_cannot_launch_into_a_reservation_the_platform_did_not_admit_for_it():
    result = check_project({f"{RAG_TUNE}.reservations.ids": ["cr-0fffffffffffffff0"]}, base="rag")
    error = only(result, "reservations_are_admitted")
    assert error.path == f"{RAG_TUNE}.reservations.ids[0]"
    assert "capacityReservations" in error.message and "acme-ml.yaml" in error.message


def test_another_teams_reservation_is_refused_even_when_it_exists():
    """fraud-detection names the Capacity Block the platform admitted for rag-assistant."""
    result = check_project({f"{FRAUD_GPU}.reservations": {"ids": ["cr-0a1b2c3d4e5f60718"]}})
    assert [e.rule for e in result.diagnostics] == ["reservations_are_admitted"], explain(result)


def test_the_fallback_starts_with_the_pools_capacity():
    result = check_project({f"{RAG_TUNE}.reservations.fallback": ["on-demand", "spot"]}, base="rag")
    error = only(result, "reservation_fallback_follows_capacity")
    assert "`capacity: spot`" in error.message


def test_the_fallback_names_each_capacity_type_once():
    error = only(
        check_project({f"{RAG_TUNE}.reservations.fallback": ["spot", "spot"]}, base="rag"),
        "reservation_fallback_follows_capacity",
    )
    assert "twice" in error.message


def test_reserved_capacity_only_is_fine():
    assert check_project({f"{RAG_TUNE}.reservations.fallback": []}, base="rag").valid


# --- queues --------------------------------------------------------------------------------------


def test_a_queue_share_above_what_the_pool_holds_is_rejected():
    result = check_project({f"{FRAUD_GPU}.queue.nominalGpus": 99})
    found = errors(result, "queue_share_within_the_pool")
    assert found and all(e.path == f"{FRAUD_GPU}.queue.nominalGpus" for e in found)
    assert any("holds at most 4 GPU(s) at max 4 node(s)" in e.message for e in found), explain(result)


def test_a_cpu_pool_has_no_queue_share_of_gpus():
    error = only(check_project({"spec.compute.pools[0].queue.nominalGpus": 1}), "queue_share_within_the_pool")
    assert "no GPUs" in error.message


def test_a_job_larger_than_its_share_plus_what_it_may_borrow_would_wait_for_ever():
    # fine-tune runs 2 workers of 4 GPUs; gpu-tune's share 2, gpu-serve's 4 - 4 (its endpoint's room).
    changes = {f"{RAG_TUNE}.queue.nominalGpus": 2, "spec.compute.queueing.borrowingLimit": 4}
    error = only(check_project(changes, base="rag"), "queued_jobs_fit_their_share")
    assert error.path == "spec.pipelines.fine-tune.resources.gpu"
    assert "needs 8 GPU(s) at once (2 × 4)" in error.message and "(2) plus its borrowing limit (4)" in error.message


SHARED_GPU_ENDPOINT = {
    "name": "explainer",
    "image": "serving",
    "pool": "gpu-train",
    "resources": {"cpu": "1", "memory": "2Gi", "gpu": 1},
    "rollout": {"strategy": "canary", "percent": 10},
    "autoscaling": {"maxReplicas": 2},
}


def test_a_shared_pool_whose_endpoints_take_every_slice_is_told_to_grow_not_to_raise_its_share():
    """Dev's gpu-train is one GPU cut in four: a canary endpoint at 2 replicas takes all four
    slices, and the training job can never be admitted. The share cannot be raised (it is capped
    by what the nodes hold less what serving takes) and a shared pool borrows nothing, so the
    message said to do something that changes nothing."""
    changes = {"spec.serving.endpoints[1]": SHARED_GPU_ENDPOINT, f"{FRAUD_GPU}.queue.nominalGpus": 4}
    error = only(check_project(changes), "queued_jobs_fit_their_share")
    assert error.path == "spec.pipelines.train.resources.gpu"
    assert "pool 'gpu-train''s queue share (0)" in error.message
    assert "its 1 node(s) hold 4 GPU slice(s)" in error.message and "the 4 they take at `maxReplicas`" in error.message
    assert "raise the pool's `max` or lower its endpoints' `maxReplicas`" in error.message
    assert "borrowingLimit" not in error.message
    grown = {**changes, "spec.environments.dev.compute.pools[0].max": 2}
    result = check_project(grown)
    assert result.valid, explain(result)


def test_a_job_that_may_borrow_without_limit_is_admitted_eventually():
    assert check_project({f"{RAG_TUNE}.queue.nominalGpus": 2}, base="rag").valid


def without_addon(*addons: str) -> dict:
    platform = example("platform")
    for addon in addons:
        set_path(platform, f"spec.cluster.addons.{addon}", {"enabled": False})
    return platform


def test_pools_without_karpenter_are_rejected_as_nothing_would_launch_their_nodes():
    result = validate(without_addon("karpenter"), example("fraud"), example("rag"))
    found = errors(result, "pools_have_their_add_ons")
    assert {f"spec.compute.pools[{i}].name" for i in range(2)} <= {e.path for e in found}
    assert all("`karpenter` add-on" in e.message for e in found)


def test_a_gpu_pool_without_the_nvidia_device_plugin_is_rejected_as_its_gpus_are_never_advertised():
    result = validate(without_addon("nvidiaDevicePlugin"), example("fraud"), example("rag"))
    found = [e for e in errors(result, "pools_have_their_add_ons") if e.path == f"{RAG_SERVE}.gpu"]
    assert found and "`nvidiaDevicePlugin`" in found[0].message and "nvidia.com/gpu" in found[0].message


def test_an_efa_pool_without_the_efa_device_plugin_is_rejected():
    result = validate(without_addon("efaDevicePlugin"), example("fraud"), example("rag"))
    [error] = errors(result, "pools_have_their_add_ons")
    assert error.path == f"{RAG_TUNE}.efa" and "vpc.amazonaws.com/efa" in error.message


def test_queueing_asked_for_without_kueue_is_an_error():
    platform = set_path(example("platform"), "spec.cluster.addons.kueue", {"enabled": False})
    project = set_path(example("fraud"), "spec.compute.queueing.enabled", True)
    result = validate(platform, project, example("rag"))
    assert [(e.rule, e.path) for e in result.diagnostics] == [("queueing_needs_kueue", "spec.compute.queueing.enabled")]


def test_default_queueing_simply_follows_the_platform():
    platform = set_path(example("platform"), "spec.cluster.addons.kueue", {"enabled": False})
    assert validate(platform, example("fraud"), example("rag")).valid


# --- serving -------------------------------------------------------------------------------------


SCORER = "spec.serving.endpoints[0]"
API = "spec.serving.endpoints[1]"  # rag-assistant's assistant-api: no override in any environment


def test_an_endpoint_at_zero_needs_hours_to_wake_up_in():
    error = only(check_project({f"{SCORER}.autoscaling.minReplicas": 0}), "scale_to_zero_has_a_way_back")
    assert error.path == f"{SCORER}.autoscaling.minReplicas" and "never sees a request" in error.message


def test_an_endpoint_at_zero_with_awake_hours_is_fine():
    changes = {f"{API}.autoscaling.minReplicas": 0, f"{API}.autoscaling.awakeHoursUtc": {"start": 6, "end": 22}}
    assert check_project(changes, base="rag").valid


def test_awake_hours_must_be_an_interval():
    changes = {f"{API}.autoscaling.minReplicas": 0, f"{API}.autoscaling.awakeHoursUtc": {"start": 18, "end": 8}}
    error = only(check_project(changes, base="rag"), "scale_to_zero_has_a_way_back")
    assert "start (18) must be before end (8)" in error.message


def test_awake_hours_on_an_endpoint_that_never_sleeps_are_a_mistake():
    error = only(
        check_project({f"{SCORER}.autoscaling.awakeHoursUtc": {"start": 6, "end": 22}}), "scale_to_zero_has_a_way_back"
    )
    assert error.path == f"{SCORER}.autoscaling.awakeHoursUtc"


def test_a_team_that_keeps_prod_awake_learns_to_drop_the_hours_in_its_override():
    """Scale to zero by day everywhere, two replicas in prod: the prod override must clear the hours,
    and the message says how (it used to say only that the hours apply to `minReplicas: 0`)."""
    changes = {
        f"{SCORER}.autoscaling.minReplicas": 0,
        f"{SCORER}.autoscaling.awakeHoursUtc": {"start": 6, "end": 22},
        "spec.environments.prod.serving.endpoints": [{"name": "scorer", "autoscaling": {"minReplicas": 2}}],
    }
    error = only(check_project(changes), "scale_to_zero_has_a_way_back")
    assert "in environment prod" in error.message and "set `awakeHoursUtc: null` in that override" in error.message
    cleared = {
        **changes,
        "spec.environments.prod.serving.endpoints": [
            {"name": "scorer", "autoscaling": {"minReplicas": 2, "awakeHoursUtc": None}}
        ],
    }
    assert check_project(cleared).valid


def test_scale_to_zero_needs_the_monitoring_add_on():
    platform = set_path(example("platform"), "spec.cluster.addons.monitoring", {"enabled": False})
    project = example("fraud")
    set_path(project, f"{SCORER}.autoscaling.minReplicas", 0)
    set_path(project, f"{SCORER}.autoscaling.awakeHoursUtc", {"start": 6, "end": 22})
    result = validate(platform, project, example("rag"))
    assert "monitoring add-on" in " ".join(e.message for e in errors(result, "scale_to_zero_has_a_way_back"))


def test_endpoints_on_a_platform_without_kserve_are_refused():
    """The stack builds no InferenceService without the add-on, and said nothing: the team's
    endpoints never served."""
    platform = set_path(example("platform"), "spec.cluster.addons.kserve", {"enabled": False})
    result = validate(platform, example("fraud"), example("rag"))
    found = errors(result, "workloads_have_their_add_ons")
    assert found and all(e.path.endswith("serving.endpoints") for e in found)  # in each environment
    assert all("`kserve` add-on, which is off in this environment" in e.message for e in found)


def test_pipelines_and_the_model_hub_on_a_platform_without_argo_are_refused():
    platform = set_path(example("platform"), "spec.cluster.addons.argoWorkflows", {"enabled": False})
    result = validate(platform, example("fraud"), example("rag"))
    paths = {(e.file, e.path) for e in errors(result, "workloads_have_their_add_ons")}
    assert ("rag-assistant.yaml", "spec.llm.modelHub") in paths
    assert ("fraud-detection.yaml", "spec.pipelines") in paths


def test_a_project_on_a_platform_without_external_secrets_is_refused():
    """The tracking server's database Secret is synced by the External Secrets Operator: without
    it the Secret never exists, MLflow never starts and the first apply times out on it."""
    platform = set_path(example("platform"), "spec.cluster.addons.externalSecrets", {"enabled": False})
    result = validate(platform, example("fraud"), example("rag"))
    paths = {(e.file, e.path) for e in errors(result, "workloads_have_their_add_ons")}
    assert paths == {("fraud-detection.yaml", "spec.platform"), ("rag-assistant.yaml", "spec.platform")}
    assert all("`externalSecrets` add-on" in e.message for e in errors(result, "workloads_have_their_add_ons"))


def test_a_project_without_endpoints_or_pipelines_needs_neither_engine():
    platform = example("platform")
    for addon in ("kserve", "argoWorkflows"):
        set_path(platform, f"spec.cluster.addons.{addon}", {"enabled": False})
    project = example("fraud")
    for key in ("pipelines", "serving", "environments"):
        project["spec"].pop(key)
    project["spec"]["monitoring"].pop("retrainOnDrift", None)
    assert "workloads_have_their_add_ons" not in {d.rule for d in validate(platform, project).diagnostics}


def test_mounting_the_model_hub_is_for_large_model_runtimes():
    error = only(check_project({f"{SCORER}.startup.modelCache": "mount"}), "model_cache_mount_is_available")
    assert "`custom`" in error.message


def test_mounting_the_model_hub_needs_the_mountpoint_driver():
    platform = set_path(example("platform"), "spec.cluster.addons.mountpointS3", {"enabled": False})
    result = validate(platform, example("fraud"), example("rag"))
    error = only(result, "model_cache_mount_is_available")
    assert error.path == "spec.serving.endpoints[0].startup.modelCache" and "mountpointS3" in error.message


# --- names ---------------------------------------------------------------------------------------


def test_a_second_fallback_nodepool_is_a_name_that_must_fit_too():
    """`<namespace>--<pool>--fallback` is a NodePool name (63 characters at most)."""
    long_pool = "gpu-" + "t" * 40  # fraud-detection--gpu-ttt…: 61 characters, 71 with --fallback
    changes = {
        f"{RAG_TUNE}.name": long_pool,
        "spec.pipelines.fine-tune.pool": long_pool,
        f"{RAG_TUNE}.capacity": "on-demand",
        f"{RAG_TUNE}.reservations.fallback": ["on-demand", "spot"],
    }
    result = check_project(changes, base="rag")
    found = errors(result, "derived_names_fit")
    assert found and any(f"{long_pool}--fallback" in e.message for e in found), explain(result)


def test_queue_objects_are_derived_names_the_collision_rule_sees():
    from mlrig import naming

    names = naming.ProjectNames("churn", "prod", "111111111111", "us-east-1", "cluster")
    derived = dict.fromkeys(
        n for _, n in names.derived_names(pipelines=[], registries=[], opensearch=False, pools=["gpu"])
    )
    for name in ("churn", "churn--training", "churn--batch-inference", "churn--serving", "churn--model-hub"):
        assert name in derived
    assert "churn--gpu--gpu" in derived and "churn--gpu--fallback" in derived


def test_an_endpoint_scaling_on_cpu_without_metrics_server_is_refused_as_it_would_never_scale():
    """Without Prometheus, endpoints scale on CPU through KServe's HPA, which reads metrics-server:
    the scorer would have kept its two replicas under any load, and nothing would have failed."""
    platform = without_addon("monitoring", "metricsServer")
    result = validate(platform, example("fraud"))
    found = errors(result, "cpu_scaled_endpoints_have_metrics_server")
    assert {e.path for e in found} == {
        f"{SCORER}.autoscaling.maxReplicas",
        "spec.environments.prod.serving.endpoints[0].autoscaling.maxReplicas",
    }
    assert all("scales on CPU (the platform's monitoring add-on is off)" in e.message for e in found)
    assert "keep 2 replica(s)" in found[0].message


def test_an_endpoint_scaling_on_its_requests_or_at_a_fixed_size_needs_no_metrics_server():
    assert "cpu_scaled_endpoints_have_metrics_server" not in {
        d.rule for d in validate(without_addon("metricsServer"), example("fraud"), example("rag")).diagnostics
    }
    fixed = example("fraud")
    set_path(fixed, f"{SCORER}.autoscaling.maxReplicas", 2)
    fixed["spec"]["environments"]["prod"]["serving"]["endpoints"][0]["autoscaling"]["maxReplicas"] = 3
    result = validate(without_addon("monitoring", "metricsServer"), fixed)
    assert "cpu_scaled_endpoints_have_metrics_server" not in {d.rule for d in result.diagnostics}


def test_a_runtime_whose_requests_mlrig_does_not_read_scales_on_cpu_even_with_prometheus():
    project = set_path(example("fraud"), f"{SCORER}.runtime", "pytorch")
    result = validate(without_addon("metricsServer"), project)
    found = errors(result, "cpu_scaled_endpoints_have_metrics_server")
    assert found and "its runtime `pytorch` exports no request metrics mlrig reads" in found[0].message


def test_alert_routes_only_alertmanager_serves_are_refused_without_the_monitoring_add_on():
    """With monitoring off the stack creates no AlertmanagerConfig: the team's Slack channel would
    never have heard of a failed pipeline or a drifting model."""
    project = example("fraud")
    project["spec"]["monitoring"]["alerts"] = [
        {"type": "slack", "target": "#fraud-ml-alerts"},
        {"type": "email", "target": "ml-oncall@example.com"},
        {"type": "pagerduty", "target": "fraud-pagerduty-key"},
    ]
    result = validate(without_addon("monitoring"), project)
    found = errors(result, "alert_routes_have_alertmanager")
    assert [e.path for e in found] == ["spec.monitoring.alerts[0].type", "spec.monitoring.alerts[2].type"]
    assert "no alert would ever reach '#fraud-ml-alerts'" in found[0].message and "email or sns" in found[0].message
    assert "alert_routes_have_alertmanager" not in {d.rule for d in validate(example("platform"), project).diagnostics}


def test_a_gpu_idle_alert_the_bundle_asks_for_is_refused_without_the_gpu_metrics_add_ons():
    """Without the DCGM exporter (or the Prometheus that scrapes it) the stack creates no
    MlrigGpuIdle alert: the team's idle-GPU threshold would have watched nothing, silently."""
    project = example("fraud")  # sets `monitoring.gpuIdle`, and has a GPU pool in every environment
    for off, named in (
        (("dcgmExporter",), "`dcgmExporter` add-on is"),
        (("dcgmExporter", "monitoring"), "add-ons are"),
    ):
        found = errors(validate(without_addon(*off), project), "gpu_idle_alerts_have_gpu_metrics")
        assert [e.path for e in found] == ["spec.monitoring.gpuIdle"], off
        assert named in found[0].message and "`environments.<env>.monitoring`" in found[0].message
    assert "gpu_idle_alerts_have_gpu_metrics" not in {
        d.rule for d in validate(example("platform"), project).diagnostics
    }


def test_a_gpu_idle_alert_left_at_its_default_asks_for_nothing():
    default = example("fraud")
    del default["spec"]["monitoring"]["gpuIdle"]
    rules = {d.rule for d in validate(without_addon("dcgmExporter"), default).diagnostics}
    assert "gpu_idle_alerts_have_gpu_metrics" not in rules


def test_a_gpu_idle_alert_set_only_where_the_platform_scrapes_gpus_is_accepted():
    """The way out the message names: the platform drops monitoring in prod only, and the team
    sets its threshold in the overrides of the environments that keep it."""
    platform = example("platform")
    platform["spec"]["environments"]["prod"]["cluster"]["addons"] = {"monitoring": {"enabled": False}}
    project = example("fraud")
    project["spec"]["monitoring"]["alerts"] = [{"type": "email", "target": "ml-oncall@example.com"}]
    idle = project["spec"]["monitoring"].pop("gpuIdle")
    everywhere = validate(
        platform, set_path(example("fraud"), "spec.monitoring.alerts", project["spec"]["monitoring"]["alerts"])
    )
    [refused] = errors(everywhere, "gpu_idle_alerts_have_gpu_metrics")
    assert refused.message.startswith("in environment prod: ")
    for env in ("dev", "staging"):
        project["spec"]["environments"].setdefault(env, {})["monitoring"] = {"gpuIdle": idle}
    result = validate(platform, project)
    assert result.valid, explain(result)
