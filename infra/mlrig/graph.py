"""`mlrig graph`: the architecture of stacks, drawn from their offline plans (Mermaid or DOT).

Nothing is hard-coded per box: the boxes are the top-level ComponentResources of each stack
(`mlrig:platform:*`, `mlrig:project:*`), and the leaves are the things a reader looks for, found by
resource type and the labels mlrig puts on them:

| leaf | from |
|---|---|
| pipeline | `argoproj.io WorkflowTemplate` (`mlrig.io/pipeline`), scheduled when a CronWorkflow names it |
| endpoint | `serving.kserve.io InferenceService` (`mlrig.io/endpoint`) |
| pool | `karpenter.sh NodePool` (`mlrig.io/pool`, or the platform's own pools) |
| store | S3 buckets (`mlrig:data-class` tag), RDS instances, OpenSearch domains, Firehose streams |
| registry | ECR repositories |
| CI | GitHub repository environments a stack provisions, and the GitHub OIDC provider |

Edges: the platform's cluster hosts each project (its namespace); a pipeline or endpoint runs
on its pool; a project's CI deploys it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Resource = Mapping[str, Any]


@dataclass
class Box:
    id: str
    label: str
    leaves: list[tuple[str, str]] = field(default_factory=list)  # (id, label)


@dataclass
class StackGraph:
    id: str
    label: str
    kind: str
    boxes: list[Box] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, label)


def node_id(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") for p in parts if p)


def _short(token: str) -> str:
    return token.rsplit(":", 1)[-1]


def _labels(resource: Resource) -> Mapping[str, str]:
    return ((resource.get("inputs") or {}).get("metadata") or {}).get("labels") or {}


def _top_components(resources: Sequence[Resource]) -> dict[str, Resource]:
    """URN → the boxes of the architecture: top-level components (one level under a single
    wrapping component, as a project stack has)."""
    components = [r for r in resources if not r.get("custom")]
    by_urn = {r["urn"]: r for r in resources}
    roots = [r for r in components if by_urn.get(r.get("parent") or "") is None]
    if len(roots) == 1:
        return {r["urn"]: r for r in components if r.get("parent") == roots[0]["urn"]}
    return {r["urn"]: r for r in roots}


def _box_of(resource: Resource, boxes: Mapping[str, Resource], by_urn: Mapping[str, Resource]) -> str | None:
    current: Resource | None = resource
    while current is not None:
        if current["urn"] in boxes:
            return str(current["urn"])
        current = by_urn.get(current.get("parent") or "")
    return None


def _leaf(resource: Resource) -> tuple[str, str] | None:
    """(kind, label) of a resource worth drawing, or None."""
    token, inputs = resource["type"], resource.get("inputs") or {}
    labels = _labels(resource)
    if token == "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate":
        return "pipeline", f"pipeline {labels.get('mlrig.io/pipeline') or inputs['metadata']['name']}"
    if token == "kubernetes:serving.kserve.io/v1beta1:InferenceService":
        return "endpoint", f"endpoint {labels.get('mlrig.io/endpoint') or inputs['metadata']['name']}"
    if token == "kubernetes:karpenter.sh/v1:NodePool":
        template = ((inputs.get("spec") or {}).get("template") or {}).get("metadata") or {}
        pool = (template.get("labels") or {}).get("mlrig.io/pool") or inputs["metadata"]["name"]
        return "pool", f"pool {pool}"
    if token == "aws:s3/bucket:Bucket":
        data_class = (inputs.get("tags") or {}).get("mlrig:data-class", "bucket")
        return "store", f"S3 {data_class}"
    if token == "aws:rds/instance:Instance":
        return "store", f"RDS {inputs.get('dbName') or resource['name']}"
    if token == "aws:opensearch/domain:Domain":
        return "store", "OpenSearch"
    if token == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
        return "store", "Firehose stream"
    if token == "aws:ecr/repository:Repository":
        return "registry", f"ECR {str(inputs.get('name', resource['name'])).rsplit('/', 1)[-1]}"
    if token == "github:index/repositoryEnvironment:RepositoryEnvironment":
        return "ci", f"GitHub environment {inputs.get('environment')}"
    if token == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        return "ci", "GitHub OIDC provider"
    if token == "aws:eks/cluster:Cluster":
        return "cluster", f"EKS {inputs.get('name', resource['name'])}"
    if token == "kubernetes:helm.sh/v3:Release":
        return "addon", f"chart {inputs.get('name') or inputs.get('chart')}"
    return None


def stack_graph(stack: str, kind: str, resources: Sequence[Resource]) -> StackGraph:
    graph = StackGraph(node_id(stack), f"{kind} {stack}", kind)
    by_urn = {r["urn"]: r for r in resources}
    tops = _top_components(resources)
    boxes: dict[str, Box] = {}
    for urn, component in sorted(tops.items(), key=lambda item: _short(item[1]["type"])):
        boxes[urn] = Box(node_id(stack, _short(component["type"]), component["name"]), _short(component["type"]))
    seen: set[str] = set()
    pools: dict[str, str] = {}
    for resource in resources:
        leaf = _leaf(resource) if resource.get("custom") else None
        box = _box_of(resource, tops, by_urn)
        if leaf is None or box is None:
            continue
        kind_of, label = leaf
        leaf_id = node_id(stack, kind_of, label)
        if leaf_id in seen:
            continue
        seen.add(leaf_id)
        boxes[box].leaves.append((leaf_id, label))
        if kind_of == "pool":
            pools[label.removeprefix("pool ")] = leaf_id
    graph.boxes = list(boxes.values())
    for resource in resources:
        pool = _runs_on(resource)
        leaf = _leaf(resource) if resource.get("custom") else None
        if pool and leaf and pool in pools:
            edge = (node_id(stack, leaf[0], leaf[1]), pools[pool], "runs on")
            if edge not in graph.edges:
                graph.edges.append(edge)
    return graph


def _runs_on(resource: Resource) -> str | None:
    """The pool a workflow's steps or an endpoint's predictor select."""
    spec = (resource.get("inputs") or {}).get("spec") or {}
    selectors = [t.get("nodeSelector") or {} for t in spec.get("templates") or []]
    selectors.append((spec.get("predictor") or {}).get("nodeSelector") or {})
    for selector in selectors:
        if selector.get("mlrig.io/pool"):
            return str(selector["mlrig.io/pool"])
    return None


def organisation_edges(graphs: Sequence[StackGraph]) -> list[tuple[str, str, str]]:
    """The platform's cluster hosts every project; each project's CI deploys it."""
    edges = []
    platforms = [g for g in graphs if g.kind == "Platform"]
    cluster = next(
        (box.id for g in platforms for box in g.boxes if box.label == "Cluster"),
        platforms[0].id if platforms else None,
    )
    for graph in graphs:
        if graph.kind != "Project":
            continue
        workspace = next((b.id for b in graph.boxes if b.label == "Workspace"), graph.id)
        if cluster:
            edges.append((cluster, workspace, "hosts namespace"))
        repository = next((b.id for b in graph.boxes if b.label == "ProjectRepository"), None)
        if repository:
            edges.append((repository, graph.id, "deploys"))
    return edges


# --- rendering -----------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return text.replace('"', "'")


def render_mermaid(graphs: Sequence[StackGraph], title: str) -> str:
    lines = ["flowchart LR", f"  %% {title}"]
    for graph in graphs:
        lines.append(f'  subgraph {graph.id}["{_quote(graph.label)}"]')
        lines.append("    direction TB")
        for box in graph.boxes:
            if box.leaves:
                lines.append(f'    subgraph {box.id}["{_quote(box.label)}"]')
                lines += [f'      {leaf_id}["{_quote(label)}"]' for leaf_id, label in box.leaves]
                lines.append("    end")
            else:
                lines.append(f'    {box.id}["{_quote(box.label)}"]')
        lines.append("  end")
    for graph in graphs:
        lines += [f"  {a} -->|{_quote(label)}| {b}" for a, b, label in graph.edges]
    lines += [f"  {a} -->|{_quote(label)}| {b}" for a, b, label in organisation_edges(graphs)]
    return "\n".join(lines) + "\n"


def render_dot(graphs: Sequence[StackGraph], title: str) -> str:
    lines = ["digraph mlrig {", "  rankdir=LR;", f'  label="{_quote(title)}";', "  node [shape=box];"]
    for graph in graphs:
        lines.append(f'  subgraph cluster_{graph.id} {{ label="{_quote(graph.label)}";')
        for box in graph.boxes:
            lines.append(f'    subgraph cluster_{box.id} {{ label="{_quote(box.label)}";')
            lines += [f'      {leaf_id} [label="{_quote(label)}"];' for leaf_id, label in box.leaves]
            if not box.leaves:
                lines.append(f'      {box.id} [label="{_quote(box.label)}"];')
            lines.append("    }")
        lines.append("  }")
    edges = [e for g in graphs for e in g.edges] + organisation_edges(graphs)
    # DOT edges between clusters need a node: use the cluster's first node
    first = {b.id: (b.leaves[0][0] if b.leaves else b.id) for g in graphs for b in g.boxes}
    first.update({g.id: first.get(g.boxes[0].id, g.id) if g.boxes else g.id for g in graphs})
    lines += [f'  {first.get(a, a)} -> {first.get(b, b)} [label="{_quote(label)}"];' for a, b, label in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- the command ---------------------------------------------------------------------------------


def default_environment(targets: Sequence[Any]) -> str:
    """The first prod-tier environment of the first bundle, else its first environment."""
    environments = targets[0].environments
    return next((name for name, env in environments.items() if env.tier == "prod"), next(iter(environments)))


def graph_text(bundles: Sequence[str], environment: str | None, fmt: str, stderr: Any, planner: Any = None) -> str:
    """Raises plan.command.CommandError for bad input (diagnostics already printed)."""
    from .plan.command import plan_all, requested_targets, select_environments
    from .plan.runner import Planner

    targets = requested_targets(list(bundles), stderr)
    env = environment or default_environment(targets)
    selection = select_environments(targets, [env])
    plans = plan_all(selection, stderr, planner or Planner())
    graphs = [
        stack_graph(plan.target.environments[env].stack, plan.target.bundle.kind, plan.environments[env].resources)
        for plan in plans
    ]
    title = f"mlrig architecture, environment {env}"
    return render_dot(graphs, title) if fmt == "dot" else render_mermaid(graphs, title)


ARCHITECTURE_DOC = """# Architecture of the example organisation

The example bundles shipped with mlrig (`infra/mlrig/examples/`: the `acme-ml` platform and
the `fraud-detection` and `rag-assistant` projects), in their prod environment, as
`mlrig graph` draws them from the offline plan:

```sh
mlrig graph infra/mlrig/examples --env prod      # your own organisation: mlrig graph
```

Boxes are the components of each stack (the boxes of the architecture in the code); inside them,
what a reader looks for: pipelines, endpoints, pools, stores, registries and CI. Arrows: the
platform's cluster hosts each project's namespace, pipelines and endpoints run on their pools,
and each project's repository deploys it. `tests/day2/test_graph.py` checks that this diagram is
what the command prints.

```mermaid
{diagram}```
"""


def architecture_doc(planner: Any = None) -> str:
    """`docs/architecture.md`: the example organisation's prod environment as Mermaid."""
    import io

    from rich.console import Console

    from . import examples

    diagram = graph_text([str(examples.DIRECTORY)], "prod", "mermaid", Console(file=io.StringIO()), planner)
    return ARCHITECTURE_DOC.format(diagram=diagram)
