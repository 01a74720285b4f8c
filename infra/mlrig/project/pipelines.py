"""Every `spec.pipelines` entry on Argo Workflows: a WorkflowTemplate each, and a CronWorkflow for
the scheduled ones (suspended in dev tier, like development mode in Databricks bundles).

Step contract with the project's image: each step container gets `--step=<step>` followed by
`--<parameter>=<value>` for every pipeline parameter; steps that produce a decision write it to
`/tmp/outputs/<name>` (see `OUTPUTS`). The shapes by type:

- model-deployment (the book's CD): compliance-<check>… → compare (writes `decision`:
  `promote`/`reject`, against the champion on `comparison.metric` or the baseline threshold on
  first deploy) → approval (an Argo suspend step, only with `approval: manual`) → promote.
- monitoring: drift (writes `drifted` and `score`, published as the Prometheus gauge
  `argo_workflows_mlrig_drift_score`) and quality → publish; with `retrainOnDrift`, a resource
  step submits the training pipeline when `drifted == true`.
- training and fine-tuning with `workers > 1` (distributed): a rendezvous daemon (torch TCPStore)
  and `workers` parallel pods running `torchrun --nnodes=<workers>` against it.
- every other type: one `run` step.

Steps on a pool go through the project's queue when it has one (`queues.py`): their pods carry
the LocalQueue and priority labels, Kueue admits them as plain pods, and the workers of a
distributed run form one pod group, admitted together or not at all. A queued step is retried
whatever ended it (`retryPolicy: Always`): Kueue preempting a borrower, or evicting a run whose
pods did not all start in time, deletes its pods. Steps on an EFA pool request the nodes' EFA
interfaces (`vpc.amazonaws.com/efa`), which is what makes Karpenter attach them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import naming, pool_sizing
from ..bundle.model import Pipeline, ProjectSpec
from ..init.project import python_package
from ..settings import DEFAULT_IMAGE_TAG
from .context import ProjectContext
from .handoff import Prerequisites
from .kube import (
    EXTERNAL_SECRETS_API,
    addons_of,
    database_secret_spec,
    metadata,
    restricted_container_security,
    restricted_pod_security,
    run_to_completion_pod_annotations,
)
from .model_import import IMPORT_STEP, candidate_uri, import_template, source_model_uri
from .model_locations import champion_uri, model_hub_uri, rollout_services
from .pools import find_pool, pools_selected, scheduling
from .queues import QUEUE_LABEL, gang, step_labels
from .tracking import DatabaseConnection
from .tracking_server import tracking_uri
from .vector_search import connection_env_from, reads_connection

# Tag of the project images the pipelines and endpoints run: the one the project's release CI last
# rolled out (`image_tag.rolled_image_tag`), else the stack setting `mlrig:imageTag`.

# The release CI rolls a template's images in place (`kubectl patch`, its own field manager), so it
# owns `spec.templates` afterwards: Argo's CRDs declare no list type, so server-side apply treats
# that list as one atomic field. Once the CI has recorded the tag it rolled out, the stack writes
# that same tag and forces its apply, so a bundle change after a roll-out takes the list back
# instead of failing on the conflict (nothing else writes a WorkflowTemplate's spec). Without a
# record it never forces: it would undo a roll-out it does not know of.
FORCED_APPLY = {naming.PATCH_FORCE_ANNOTATION: "true"}


def recorded_images(ctx: ProjectContext) -> dict[str, str]:
    """A template's images come from the release CI's record (checked by `checks/field_writers.py`)."""
    recorded = {naming.RELEASE_FIELD_MANAGER: ctx.names.image_tag_parameter()}
    return {naming.RECORDED_FIELDS_ANNOTATION: json.dumps(recorded, sort_keys=True)}


ARGO_API = "argoproj.io/v1alpha1"
OUTPUTS = "/tmp/outputs"
RENDEZVOUS_PORT = 29400
VECTOR_DB_SECRET = "vector-db"
HISTORY_LIMIT = 3
TTL_AFTER_COMPLETION = 7 * 24 * 3600
STEP_USER = 1000
# Gates and comparisons run on small pods on the general nodes, whatever the pipeline's pool.
LIGHT_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def data_fraction(ctx: ProjectContext, pipeline: Pipeline) -> float:
    """Staging runs on a subset of the data; dev and prod on all of it."""
    return pipeline.staging_data_fraction if ctx.tier == "staging" else 1.0


def workflow_parameters(ctx: ProjectContext, pipeline: Pipeline) -> dict[str, str]:
    params = {k: str(v) for k, v in pipeline.parameters.items()}
    params["data-fraction"] = str(data_fraction(ctx, pipeline))
    params["tracking-uri"] = tracking_uri(ctx)
    params["environment"] = ctx.env.name
    if pipeline.base_model:
        params["base-model"] = pipeline.base_model
    return params


def parameter_args(params: dict[str, str]) -> list[str]:
    return [f"--{name}={{{{workflow.parameters.{name}}}}}" for name in params]


EFA_RESOURCE = "vpc.amazonaws.com/efa"


def step_resources(pipeline: Pipeline, efa: int = 0) -> dict[str, Any]:
    amounts: dict[str, Any] = {"cpu": pipeline.resources.cpu, "memory": pipeline.resources.memory}
    if pipeline.resources.gpu:
        amounts["nvidia.com/gpu"] = str(pipeline.resources.gpu)
    if efa:
        amounts[EFA_RESOURCE] = str(efa)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def step_efa(ctx: ProjectContext, pipeline: Pipeline) -> int:
    """EFA interfaces a GPU step on an EFA pool requests (0 elsewhere)."""
    return pool_sizing.step_efa(find_pool(ctx, pipeline.pool), pipeline.resources.gpu)


def step_env(ctx: ProjectContext, name: str, pipeline: Pipeline) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "AWS_REGION", "value": ctx.names.region},
        {"name": "MLFLOW_TRACKING_URI", "value": tracking_uri(ctx)},
        {"name": "MLRIG_PROJECT", "value": ctx.project.name},
        {"name": "MLRIG_ENVIRONMENT", "value": ctx.env.name},
        {"name": "MLRIG_PIPELINE", "value": name},
        {"name": "MLRIG_DATA_FRACTION", "value": str(data_fraction(ctx, pipeline))},
        {"name": "MLRIG_DATA_BUCKET", "value": ctx.names.bucket("data")},
        {"name": "MLRIG_ARTIFACTS_BUCKET", "value": ctx.names.bucket("artifacts")},
        {"name": "MLRIG_LOGS_BUCKET", "value": ctx.names.bucket("logs")},
    ]
    if pipeline.base_model:
        env.append({"name": "MLRIG_BASE_MODEL_URI", "value": model_hub_uri(ctx, pipeline.base_model)})
    if pipeline.type == "batch-inference":
        env.append({"name": "MLRIG_INFERENCE_MODE", "value": pipeline.mode})
    if pipeline.type in ("batch-inference", "model-deployment"):
        # The model CD promotes is the model batch inference scores with.
        env.append({"name": "MLRIG_CHAMPION_URI", "value": champion_uri(ctx)})
    if pipeline.type == "model-deployment":
        env.append({"name": "MLRIG_INFERENCE_SERVICES", "value": json.dumps(endpoint_services(ctx))})
        env += promote_env(ctx)
        if source_model_uri(ctx) is not None:  # deploy-models: the model imported from below
            env.append({"name": "MLRIG_CANDIDATE_URI", "value": candidate_uri(ctx)})
    if pipeline.type == "fine-tuning" and ctx.env.spec.llm.feedback.enabled:
        env.append({"name": "MLRIG_FEEDBACK_URI", "value": feedback_uri(ctx)})
    if pipeline.type == "monitoring":
        # Drift compares these live inputs (what the inference logger writes) with the training data.
        env.append({"name": "MLRIG_INFERENCE_TABLES_URI", "value": inference_tables_uri(ctx)})
        env.append({"name": "MLRIG_METRICS_PREFIX", "value": naming.LOG_PREFIXES["metrics"]})
        env.append({"name": "MLRIG_CLOUDWATCH_NAMESPACE", "value": naming.cloudwatch_namespace(ctx.names)})
    return env


def endpoint_services(ctx: ProjectContext) -> dict[str, dict[str, str]]:
    """What the promote step updates: each endpoint's InferenceServices by their part in its
    rollout (`canary` before `stable`, `b` before `a`, `shadow` before `primary`)."""
    return {e.name: rollout_services(e) for e in ctx.env.spec.serving.endpoints}


def promote_env(ctx: ProjectContext) -> list[dict[str, Any]]:
    """Where the promote step records the model URI of each InferenceService before it patches it
    (`MLRIG_MODEL_URI_PARAMETERS`: name -> SSM parameter; the stack builds the InferenceService with
    it, see serving.py), and the field manager it patches with."""
    parameters = {isvc: ctx.names.model_uri_parameter(isvc) for isvc in promoted_services(ctx.env.spec)}
    return [
        {"name": "MLRIG_MODEL_URI_PARAMETERS", "value": json.dumps(parameters, sort_keys=True)},
        {"name": "MLRIG_PROMOTE_FIELD_MANAGER", "value": naming.PROMOTE_FIELD_MANAGER},
    ]


def promoted_services(spec: ProjectSpec) -> list[str]:
    """The InferenceServices the promote step may patch (their model location)."""
    return sorted(name for e in spec.serving.endpoints for name in rollout_services(e).values())


def inference_tables_uri(ctx: ProjectContext) -> str:
    """Where the inference logger writes every endpoint's requests and responses (serving.py):
    `endpoint=<name>/date=<YYYY-MM-DD>/` under the logs bucket's `inference/` prefix."""
    return f"s3://{ctx.names.bucket('logs')}/{naming.LOG_PREFIXES['inference']}"


