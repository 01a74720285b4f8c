"""A monthly estimate of one stack, from its offline plan.

Everything is read from the planned resources (what the program would create, with the sizes it
chose), never re-derived from the bundle; only a pipeline's expected run time comes from the
bundle (`pipelines.<name>.expectedMinutes`), because nothing in the cluster records it.

Fixed parts (always on, 730 hours a month):
- EKS clusters, NAT gateways, public IPv4 addresses, interface VPC endpoints (per subnet/AZ);
- managed node groups at their minimum size (the system nodes), with their root volumes;
- RDS instances (twice for Multi-AZ) and their allocated storage; OpenSearch domains;
- KMS keys and Secrets Manager secrets (per unit and month);
- warm-node placeholders (a pool's `min`): one node each, on the pool's cheapest priced type;
- always-on pods (Deployments, and InferenceServices at their minimum replicas): the share of
  a node of their pool's cheapest priced type that their requests take (CPU, memory or GPUs,
  whichever is largest); without a pool, the platform's general pool, priced as the cheapest
  priced c/m/r type of the pod's architecture that holds it.

Scheduled parts: each CronWorkflow that is not suspended (dev schedules are) runs
`runs_per_month(schedule)` times for `expectedMinutes`; a run costs its heaviest step: the step's
parallel pods (`withSequence`) × the node share of each on the pool's cheapest priced type.

Spot: a pool that allows only spot (or spot first, as Karpenter prefers it) is priced at the
on-demand price × (1 − spot discount), the discount stated in the output. Usage-priced services
(Firehose per GB, data transfer, S3 storage, NAT data processing) are listed with their unit
price, not estimated. A price the snapshot does not have is reported in `unpriced`, never zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..bundle.resolved import Platform, Project
from ..instance_facts import InstanceFacts, facts_of
from .cron import runs_per_month
from .prices import DEFAULT_SPOT_DISCOUNT, HOURS_PER_MONTH, PriceBook, price_book

POOL_LABEL = "mlrig.io/pool"
GENERAL_CATEGORIES = ("c", "m", "r")

# The bundle's `pipelines.<name>.expectedMinutes` default by type lives in bundle/defaults.py.


@dataclass(frozen=True)
class CostLine:
    part: str  # fixed | scheduled | usage
    what: str  # e.g. "EKS control plane"
    resource: str  # the resource's logical name
    monthly: float | None  # None: not priced (see note) or usage-based
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "what": self.what,
            "resource": self.resource,
            "monthly": self.monthly,
            "note": self.note,
        }


@dataclass
class StackCost:
    stack: str
    kind: str
    bundle: str
    environment: str
    region: str
    lines: list[CostLine] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(line.monthly or 0.0 for line in self.lines), 2)

    def part(self, name: str) -> float:
        return round(sum(line.monthly or 0.0 for line in self.lines if line.part == name), 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "kind": self.kind,
            "bundle": self.bundle,
            "environment": self.environment,
            "region": self.region,
            "monthly": {"fixed": self.part("fixed"), "scheduled": self.part("scheduled"), "total": self.total},
            "lines": [line.as_dict() for line in self.lines],
            "unpriced": sorted(set(self.unpriced)),
            "assumptions": list(self.assumptions),
        }


# --- quantities ----------------------------------------------------------------------------------

_MEMORY_UNITS = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024 * 1024,
    "K": 1000 / 1024 / 1024,
    "M": 1000**2 / 1024**2,
    "G": 1000**3 / 1024**2,
    "T": 1000**4 / 1024**2,
}


def cpu_cores(quantity: Any) -> float:
    text = str(quantity or "0")
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_mib(quantity: Any) -> float:
    match = re.fullmatch(r"([0-9.]+)([KMGT]i?)?", str(quantity or "0"))
    if not match:
        return 0.0
    return float(match.group(1)) * (_MEMORY_UNITS[match.group(2)] if match.group(2) else 1 / 1024 / 1024)


@dataclass(frozen=True)
class PodShape:
    cpu: float
    memory: float
    gpu: int
    pool: str | None
    architecture: str = "amd64"


def pod_shape(pod_spec: Mapping[str, Any], container: Mapping[str, Any] | None = None) -> PodShape:
    containers = [container] if container is not None else list(pod_spec.get("containers") or [])
    cpu = memory = 0.0
    gpu = 0
    for c in containers:
        requests = (c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") or {}
        limits = (c.get("resources") or {}).get("limits") or {}
        cpu += cpu_cores(requests.get("cpu"))
        memory += memory_mib(requests.get("memory"))
        gpu += int(limits.get("nvidia.com/gpu") or requests.get("nvidia.com/gpu") or 0)
    selector = pod_spec.get("nodeSelector") or {}
    return PodShape(cpu, memory, gpu, selector.get(POOL_LABEL), selector.get("kubernetes.io/arch", "amd64"))


# --- pools and node prices -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    name: str
    instance_types: tuple[str, ...]
    capacity: tuple[str, ...]


def pools_of(resources: list[Mapping[str, Any]]) -> dict[str, Pool]:
    pools = {}
    for r in resources:
        if r["type"] != "kubernetes:karpenter.sh/v1:NodePool":
            continue
        template = (r["inputs"].get("spec") or {}).get("template") or {}
        name = ((template.get("metadata") or {}).get("labels") or {}).get(POOL_LABEL)
        requirements = {q["key"]: q.get("values", []) for q in (template.get("spec") or {}).get("requirements", [])}
        if name:
            pools[name] = Pool(
                name,
                tuple(requirements.get("node.kubernetes.io/instance-type", ())),
                tuple(requirements.get("karpenter.sh/capacity-type", ("on-demand",))),
            )
    return pools


class Pricer:
    def __init__(self, book: PriceBook, region: str, spot_discount: float, cost: StackCost):
        self.book, self.region, self.spot_discount, self.cost = book, region, spot_discount, cost

    def hourly(self, table: str, key: str) -> float | None:
        price = self.book.hourly(self.region, table, key)
        if price is None:
            self.cost.unpriced.append(f"{table} {key} in {self.region}")
        return price

    def unit(self, key: str) -> float | None:
        price = self.book.unit(self.region, key)
        if price is None:
            self.cost.unpriced.append(f"{key} in {self.region}")
        return price

    def spot_factor(self, capacity: tuple[str, ...]) -> float:
        return 1 - self.spot_discount if "spot" in capacity else 1.0

    def cheapest(self, types: tuple[str, ...], pod: PodShape | None = None) -> tuple[str, float] | None:
        """The cheapest priced type (that holds `pod`); unpriced types are reported."""
        priced = []
        for name in types:
            price = self.book.hourly(self.region, "ec2", name)
            if price is None:
                continue
            if pod is not None and not _holds(name, pod):
                continue
            priced.append((price, name))
        if not priced:
            self.cost.unpriced.extend(f"ec2 {name} in {self.region}" for name in types)
            return None
        price, name = min(priced)
        return name, price

    def general(self, pod: PodShape) -> tuple[str, float] | None:
        prices = (self.book.region(self.region) or {}).get("ec2", {})
        facts = {name: _facts(name) for name in prices if _category(name) in GENERAL_CATEGORIES}
        candidates = tuple(
            name for name, f in facts.items() if f is not None and f.architecture == pod.architecture and f.gpus == 0
        )
        return self.cheapest(candidates, pod) if candidates else None


def _category(name: str) -> str:
    """`m6i.large` → `m`: the instance family's letters before its generation."""
    match = re.match(r"([a-z]+)[0-9]", name)
    return match.group(1) if match else ""


