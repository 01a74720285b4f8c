"""Who may use a project's OpenSearch vector database, from IAM down to its indices.

An OpenSearch domain with fine-grained access control (FGAC) lets a signed request in only when
three layers agree: the caller's IAM policy and the domain access policy (both allow `es:ESHttp*`
on the domain), and an OpenSearch security role mapped to the caller's IAM role. AWS has no API for
the third layer: only the domain's master user may change it, through the security REST API
(`_plugins/_security/api/...`) inside the VPC. So:

- the master user is `vector-admin`, a workload role mlrig creates for this purpose only (EKS Pod
  Identity to its own service account); its IAM rights reach the security API and nothing else;
- the roles `mlrig-vectors-writer` (index-refresh pipelines) and `mlrig-vectors-reader` (serving)
  reach the project's indices (`<project>-*`) only, writers with every index action, readers with
  search and get;
- on apply, a Job running as `vector-admin` PUTs those roles and their mappings (PUT replaces, so
  a re-run is idempotent and removes stale principals). It is named after a digest of what it
  sends: a changed mapping is a new Job, an unchanged one keeps its name and does not run again.
  Pulumi awaits it, and the workloads that use the domain wait for it.

The domain's HTTPS address reaches the workloads in the ConfigMap `vector-db` (`url`, `host`,
`port`, `region`, `index_prefix`, `dimensions`), which they read with `envFrom`, as index-refresh
steps read the `vector-db` Secret of a pgvector store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import naming, pins
from ..bundle.resolved import ProjectEnvironment
from ..naming import ProjectNames
from .context import ProjectContext, uses_opensearch, workloads
from .kube import metadata, restricted_container_security, restricted_pod_security

VECTOR_DB_CONNECTION = "vector-db"
WRITER_TYPES: tuple[str, ...] = ("vector-index-refresh",)
READER_TYPES: tuple[str, ...] = ("serving",)
# IAM actions on the domain's paths, by OpenSearch security role (search is a POST).
HTTP_ACTIONS: dict[str, list[str]] = {
    "writer": ["es:ESHttpDelete", "es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"],
    "reader": ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"],
}
ADMIN_ACTIONS = ["es:ESHttpGet", "es:ESHttpPut"]
SECURITY_API = "_plugins/_security/api"
# What each security role may do on the project's indices (OpenSearch action groups).
ROLE_PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "writer": {"cluster": ["cluster_composite_ops", "cluster_monitor"], "index": ["indices_all"]},
    "reader": {"cluster": ["cluster_composite_ops_ro"], "index": ["read", "indices_monitor"]},
}
DIGEST_LENGTH = 10
JOB_DEADLINE_SECONDS = 900
JOB_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}}


def access_of(workload_type: str) -> str | None:
    """`writer`, `reader` or None: what a workload of this type does with the vector database."""
    if workload_type in WRITER_TYPES:
        return "writer"
    if workload_type in READER_TYPES:
        return "reader"
    return None


def clients(environment: ProjectEnvironment) -> dict[str, str]:
    """Workloads of `environment` that use its OpenSearch domain: workload -> `writer`/`reader`."""
    if not uses_opensearch(environment):
        return {}
    found = {w: access_of(t) for w, t in workloads(environment).items()}
    return {w: a for w, a in sorted(found.items()) if a is not None}


def role_mappings(environment: ProjectEnvironment, names: ProjectNames) -> dict[str, list[str]]:
    """OpenSearch security role -> the IAM role ARNs mapped to it (every role, mapped or not)."""
    found = clients(environment)
    return {
        names.vector_security_role(access): [names.workload_role_arn(w) for w, a in found.items() if a == access]
        for access in naming.VECTOR_SECURITY_ROLES
    }


def identity_statements(names: ProjectNames, workload: str, workload_type: str) -> list[dict[str, Any]]:
    """The IAM rights of a workload on the project's domain: clients on its paths with their
    role's methods, the master user on the security API only."""
    domain = names.opensearch_domain_arn()
    if workload == naming.VECTOR_ADMIN:
        return [
            {
                "Sid": "MapOpenSearchRoles",
                "Effect": "Allow",
                "Action": ADMIN_ACTIONS,
                "Resource": f"{domain}/{SECURITY_API}/*",
            }
        ]
    access = access_of(workload_type)
    if access is None:
        return []
    return [
        {
            "Sid": f"{access.title()}VectorIndices",
            "Effect": "Allow",
            "Action": HTTP_ACTIONS[access],
            "Resource": f"{domain}/*",
        }
    ]