def feedback_uri(ctx: ProjectContext) -> str:
    """Where the feedback stream lands human feedback (`llm.py`): the logs bucket's `feedback/`
    prefix, partitioned `yyyy/MM/dd/`."""
    return f"s3://{ctx.names.bucket('logs')}/{naming.LOG_PREFIXES['feedback']}"


def container(
    ctx: ProjectContext,
    name: str,
    pipeline: Pipeline,
    image: str,
    step: str,
    *,
    extra_args: Sequence[str] = (),
    command: Sequence[str] | None = None,
    light: bool = False,
) -> dict[str, Any]:
    """A step container. `light` steps (gates, comparisons) run on small general-purpose pods."""
    spec: dict[str, Any] = {
        "image": image,
        "args": [f"--step={step}", *parameter_args(workflow_parameters(ctx, pipeline)), *extra_args],
        "env": step_env(ctx, name, pipeline),
        "resources": LIGHT_RESOURCES if light else step_resources(pipeline, step_efa(ctx, pipeline)),
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    chosen = command if command is not None else pipeline.command
    if chosen:
        spec["command"] = list(chosen)
    if pipeline.type == "vector-index-refresh" and uses_pgvector(ctx):
        spec["envFrom"] = [{"secretRef": {"name": VECTOR_DB_SECRET}}]
    elif reads_connection(ctx, pipeline.type):  # OpenSearch: its address, reached with the pod's IAM identity
        spec["envFrom"] = connection_env_from()
    if pipeline.resources.gpu and not light:
        spec["volumeMounts"].append({"name": "dshm", "mountPath": "/dev/shm"})
    return spec


def uses_pgvector(ctx: ProjectContext) -> bool:
    """A pgvector store has a connection Secret; OpenSearch a connection ConfigMap (its address:
    it is reached with the pod's IAM identity)."""
    vector_database = ctx.env.spec.llm.vector_database
    return vector_database is not None and vector_database.engine == "pgvector"


def has_vector_db_secret(ctx: ProjectContext) -> bool:
    """Whether the namespace gets the pgvector connection Secret (the master user's): for the index
    refresh that writes the store (`Pipelines` makes it, with Argo). The custom endpoints that
    query it log in as its reader role instead (vector_roles.py)."""
    refreshes = any(p.type == "vector-index-refresh" for p in ctx.env.spec.pipelines.values())
    addons = addons_of(ctx)
    made = addons.argo_workflows.enabled and bool(ctx.env.spec.pipelines)  # where `Pipelines` is built
    return refreshes and uses_pgvector(ctx) and addons.external_secrets.enabled and made


def vector_db_template(database: DatabaseConnection) -> dict[str, Any]:
    """The keys index-refresh steps read (environment variables of their containers)."""
    return {
        "host": database.host,
        "port": str(database.port),
        "dbname": database.dbname,
        "username": "{{ .username }}",
        "password": "{{ .password }}",
    }


def retry(pipeline: Pipeline, *, queued: bool = False) -> dict[str, Any]:
    return {"limit": pipeline.retries, "retryPolicy": "Always" if queued else "OnFailure"}


def pooled(ctx: ProjectContext, pipeline: Pipeline, *, workers: bool = False) -> dict[str, Any]:
    """What a step on the pipeline's pool carries: node selector and tolerations, and, with a
    queue, the pod labels (and pod group of a run's workers) Kueue admits it by, and a retry
    strategy that also retries a preempted or evicted step."""
    fields: dict[str, Any] = {**scheduling(ctx, pipeline.pool)}
    labels = step_labels(ctx, pipeline)
    annotations: dict[str, str] = {}
    if workers:
        group_labels, annotations = gang(ctx, pipeline)
        labels = {**labels, **group_labels}
    if labels:
        fields["metadata"] = {"labels": labels, **({"annotations": annotations} if annotations else {})}
    fields["retryStrategy"] = retry(pipeline, queued=bool(labels))
    return fields


def output_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"path": f"{OUTPUTS}/{name}"}}


