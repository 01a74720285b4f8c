"""Pipelines on Argo Workflows: schedules by tier, data subsets in staging, the book's CD gate,
retraining on drift, and distributed fine-tuning."""

from __future__ import annotations

import pytest
import yaml

from mlrig.init.project import python_package

from .conftest import named, objects, templates_of

ENVIRONMENTS = ("dev", "staging", "prod")


def parameters(workflow_template: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in workflow_template["spec"]["arguments"]["parameters"]}


def dag(workflow_template: dict) -> dict[str, dict]:
    return {t["name"]: t for t in templates_of(workflow_template)["main"]["dag"]["tasks"]}


def test_dev_schedules_are_created_suspended(project_plan):
    crons = objects(project_plan("fraud-detection", "dev"), "CronWorkflow")
    assert {c["metadata"]["name"] for c in crons} == {"features", "train", "score-batch", "monitor"}
    assert all(c["spec"]["suspend"] is True for c in crons)


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_staging_and_prod_schedules_run(project_plan, environment):
    crons = objects(project_plan("fraud-detection", environment), "CronWorkflow")
    assert crons and all(c["spec"]["suspend"] is False for c in crons)


def test_schedules_run_in_utc_one_at_a_time_from_their_template(project_plan):
    train = named(project_plan("fraud-detection", "prod"), "CronWorkflow", "train")["spec"]
    assert train["schedule"] == "0 3 * * 0"
    assert train["timezone"] == "UTC" and train["concurrencyPolicy"] == "Forbid"
    assert train["workflowSpec"] == {"workflowTemplateRef": {"name": "train"}}


def test_monitoring_runs_on_the_monitoring_schedule_and_triggered_pipelines_have_no_schedule(project_plan):
    plan = project_plan("fraud-detection", "prod")
    assert named(plan, "CronWorkflow", "monitor")["spec"]["schedule"] == "0 * * * *"
    assert "deploy-model" not in {c["metadata"]["name"] for c in objects(plan, "CronWorkflow")}
    assert named(plan, "WorkflowTemplate", "deploy-model")


@pytest.mark.parametrize(("environment", "fraction"), [("dev", "1.0"), ("staging", "0.1"), ("prod", "1.0")])
def test_staging_pipelines_run_on_a_data_subset(project_plan, environment, fraction):
    for template in objects(project_plan("fraud-detection", environment), "WorkflowTemplate"):
        assert parameters(template)["data-fraction"] == fraction
        for step in templates_of(template).values():
            if "container" in step and "{{workflow.parameters.data-fraction}}" not in step["container"]["args"]:
                assert "--data-fraction={{workflow.parameters.data-fraction}}" in step["container"]["args"]


def test_a_pipeline_runs_its_image_from_the_project_registry_with_its_identity_and_resources(project_plan):
    template = named(project_plan("fraud-detection", "staging"), "WorkflowTemplate", "train")
    spec = template["spec"]
    assert spec["serviceAccountName"] == "wl-train"
    assert spec["activeDeadlineSeconds"] == 240 * 60
    main = templates_of(template)["main"]
    container = main["container"]
    assert container["image"] == "222222222222.dkr.ecr.us-east-1.amazonaws.com/fraud-detection/staging/training:ci"
    assert container["resources"]["limits"] == {"cpu": "7", "memory": "26Gi", "nvidia.com/gpu": "1"}
    assert main["retryStrategy"]["limit"] == 2
    params = parameters(template)
    assert params["epochs"] == "20" and params["tracking-uri"] == "http://mlflow.fraud-detection.svc.cluster.local:5000"


def test_the_image_of_each_pipeline_is_pushed_to_a_registry_the_stack_creates(project_plan):
    plan = project_plan("fraud-detection", "prod")
    repositories = {r["inputs"]["name"] for r in plan.of_type("aws:ecr/repository:Repository")}
    for template in objects(plan, "WorkflowTemplate"):
        for step in templates_of(template).values():
            if "container" in step:
                image = step["container"]["image"]
                assert image.split(".amazonaws.com/", 1)[1].rsplit(":", 1)[0] in repositories