def _facts(name: str) -> InstanceFacts | None:
    return facts_of(name)


def _holds(name: str, pod: PodShape) -> bool:
    facts = _facts(name)
    if facts is None:
        return True
    return facts.vcpus >= pod.cpu and facts.memory_mib >= pod.memory and facts.gpus >= pod.gpu


def node_share(name: str, pod: PodShape) -> float:
    """The part of a node of type `name` that one pod takes (1 when unknown)."""
    facts = _facts(name)
    if facts is None:
        return 1.0
    shares = [pod.cpu / facts.vcpus if facts.vcpus else 1.0, pod.memory / facts.memory_mib if facts.memory_mib else 1.0]
    if facts.gpus:
        shares.append(pod.gpu / facts.gpus)
    return min(1.0, max(shares))


def pod_hourly(pricer: Pricer, pools: dict[str, Pool], pod: PodShape) -> tuple[float | None, str]:
    """The hourly cost of one pod, and on what it was priced."""
    pool = pools.get(pod.pool or "")
    if pool is not None:
        found = pricer.cheapest(pool.instance_types, pod)
        factor = pricer.spot_factor(pool.capacity)
        where = f"pool {pool.name}"
    else:
        found = pricer.general(pod)
        factor = 1.0
        where = "the general pool"
    if found is None:
        return None, where
    name, price = found
    spot = " spot" if factor < 1 else ""
    return price * factor * node_share(name, pod), f"{node_share(name, pod):.0%} of a{spot} {name} in {where}"


