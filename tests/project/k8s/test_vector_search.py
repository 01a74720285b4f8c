"""The OpenSearch vector database from the workloads' side: the Job that maps their IAM roles to
OpenSearch security roles (as the domain's master user), and the domain's address in their pods."""

from __future__ import annotations

import datetime
import json
import urllib.request
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mlrig import pins
from mlrig.project.vector_search import MAP_ROLES_SCRIPT

from .conftest import named, objects, templates_of

pytestmark = pytest.mark.slow

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/rag-assistant--dev--wl--{{}}"
SECURITY = "/_plugins/_security/api"


def opensearch(document: dict[str, Any]) -> None:
    document["spec"]["llm"]["vectorDatabase"] = {"engine": "opensearch", "dimensions": 768}


@pytest.fixture
def plan(plan_variant):  # type: ignore[no-untyped-def]
    return plan_variant("rag-assistant", opensearch, "dev")


def jobs(plan) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [j for j in objects(plan, "Job") if j["metadata"]["name"].startswith("vector-access-")]


def record_of(plan, kind: str, name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    (found,) = [
        r
        for r in plan.resources
        if r["type"].startswith("kubernetes:")
        and r["inputs"].get("kind") == kind
        and r["inputs"]["metadata"]["name"] == name
    ]
    return found


def requests_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    return json.loads(env["MLRIG_SECURITY_REQUESTS"])


def test_a_job_running_as_the_domains_master_user_maps_the_writer_and_the_readers(plan) -> None:  # type: ignore[no-untyped-def]
    (job,) = jobs(plan)
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "wl-vector-admin" and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == pins.PYTHON.reference
    (domain,) = plan.of_type("aws:opensearch/domain:Domain")
    master = domain["inputs"]["advancedSecurityOptions"]["masterUserOptions"]["masterUserArn"]
    (association,) = [
        a
        for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a["inputs"]["serviceAccount"] == "wl-vector-admin"
    ]
    assert association["inputs"]["roleArn"] == master == ROLE.format("vector-admin")
    named(plan, "ServiceAccount", "wl-vector-admin")
    calls = {(r["method"], r["path"]): r["body"] for r in requests_of(job)}
    assert calls[("PUT", f"{SECURITY}/rolesmapping/mlrig-vectors-writer")]["backend_roles"] == [
        ROLE.format("index-docs")
    ]
    assert calls[("PUT", f"{SECURITY}/rolesmapping/mlrig-vectors-reader")]["backend_roles"] == [ROLE.format("serving")]
    # The roles reach the project's indices only; readers search and get, never write.
    writer = calls[("PUT", f"{SECURITY}/roles/mlrig-vectors-writer")]
    reader = calls[("PUT", f"{SECURITY}/roles/mlrig-vectors-reader")]
    for role in (writer, reader):
        (permissions,) = role["index_permissions"]
        assert permissions["index_patterns"] == ["rag-assistant-*"]
    assert reader["index_permissions"][0]["allowed_actions"] == ["read", "indices_monitor"]
    assert "cluster_composite_ops_ro" in reader["cluster_permissions"]
    # Each role is written before it is mapped.
    paths = [r["path"] for r in requests_of(job)]
    assert paths.index(f"{SECURITY}/roles/mlrig-vectors-writer") < paths.index(
        f"{SECURITY}/rolesmapping/mlrig-vectors-writer"
    )
    annotated = json.loads(job["metadata"]["annotations"]["mlrig.io/opensearch-role-mappings"])
    assert annotated == {
        "mlrig-vectors-reader": [ROLE.format("serving")],
        "mlrig-vectors-writer": [ROLE.format("index-docs")],
    }


def test_the_index_refresh_and_the_rag_server_get_the_domains_https_address_and_wait_for_their_mapping(plan) -> None:  # type: ignore[no-untyped-def]
    (domain,) = plan.of_type("aws:opensearch/domain:Domain")
    connection = named(plan, "ConfigMap", "vector-db")["data"]
    assert connection["url"] == f"https://{domain['outputs']['endpoint']}"
    assert connection["port"] == "443" and connection["index_prefix"] == "rag-assistant-"
    assert connection["dimensions"] == "768"
    (job,) = jobs(plan)
    refresh = templates_of(named(plan, "WorkflowTemplate", "index-docs"))["main"]["container"]
    assert refresh["envFrom"] == [{"configMapRef": {"name": "vector-db"}}]
    (server,) = [
        s["spec"]["predictor"]["containers"][0]
        for s in objects(plan, "InferenceService")
        if s["metadata"]["name"].startswith("assistant-api")
    ][:1]
    assert server["envFrom"] == [{"configMapRef": {"name": "vector-db"}}]
    waits_for = {
        record_of(plan, "Job", job["metadata"]["name"])["urn"],
        record_of(plan, "ConfigMap", "vector-db")["urn"],
    }
    template = record_of(plan, "WorkflowTemplate", "index-docs")
    assert waits_for <= set(template["options"]["dependsOn"])
    isvc = next(
        r
        for r in plan.resources
        if r["inputs"].get("kind") == "InferenceService" and r["inputs"]["metadata"]["name"].startswith("assistant-api")
    )
    assert waits_for <= set(isvc["options"]["dependsOn"])
    # Workloads that do not use the vector database (the tracking server, the gateway, the
    # feedback collector) do not wait for it; the inference logger runs as `serving` and does.
    others = [
        r
        for r in plan.resources
        if r["inputs"].get("kind") == "Deployment"
        and r["inputs"]["spec"]["template"]["spec"].get("serviceAccountName") != "wl-serving"
    ]
    assert len(others) >= 2 and not [r for r in others if waits_for & set(r["options"]["dependsOn"])]


def test_the_job_is_named_after_what_it_maps_so_a_changed_mapping_runs_again(plan_variant) -> None:  # type: ignore[no-untyped-def]
    def two_refreshes(document: dict[str, Any]) -> None:
        opensearch(document)
        document["spec"]["pipelines"]["index-faq"] = {"type": "vector-index-refresh", "image": "app"}

    first, again = (jobs(plan_variant("rag-assistant", opensearch, "dev")) for _ in range(2))
    (changed,) = jobs(plan_variant("rag-assistant", two_refreshes, "dev"))
    assert first[0]["metadata"]["name"] == again[0]["metadata"]["name"]
    assert changed["metadata"]["name"] != first[0]["metadata"]["name"]
    writers = json.loads(changed["metadata"]["annotations"]["mlrig.io/opensearch-role-mappings"])
    assert writers["mlrig-vectors-writer"] == [ROLE.format("index-docs"), ROLE.format("index-faq")]


def test_with_pgvector_there_is_no_opensearch_mapping_job(project_plan) -> None:  # type: ignore[no-untyped-def]
    # `vector-admin` there runs the Job creating the pgvector reader role instead (test_vector_roles.py).
    plan = project_plan("rag-assistant", "dev")
    assert jobs(plan) == []
    assert not [o for o in objects(plan, "ConfigMap") if o["metadata"]["name"] == "vector-db"]


# --- the Job's program --------------------------------------------------------------------------


def script() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "map_roles"}
    exec(compile(MAP_ROLES_SCRIPT, "map_roles", "exec"), namespace)
    return namespace


