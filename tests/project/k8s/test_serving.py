"""Serving: endpoints on KServe with their rollout strategy, autoscaling bounds, GPUs for LLMs and
request/response logging to the logs bucket."""

from __future__ import annotations

import yaml

from .conftest import named, objects


def endpoint_services(plan, endpoint: str) -> dict[str, dict]:
    return {
        i["metadata"]["name"]: i
        for i in objects(plan, "InferenceService")
        if i["metadata"]["labels"]["mlrig.io/endpoint"] == endpoint
    }


def splitter(plan, endpoint: str) -> dict[str, int]:
    graph = named(plan, "InferenceGraph", endpoint)
    root = graph["spec"]["nodes"]["root"]
    assert root["routerType"] == "Splitter"
    return {step["serviceName"]: step["weight"] for step in root["steps"]}


def logger_config(plan) -> dict:
    return yaml.safe_load(named(plan, "ConfigMap", "inference-logger")["data"]["vector.yaml"])


def test_the_canary_percent_lands_on_the_canary_inference_service(project_plan):
    plan = project_plan("fraud-detection", "prod")
    services = endpoint_services(plan, "scorer")
    assert set(services) == {"scorer-stable", "scorer-canary"}
    assert splitter(plan, "scorer") == {"scorer-stable": 90, "scorer-canary": 10}
    assert services["scorer-canary"]["metadata"]["annotations"]["mlrig.io/traffic-percent"] == "10"


def test_an_ab_test_splits_traffic_between_two_variants(project_plan):
    plan = project_plan("rag-assistant", "staging")
    assert splitter(plan, "assistant-api") == {"assistant-api-a": 50, "assistant-api-b": 50}


def test_a_shadow_gets_a_mirrored_share_of_requests_and_serves_no_one(plan_variant):
    def shadow(project):
        project["spec"]["serving"]["endpoints"][0]["rollout"] = {"strategy": "shadow", "percent": 25}

    plan = plan_variant("fraud-detection", shadow, "staging")
    services = endpoint_services(plan, "scorer")
    assert set(services) == {"scorer", "scorer-shadow"}
    assert services["scorer-shadow"]["metadata"]["annotations"]["mlrig.io/traffic-percent"] == "0"
    assert not objects(plan, "InferenceGraph")
    config = logger_config(plan)
    assert config["transforms"]["shadow_scorer_sample"]["ratio"] == 0.25
    assert config["sinks"]["shadow_scorer"]["uri"].startswith("http://scorer-shadow-predictor.fraud-detection.svc")


def test_a_shadow_mirrors_exactly_its_percent_of_requests(plan_variant):
    """Vector's `rate` forwards 1 in N events: 100/70 rounded to 1 mirrored every request to a
    70 % shadow (and 100/30 to 3, a third to a 30 % one). `ratio` forwards the fraction asked."""

    def shadow(project):
        project["spec"]["serving"]["endpoints"][0]["rollout"] = {"strategy": "shadow", "percent": 70}

    sample = logger_config(plan_variant("fraud-detection", shadow, "staging"))["transforms"]["shadow_scorer_sample"]
    assert sample == {"type": "sample", "inputs": ["shadow_scorer"], "ratio": 0.7}


def test_a_shadow_that_is_down_never_holds_back_the_inference_tables(plan_variant):
    """The logger's source feeds the inference tables of every endpoint and each shadow mirror.
    Vector retries a failed request without end and blocks its source when a sink's buffer is
    full: a shadow scaled to zero or crashing stopped the primary's request logging."""

    def shadow(project):
        project["spec"]["serving"]["endpoints"][0]["rollout"] = {"strategy": "shadow", "percent": 50}

    config = logger_config(plan_variant("fraud-detection", shadow, "staging"))
    mirror = config["sinks"]["shadow_scorer"]
    assert mirror["buffer"]["when_full"] == "drop_newest"
    assert 0 <= mirror["request"]["retry_attempts"] <= 5
    assert "buffer" not in config["sinks"]["inference_tables"], "the inference tables keep Vector's blocking default"


def test_a_direct_rollout_is_a_single_inference_service(plan_variant):
    def direct(project):
        project["spec"]["serving"]["endpoints"][0]["rollout"] = {"strategy": "direct"}

    plan = plan_variant("fraud-detection", direct, "dev")
    assert set(endpoint_services(plan, "scorer")) == {"scorer"}
    assert not objects(plan, "InferenceGraph")