# --- resources -----------------------------------------------------------------------------------


def _monthly(hourly: float | None, count: float = 1) -> float | None:
    return None if hourly is None else round(hourly * HOURS_PER_MONTH * count, 2)


# AWS types `fixed_lines` prices.
PRICED_TYPES = frozenset(
    {
        "aws:eks/cluster:Cluster",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:rds/instance:Instance",
        "aws:opensearch/domain:Domain",
        "aws:kms/key:Key",
        "aws:secretsmanager/secret:Secret",
        "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
    }
)
# AWS types that cost nothing by themselves, or only by usage this estimate leaves out (storage,
# requests, data, log ingestion, alarms): a type in neither set is reported as not priced, so a
# resource a newer mlrig creates never silently counts as free.
UNPRICED_BY_DESIGN = (
    "aws:iam/",
    "aws:s3/",
    "aws:ecr/",
    "aws:sqs/",
    "aws:sns/",
    "aws:cloudwatch/",
    "aws:glue/catalogDatabase:",
    "aws:kms/alias:",
    "aws:rds/subnetGroup:",
    "aws:ec2/vpc:",
    "aws:ec2/subnet:",
    "aws:ec2/routeTable:",
    "aws:ec2/routeTableAssociation:",
    "aws:ec2/route:",
    "aws:ec2/internetGateway:",
    "aws:ec2/securityGroup:",
    "aws:ec2/defaultSecurityGroup:",
    "aws:ec2/flowLog:",
    "aws:ec2/tag:",
    "aws:vpc/securityGroupIngressRule:",
    "aws:vpc/securityGroupEgressRule:",
    "aws:eks/accessEntry:",
    "aws:eks/accessPolicyAssociation:",
    "aws:eks/addon:",
    "aws:eks/podIdentityAssociation:",
    "aws:secretsmanager/secretVersion:",
    "aws:ssm/parameter:",  # Standard-tier parameters (the promoted model records) are free
)


def unpriced_type(token: str) -> bool:
    """An AWS resource type this estimate has no rule for."""
    return token.startswith("aws:") and token not in PRICED_TYPES and not token.startswith(UNPRICED_BY_DESIGN)


