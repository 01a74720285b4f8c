"""The Kubernetes side of a project environment: what the project gets in its namespace.

`build_kubernetes_side` is called by `mlrig.project.stack.deploy_project` once the AWS side
(persona and workload roles, buckets, registries, databases, secrets) is declared. Each box is
only built when the platform add-on it runs on is enabled.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from .context import ProjectContext
from .gateway import LlmWorkloads
from .handoff import AwsHandoff
from .kube import addons_of
from .monitoring_rules import MonitoringRules
from .pipelines import DEFAULT_IMAGE_TAG, Pipelines
from .pools import ComputePools
from .queues import Queues
from .serving import Serving
from .tracking_server import TrackingServer
from .workspace import Workspace


def build_kubernetes_side(
    ctx: ProjectContext,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
    handoff: AwsHandoff,
    *,
    image_tag: str = DEFAULT_IMAGE_TAG,
) -> None:
    """Workspace, pools, tracking server, pipelines, serving, LLM services and alerts.

    `depends_on` are the AWS resources the cluster objects need first (the persona roles the
    access entries name, the Pod Identity associations, the secrets); `handoff` what they read
    from them (the project key, the databases). `image_tag` is the tag of the project's images
    (the stack setting `mlrig:imageTag`, set by CI to the image it built).
    """
    addons = addons_of(ctx)
    opts = pulumi.ResourceOptions(parent=parent)
    prefix = ctx.names.prefix
    workspace = Workspace(
        f"{prefix}-workspace",
        ctx,
        database_secret_arns=[d.master_secret_arn for d in handoff.databases],
        depends_on=depends_on,
        opts=opts,
    )
    in_namespace: list[pulumi.Resource] = [workspace, *depends_on]
    # What workloads on the pools wait for, and what a teardown deletes only after them: the
    # NodePools (so the nodes drain empty before Karpenter removes them) and the queue.
    capacity: list[pulumi.Resource] = []
    if addons.karpenter.enabled and ctx.env.spec.compute.pools:
        pools = ComputePools(f"{prefix}-pools", ctx, depends_on=[workspace], opts=opts)
        capacity += pools.resources
    queues = Queues(f"{prefix}-queues", ctx, depends_on=[workspace], opts=opts)
    capacity += queues.resources
    TrackingServer(f"{prefix}-tracking", ctx, handoff.tracking_database, depends_on=in_namespace, opts=opts)
    if addons.argo_workflows.enabled and ctx.env.spec.pipelines:
        Pipelines(
            f"{prefix}-pipelines",
            ctx,
            image_tag=image_tag,
            vector_database=handoff.vector_database,
            depends_on=[*in_namespace, *capacity],
            opts=opts,
        )
    if addons.kserve.enabled and ctx.env.spec.serving.endpoints:
        Serving(
            f"{prefix}-serving",
            ctx,
            image_tag=image_tag,
            key_arn=handoff.key_arn,
            depends_on=[*in_namespace, *capacity],
            opts=opts,
        )
    llm = ctx.env.spec.llm
    if llm.gateway is not None or llm.feedback.enabled:
        LlmWorkloads(f"{prefix}-llm", ctx, depends_on=in_namespace, opts=opts)
    if addons.monitoring.enabled:
        MonitoringRules(f"{prefix}-monitoring", ctx, depends_on=in_namespace, opts=opts)