def test_autoscaling_bounds_come_from_the_bundle_per_environment(project_plan):
    for environment, bounds in (("staging", (2, 10)), ("prod", (3, 30))):
        for isvc in endpoint_services(project_plan("fraud-detection", environment), "scorer").values():
            predictor = isvc["spec"]["predictor"]
            assert (predictor["minReplicas"], predictor["maxReplicas"]) == bounds


def test_custom_servers_run_the_project_image_with_the_serving_identity(project_plan):
    predictor = endpoint_services(project_plan("fraud-detection", "prod"), "scorer")["scorer-stable"]["spec"][
        "predictor"
    ]
    assert predictor["serviceAccountName"] == "wl-serving"
    (container,) = predictor["containers"]
    assert container["image"] == "333333333333.dkr.ecr.us-east-1.amazonaws.com/fraud-detection/prod/serving:ci"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}


def test_llm_endpoints_run_vllm_on_gpus_from_the_model_hub(project_plan):
    plan = project_plan("rag-assistant", "prod")
    predictor = endpoint_services(plan, "llm")["llm-canary"]["spec"]["predictor"]
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    assert "--backend=vllm" in model["args"]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    artifacts = next(
        r["inputs"]["bucket"]
        for r in plan.of_type("aws:s3/bucketV2:BucketV2") + plan.of_type("aws:s3/bucket:Bucket")
        if r["inputs"].get("tags", {}).get("mlrig:data-class") == "artifacts"
    )
    # mounted in place from the model hub (Mountpoint for S3), not copied by a storage initializer
    assert model["storageUri"] == "pvc://model-hub/meta-llama/Llama-3.1-8B-Instruct"
    volume = named(plan, "PersistentVolume", "rag-assistant--model-hub")
    assert volume["spec"]["csi"]["volumeAttributes"]["bucketName"] == artifacts
    assert "prefix hub/" in volume["spec"]["mountOptions"]


def test_requests_and_responses_are_logged_to_the_inference_tables(project_plan):
    plan = project_plan("fraud-detection", "prod")
    for isvc in endpoint_services(plan, "scorer").values():
        assert isvc["spec"]["predictor"]["logger"] == {
            "mode": "all",
            "url": "http://inference-logger.fraud-detection.svc.cluster.local:80",
        }
    named(plan, "Service", "inference-logger")
    sink = logger_config(plan)["sinks"]["inference_tables"]
    logs = next(
        r["inputs"]["bucket"]
        for r in plan.of_type("aws:s3/bucketV2:BucketV2") + plan.of_type("aws:s3/bucket:Bucket")
        if r["inputs"].get("tags", {}).get("mlrig:data-class") == "logs"
    )
    assert sink["type"] == "aws_s3" and sink["bucket"] == logs
    assert sink["key_prefix"].startswith("inference/")
    deployment = named(plan, "Deployment", "inference-logger")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "wl-serving"


def test_target_concurrency_drives_scaling_through_keda(project_plan, platform_plan):
    """RawDeployment's HPA only knows CPU and memory: `targetConcurrency` used to be an
    annotation nothing read. Endpoints now use KServe's KEDA class with a Prometheus trigger."""
    plan = project_plan("fraud-detection", "prod")
    for name, isvc in endpoint_services(plan, "scorer").items():
        annotations = isvc["metadata"]["annotations"]
        assert annotations["serving.kserve.io/autoscalerClass"] == "keda"
        assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
        predictor = isvc["spec"]["predictor"]
        assert "scaleMetric" not in predictor and "scaleTarget" not in predictor
        ((metric,),) = [predictor["autoScaling"]["metrics"]]
        assert metric["type"] == "External"
        external = metric["external"]
        assert external["target"] == {"type": "Value", "value": "20"}  # the bundle's targetConcurrency
        assert external["metric"]["backend"] == "prometheus"
        assert external["metric"]["serverAddress"] == (
            "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090"
        )
        query = external["metric"]["query"]
        assert f'inference_service="{name}"' in query and 'namespace="fraud-detection"' in query
        assert query.startswith("sum(rate(http_request_duration_seconds_sum{")


def test_without_prometheus_endpoints_scale_on_cpu(plan_variant):
    def without_monitoring(platform):
        platform["spec"]["cluster"]["addons"]["monitoring"] = {"enabled": False}

    def email_alerts(project):  # validation refuses routes only Alertmanager serves, and GPU alerts
        project["spec"]["monitoring"]["alerts"] = [{"type": "email", "target": "ml-oncall@example.com"}]
        del project["spec"]["monitoring"]["gpuIdle"]

    plan = plan_variant("fraud-detection", email_alerts, "dev", platform_edit=without_monitoring)
    for isvc in endpoint_services(plan, "scorer").values():
        assert "serving.kserve.io/autoscalerClass" not in isvc["metadata"]["annotations"]
        assert isvc["spec"]["predictor"]["scaleMetric"] == "cpu"


