"""deploy-models: the import step of a staging or prod model-deployment pipeline (`mlrig.promotion`).

It copies the champion of the environment the pipeline promotes from (`models/<project>/champion/`
in that environment's artifacts bucket) to this environment's candidate
(`models/<project>/candidate/`), replacing the previous candidate; the compliance checks, the
comparison, the approval and the promote step then work on that candidate
(`MLRIG_CANDIDATE_URI`), as in dev. The step runs as its own workload, `model-import`, whose role
may read exactly that prefix of the lower environment and write exactly the candidate prefix here:
the pipeline's own identity never reaches another environment, and nothing here writes below.

The copy is mlrig's, not the project image's: a short boto3 script on the tracking server's image
(MLflow's `-full` variant ships boto3), so every project gets the same, audited transfer. Each
object is streamed through the pod (GetObject, then a PutObject or multipart upload in bounded
chunks) and encrypted with this environment's key: exactly the actions the role holds, where a
server-side copy would also need the tagging actions on both sides.
"""

from __future__ import annotations

from typing import Any

from .. import naming, pins, promotion
from .context import ProjectContext

IMPORT_STEP = "import"
RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}

IMPORT_SCRIPT = """\
import os, sys
from urllib.parse import urlparse
import boto3

def split(uri):
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")

source, target = os.environ["MLRIG_SOURCE_MODEL_URI"], os.environ["MLRIG_CANDIDATE_URI"]
source_bucket, source_prefix = split(source)
target_bucket, target_prefix = split(target)
s3 = boto3.client("s3")
pages = s3.get_paginator("list_objects_v2")
stale = {o["Key"] for p in pages.paginate(Bucket=target_bucket, Prefix=target_prefix) for o in p.get("Contents", [])}
copied = 0
for page in pages.paginate(Bucket=source_bucket, Prefix=source_prefix):
    for item in page.get("Contents", []):
        key = target_prefix + item["Key"][len(source_prefix):]
        body = s3.get_object(Bucket=source_bucket, Key=item["Key"])["Body"]
        s3.upload_fileobj(body, target_bucket, key)
        stale.discard(key)
        copied += 1
for key in sorted(stale):
    s3.delete_object(Bucket=target_bucket, Key=key)
if not copied:
    sys.exit(f"no model at {source}: promote one in {os.environ['MLRIG_SOURCE_ENVIRONMENT']} first")
print(f"imported {copied} objects from {source} to {target}")
"""


def candidate_uri(ctx: ProjectContext) -> str:
    """Where the import step puts the model this environment's CD checks, compares and promotes."""
    return f"s3://{ctx.names.bucket('artifacts')}/{naming.model_prefix(ctx.project.name, 'candidate')}"


def source_model_uri(ctx: ProjectContext) -> str | None:
    """The champion of the environment this one promotes from, or None where it trains its own."""
    source = promotion.promotion_source(ctx.project, ctx.env)
    if source is None:
        return None
    lower = ctx.names_for(source)
    return f"s3://{lower.bucket('artifacts')}/{naming.model_prefix(ctx.project.name, 'champion')}"


def importer_image() -> str:
    return pins.MLFLOW.reference


def import_template(
    ctx: ProjectContext, source_uri: str, retry_strategy: dict[str, Any], security: dict[str, Any]
) -> dict[str, Any]:
    """The Argo template of the import step: the `model-import` service account (a template-level
    `serviceAccountName`; the other steps keep the pipeline's)."""
    source = promotion.promotion_source(ctx.project, ctx.env)
    assert source is not None
    return {
        "name": IMPORT_STEP,
        "serviceAccountName": ctx.names.service_account(naming.MODEL_IMPORT),
        "retryStrategy": retry_strategy,
        "container": {
            "image": importer_image(),
            "command": ["python", "-c", IMPORT_SCRIPT],
            "env": [
                {"name": "HOME", "value": "/tmp"},
                {"name": "AWS_REGION", "value": ctx.names.region},
                {"name": "MLRIG_SOURCE_ENVIRONMENT", "value": source.name},
                {"name": "MLRIG_SOURCE_MODEL_URI", "value": source_uri},
                {"name": "MLRIG_CANDIDATE_URI", "value": candidate_uri(ctx)},
            ],
            "resources": RESOURCES,
            "securityContext": security,
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        },
    }
