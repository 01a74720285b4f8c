"""Derived defaults: the documented defaults that depend on other fields or on the tier.

Each step is a small function from a typed model to a typed model; `resolve_*` applies them in
order. Static defaults live in `model.py` as field defaults.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import ComputePool, Endpoint, EnvironmentSpec, NetworkSettings, Pipeline, PlatformBundle, ProjectSpec, Tier

DEFAULT_SCHEDULES: dict[str, str | None] = {
    "feature-refresh": "0 2 * * *",
    "training": "0 3 * * 0",
    "batch-inference": "0 5 * * *",
    "monitoring": "0 * * * *",
    "vector-index-refresh": "0 4 * * *",
    "model-deployment": None,
    "fine-tuning": None,
}

# Typical run time by type (minutes), for cost estimates; `pipelines.<name>.expectedMinutes`.
DEFAULT_EXPECTED_MINUTES: dict[str, int] = {
    "feature-refresh": 30,
    "training": 120,
    "model-deployment": 15,
    "batch-inference": 30,
    "monitoring": 10,
    "fine-tuning": 240,
    "vector-index-refresh": 30,
}


def default_cidr(index: int) -> str:
    return f"10.{(10 * (index + 1)) % 256}.0.0/16"


def resolve_network(network: NetworkSettings, tier: Tier, index: int) -> NetworkSettings:
    prod = tier == "prod"
    return network.model_copy(
        update={
            "cidr": network.cidr or default_cidr(index),
            "availability_zones": network.availability_zones or (3 if prod else 2),
            "nat_gateways": network.nat_gateways or ("per-az" if prod else "single"),
            "flow_logs": prod if network.flow_logs is None else network.flow_logs,
        }
    )


def resolve_environment(env: EnvironmentSpec, index: int) -> EnvironmentSpec:
    return env.model_copy(update={"network": resolve_network(env.network, env.tier, index)})


ProjectStep = Callable[[ProjectSpec, str, Tier], ProjectSpec]


def _pipeline_defaults(spec: ProjectSpec, project: str, tier: Tier) -> ProjectSpec:
    first_registry = spec.registries[0] if spec.registries else None
    pipelines: dict[str, Pipeline] = {}
    for name, pipeline in spec.pipelines.items():
        update: dict[str, object] = {}
        if pipeline.schedule is None and DEFAULT_SCHEDULES[pipeline.type] is not None:
            schedule = spec.monitoring.schedule if pipeline.type == "monitoring" else DEFAULT_SCHEDULES[pipeline.type]
            update["schedule"] = schedule
        if pipeline.image is None and first_registry:
            update["image"] = first_registry
        if pipeline.expected_minutes is None:
            update["expected_minutes"] = DEFAULT_EXPECTED_MINUTES[pipeline.type]
        pipelines[name] = pipeline.model_copy(update=update) if update else pipeline
    if all(pipelines[name] is pipeline for name, pipeline in spec.pipelines.items()):
        return spec
    return spec.model_copy(update={"pipelines": pipelines})


def _pool_default(pool: ComputePool) -> ComputePool:
    update: dict[str, object] = {}
    if pool.disk_gib is None:
        update["disk_gib"] = 200 if pool.gpu else 100
    if pool.reservations is not None and pool.reservations.fallback is None:
        update["reservations"] = pool.reservations.model_copy(update={"fallback": [pool.capacity]})
    return pool.model_copy(update=update) if update else pool


def _pool_defaults(spec: ProjectSpec, project: str, tier: Tier) -> ProjectSpec:
    pools = [_pool_default(pool) for pool in spec.compute.pools]
    queueing = spec.compute.queueing
    if queueing.enabled is None:
        # Queues pay off where capacity is scarce and expensive: on by default with a GPU pool.
        queueing = queueing.model_copy(update={"enabled": any(pool.gpu is not None for pool in pools)})
    if (
        all(new is old for new, old in zip(pools, spec.compute.pools, strict=True))
        and queueing is spec.compute.queueing
    ):
        return spec
    return spec.model_copy(update={"compute": spec.compute.model_copy(update={"pools": pools, "queueing": queueing})})


LARGE_MODEL_RUNTIMES = ("vllm", "huggingface")
DEFAULT_MODEL_GIB = {"vllm": 16, "huggingface": 16}


def _startup_defaults(endpoint: Endpoint, gpu_pools: set[str]) -> Endpoint:
    startup = endpoint.startup
    update: dict[str, object] = {}
    if startup.model_size_gib is None:
        update["model_size_gib"] = DEFAULT_MODEL_GIB.get(endpoint.runtime, 1)
    if startup.pre_pull is None:
        update["pre_pull"] = endpoint.pool in gpu_pools
    if not update:
        return endpoint
    return endpoint.model_copy(update={"startup": startup.model_copy(update=update)})


def _endpoint_defaults(spec: ProjectSpec, project: str, tier: Tier) -> ProjectSpec:
    first_registry = spec.registries[0] if spec.registries else None
    gpu_pools = {pool.name for pool in spec.compute.pools if pool.gpu is not None}
    endpoints = []
    for original in spec.serving.endpoints:
        endpoint = _startup_defaults(original, gpu_pools)
        update: dict[str, object] = {}
        if endpoint.model is None:
            update["model"] = project
        if endpoint.image is None and endpoint.runtime == "custom" and first_registry:
            update["image"] = first_registry
        endpoints.append(endpoint.model_copy(update=update) if update else endpoint)
    if all(new is old for new, old in zip(endpoints, spec.serving.endpoints, strict=True)):
        return spec
    return spec.model_copy(update={"serving": spec.serving.model_copy(update={"endpoints": endpoints})})


def _vector_database_defaults(spec: ProjectSpec, project: str, tier: Tier) -> ProjectSpec:
    vdb = spec.llm.vector_database
    if vdb is None or vdb.instance_class is not None:
        return spec
    prod = tier == "prod"
    if vdb.engine == "pgvector":
        instance = "db.r6g.large" if prod else "db.t4g.medium"
    else:
        instance = "r6g.large.search" if prod else "t3.medium.search"
    llm = spec.llm.model_copy(update={"vector_database": vdb.model_copy(update={"instance_class": instance})})
    return spec.model_copy(update={"llm": llm})


PROJECT_STEPS: tuple[ProjectStep, ...] = (
    _pipeline_defaults,
    _pool_defaults,
    _endpoint_defaults,
    _vector_database_defaults,
)


def resolve_project_spec(spec: ProjectSpec, project: str, tier: Tier) -> ProjectSpec:
    for step in PROJECT_STEPS:
        spec = step(spec, project, tier)
    return spec


def resolve_platform_defaults(spec: ProjectSpec, platform: PlatformBundle) -> ProjectSpec:
    """Project defaults that follow the platform: `storage.prodReadAccessFromDev` unset means
    what the platform's tenancy allows. An explicit value is kept (a `true` the platform
    forbids is an error of `rules/tenancy.py`, so it never deploys)."""
    storage = spec.storage
    if storage.prod_read_access_from_dev is not None:
        return spec
    allowed = platform.spec.tenancy.prod_read_access_from_dev
    return spec.model_copy(update={"storage": storage.model_copy(update={"prod_read_access_from_dev": allowed})})