def fixed_lines(resource: Mapping[str, Any], pricer: Pricer, pools: dict[str, Pool]) -> Iterator[CostLine]:
    kind, name, inputs = resource["type"], resource["name"], resource.get("inputs") or {}
    if kind == "aws:eks/cluster:Cluster":
        yield CostLine("fixed", "EKS control plane", name, _monthly(pricer.unit("eksClusterHour")))
    elif kind == "aws:ec2/natGateway:NatGateway":
        yield CostLine(
            "fixed", "NAT gateway", name, _monthly(pricer.unit("natGatewayHour")), "plus data processed per GB"
        )
    elif kind == "aws:ec2/eip:Eip":
        yield CostLine("fixed", "public IPv4 address", name, _monthly(pricer.unit("publicIpv4Hour")))
    elif kind == "aws:ec2/vpcEndpoint:VpcEndpoint" and inputs.get("vpcEndpointType") == "Interface":
        zones = len(inputs.get("subnetIds") or []) or 1
        yield CostLine(
            "fixed", "interface VPC endpoint", name, _monthly(pricer.unit("vpcEndpointHour"), zones), f"{zones} AZ(s)"
        )
    elif kind == "aws:eks/nodeGroup:NodeGroup":
        yield from _node_group(name, inputs, pricer)
    elif kind == "aws:rds/instance:Instance":
        yield from _database(name, inputs, pricer)
    elif kind == "aws:opensearch/domain:Domain":
        yield from _search_domain(name, inputs, pricer)
    elif kind == "aws:kms/key:Key":
        price = pricer.unit("kmsKeyMonth")
        yield CostLine("fixed", "KMS key", name, None if price is None else round(price, 2), "plus requests")
    elif kind == "aws:secretsmanager/secret:Secret":
        price = pricer.unit("secretMonth")
        yield CostLine("fixed", "Secrets Manager secret", name, None if price is None else round(price, 2))
    elif kind == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
        price = pricer.unit("firehoseGb")
        yield CostLine(
            "usage", "Firehose stream", name, None, f"${price}/GB ingested; volume not estimated" if price else ""
        )
    elif kind == "kubernetes:apps/v1:Deployment":
        yield from _deployment(name, inputs, pricer, pools)
    elif kind == "kubernetes:serving.kserve.io/v1beta1:InferenceService":
        yield from _inference_service(name, inputs, pricer, pools)


def _node_group(name: str, inputs: Mapping[str, Any], pricer: Pricer) -> Iterator[CostLine]:
    nodes = int((inputs.get("scalingConfig") or {}).get("minSize") or 0)
    found = pricer.cheapest(tuple(inputs.get("instanceTypes") or ()))
    factor = 1 - pricer.spot_discount if inputs.get("capacityType") == "SPOT" else 1.0
    if found is None:
        yield CostLine("fixed", "node group at its minimum", name, None, f"{nodes} node(s), type not priced")
        return
    kind, price = found
    yield CostLine("fixed", "node group at its minimum", name, _monthly(price * factor, nodes), f"{nodes} × {kind}")
    disk = pricer.hourly("ebsGbMonth", "gp3")
    size = int(inputs.get("diskSize") or 20)
    yield CostLine(
        "fixed",
        "node root volumes",
        name,
        None if disk is None else round(disk * size * nodes, 2),
        f"{nodes} × {size} GiB gp3",
    )


def _database(name: str, inputs: Mapping[str, Any], pricer: Pricer) -> Iterator[CostLine]:
    copies = 2 if inputs.get("multiAz") else 1
    klass = str(inputs.get("instanceClass"))
    yield CostLine(
        "fixed",
        "RDS instance",
        name,
        _monthly(pricer.hourly("rds", klass), copies),
        f"{klass}{' Multi-AZ' if copies == 2 else ''}",
    )
    storage = pricer.hourly("rdsStorageGbMonth", str(inputs.get("storageType") or "gp2"))
    size = int(inputs.get("allocatedStorage") or 0)
    yield CostLine(
        "fixed", "RDS storage", name, None if storage is None else round(storage * size * copies, 2), f"{size} GiB"
    )