def test_the_jobs_requests_are_signed_exactly_as_botocore_signs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://vpc-demo.us-east-1.es.amazonaws.com/_plugins/_security/api/rolesmapping/mlrig-vectors-writer"
    body = json.dumps({"backend_roles": [ROLE.format("index-docs")]}).encode()
    now = datetime.datetime(2026, 11, 30, 8, 0, 0, tzinfo=datetime.UTC)
    creds = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
    ours = script()["signed_headers"]("PUT", url, body, "us-east-1", creds, now)

    request = AWSRequest(
        method="PUT",
        url=url,
        data=body,
        headers={"content-type": "application/json", "x-amz-content-sha256": ours["x-amz-content-sha256"]},
    )
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: now.replace(tzinfo=None))
    SigV4Auth(Credentials(*creds), "es", "us-east-1").add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]


def test_the_job_puts_each_request_with_the_pods_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = tmp_path / "token"
    token.write_text("pod-token\n")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token))
    sent: list[urllib.request.Request] = []

    class Response:
        status = 200

        def __init__(self, payload: bytes = b"{}") -> None:
            self.payload = payload

        def read(self) -> bytes:
            return self.payload

        def __enter__(self) -> Response:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    def urlopen(request: urllib.request.Request, timeout: float) -> Response:
        sent.append(request)
        if request.full_url.endswith("/v1/credentials"):
            assert request.get_header("Authorization") == "pod-token"
            return Response(b'{"AccessKeyId": "AKID", "SecretAccessKey": "secret", "Token": "tok"}')
        return Response()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    body = {"backend_roles": [ROLE.format("serving")]}
    script()["send"](
        "https://domain", {"method": "PUT", "path": f"{SECURITY}/rolesmapping/r", "body": body}, "eu-west-1"
    )
    (put,) = [r for r in sent if r.get_method() == "PUT"]
    assert put.full_url == f"https://domain{SECURITY}/rolesmapping/r" and json.loads(put.data) == body
    assert put.get_header("Authorization").startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert "/eu-west-1/es/aws4_request" in put.get_header("Authorization")
    assert put.get_header("X-amz-security-token") == "tok"
