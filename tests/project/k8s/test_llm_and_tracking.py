"""The tracking server, the LLM gateway and human-feedback capture."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from mlrig.project.tracking_server import BACKEND_URI_KEY, liveness_script

from .conftest import named, objects


def gateway_config(plan) -> dict:
    return yaml.safe_load(named(plan, "ConfigMap", "llm-gateway")["data"]["config.yaml"])


def test_the_tracking_server_stores_artifacts_in_the_artifacts_bucket_with_its_own_identity(project_plan):
    plan = project_plan("fraud-detection", "prod")
    pod = named(plan, "Deployment", "mlflow")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "wl-tracking"
    (container,) = pod["containers"]
    command = container["command"]
    assert (
        command[command.index("--artifacts-destination") + 1]
        == "s3://fraud-detection--prod--artifacts--333333333333/mlflow/"
    )
    assert container["image"].startswith("ghcr.io/mlflow/mlflow:v")
    assert container["readinessProbe"] and container["livenessProbe"]
    allowed = command[command.index("--allowed-hosts") + 1].split(",")
    assert "mlflow.fraud-detection.svc.cluster.local:5000" in allowed  # the tracking URI pipelines use
    uri = next(e for e in container["env"] if e["name"] == "MLFLOW_BACKEND_STORE_URI")
    assert uri["valueFrom"]["secretKeyRef"]["name"] == "mlflow-db"


def test_the_tracking_database_credentials_come_from_the_rds_managed_secret(project_plan):
    plan = project_plan("fraud-detection", "prod")
    secret = named(plan, "ExternalSecret", "mlflow-db")["spec"]
    master = plan.outputs["trackingDatabaseSecret"]
    assert {d["remoteRef"]["key"] for d in secret["data"]} == {master}
    assert {d["remoteRef"]["property"] for d in secret["data"]} == {"username", "password"}
    uri = secret["target"]["template"]["data"]["MLFLOW_BACKEND_STORE_URI"]
    host = plan.outputs["trackingDatabaseEndpoint"]
    assert (
        uri == f"postgresql+psycopg2://{{{{ .username | urlquery }}}}:{{{{ .password | urlquery }}}}@{host}:5432/mlflow"
    )
    assert secret["secretStoreRef"] == {"name": "aws-secrets-manager", "kind": "SecretStore"}
    assert named(plan, "SecretStore", "aws-secrets-manager")["spec"]["provider"]["aws"]["service"] == "SecretsManager"


def test_the_tracking_server_mounts_its_database_secret_and_probes_with_it(project_plan):
    pod = named(project_plan("fraud-detection", "prod"), "Deployment", "mlflow")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volume = next(v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "mlflow-db")
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount["readOnly"] is True and volume["secret"]["defaultMode"] == 0o440  # group-readable: fsGroup
    assert container["livenessProbe"]["exec"]["command"] == ["python", "-c", liveness_script()]
    assert mount["mountPath"] in liveness_script()
    secret = named(project_plan("fraud-detection", "prod"), "ExternalSecret", "mlflow-db")["spec"]
    assert secret["refreshInterval"] == "5m"  # a rotated password reaches the mount within minutes


@contextmanager
def health_server(status: int) -> Iterator[int]:
    """A stand-in for MLflow's `/health` on a free local port."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("localhost", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def probe(tmp_path: Path, port: int, started_with: str, mounted: str) -> subprocess.CompletedProcess[str]:
    """Run the liveness probe's script as the kubelet would: in the container, whose environment
    holds the URI it started with, while the mounted Secret holds the current one."""
    (tmp_path / BACKEND_URI_KEY).write_text(mounted)
    env = {**os.environ, BACKEND_URI_KEY: started_with}
    script = liveness_script(mount=str(tmp_path), port=port)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)


def test_the_tracking_server_restarts_when_rds_rotates_its_database_password(tmp_path: Path):
    """RDS rotates the master password every seven days; the container's environment keeps the
    old one. The liveness probe fails once the mounted Secret differs, so the kubelet restarts
    MLflow with the new password instead of leaving it failing to connect."""
    old = "postgresql+psycopg2://mlflow:old%40pw@db:5432/mlflow"
    new = "postgresql+psycopg2://mlflow:new%23pw@db:5432/mlflow"
    with health_server(200) as port:
        assert probe(tmp_path, port, started_with=old, mounted=old).returncode == 0
        rotated = probe(tmp_path, port, started_with=old, mounted=new)
        assert rotated.returncode != 0 and "rotated" in rotated.stderr
    with health_server(503) as port:
        assert probe(tmp_path, port, started_with=old, mounted=old).returncode != 0  # still a health probe


def test_the_tracking_server_image_carries_its_database_driver_and_needs_no_install_at_start(project_plan):
    from mlrig import pins

    pod = named(project_plan("fraud-detection", "dev"), "Deployment", "mlflow")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == pins.MLFLOW.reference and pins.MLFLOW.tag.endswith("-full")
    assert container["command"][:2] == ["mlflow", "server"]  # no `pip install` at start
    assert not pod.get("initContainers")


