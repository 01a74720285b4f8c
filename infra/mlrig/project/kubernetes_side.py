"""The Kubernetes side of a project environment: what the project gets in its namespace.

`build_kubernetes_side` is called by `mlrig.project.stack.deploy_project` once the AWS side
(persona and workload roles, buckets, registries, databases, secrets) is declared. Each box is
only built when the platform add-on it runs on is enabled.
"""

from __future__ import annotations

import pulumi

from .. import naming
from .context import ProjectContext, mirrored_models
from .gateway import LlmWorkloads
from .handoff import AwsHandoff, Prerequisites
from .kube import addons_of
from .model_hub import ModelHub
from .monitoring_rules import MonitoringRules
from .pipelines import DEFAULT_IMAGE_TAG, Pipelines
from .pools import ComputePools
from .queues import Queues
from .release_records import ReleaseRecords
from .serving import Serving
from .tracking_server import TrackingServer
from .vector_roles import VectorDatabaseRoles, has_reader
from .vector_search import VectorSearchAccess
from .vector_search import clients as vector_clients
from .workspace import Workspace


def build_kubernetes_side(
    ctx: ProjectContext,
    parent: pulumi.Resource,
    handoff: AwsHandoff,
    *,
    image_tag: str = DEFAULT_IMAGE_TAG,
    records: ReleaseRecords | None = None,
) -> None:
    """Workspace, pools, tracking server, pipelines, serving, LLM services and alerts.

    `handoff` is what they read from the AWS side (the project key, the databases) and what they
    wait for there: the persona roles the access entries name, and what pods need before they
    start (`handoff.prerequisites`). Each object waits for the shared resources, for its own
    workload's identity and service account, and for the pools, queue and image repository its
    pods use only, so the dependencies of one object stay the same however many pipelines,
    endpoints, pools and registries the project has. `records`: what the release CI and the
    promote step recorded of what they wrote (`release_records.py`); the project's images have the
    recorded tag, else `image_tag` (`mlrig:imageTag`).
    """
    records = records or ReleaseRecords()
    rolled_out = records.image_tag is not None
    image_tag = records.image_tag or image_tag
    addons = addons_of(ctx)
    opts = pulumi.ResourceOptions(parent=parent)
    prefix = ctx.names.prefix
    workspace = Workspace(
        f"{prefix}-workspace",
        ctx,
        database_secret_arns=[d.master_secret_arn for d in handoff.databases],
        access_roles=handoff.access_roles,
        opts=opts,
    )
    needs = handoff.prerequisites.plus(workspace.prerequisites)
    if handoff.vector_search_endpoint is not None:
        # The clients of the OpenSearch vector database wait for its address and for their
        # roles' mapping to OpenSearch security roles.
        vectors = VectorSearchAccess(
            f"{prefix}-vector-access",
            ctx,
            handoff.vector_search_endpoint,
            depends_on=needs.of(naming.VECTOR_ADMIN),
            opts=opts,
        )
        ready = tuple(vectors.ready)
        needs = needs.plus(Prerequisites(by_workload={w: ready for w in vector_clients(ctx.env)}))
    # What workloads on the pools wait for, and what a teardown deletes only after them: each
    # pool's NodePools and EC2NodeClass (so its nodes drain empty before Karpenter removes them)
    # and the queue. Each object waits for the pools it runs on only.
    by_pool: dict[str, list[pulumi.Resource]] = {}
    if addons.karpenter.enabled and ctx.env.spec.compute.pools:
        pools = ComputePools(f"{prefix}-pools", ctx, depends_on=workspace.foundation, opts=opts)
        by_pool = pools.by_pool
    queues = Queues(f"{prefix}-queues", ctx, depends_on=workspace.foundation, opts=opts)
    on_capacity = needs.with_capacity(by_pool, queues.queued, queues.serving_priority)
    TrackingServer(f"{prefix}-tracking", ctx, handoff.tracking_database, depends_on=needs.of("tracking"), opts=opts)
    # The project's model servers read pgvector as its reader role, never as the master user.
    reader_secret = None
    if handoff.vector_database is not None and has_reader(ctx):
        reader_secret = VectorDatabaseRoles(
            f"{prefix}-vector-roles",
            ctx,
            handoff.vector_database,
            depends_on=needs.of(naming.VECTOR_ADMIN),
            opts=opts,
        ).reader_secret
    if addons.argo_workflows.enabled and ctx.env.spec.pipelines:
        Pipelines(
            f"{prefix}-pipelines",
            ctx,
            image_tag=image_tag,
            rolled_out=rolled_out,
            vector_database=handoff.vector_database,
            needs=on_capacity,
            opts=opts,
        )
    if addons.kserve.enabled and ctx.env.spec.serving.endpoints:
        Serving(
            f"{prefix}-serving",
            ctx,
            image_tag=image_tag,
            records=records,
            key_arn=handoff.key_arn,
            needs=on_capacity,
            vector_secret=reader_secret,
            opts=opts,
        )
    if addons.argo_workflows.enabled and mirrored_models(ctx.env):
        ModelHub(f"{prefix}-model-hub", ctx, depends_on=needs.of(naming.MODEL_HUB), opts=opts)
    llm = ctx.env.spec.llm
    if llm.gateway is not None or llm.feedback.enabled:
        LlmWorkloads(f"{prefix}-llm", ctx, needs=needs, opts=opts)
    if addons.monitoring.enabled:
        MonitoringRules(f"{prefix}-monitoring", ctx, depends_on=needs.shared, opts=opts)