def metric_labels(ctx: ProjectContext, name: str) -> list[dict[str, str]]:
    return [
        {"key": "project", "value": ctx.project.name},
        {"key": "environment", "value": ctx.env.name},
        {"key": "pipeline", "value": name},
    ]


# Custom metrics the WorkflowTemplates emit; Argo's controller serves them prefixed with
# `argo_workflows_` (and counters with a `_total` suffix), and the alert rules query them.
ARGO_METRIC_PREFIX = "argo_workflows_"
PIPELINE_FAILED_METRIC = "mlrig_pipeline_failed"
DRIFT_SCORE_METRIC = "mlrig_drift_score"
QUALITY_METRIC = "mlrig_quality"
# What a quality output holds until the metric is known (no labels yet): a gauge of NaN, which no
# threshold comparison matches.
UNKNOWN_VALUE = "NaN"


def quality_output(index: int) -> str:
    """The output the quality step writes the `index`-th `monitoring.quality` metric's value to."""
    return f"quality-{index}"


def argo_metric(name: str) -> str:
    """The name Prometheus scrapes a WorkflowTemplate custom metric under."""
    return f"{ARGO_METRIC_PREFIX}{name}"


def failure_metric(ctx: ProjectContext, name: str) -> dict[str, Any]:
    """Workflow-level counter of failed runs: `argo_workflows_mlrig_pipeline_failed`."""
    return {
        "name": PIPELINE_FAILED_METRIC,
        "help": "Failed runs of an mlrig pipeline",
        "labels": metric_labels(ctx, name),
        "when": "{{workflow.status}} != Succeeded",
        "counter": {"value": "1"},
    }