def test_the_deployment_pipeline_checks_compliance_then_compares_then_waits_for_approval_then_promotes(project_plan):
    template = named(project_plan("fraud-detection", "prod"), "WorkflowTemplate", "deploy-model")
    tasks = dag(template)
    checks = [f"compliance-{c}" for c in ("schema", "signature", "model-card", "bias")]
    assert set(tasks) == {*checks, "compare", "approval", "promote"}
    assert sorted(tasks["compare"]["dependencies"]) == sorted(checks)
    assert tasks["approval"]["dependencies"] == ["compare"]
    assert tasks["promote"]["dependencies"] == ["approval"]
    promote_when = "{{tasks.compare.outputs.parameters.decision}} == promote"
    assert tasks["approval"]["when"] == promote_when and tasks["promote"]["when"] == promote_when
    templates = templates_of(template)
    assert templates["approval"] == {"name": "approval", "suspend": {}}
    compare = templates["compare"]["container"]["args"]
    assert {"--metric=auc", "--direction=maximize", "--min-improvement=0.005", "--baseline-threshold=0.85"} <= set(
        compare
    )
    assert templates["compare"]["outputs"]["parameters"][0]["name"] == "decision"


def test_automatic_approval_promotes_right_after_the_comparison(plan_variant):
    def automatic(project):
        project["spec"]["modelDeployment"]["approval"] = "automatic"

    template = named(plan_variant("fraud-detection", automatic, "staging"), "WorkflowTemplate", "deploy-model")
    tasks = dag(template)
    assert "approval" not in tasks
    assert tasks["promote"]["dependencies"] == ["compare"]
    assert not any("suspend" in t for t in templates_of(template).values())


def test_monitoring_with_retrain_on_drift_submits_the_training_pipeline(project_plan):
    plan = project_plan("fraud-detection", "prod")
    template = named(plan, "WorkflowTemplate", "monitor")
    tasks = dag(template)
    assert tasks["retrain"]["dependencies"] == ["drift"]
    assert tasks["retrain"]["when"] == "{{tasks.drift.outputs.parameters.drifted}} == true"
    resource = templates_of(template)["retrain"]["resource"]
    assert resource["action"] == "create"
    workflow = yaml.safe_load(resource["manifest"])
    assert workflow["kind"] == "Workflow" and workflow["spec"] == {"workflowTemplateRef": {"name": "train"}}
    assert workflow["metadata"]["namespace"] == "fraud-detection"
    drift_args = templates_of(template)["drift"]["container"]["args"]
    assert "--threshold=0.2" in drift_args and "--method=psi" in drift_args


def test_the_monitoring_workload_may_create_workflows_and_nothing_more(project_plan):
    plan = project_plan("fraud-detection", "prod")
    role = named(plan, "Role", "submit-retraining")
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "get"]},
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflowtemplates"],
            "resourceNames": ["train"],
            "verbs": ["get"],
        },
    ]
    binding = named(plan, "RoleBinding", "submit-retraining")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "wl-monitor", "namespace": "fraud-detection"}]


@pytest.mark.parametrize(
    ("project", "trainer", "release"),
    [("fraud-detection", "train", "deploy-model"), ("rag-assistant", "fine-tune", "evaluate-release")],
)
def test_a_successful_training_run_submits_the_model_cd_pipeline(project_plan, project, trainer, release):
    # The CD pipeline has no schedule: without this, a retrained model never reached serving.
    plan = project_plan(project, "prod")
    template = named(plan, "WorkflowTemplate", trainer)
    assert template["spec"]["onExit"] == "release"
    templates = templates_of(template)
    [[submit]] = templates["release"]["steps"]
    assert submit["when"] == "{{workflow.status}} == Succeeded"
    workflow = yaml.safe_load(templates[submit["template"]]["resource"]["manifest"])
    assert workflow["spec"] == {"workflowTemplateRef": {"name": release}}
    assert named(plan, "WorkflowTemplate", release)
    role = named(plan, "Role", "submit-release")
    assert {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "get"]} in role["rules"]
    assert any(r.get("resourceNames") == [release] for r in role["rules"])
    binding = named(plan, "RoleBinding", "submit-release")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"wl-{trainer}", "namespace": project}]