def test_inference_tables_are_encrypted_with_the_project_key(project_plan):
    """Without the key id S3 would use the AWS-managed aws/s3 key, outside the key policy."""
    plan = project_plan("fraud-detection", "prod")
    sink = logger_config(plan)["sinks"]["inference_tables"]
    (key,) = plan.of_type("aws:kms/key:Key")
    assert sink["server_side_encryption"] == "aws:kms"
    assert sink["ssekms_key_id"] == key["outputs"]["arn"]


# --- cold starts ---------------------------------------------------------------------------------


def test_the_model_hub_is_mounted_with_the_pods_own_identity_read_only(project_plan):
    plan = project_plan("rag-assistant", "prod")
    volume = named(plan, "PersistentVolume", "rag-assistant--model-hub")["spec"]
    # Mountpoint reads with the credentials of the pod that mounts it: the serving role
    assert volume["csi"]["driver"] == "s3.csi.aws.com"
    assert volume["csi"]["volumeAttributes"]["authenticationSource"] == "pod"
    assert volume["accessModes"] == ["ReadOnlyMany"] and "read-only" in volume["mountOptions"]
    assert volume["claimRef"] == {"namespace": "rag-assistant", "name": "model-hub"}
    claim = named(plan, "PersistentVolumeClaim", "model-hub")["spec"]
    assert claim["volumeName"] == "rag-assistant--model-hub" and claim["storageClassName"] == ""
    predictor = endpoint_services(plan, "llm")["llm-canary"]["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "wl-serving"


def test_a_replica_may_load_its_model_for_a_budget_sized_from_the_model(project_plan):
    model = endpoint_services(project_plan("rag-assistant", "prod"), "llm")["llm-stable"]["spec"]["predictor"]["model"]
    probe = model["startupProbe"]
    # 16 GiB streamed at ~8 s/GiB plus 2 minutes of warm-up, × 1.5: ~6 minutes before a restart
    assert probe["tcpSocket"] == {"port": 8080}
    assert probe["periodSeconds"] * probe["failureThreshold"] == 380


def test_a_larger_model_gets_a_longer_budget(plan_variant):
    def seventy_b(project: dict) -> None:
        project["spec"]["serving"]["endpoints"][0]["startup"]["modelSizeGiB"] = 140

    model = endpoint_services(plan_variant("rag-assistant", seventy_b, "prod"), "llm")["llm-stable"]["spec"][
        "predictor"
    ]["model"]
    probe = model["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 30 * 60


def test_serving_images_are_pre_pulled_onto_the_endpoints_gpu_pool(project_plan):
    plan = project_plan("rag-assistant", "prod")
    prepull = named(plan, "DaemonSet", "prepull-gpu-serve")["spec"]["template"]["spec"]
    assert [c["image"] for c in prepull["initContainers"]] == ["kserve/huggingfaceserver:v0.15.0"]
    assert prepull["nodeSelector"]["mlrig.io/pool"] == "gpu-serve"
    serve = named(plan, "NodePool", "rag-assistant--gpu-serve")["spec"]["template"]["spec"]
    assert {t["key"] for t in prepull["tolerations"]} == {t["key"] for t in serve["taints"]}
    for container in [*prepull["initContainers"], *prepull["containers"]]:
        assert container["resources"]["requests"] == {"cpu": "10m", "memory": "16Mi"}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_an_llm_endpoint_sleeps_outside_its_awake_hours(project_plan):
    predictor = endpoint_services(project_plan("rag-assistant", "dev"), "llm")["llm-stable"]["spec"]["predictor"]
    assert predictor["minReplicas"] == 0
    (metric,) = predictor["autoScaling"]["metrics"]
    query = metric["external"]["metric"]["query"]
    # one replica's worth of demand between 07:00 and 19:00 UTC, the real demand at any time
    assert "vector(8) and on() (hour() >= 7 and hour() < 19)" in query
    assert 'inference_service="llm-stable"' in query and query.startswith("max(")


def test_endpoints_that_never_sleep_keep_at_least_one_replica(project_plan):
    predictor = endpoint_services(project_plan("rag-assistant", "prod"), "llm")["llm-stable"]["spec"]["predictor"]
    assert predictor["minReplicas"] == 2
    assert "hour()" not in predictor["autoScaling"]["metrics"][0]["external"]["metric"]["query"]


def graph_urls(plan, endpoint: str) -> dict[str, str]:
    root = named(plan, "InferenceGraph", endpoint)["spec"]["nodes"]["root"]
    return {step["serviceName"]: step["serviceUrl"] for step in root["steps"]}


def test_the_canary_graph_calls_each_custom_server_under_the_model_name_it_serves(project_plan):
    # Left to KServe, the Splitter would post to /v1/models/scorer-stable:predict, while the
    # project's server answers to MODEL_NAME=scorer only: every request through the graph a 404.
    plan = project_plan("fraud-detection", "prod")
    services = endpoint_services(plan, "scorer")
    urls = graph_urls(plan, "scorer")
    for isvc_name, url in urls.items():
        (container,) = services[isvc_name]["spec"]["predictor"]["containers"]
        served = next(e["value"] for e in container["env"] if e["name"] == "MODEL_NAME")
        assert url == f"http://{isvc_name}-predictor.fraud-detection.svc.cluster.local/v1/models/{served}:predict"


def test_the_llm_canary_graph_calls_the_chat_api_vllm_serves(project_plan):
    # vLLM's model is an OpenAI model: KServe's v1 predict answers "does not support inference".
    urls = graph_urls(project_plan("rag-assistant", "prod"), "llm")
    assert urls == {
        f"llm-{v}": f"http://llm-{v}-predictor.rag-assistant.svc.cluster.local/openai/v1/chat/completions"
        for v in ("stable", "canary")
    }


def test_a_built_in_runtime_shadow_is_mirrored_to_the_model_name_kserve_gives_it(plan_variant):
    # KServe names a built-in runtime's model after its InferenceService: scorer-shadow, not scorer.
    def sklearn_shadow(project):
        endpoint = project["spec"]["serving"]["endpoints"][0]
        endpoint["rollout"] = {"strategy": "shadow", "percent": 25}
        endpoint["runtime"] = "sklearn"
        endpoint.pop("image")

    config = logger_config(plan_variant("fraud-detection", sklearn_shadow, "staging"))
    assert config["sinks"]["shadow_scorer"]["uri"] == (
        "http://scorer-shadow-predictor.fraud-detection.svc.cluster.local/v1/models/scorer-shadow:predict"
    )


def test_the_rag_server_reads_the_pgvector_store_the_index_refresh_writes(project_plan):
    # The index refresh wrote the vectors; the API that answers with them had no way to reach them.
    # It reads the same database, as its reader role (test_vector_roles.py).
    plan = project_plan("rag-assistant", "prod")
    writer = named(plan, "ExternalSecret", "vector-db")["spec"]
    reader = named(plan, "ExternalSecret", "vector-db-reader")["spec"]
    assert reader["target"]["template"]["data"]["host"] == writer["target"]["template"]["data"]["host"]
    secret = reader["target"]["name"]
    for isvc in endpoint_services(plan, "assistant-api").values():
        (container,) = isvc["spec"]["predictor"]["containers"]
        assert {"secretRef": {"name": secret}} in container["envFrom"]
    refresh = named(plan, "WorkflowTemplate", "index-docs")["spec"]["templates"][0]["container"]
    assert refresh["envFrom"] == [{"secretRef": {"name": writer["target"]["name"]}}]
    graph = {r["urn"]: r for r in plan.resources}
    [secret_urn] = [
        u
        for u, r in graph.items()
        if r["inputs"].get("kind") == "ExternalSecret" and r["inputs"]["metadata"]["name"] == secret
    ]
    for r in graph.values():
        if r["inputs"].get("kind") == "InferenceService" and r["inputs"]["metadata"]["name"].startswith(
            "assistant-api"
        ):
            assert secret_urn in r["options"]["dependencies"]


def test_the_app_users_answer_is_told_where_human_feedback_goes(project_plan):
    # The collector existed, but nothing that talks to users knew its address.
    plan = project_plan("rag-assistant", "prod")
    collector = named(plan, "Service", "feedback-collector")
    (port,) = [p["port"] for p in collector["spec"]["ports"]]
    for isvc in endpoint_services(plan, "assistant-api").values():
        (container,) = isvc["spec"]["predictor"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLRIG_FEEDBACK_URL"] == f"http://feedback-collector.rag-assistant.svc.cluster.local:{port}/"
        assert container["env"][1]["name"] == "MODEL_URI"  # the field Pulumi leaves to the promote step