# --- templates by pipeline type -----------------------------------------------------------------


def run_templates(ctx: ProjectContext, name: str, pipeline: Pipeline, image: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "main",
            **pooled(ctx, pipeline),
            "container": container(ctx, name, pipeline, image, "run"),
        }
    ]


def deployment_templates(ctx: ProjectContext, name: str, pipeline: Pipeline, image: str) -> list[dict[str, Any]]:
    """The book's CD: compliance checks → compare → (manual approval) → promote; under
    deploy-models above dev, the candidate is imported from the lower environment first."""
    settings = ctx.env.spec.model_deployment
    comparison = settings.comparison
    checks = [f"compliance-{check}" for check in settings.compliance_checks]
    promote_when = "{{tasks.compare.outputs.parameters.decision}} == promote"
    source_uri = source_model_uri(ctx)
    first = [IMPORT_STEP] if source_uri is not None else []
    tasks: list[dict[str, Any]] = [{"name": IMPORT_STEP, "template": IMPORT_STEP}] if first else []
    tasks += [
        {
            "name": check,
            "template": "step",
            "arguments": {"parameters": [{"name": "step", "value": check}]},
            **({"dependencies": first} if first else {}),
        }
        for check in checks
    ]
    tasks.append({"name": "compare", "template": "compare", "dependencies": list(checks) or first})
    promote_after = "compare"
    if settings.approval == "manual":
        tasks.append({"name": "approval", "template": "approval", "dependencies": ["compare"], "when": promote_when})
        promote_after = "approval"
    tasks.append(
        {
            "name": "promote",
            "template": "step",
            "dependencies": [promote_after],
            "when": promote_when,
            "arguments": {"parameters": [{"name": "step", "value": "promote"}]},
        }
    )
    compare_args = [
        f"--metric={comparison.metric}",
        f"--direction={comparison.direction}",
        f"--min-improvement={comparison.min_improvement}",
    ]
    if comparison.baseline_threshold is not None:
        compare_args.append(f"--baseline-threshold={comparison.baseline_threshold}")
    step = container(ctx, name, pipeline, image, "{{inputs.parameters.step}}", light=True)
    templates: list[dict[str, Any]] = [
        {"name": "main", "dag": {"tasks": tasks}},
        {
            "name": "step",
            "inputs": {"parameters": [{"name": "step"}]},
            "retryStrategy": retry(pipeline),
            "container": step,
        },
        {
            "name": "compare",
            "retryStrategy": retry(pipeline),
            "container": container(ctx, name, pipeline, image, "compare", extra_args=compare_args, light=True),
            "outputs": {"parameters": [output_parameter("decision")]},
        },
    ]
    if settings.approval == "manual":
        templates.append({"name": "approval", "suspend": {}})
    if source_uri is not None:
        templates.append(import_template(ctx, source_uri, retry(pipeline), restricted_container_security()))
    return templates