def test_the_gateway_applies_the_bundles_rate_limits_and_budgets(project_plan):
    config = gateway_config(project_plan("rag-assistant", "prod"))
    models = {m["model_name"]: m["litellm_params"] for m in config["model_list"]}
    # Tokens per minute are each of the two replicas' share (test_gateway_store.py).
    assert models["openai/*"]["rpm"] == 600 and models["openai/*"]["tpm"] == 300000 // 2
    assert models["anthropic/*"]["rpm"] == 300 and "tpm" not in models["anthropic/*"]
    assert config["router_settings"]["provider_budget_config"] == {
        "openai": {"budget_limit": 2000, "time_period": "30d"},
        "anthropic": {"budget_limit": 1500, "time_period": "30d"},
    }
    assert config["environment_variables"]["MLRIG_COST_CENTER"] == "cc-7788"


def test_provider_keys_reach_the_gateway_from_secrets_manager_only(project_plan):
    plan = project_plan("rag-assistant", "staging")
    remote = {}
    for provider in ("openai", "anthropic"):
        secret = named(plan, "ExternalSecret", f"llm-gateway-{provider}")["spec"]
        ((key, ref),) = ((d["secretKey"], d["remoteRef"]["key"]) for d in secret["data"])
        remote[key] = ref
    assert remote == {
        "OPENAI_API_KEY": "mlrig/rag-assistant/staging/llm-gateway/openai",
        "ANTHROPIC_API_KEY": "mlrig/rag-assistant/staging/llm-gateway/anthropic",
    }
    stored = {r["inputs"]["name"] for r in plan.of_type("aws:secretsmanager/secret:Secret")}
    assert set(remote.values()) <= stored
    config = gateway_config(plan)
    providers = [m for m in config["model_list"] if m["model_name"].endswith("/*")]
    assert providers and all(m["litellm_params"]["api_key"].startswith("os.environ/") for m in providers)
    pod = named(plan, "Deployment", "llm-gateway")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "wl-gateway"


def test_the_gateway_starts_before_anyone_fills_a_provider_key(project_plan):
    """The provider keys are created empty; until a person fills one, its Secret does not exist.
    Pulumi waits for the gateway Deployment, so its pods must not require them."""
    plan = project_plan("rag-assistant", "dev")
    pod = named(plan, "Deployment", "llm-gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["envFrom"] == [
        {"secretRef": {"name": "llm-gateway-openai", "optional": True}},
        {"secretRef": {"name": "llm-gateway-anthropic", "optional": True}},
    ]
    assert not any("secretKeyRef" in e.get("valueFrom", {}) for e in container["env"])


def test_the_gateway_runs_on_a_read_only_root_filesystem_with_a_writable_tmp(project_plan):
    from mlrig import pins

    pod = named(project_plan("rag-assistant", "prod"), "Deployment", "llm-gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == pins.LITELLM.reference and "main-v1.58" not in container["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOME"] == "/tmp" and env["XDG_CACHE_HOME"].startswith("/tmp/") and env["DISABLE_ADMIN_UI"] == "True"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_the_gateway_logs_spend_under_the_prefix_its_role_may_write(project_plan):
    plan = project_plan("rag-assistant", "prod")
    params = gateway_config(plan)["litellm_settings"]["s3_callback_params"]
    assert params["s3_bucket_name"] == "rag-assistant--prod--logs--333333333333"
    assert params["s3_path"] == "llm-gateway"


def test_human_feedback_is_forwarded_to_the_projects_firehose_stream(project_plan):
    plan = project_plan("rag-assistant", "prod")
    config = yaml.safe_load(named(plan, "ConfigMap", "feedback-collector")["data"]["vector.yaml"])
    sink = config["sinks"]["firehose"]
    streams = {r["inputs"]["name"] for r in plan.of_type("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")}
    assert sink["type"] == "aws_kinesis_firehose" and sink["stream_name"] in streams
    named(plan, "Service", "feedback-collector")


def test_a_project_without_llm_settings_gets_no_gateway(project_plan):
    plan = project_plan("fraud-detection", "dev")
    assert not [
        d for d in objects(plan, "Deployment") if d["metadata"]["name"] in ("llm-gateway", "feedback-collector")
    ]


def test_the_gateway_routes_the_projects_own_llm_to_the_chat_api_behind_its_canary_graph(project_plan):
    # The gateway fronted third-party APIs only: nothing routed to the vLLM endpoint the project serves.
    plan = project_plan("rag-assistant", "prod")
    models = {m["model_name"]: m["litellm_params"] for m in gateway_config(plan)["model_list"]}
    hosted = models["llm"]
    graph = named(plan, "InferenceGraph", "llm")  # the canary split: the graph's Service is `llm`, port 80
    assert hosted["api_base"] == f"http://{graph['metadata']['name']}.rag-assistant.svc.cluster.local/openai/v1"
    assert hosted["model"] == "hosted_vllm/llm"  # not the `openai` provider, whose budget would block it
    chat = {step["serviceUrl"] for step in graph["spec"]["nodes"]["root"]["steps"]}
    assert all(url.endswith("/openai/v1/chat/completions") for url in chat)
    assert not hosted["api_key"].startswith("os.environ/")  # never the OpenAI key to our own server


def test_a_direct_llm_endpoint_is_reached_on_its_predictor_service(plan_variant):
    def direct(project):
        project["spec"]["serving"]["endpoints"][0]["rollout"] = {"strategy": "direct"}

    plan = plan_variant("rag-assistant", direct, "staging")
    models = {m["model_name"]: m["litellm_params"] for m in gateway_config(plan)["model_list"]}
    assert models["llm"]["api_base"] == "http://llm-predictor.rag-assistant.svc.cluster.local/openai/v1"