def _search_domain(name: str, inputs: Mapping[str, Any], pricer: Pricer) -> Iterator[CostLine]:
    config = inputs.get("clusterConfig") or {}
    count = int(config.get("instanceCount") or 1)
    kind = str(config.get("instanceType"))
    yield CostLine(
        "fixed", "OpenSearch nodes", name, _monthly(pricer.hourly("opensearch", kind), count), f"{count} × {kind}"
    )
    ebs = inputs.get("ebsOptions") or {}
    size = int(ebs.get("volumeSize") or 0)
    storage = pricer.hourly("opensearchStorageGbMonth", "gp3")
    yield CostLine(
        "fixed",
        "OpenSearch storage",
        name,
        None if storage is None else round(storage * size * count, 2),
        f"{count} × {size} GiB",
    )


def _deployment(name: str, inputs: Mapping[str, Any], pricer: Pricer, pools: dict[str, Pool]) -> Iterator[CostLine]:
    spec = inputs.get("spec") or {}
    template = spec.get("template") or {}
    declared = spec.get("replicas")
    replicas = int(declared) if declared is not None else 1
    labels = (template.get("metadata") or {}).get("labels") or {}
    pod = pod_shape(template.get("spec") or {})
    if labels.get("app.kubernetes.io/name") == "warm-node-placeholder":
        pool = pools.get(pod.pool or "")
        found = pricer.cheapest(pool.instance_types) if pool else None
        if pool is None or found is None:
            yield CostLine("fixed", "warm nodes (pool minimum)", name, None, f"{replicas} node(s), not priced")
            return
        factor = pricer.spot_factor(pool.capacity)
        yield CostLine(
            "fixed",
            "warm nodes (pool minimum)",
            name,
            _monthly(found[1] * factor, replicas),
            f"{replicas} × {found[0]}",
        )
        return
    hourly, where = pod_hourly(pricer, pools, pod)
    yield CostLine("fixed", "always-on pods", name, _monthly(hourly, replicas), f"{replicas} × {where}")


def _inference_service(
    name: str, inputs: Mapping[str, Any], pricer: Pricer, pools: dict[str, Pool]
) -> Iterator[CostLine]:
    predictor = (inputs.get("spec") or {}).get("predictor") or {}
    declared = predictor.get("minReplicas")
    replicas = int(declared) if declared is not None else 1
    model = predictor.get("model")
    pod = pod_shape({**predictor, "containers": predictor.get("containers") or ([model] if model else [])})
    hourly, where = pod_hourly(pricer, pools, pod)
    yield CostLine("fixed", "endpoint minimum replicas", name, _monthly(hourly, replicas), f"{replicas} × {where}")


# --- pipelines -----------------------------------------------------------------------------------