def test_the_promote_step_may_update_exactly_the_inference_services_of_the_rollout(project_plan):
    # KServe objects are not `edit`-able by a pipeline's service account: the patch was a 403.
    plan = project_plan("fraud-detection", "prod")
    [rule] = named(plan, "Role", "promote-model")["rules"]
    assert rule == {
        "apiGroups": ["serving.kserve.io"],
        "resources": ["inferenceservices"],
        "resourceNames": ["scorer-canary", "scorer-stable"],
        "verbs": ["get", "patch"],
    }
    isvcs = {i["metadata"]["name"] for i in objects(plan, "InferenceService")}
    assert set(rule["resourceNames"]) == isvcs
    binding = named(plan, "RoleBinding", "promote-model")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "wl-deploy-model", "namespace": "fraud-detection"}
    ]
    step = templates_of(named(plan, "WorkflowTemplate", "deploy-model"))["step"]["container"]
    env = {e["name"]: e["value"] for e in step["env"]}
    assert yaml.safe_load(env["MLRIG_INFERENCE_SERVICES"]) == {
        "scorer": {"stable": "scorer-stable", "canary": "scorer-canary"}
    }


def test_batch_inference_scores_with_the_champion_the_cd_pipeline_promotes_and_the_endpoint_serves(project_plan):
    plan = project_plan("fraud-detection", "prod")

    def env_of(pipeline, template):
        container = templates_of(named(plan, "WorkflowTemplate", pipeline))[template]["container"]
        return {e["name"]: e.get("value") for e in container["env"]}

    champion = env_of("deploy-model", "step")["MLRIG_CHAMPION_URI"]
    assert env_of("score-batch", "main")["MLRIG_CHAMPION_URI"] == champion
    served = next(i for i in objects(plan, "InferenceService") if i["metadata"]["name"] == "scorer-stable")
    (container,) = served["spec"]["predictor"]["containers"]
    assert {e["name"]: e["value"] for e in container["env"]}["MODEL_URI"] == champion


def test_without_retrain_on_drift_monitoring_only_reports(plan_variant):
    def no_retraining(project):
        project["spec"]["monitoring"]["retrainOnDrift"] = False

    plan = plan_variant("fraud-detection", no_retraining, "dev")
    assert "retrain" not in dag(named(plan, "WorkflowTemplate", "monitor"))
    assert not [r for r in objects(plan, "Role") if r["metadata"]["name"] == "submit-retraining"]


def test_the_drift_score_is_published_as_a_metric(project_plan):
    drift = templates_of(named(project_plan("fraud-detection", "prod"), "WorkflowTemplate", "monitor"))["drift"]
    (metric,) = drift["metrics"]["prometheus"]
    assert metric["name"] == "mlrig_drift_score"
    assert metric["gauge"]["value"] == "{{outputs.parameters.score}}"