def training_pipeline(spec: ProjectSpec) -> str | None:
    """The pipeline that monitoring resubmits on drift."""
    return next((n for n, p in spec.pipelines.items() if p.type == "training"), None)


def deployment_pipeline(spec: ProjectSpec) -> str | None:
    """The model CD pipeline a successful training or fine-tuning run submits."""
    return next((n for n, p in spec.pipelines.items() if p.type == "model-deployment"), None)


# Pipeline types whose successful runs hand their model to the model CD pipeline.
RELEASED_TYPES = ("training", "fine-tuning")


def submit_workflow_manifest(ctx: ProjectContext, template: str, trigger: str = "drift") -> str:
    return "\n".join(
        [
            f"apiVersion: {ARGO_API}",
            "kind: Workflow",
            "metadata:",
            f"  generateName: {template}-{trigger}-",
            f"  namespace: {ctx.names.namespace}",
            "  labels:",
            f"    mlrig.io/triggered-by: {trigger}",
            "spec:",
            "  workflowTemplateRef:",
            f"    name: {template}",
            "",
        ]
    )


def monitoring_templates(ctx: ProjectContext, name: str, pipeline: Pipeline, image: str) -> list[dict[str, Any]]:
    monitoring = ctx.env.spec.monitoring
    drift = monitoring.drift
    drift_args = [f"--method={drift.method}", f"--threshold={drift.threshold}"]
    drift_args += [f"--feature={feature}" for feature in drift.features]
    quality_args = [f"--metric={m.name}:{m.threshold}:{m.direction}" for m in monitoring.quality]
    tasks: list[dict[str, Any]] = [
        {"name": "drift", "template": "drift"},
        {"name": "quality", "template": "quality"},
        {"name": "publish", "template": "publish", "dependencies": ["drift", "quality"]},
    ]
    templates: list[dict[str, Any]] = [
        {"name": "main", "dag": {"tasks": tasks}},
        {
            "name": "drift",
            **pooled(ctx, pipeline),
            "container": container(ctx, name, pipeline, image, "drift", extra_args=drift_args),
            "outputs": {"parameters": [output_parameter("drifted"), output_parameter("score")]},
            "metrics": {
                "prometheus": [
                    {
                        "name": DRIFT_SCORE_METRIC,
                        "help": "Data drift score of the last monitoring run",
                        "labels": [*metric_labels(ctx, name), {"key": "method", "value": drift.method}],
                        "gauge": {"value": "{{outputs.parameters.score}}", "realtime": False},
                    }
                ]
            },
        },
        {
            "name": "quality",
            **pooled(ctx, pipeline),
            "container": container(ctx, name, pipeline, image, "quality", extra_args=quality_args),
            **quality_publication(ctx, name),
        },
        {
            "name": "publish",
            "retryStrategy": retry(pipeline),
            "container": container(ctx, name, pipeline, image, "publish", light=True),
        },
    ]
    retrain = training_pipeline(ctx.env.spec)
    if monitoring.retrain_on_drift and retrain is not None:
        tasks.append(
            {
                "name": "retrain",
                "template": "retrain",
                "dependencies": ["drift"],
                "when": "{{tasks.drift.outputs.parameters.drifted}} == true",
            }
        )
        templates.append(
            {"name": "retrain", "resource": {"action": "create", "manifest": submit_workflow_manifest(ctx, retrain)}}
        )
    return templates