def _templates(resources: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {
        str((r["inputs"].get("metadata") or {}).get("name")): r["inputs"].get("spec") or {}
        for r in resources
        if r["type"] == "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
    }


def _parallel_pods(spec: Mapping[str, Any]) -> dict[str, int]:
    """Template name → how many of its pods a step runs at once (`withSequence`)."""
    counts: dict[str, int] = {}
    for template in spec.get("templates") or []:
        for group in template.get("steps") or []:
            for step in group:
                count = int((step.get("withSequence") or {}).get("count") or 1)
                counts[step["template"]] = max(counts.get(step["template"], 1), count)
        for task in (template.get("dag") or {}).get("tasks") or []:
            count = int((task.get("withSequence") or {}).get("count") or 1)
            counts[task["template"]] = max(counts.get(task["template"], 1), count)
    return counts


def run_hourly(spec: Mapping[str, Any], pricer: Pricer, pools: dict[str, Pool]) -> tuple[float | None, str]:
    """The cost of one hour of a run: its heaviest step."""
    parallel = _parallel_pods(spec)
    best: tuple[float, str] | None = None
    unpriced = False
    for template in spec.get("templates") or []:
        container = template.get("container")
        if container is None or template.get("daemon"):
            continue
        pod = pod_shape({"nodeSelector": template.get("nodeSelector") or spec.get("nodeSelector") or {}}, container)
        hourly, where = pod_hourly(pricer, pools, pod)
        if hourly is None:
            unpriced = True
            continue
        pods = parallel.get(template["name"], 1)
        if best is None or hourly * pods > best[0]:
            best = (hourly * pods, f"{pods} × {where}" if pods > 1 else where)
    if best is None:
        return (None, "not priced") if unpriced else (0.0, "no step")
    return best


def scheduled_lines(
    resources: list[Mapping[str, Any]], target: Project, environment: str, pricer: Pricer, pools: dict[str, Pool]
) -> Iterator[CostLine]:
    templates = _templates(resources)
    pipelines = target.environments[environment].spec.pipelines
    for r in resources:
        if r["type"] != "kubernetes:argoproj.io/v1alpha1:CronWorkflow":
            continue
        spec = r["inputs"].get("spec") or {}
        name = ((r["inputs"].get("metadata") or {}).get("labels") or {}).get("mlrig.io/pipeline", r["name"])
        if spec.get("suspend"):
            yield CostLine("scheduled", f"pipeline {name}", r["name"], 0.0, "schedule suspended in this environment")
            continue
        runs = runs_per_month(spec.get("schedule", "0 0 1 1 *"))
        reference = ((spec.get("workflowSpec") or {}).get("workflowTemplateRef") or {}).get("name")
        pipeline = pipelines.get(name)
        minutes = pipeline.expected_minutes if pipeline is not None and pipeline.expected_minutes else None
        if minutes is None:
            yield CostLine("scheduled", f"pipeline {name}", r["name"], None, "no expected run time")
            continue
        hourly, where = run_hourly(templates.get(str(reference), {}), pricer, pools)
        monthly = None if hourly is None else round(hourly * runs * minutes / 60, 2)
        yield CostLine(
            "scheduled",
            f"pipeline {name}",
            r["name"],
            monthly,
            f"{runs:g} runs × {minutes} min on {where} ({spec.get('schedule')})",
        )


# --- the stack -----------------------------------------------------------------------------------


def region_of(target: Platform | Project, environment: str) -> str:
    if isinstance(target, Platform):
        return target.environments[environment].region
    return target.environments[environment].platform_environment.region


def stack_cost(
    target: Platform | Project,
    environment: str,
    plan: Any,
    *,
    book: PriceBook | None = None,
    spot_discount: float = DEFAULT_SPOT_DISCOUNT,
) -> StackCost:
    """The estimate of `plan` (a StackPlan, or its JSON) for `target`'s `environment`."""
    resources = plan.resources if hasattr(plan, "resources") else plan["resources"]
    book = book or price_book()
    region = region_of(target, environment)
    cost = StackCost(target.environments[environment].stack, target.bundle.kind, target.name, environment, region)
    if book.region(region) is None:
        cost.unpriced.append(f"every price in {region} (the snapshot has {', '.join(book.regions())})")
    pricer = Pricer(book, region, spot_discount, cost)
    pools = pools_of(resources)
    for resource in resources:
        if resource.get("custom"):
            cost.lines.extend(fixed_lines(resource, pricer, pools))
            if unpriced_type(resource["type"]):
                cost.unpriced.append(f"resource type {resource['type']} (no price rule)")
    if isinstance(target, Project):
        cost.lines.extend(scheduled_lines(resources, target, environment, pricer, pools))
    cost.assumptions = [
        f"prices: {book.currency} list prices of the {book.snapshot} snapshot, {HOURS_PER_MONTH} hours a month",
        f"spot capacity at {spot_discount:.0%} below on-demand",
        "not estimated: data transfer, NAT data processing, S3 and ECR storage and requests, logs, alarms, "
        "queues and topics, Firehose volume",
    ]
    return cost