def test_distributed_fine_tuning_runs_one_torchrun_pod_per_worker_on_the_gpu_pool(project_plan):
    template = named(project_plan("rag-assistant", "prod"), "WorkflowTemplate", "fine-tune")
    templates = templates_of(template)
    rendezvous, workers = templates["main"]["steps"]
    assert templates[rendezvous[0]["template"]]["daemon"] is True
    assert workers[0]["withSequence"] == {"count": "2"}
    command = templates["worker"]["container"]["command"]
    assert command[0] == "torchrun" and "--nnodes=2" in command and "--nproc-per-node=4" in command
    assert templates["worker"]["container"]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert parameters(template)["base-model"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_a_distributed_worker_starts_the_entry_point_of_the_image_mlrig_init_builds(project_plan):
    # The scaffolded images run `python -m <package>` (Dockerfile ENTRYPOINT); torchrun replaces
    # the entry point, and used to start `python -m train`, a module no image has.
    worker = templates_of(named(project_plan("rag-assistant", "prod"), "WorkflowTemplate", "fine-tune"))["worker"]
    command = worker["container"]["command"]
    assert command[command.index("--no-python") + 1 :] == ["python", "-m", python_package("rag-assistant")]
    assert worker["container"]["args"][0] == "--step=train"


def test_fine_tuning_reads_human_feedback_where_the_feedback_stream_lands_it(project_plan):
    plan = project_plan("rag-assistant", "prod")
    stream = next(r for r in plan.resources if r["type"] == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    landing = stream["inputs"]["extendedS3Configuration"]
    bucket = landing["bucketArn"].removeprefix("arn:aws:s3:::")
    worker = templates_of(named(plan, "WorkflowTemplate", "fine-tune"))["worker"]
    env = {e["name"]: e["value"] for e in worker["container"]["env"]}
    feedback = env["MLRIG_FEEDBACK_URI"]
    assert feedback == f"s3://{bucket}/feedback/"
    assert landing["prefix"].startswith(feedback.removeprefix(f"s3://{bucket}/"))


def test_distributed_training_runs_one_torchrun_pod_per_worker_like_fine_tuning(plan_variant):
    """`workers` is documented for training too: a training pipeline with 3 workers runs 3 pods,
    not one (it used to run a single `run` step and ignore the field)."""

    def three_workers(project):
        project["spec"]["pipelines"]["train"]["workers"] = 3
        # dev time-slices its GPUs, which distributed training cannot use: one worker there
        dev = project["spec"]["environments"]["dev"]
        dev.setdefault("pipelines", {}).setdefault("train", {})["workers"] = 1

    template = named(plan_variant("fraud-detection", three_workers, "staging"), "WorkflowTemplate", "train")
    templates = templates_of(template)
    _, workers = templates["main"]["steps"]
    assert workers[0]["withSequence"] == {"count": "3"}
    command = templates["worker"]["container"]["command"]
    assert command[0] == "torchrun" and "--nnodes=3" in command and "--nproc-per-node=1" in command


def test_the_vector_index_refresh_reads_the_vector_database_secret(project_plan):
    plan = project_plan("rag-assistant", "staging")
    secret = named(plan, "ExternalSecret", "vector-db")["spec"]
    master = plan.outputs["vectorDatabaseSecret"]
    assert secret["data"] == [
        {"secretKey": "username", "remoteRef": {"key": master, "property": "username"}},
        {"secretKey": "password", "remoteRef": {"key": master, "property": "password"}},
    ]
    (database,) = [
        d for d in plan.of_type("aws:rds/instance:Instance") if d["inputs"]["identifier"].endswith("-vectors")
    ]
    template = secret["target"]["template"]["data"]
    assert template["host"] == database["outputs"]["address"] and template["dbname"] == "vectors"
    assert template["password"] == "{{ .password }}"
    container = templates_of(named(plan, "WorkflowTemplate", "index-docs"))["main"]["container"]
    assert container["envFrom"] == [{"secretRef": {"name": "vector-db"}}]


def test_with_opensearch_the_index_refresh_reads_the_domain_address_and_waits_for_no_secret(plan_variant):
    """OpenSearch is reached with the workload's IAM identity: no connection Secret exists, so
    none may be required (the pods would never start); the address comes in a ConfigMap."""

    def opensearch(document):
        document["spec"]["llm"]["vectorDatabase"] = {"engine": "opensearch"}

    plan = plan_variant("rag-assistant", opensearch, "dev")
    assert [s for s in objects(plan, "ExternalSecret") if s["metadata"]["name"] == "vector-db"] == []
    container = templates_of(named(plan, "WorkflowTemplate", "index-docs"))["main"]["container"]
    assert container["envFrom"] == [{"configMapRef": {"name": "vector-db"}}]


def test_every_pipeline_counts_its_failures_for_alerting(project_plan):
    for template in objects(project_plan("rag-assistant", "dev"), "WorkflowTemplate"):
        (metric,) = template["spec"]["metrics"]["prometheus"]
        assert metric["name"] == "mlrig_pipeline_failed" and metric["when"] == "{{workflow.status}} != Succeeded"


def test_monitoring_reads_the_inference_tables_where_the_inference_logger_writes_them(project_plan):
    plan = project_plan("fraud-detection", "prod")
    drift = templates_of(named(plan, "WorkflowTemplate", "monitor"))["drift"]["container"]
    tables = {e["name"]: e["value"] for e in drift["env"]}["MLRIG_INFERENCE_TABLES_URI"]
    sink = yaml.safe_load(named(plan, "ConfigMap", "inference-logger")["data"]["vector.yaml"])["sinks"]
    logged = sink["inference_tables"]
    assert tables == f"s3://{logged['bucket']}/{logged['key_prefix'].split('endpoint=')[0]}"