def image_entrypoint(ctx: ProjectContext) -> list[str]:
    """The entry point of the images `mlrig init` scaffolds (`python -m <package>`, the package
    named after the project): what a torchrun worker starts when the pipeline sets no `command`,
    as the image itself would (a `command` replaces the image's entry point)."""
    return ["python", "-m", python_package(ctx.project.name)]


def quality_publication(ctx: ProjectContext, name: str) -> dict[str, Any]:
    """The quality step's values (`quality-<i>`, in `monitoring.quality` order), each published as
    the gauge `argo_workflows_mlrig_quality{metric=<name>}` the quality alerts read."""
    quality = ctx.env.spec.monitoring.quality
    if not quality:
        return {}
    outputs = [
        {"name": quality_output(i), "valueFrom": {"path": f"{OUTPUTS}/{quality_output(i)}", "default": UNKNOWN_VALUE}}
        for i in range(len(quality))
    ]
    gauges = [
        {
            "name": QUALITY_METRIC,
            "help": "Live value of a model quality metric from the last monitoring run",
            "labels": [*metric_labels(ctx, name), {"key": "metric", "value": m.name}],
            "gauge": {"value": f"{{{{outputs.parameters.{quality_output(i)}}}}}", "realtime": False},
        }
        for i, m in enumerate(quality)
    ]
    return {"outputs": {"parameters": outputs}, "metrics": {"prometheus": gauges}}


def distributed_templates(ctx: ProjectContext, name: str, pipeline: Pipeline, image: str) -> list[dict[str, Any]]:
    """Training and fine-tuning: one step, or with `workers > 1` one torchrun pod per worker."""
    if pipeline.workers <= 1:
        return run_templates(ctx, name, pipeline, image)
    launcher = [
        "torchrun",
        f"--nnodes={pipeline.workers}",
        f"--nproc-per-node={max(pipeline.resources.gpu, 1)}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={{{{inputs.parameters.rendezvous}}}}:{RENDEZVOUS_PORT}",
        "--rdzv-id={{workflow.uid}}",
        "--no-python",
        *(pipeline.command or image_entrypoint(ctx)),
    ]
    store = (
        "import time; from torch.distributed import TCPStore; "
        f"store = TCPStore('0.0.0.0', {RENDEZVOUS_PORT}, is_master=True, wait_for_workers=False); "
        "time.sleep(7 * 24 * 3600)"
    )
    rendezvous = container(ctx, name, pipeline, image, "rendezvous", command=["python", "-c", store], light=True)
    rendezvous["args"] = []
    rendezvous["ports"] = [{"name": "rendezvous", "containerPort": RENDEZVOUS_PORT}]
    return [
        {
            "name": "main",
            "steps": [
                [{"name": "rendezvous", "template": "rendezvous"}],
                [
                    {
                        "name": "worker",
                        "template": "worker",
                        "withSequence": {"count": str(pipeline.workers)},
                        "arguments": {"parameters": [{"name": "rendezvous", "value": "{{steps.rendezvous.ip}}"}]},
                    }
                ],
            ],
        },
        {"name": "rendezvous", "daemon": True, "container": rendezvous},
        {
            "name": "worker",
            "inputs": {"parameters": [{"name": "rendezvous"}]},
            **pooled(ctx, pipeline, workers=True),
            "container": container(ctx, name, pipeline, image, "train", command=launcher),
        },
    ]


def release_templates(ctx: ProjectContext, release: str) -> list[dict[str, Any]]:
    """The exit handler of a training or fine-tuning run: once it succeeded, submit the model CD
    pipeline, which checks, compares and promotes the new model (nothing else starts it)."""
    return [
        {
            "name": "release",
            "steps": [[{"name": "submit", "template": "submit-release", "when": "{{workflow.status}} == Succeeded"}]],
        },
        {
            "name": "submit-release",
            "resource": {"action": "create", "manifest": submit_workflow_manifest(ctx, release, "training")},
        },
    ]


TEMPLATES_BY_TYPE = {
    "model-deployment": deployment_templates,
    "monitoring": monitoring_templates,
    "training": distributed_templates,
    "fine-tuning": distributed_templates,
}