def domain_access_statements(environment: ProjectEnvironment, names: ProjectNames) -> list[dict[str, Any]]:
    """The domain access policy: exactly the clients (by access) and the master user."""
    domain = names.opensearch_domain_arn()
    found = clients(environment)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "MapOpenSearchRoles",
            "Effect": "Allow",
            "Principal": {"AWS": names.workload_role_arn(naming.VECTOR_ADMIN)},
            "Action": ADMIN_ACTIONS,
            "Resource": f"{domain}/{SECURITY_API}/*",
        }
    ]
    for access in naming.VECTOR_SECURITY_ROLES:
        principals = [names.workload_role_arn(w) for w, a in found.items() if a == access]
        if principals:
            statements.append(
                {
                    "Sid": f"{access.title()}VectorIndices",
                    "Effect": "Allow",
                    "Principal": {"AWS": principals},
                    "Action": HTTP_ACTIONS[access],
                    "Resource": f"{domain}/*",
                }
            )
    return statements


def security_requests(names: ProjectNames, mappings: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """The security API calls the Job makes, in order: each role, then its mapping. Every role
    is written and mapped, an unused one to nobody, so a removed workload loses its access."""
    pattern = f"{names.vector_index_prefix()}*"
    requests: list[dict[str, Any]] = []
    for access in naming.VECTOR_SECURITY_ROLES:
        role = names.vector_security_role(access)
        permissions = ROLE_PERMISSIONS[access]
        requests.append(
            {
                "method": "PUT",
                "path": f"/{SECURITY_API}/roles/{role}",
                "body": {
                    "description": f"mlrig: {access} of the {names.project} indices",
                    "cluster_permissions": permissions["cluster"],
                    "index_permissions": [{"index_patterns": [pattern], "allowed_actions": permissions["index"]}],
                },
            }
        )
        requests.append(
            {
                "method": "PUT",
                "path": f"/{SECURITY_API}/rolesmapping/{role}",
                "body": {"description": "mlrig: workload roles", "backend_roles": sorted(mappings.get(role, []))},
            }
        )
    return requests


# The Job's program: Python's standard library only (the pinned image has nothing else). It takes
# the pod's EKS Pod Identity credentials, signs each request with SigV4 (service `es`) and retries
# while the domain or its security index comes up.
MAP_ROLES_SCRIPT = r"""
import datetime, hashlib, hmac, json, os, sys, time, urllib.error, urllib.request
from urllib.parse import urlsplit

SERVICE = "es"
ATTEMPTS = 12


def credentials():
    uri = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if uri:  # EKS Pod Identity
        with open(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]) as file:
            token = file.read().strip()
        with urllib.request.urlopen(urllib.request.Request(uri, headers={"Authorization": token}), timeout=10) as r:
            found = json.load(r)
        return found["AccessKeyId"], found["SecretAccessKey"], found.get("Token")
    env = os.environ
    return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN")


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(method, url, body, region, creds, now):
    access_key, secret_key, token = creds
    parts = urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    payload = hashlib.sha256(body).hexdigest()
    headers = {"content-type": "application/json", "host": parts.netloc, "x-amz-content-sha256": payload,
               "x-amz-date": stamp}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join([method, parts.path or "/", parts.query, "".join(f"{n}:{headers[n]}\n" for n in names),
                           ";".join(names), payload])
    scope = f"{day}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), SERVICE), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def send(base, request, region):
    url = base + request["path"]
    body = json.dumps(request["body"]).encode()
    for attempt in range(ATTEMPTS):
        try:
            now = datetime.datetime.now(datetime.timezone.utc)
            headers = signed_headers(request["method"], url, body, region, credentials(), now)
            call = urllib.request.Request(url, data=body, method=request["method"], headers=headers)
            with urllib.request.urlopen(call, timeout=30) as response:
                print(request["method"], request["path"], response.status, flush=True)
                return
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code} {error.read()[:500]!r}"
        except OSError as error:
            problem = str(error)
        print(f"{request['method']} {request['path']}: {problem}; retrying", file=sys.stderr, flush=True)
        time.sleep(min(5 * 2**attempt, 60))
    sys.exit(f"{request['method']} {request['path']} kept failing")


if __name__ == "__main__":
    base = os.environ["MLRIG_OPENSEARCH_URL"].rstrip("/")
    for request in json.loads(os.environ["MLRIG_SECURITY_REQUESTS"]):
        send(base, request, os.environ["AWS_REGION"])
"""


def job_spec(ctx: ProjectContext, url: str, requests: list[dict[str, Any]]) -> dict[str, Any]:
    names = ctx.names
    return {
        "backoffLimit": 3,
        "activeDeadlineSeconds": JOB_DEADLINE_SECONDS,
        "template": {
            "metadata": {"labels": {"mlrig.io/workload": naming.VECTOR_ADMIN}},
            "spec": {
                "serviceAccountName": names.service_account(naming.VECTOR_ADMIN),
                "restartPolicy": "Never",
                "securityContext": restricted_pod_security(),
                "containers": [
                    {
                        "name": "map-roles",
                        "image": pins.PYTHON.reference,
                        "command": ["python3", "-c", MAP_ROLES_SCRIPT],
                        "env": [
                            {"name": "AWS_REGION", "value": names.region},
                            {"name": "MLRIG_OPENSEARCH_URL", "value": url},
                            {"name": "MLRIG_SECURITY_REQUESTS", "value": json.dumps(requests, sort_keys=True)},
                            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                        ],
                        "resources": JOB_RESOURCES,
                        "securityContext": restricted_container_security(),
                    }
                ],
            },
        },
    }


def digest(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:DIGEST_LENGTH]


def connection_data(ctx: ProjectContext, host: str) -> dict[str, str]:
    vector_database = ctx.env.spec.llm.vector_database
    assert vector_database is not None
    return {
        "url": f"https://{host}",
        "host": host,
        "port": "443",
        "region": ctx.names.region,
        "index_prefix": ctx.names.vector_index_prefix(),
        "dimensions": str(vector_database.dimensions),
    }


def reads_connection(ctx: ProjectContext, workload_type: str) -> bool:
    """Whether containers of this workload type get the `vector-db` ConfigMap."""
    return uses_opensearch(ctx.env) and access_of(workload_type) is not None


def connection_env_from() -> list[dict[str, Any]]:
    return [{"configMapRef": {"name": VECTOR_DB_CONNECTION}}]


class VectorSearchAccess(pulumi.ComponentResource):
    """The Kubernetes side of the OpenSearch vector database: the connection ConfigMap, and the
    Job that maps the project's workload roles to its OpenSearch security roles. `ready` is what
    a client's pods wait for."""

    ready: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        endpoint: pulumi.Output[str],
        *,
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`endpoint`: the domain's host name; `depends_on`: what the Job's pod needs (the master
        role, its Pod Identity association and service account, the domain)."""
        super().__init__("mlrig:project:VectorSearchAccess", name, None, opts)
        names = ctx.names
        mappings = {role: sorted(arns) for role, arns in role_mappings(ctx.env, names).items()}
        requests = security_requests(names, mappings)
        connection = k8s.core.v1.ConfigMap(
            f"{name}-connection",
            metadata=metadata(ctx, VECTOR_DB_CONNECTION, component="vector-db"),
            data=endpoint.apply(lambda host: connection_data(ctx, host)),
            opts=ctx.k8s_opts(self, depends_on=depends_on),
        )
        spec = endpoint.apply(lambda host: job_spec(ctx, f"https://{host}", requests))
        job = k8s.batch.v1.Job(
            f"{name}-map-roles",
            metadata=spec.apply(
                lambda s: metadata(
                    ctx,
                    names.vector_access_job(digest(s)),
                    component="vector-db",
                    annotations={
                        naming.OPENSEARCH_DOMAIN_ANNOTATION: names.opensearch_domain(),
                        naming.OPENSEARCH_ROLE_MAPPINGS_ANNOTATION: json.dumps(mappings, sort_keys=True),
                        naming.REPLACE_UNREADY_ANNOTATION: "true",
                    },
                )
            ),
            spec=cast(Any, spec),
            # A new digest is a new name, so a new Job (created before the old one is deleted);
            # one that failed (the domain not answering yet) is replaced and runs again on the
            # next apply, where it would otherwise stay failed and fail every later apply.
            opts=ctx.k8s_opts(self, depends_on=depends_on),
        )
        self.ready = [connection, job]
        self.register_outputs({"roleMappings": mappings})
