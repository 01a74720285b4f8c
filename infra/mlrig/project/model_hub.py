"""The model hub mirror: the base models (`llm.modelHub.models`, and every model the project's
`vllm`/`huggingface` endpoints serve or fine-tuning starts from) copied from Hugging Face into the
artifacts bucket's `hub/` prefix, which the LLM endpoints serve from (`pvc://model-hub/<model>`, or
`s3://<artifacts>/hub/<model>`) and fine-tuning starts from (`MLRIG_BASE_MODEL_URI`).

A CronWorkflow runs the WorkflowTemplate `model-hub` every hour, as the `model-hub` workload (its
role may write `hub/` only): every file of every model that is not in the bucket yet is downloaded
to the pod's scratch volume and uploaded, then deleted; files already there are skipped, so a run
after the first costs one listing per model. Gated models (Llama, …) need the Hugging Face token a
person fills (`mlrig secrets`); until then those fail and the others are copied. Until the first
run has copied a model, the endpoints serving it cannot load it: start one at once with
`argo submit --from workflowtemplate/model-hub`.

The script runs on KServe's Hugging Face server image (the platform's KServe version), which has
`huggingface_hub` and `boto3`, so no image of the project's is needed: at v0.15.0,
`python/huggingfaceserver/pyproject.toml` depends on `kserve` with the `storage` extra (boto3,
huggingface-hub), and `python/huggingface_server.Dockerfile` installs it with poetry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import naming, pins
from .context import ProjectContext, mirrored_models
from .filled_secrets import MODEL_HUB_TOKEN, MODEL_HUB_TOKEN_ENV
from .kube import (
    EXTERNAL_SECRETS_API,
    SECRET_REFRESH,
    SECRET_STORE,
    addons_of,
    metadata,
    restricted_container_security,
    restricted_pod_security,
    run_to_completion_pod_annotations,
)
from .pipelines import failure_metric

ARGO_API = "argoproj.io/v1alpha1"
SCHEDULE = "17 * * * *"
TOKEN_SECRET = "model-hub-token"
SCRATCH_GIB = 64  # one file at a time: the largest weight shard, with room to spare
STEP_USER = 1000
RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}

MIRROR_SCRIPT = """\
import os, sys
import boto3
from botocore.exceptions import ClientError
from huggingface_hub import HfApi, hf_hub_download

bucket, prefix = os.environ["MLRIG_HUB_BUCKET"], os.environ["MLRIG_HUB_PREFIX"]
token = os.environ.get("HF_TOKEN") or None
s3, api, failed = boto3.client("s3"), HfApi(token=token), []
for model in os.environ["MLRIG_HUB_MODELS"].split():
    try:
        files = api.list_repo_files(model)
    except Exception as error:
        print(f"{model}: {error}", file=sys.stderr)
        failed.append(model)
        continue
    for name in files:
        key = f"{prefix}{model}/{name}"
        try:
            s3.head_object(Bucket=bucket, Key=key)
            continue
        except ClientError:
            pass
        path = hf_hub_download(model, name, token=token, local_dir="/tmp/hub")
        s3.upload_file(path, bucket, key)
        os.remove(path)
        print(f"copied {key}")