def workflow_spec(ctx: ProjectContext, name: str, pipeline: Pipeline, image: str) -> dict[str, Any]:
    build = TEMPLATES_BY_TYPE.get(pipeline.type, run_templates)
    params = workflow_parameters(ctx, pipeline)
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if pipeline.resources.gpu:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "serviceAccountName": ctx.names.service_account(name),
        "arguments": {"parameters": [{"name": k, "value": v} for k, v in params.items()]},
        "activeDeadlineSeconds": pipeline.timeout_minutes * 60,
        "ttlStrategy": {"secondsAfterCompletion": TTL_AFTER_COMPLETION},
        "podGC": {"strategy": "OnPodSuccess"},
        "podMetadata": {
            "labels": {"mlrig.io/pipeline": name, "mlrig.io/project": ctx.project.name},
            "annotations": run_to_completion_pod_annotations(),
        },
        "securityContext": restricted_pod_security(STEP_USER),
        "volumes": volumes,
        "metrics": {"prometheus": [failure_metric(ctx, name)]},
        "templates": build(ctx, name, pipeline, image),
    }
    release = deployment_pipeline(ctx.env.spec) if pipeline.type in RELEASED_TYPES else None
    if release is not None:
        spec["onExit"] = "release"
        spec["templates"] += release_templates(ctx, release)
    return spec


def is_queued(spec: dict[str, Any]) -> bool:
    """Some step of the workflow `spec` is admitted through the project's queue."""
    return any(QUEUE_LABEL in (t.get("metadata") or {}).get("labels", {}) for t in spec["templates"])


def step_workloads(ctx: ProjectContext, name: str, pipeline: Pipeline) -> list[str]:
    """The workloads whose identities the pipeline's steps run as: its own, and for a deploy-models
    CD above dev the import step's (`model-import`)."""
    imports = pipeline.type == "model-deployment" and naming.MODEL_IMPORT in ctx.workloads()
    return [name, naming.MODEL_IMPORT] if imports else [name]


def cron_spec(ctx: ProjectContext, name: str, schedule: str) -> dict[str, Any]:
    return {
        "schedule": schedule,
        "timezone": "UTC",
        "concurrencyPolicy": "Forbid",
        # Dev schedules are created suspended: developers run pipelines by hand.
        "suspend": ctx.tier == "dev",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": HISTORY_LIMIT,
        "failedJobsHistoryLimit": HISTORY_LIMIT,
        "workflowSpec": {"workflowTemplateRef": {"name": name}},
    }


def submit_rules(template: str) -> list[dict[str, Any]]:
    """RBAC of a step that creates a Workflow from `template` (Argo's resource step: create, then
    watch it), nothing more."""
    return [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "get"]},
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflowtemplates"],
            "resourceNames": [template],
            "verbs": ["get"],
        },
    ]


