"""The model hub mirror: the base models an LLM endpoint serves and fine-tuning starts from are
copied into the bucket prefix those read (nothing filled the hub before: vLLM found no weights)."""

from __future__ import annotations

from .conftest import named, objects


def mirror(plan) -> dict:
    return named(plan, "WorkflowTemplate", "model-hub")["spec"]


def test_the_mirror_copies_every_model_the_llm_endpoints_serve_into_the_prefix_their_volume_mounts(project_plan):
    plan = project_plan("rag-assistant", "prod")
    (template,) = mirror(plan)["templates"]
    container = template["container"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    copied = set(env["MLRIG_HUB_MODELS"].split())
    volume = named(plan, "PersistentVolume", "rag-assistant--model-hub")["spec"]
    assert env["MLRIG_HUB_BUCKET"] == volume["csi"]["volumeAttributes"]["bucketName"]
    assert f"prefix {env['MLRIG_HUB_PREFIX']}" in volume["mountOptions"]
    for isvc in objects(plan, "InferenceService"):
        uri = (isvc["spec"]["predictor"].get("model") or {}).get("storageUri", "")
        if uri.startswith("pvc://model-hub/"):
            assert uri.removeprefix("pvc://model-hub/") in copied, isvc["metadata"]["name"]


def test_fine_tuning_starts_from_a_base_model_the_mirror_copies(project_plan):
    plan = project_plan("rag-assistant", "prod")
    container = mirror(plan)["templates"][0]["container"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    worker = next(t for t in named(plan, "WorkflowTemplate", "fine-tune")["spec"]["templates"] if t["name"] == "worker")
    base = next(e["value"] for e in worker["container"]["env"] if e["name"] == "MLRIG_BASE_MODEL_URI")
    prefix = f"s3://{env['MLRIG_HUB_BUCKET']}/{env['MLRIG_HUB_PREFIX']}"
    assert base.startswith(prefix) and base.removeprefix(prefix) in env["MLRIG_HUB_MODELS"].split()


def test_the_mirror_runs_hourly_as_its_own_identity_and_reads_the_token_a_person_fills(project_plan):
    plan = project_plan("rag-assistant", "dev")
    cron = named(plan, "CronWorkflow", "model-hub")["spec"]
    assert cron["workflowSpec"] == {"workflowTemplateRef": {"name": "model-hub"}}
    assert not cron.get("suspend")  # dev's endpoints need their weights too
    spec = mirror(plan)
    assert spec["serviceAccountName"] == "wl-model-hub"
    associations = {
        a["inputs"]["serviceAccount"] for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    assert "wl-model-hub" in associations
    token = next(e for e in spec["templates"][0]["container"]["env"] if e["name"] == "HF_TOKEN")
    ref = token["valueFrom"]["secretKeyRef"]
    assert ref["optional"] is True  # runs (public models) before anyone fills the token
    secret = named(plan, "ExternalSecret", ref["name"])["spec"]
    assert secret["data"][0]["remoteRef"]["key"] == "mlrig/rag-assistant/dev/model-hub/huggingface"
    stored = {r["inputs"]["name"] for r in plan.of_type("aws:secretsmanager/secret:Secret")}
    assert "mlrig/rag-assistant/dev/model-hub/huggingface" in stored


def test_without_a_model_hub_there_is_no_mirror(project_plan):
    plan = project_plan("fraud-detection", "prod")
    assert not [t for t in objects(plan, "WorkflowTemplate") if t["metadata"]["name"] == "model-hub"]


def test_models_the_endpoints_and_fine_tuning_read_are_mirrored_even_when_the_bundle_lists_none(plan_variant):
    def no_list(project):
        del project["spec"]["llm"]["modelHub"]

    plan = plan_variant("rag-assistant", no_list, "staging")
    env = {e["name"]: e.get("value") for e in mirror(plan)["templates"][0]["container"]["env"]}
    assert env["MLRIG_HUB_MODELS"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_a_hub_turned_off_is_not_mirrored(plan_variant):
    def off(project):
        project["spec"]["llm"]["modelHub"] = {"enabled": False}

    plan = plan_variant("rag-assistant", off, "staging")
    assert not [t for t in objects(plan, "WorkflowTemplate") if t["metadata"]["name"] == "model-hub"]