sys.exit(f"not mirrored: {', '.join(failed)}" if failed else 0)
"""


def mirror_image(ctx: ProjectContext) -> str:
    pin = pins.KSERVE_HUGGINGFACE_SERVER
    version = addons_of(ctx).kserve.version
    return f"{pin.image}:{version}" if version else pin.reference


def mirror_workflow_spec(ctx: ProjectContext) -> dict[str, Any]:
    names = ctx.names
    env = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": "/tmp/hf"},
        {"name": "AWS_REGION", "value": names.region},
        {"name": "MLRIG_HUB_BUCKET", "value": names.bucket("artifacts")},
        {"name": "MLRIG_HUB_PREFIX", "value": naming.ARTIFACT_PREFIXES["hub"]},
        # Hugging Face repository ids have no spaces: one per word.
        {"name": "MLRIG_HUB_MODELS", "value": " ".join(mirrored_models(ctx.env))},
        {
            "name": MODEL_HUB_TOKEN_ENV,
            "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": MODEL_HUB_TOKEN_ENV, "optional": True}},
        },
    ]
    return {
        "entrypoint": "mirror",
        "serviceAccountName": names.service_account(naming.MODEL_HUB),
        "activeDeadlineSeconds": 6 * 3600,
        "ttlStrategy": {"secondsAfterCompletion": 24 * 3600},
        "podGC": {"strategy": "OnPodSuccess"},
        "podMetadata": {"annotations": run_to_completion_pod_annotations()},
        "securityContext": restricted_pod_security(STEP_USER),
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": f"{SCRATCH_GIB}Gi"}}],
        # A failed mirror leaves the endpoints without weights: it alerts like a failed pipeline.
        "metrics": {"prometheus": [failure_metric(ctx, naming.MODEL_HUB)]},
        "templates": [
            {
                "name": "mirror",
                "retryStrategy": {"limit": 2, "retryPolicy": "OnFailure"},
                "container": {
                    "image": mirror_image(ctx),
                    "command": ["python", "-c", MIRROR_SCRIPT],
                    "env": env,
                    "resources": RESOURCES,
                    "securityContext": restricted_container_security(),
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                },
            }
        ],
    }


def token_secret_spec(ctx: ProjectContext) -> dict[str, Any]:
    return {
        "refreshInterval": SECRET_REFRESH,
        "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
        "target": {"name": TOKEN_SECRET, "creationPolicy": "Owner"},
        "data": [{"secretKey": MODEL_HUB_TOKEN_ENV, "remoteRef": {"key": ctx.names.secret(MODEL_HUB_TOKEN)}}],
    }


class ModelHub(pulumi.ComponentResource):
    """The mirror's WorkflowTemplate, its hourly CronWorkflow, the executor's RBAC and the token."""

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:ModelHub", name, None, opts)
        after = list(depends_on)
        hub = naming.MODEL_HUB
        if addons_of(ctx).external_secrets.enabled:
            # Not awaited by anything: the pod reads the token optionally.
            k8s.apiextensions.CustomResource(
                f"{name}-token",
                api_version=EXTERNAL_SECRETS_API,
                kind="ExternalSecret",
                metadata=metadata(ctx, TOKEN_SECRET, component="llm"),
                spec=token_secret_spec(ctx),
                opts=ctx.k8s_opts(self, depends_on=after),
            )
        role = k8s.rbac.v1.Role(
            f"{name}-executor-role",
            metadata=metadata(ctx, f"{hub}-executor", component="llm"),
            rules=cast(
                Sequence[k8s.rbac.v1.PolicyRuleArgsDict],
                [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
            ),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-executor-binding",
            metadata=metadata(ctx, f"{hub}-executor", component="llm"),
            role_ref=cast(
                k8s.rbac.v1.RoleRefArgsDict,
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{hub}-executor"},
            ),
            subjects=[
                {"kind": "ServiceAccount", "name": ctx.names.service_account(hub), "namespace": ctx.names.namespace}
            ],
            opts=ctx.k8s_opts(self, depends_on=[role]),
        )
        template = k8s.apiextensions.CustomResource(
            f"{name}-template",
            api_version=ARGO_API,
            kind="WorkflowTemplate",
            metadata=metadata(ctx, hub, component="llm"),
            spec=mirror_workflow_spec(ctx),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-cron",
            api_version=ARGO_API,
            kind="CronWorkflow",
            metadata=metadata(ctx, hub, component="llm"),
            spec={
                "schedule": SCHEDULE,
                "timezone": "UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 600,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "workflowSpec": {"workflowTemplateRef": {"name": hub}},
            },
            opts=ctx.k8s_opts(self, depends_on=[template]),
        )
        self.register_outputs({"models": mirrored_models(ctx.env)})