class Pipelines(pulumi.ComponentResource):
    """WorkflowTemplates, CronWorkflows and the pipelines' in-namespace RBAC, and the pgvector
    connection Secret (the master user's, read by the index refresh)."""

    vector_secret: pulumi.Resource | None

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        image_tag: str = DEFAULT_IMAGE_TAG,
        rolled_out: bool = False,
        vector_database: DatabaseConnection | None = None,
        needs: Prerequisites,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`needs`: what the templates wait for; each pipeline's template waits for its own
        workload's identity and service account, never the other pipelines', and for the pools
        its steps run on and its image's repository, never the others'. `rolled_out`: the
        release CI recorded `image_tag` as the tag it rolled out (see FORCED_APPLY)."""
        super().__init__("mlrig:project:Pipelines", name, None, opts)
        self._ctx = ctx
        self._name = name
        spec = ctx.env.spec
        after = list(needs.shared)
        self._executor_rbac(spec, after)
        # The connection Secret index-refresh steps read (their pods cannot start without it).
        vector_secret = self._vector_db_secret(vector_database, after) if vector_database else None
        self.vector_secret = vector_secret
        for pipeline_name, pipeline in spec.pipelines.items():
            if pipeline.image is None:
                pulumi.log.warn(
                    f"pipeline {pipeline_name!r} has no image (the project has no registries); skipped", self
                )
                continue
            image = ctx.names.image(pipeline.image, image_tag)
            reads = [vector_secret] if vector_secret is not None and pipeline.type == "vector-index-refresh" else []
            workflow = workflow_spec(ctx, pipeline_name, pipeline, image)
            # Only the pools its steps run on (light steps run on the general nodes), the queue
            # if they are queued, and the repository of its image.
            placed = needs.placed(
                pools=pools_selected(workflow), registries=[pipeline.image], queued=is_queued(workflow)
            )
            template = k8s.apiextensions.CustomResource(
                f"{name}-{pipeline_name}-template",
                api_version=ARGO_API,
                kind="WorkflowTemplate",
                metadata=metadata(
                    ctx,
                    pipeline_name,
                    component="pipeline",
                    labels={"mlrig.io/pipeline": pipeline_name},
                    annotations={**recorded_images(ctx), **(FORCED_APPLY if rolled_out else {})},
                ),
                spec=workflow,
                opts=ctx.k8s_opts(
                    self, depends_on=[*needs.of(*step_workloads(ctx, pipeline_name, pipeline)), *placed, *reads]
                ),
            )
            if pipeline.schedule:
                k8s.apiextensions.CustomResource(
                    f"{name}-{pipeline_name}-cron",
                    api_version=ARGO_API,
                    kind="CronWorkflow",
                    metadata=metadata(
                        ctx, pipeline_name, component="pipeline", labels={"mlrig.io/pipeline": pipeline_name}
                    ),
                    spec=cron_spec(ctx, pipeline_name, pipeline.schedule),
                    opts=ctx.k8s_opts(self, depends_on=[template]),
                )
        self.register_outputs({"pipelines": list(spec.pipelines)})

    def _role(
        self, role_name: str, rules: list[dict[str, Any]], subjects: list[str], after: list[pulumi.Resource]
    ) -> None:
        ctx = self._ctx
        role = k8s.rbac.v1.Role(
            f"{self._name}-role-{role_name}",
            metadata=metadata(ctx, role_name, component="pipeline"),
            rules=cast(Sequence[k8s.rbac.v1.PolicyRuleArgsDict], rules),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-rolebinding-{role_name}",
            metadata=metadata(ctx, role_name, component="pipeline"),
            role_ref=cast(
                k8s.rbac.v1.RoleRefArgsDict,
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            ),
            subjects=[
                {"kind": "ServiceAccount", "name": ctx.names.service_account(s), "namespace": ctx.names.namespace}
                for s in subjects
            ],
            opts=ctx.k8s_opts(self, depends_on=[role]),
        )

    def _executor_rbac(self, spec: ProjectSpec, after: list[pulumi.Resource]) -> None:
        """Argo's executor in each step reports results; monitoring may also submit training."""
        if not spec.pipelines:
            return
        # The import step of a deploy-models CD runs as its own service account (model_import.py).
        importer = [naming.MODEL_IMPORT] if naming.MODEL_IMPORT in self._ctx.workloads() else []
        self._role(
            "argo-executor",
            [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
            [*spec.pipelines, *importer],
            after,
        )
        retrain = training_pipeline(spec)
        monitors = [n for n, p in spec.pipelines.items() if p.type == "monitoring"]
        if spec.monitoring.retrain_on_drift and retrain and monitors:
            self._role("submit-retraining", submit_rules(retrain), monitors, after)
        release = deployment_pipeline(spec)
        trainers = [n for n, p in spec.pipelines.items() if p.type in RELEASED_TYPES]
        if release and trainers:
            self._role("submit-release", submit_rules(release), trainers, after)
        promoted = promoted_services(spec)
        deployers = [n for n, p in spec.pipelines.items() if p.type == "model-deployment"]
        if promoted and deployers:
            # The promote step points the rollout's InferenceServices at the promoted model.
            self._role(
                "promote-model",
                [
                    {
                        "apiGroups": ["serving.kserve.io"],
                        "resources": ["inferenceservices"],
                        "resourceNames": promoted,
                        "verbs": ["get", "patch"],
                    }
                ],
                deployers,
                after,
            )

    def _vector_db_secret(self, database: DatabaseConnection, after: list[pulumi.Resource]) -> pulumi.Resource | None:
        ctx = self._ctx
        if not has_vector_db_secret(ctx):
            return None
        return k8s.apiextensions.CustomResource(
            f"{self._name}-vector-db-secret",
            api_version=EXTERNAL_SECRETS_API,
            kind="ExternalSecret",
            metadata=metadata(ctx, VECTOR_DB_SECRET, component="pipeline"),
            spec=database_secret_spec(database, VECTOR_DB_SECRET, vector_db_template(database)),
            opts=ctx.k8s_opts(self, depends_on=after),
        )
