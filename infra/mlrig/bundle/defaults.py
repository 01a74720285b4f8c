"""Derived defaults: the documented defaults that depend on other fields or on the tier.

Each step is a small function from a typed model to a typed model: `resolve_environment` applies
a platform environment's, `ProjectDefaults` a project's, one block of its spec per step. Static
defaults live in `model.py` as field defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from .. import promotion
from ..aws_catalog import availability_zones
from .model import (
    ComputePool,
    ComputeSettings,
    Endpoint,
    EnvironmentSpec,
    LlmSettings,
    NetworkSettings,
    Pipeline,
    PlatformBundle,
    ProjectSpec,
    ServingSettings,
    StorageSettings,
    Tier,
)

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


M = TypeVar("M", bound=BaseModel)

# The slots pydantic keeps a model's state in: its field values (`__dict__`), and the rest.
_DICT = BaseModel.__dict__["__dict__"].__set__
_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


def copied(model: M, update: Mapping[str, Any]) -> M:
    """`model.model_copy(update=update)`: the same field values, fields set and type, without
    pydantic's generic path (a copy module dispatch per slot). Validation derives some 30,000
    copies per thousand bundles, and this builds them in half the time. A model with extra
    fields or private attributes (no bundle model has either) takes pydantic's own path."""
    if model.__pydantic_extra__ is not None or model.__pydantic_private__ is not None:
        return model.model_copy(update=update)
    new = object.__new__(type(model))
    _DICT(new, {**model.__dict__, **update})
    _FIELDS_SET(new, model.__pydantic_fields_set__ | update.keys())
    _EXTRA(new, None)
    _PRIVATE(new, None)
    return new


def default_cidr(index: int) -> str:
    return f"10.{(10 * (index + 1)) % 256}.0.0/16"


def resolve_network(network: NetworkSettings, tier: Tier, index: int, region: str) -> NetworkSettings:
    prod = tier == "prod"
    # The default never asks for more zones than the region gives every account (us-west-1: two).
    zones = network.availability_zones or min(3 if prod else 2, availability_zones(region))
    return network.model_copy(
        update={
            "cidr": network.cidr or default_cidr(index),
            "availability_zones": zones,
            "nat_gateways": network.nat_gateways or ("per-az" if prod else "single"),
            "flow_logs": prod if network.flow_logs is None else network.flow_logs,
        }
    )


def resolve_environment(env: EnvironmentSpec, index: int) -> EnvironmentSpec:
    return copied(env, {"network": resolve_network(env.network, env.tier, index, env.region)})


# The project steps derive one top-level block of the spec each, from that block and the few other
# values they name. A project's environments mostly share blocks (an override replaces only the
# blocks it touches), so `ProjectDefaults` derives each block once per distinct input, for all of
# them.


def _pipelines_with_defaults(
    pipelines: dict[str, Pipeline], first_registry: str | None, monitoring_schedule: str
) -> dict[str, Pipeline]:
    resolved: dict[str, Pipeline] = {}
    for name, pipeline in pipelines.items():
        update: dict[str, object] = {}
        if pipeline.schedule is None and DEFAULT_SCHEDULES[pipeline.type] is not None:
            schedule = monitoring_schedule if pipeline.type == "monitoring" else DEFAULT_SCHEDULES[pipeline.type]
            update["schedule"] = schedule
        if pipeline.image is None and first_registry:
            update["image"] = first_registry
        if pipeline.expected_minutes is None:
            update["expected_minutes"] = DEFAULT_EXPECTED_MINUTES[pipeline.type]
        resolved[name] = copied(pipeline, update) if update else pipeline
    if all(resolved[name] is pipeline for name, pipeline in pipelines.items()):
        return pipelines
    return resolved


def _pipelines_of_pattern(pipelines: dict[str, Pipeline], pattern: str, tier: Tier) -> dict[str, Pipeline]:
    """Under `deploymentPattern: deploy-models` only the dev tier trains: staging and prod have no
    training or fine-tuning pipeline (their models are imported by the model-deployment pipeline,
    see `mlrig.promotion`)."""
    if promotion.trains(pattern, tier):
        return pipelines
    return {name: p for name, p in pipelines.items() if p.type not in promotion.TRAINING_TYPES}


def _pool_default(pool: ComputePool) -> ComputePool:
    update: dict[str, object] = {}
    if pool.disk_gib is None:
        update["disk_gib"] = 200 if pool.gpu else 100
    if pool.reservations is not None and pool.reservations.fallback is None:
        update["reservations"] = copied(pool.reservations, {"fallback": [pool.capacity]})
    return copied(pool, update) if update else pool


def _compute_with_defaults(compute: ComputeSettings) -> ComputeSettings:
    pools = [_pool_default(pool) for pool in compute.pools]
    queueing = compute.queueing
    if queueing.enabled is None:
        # Queues pay off where capacity is scarce and expensive: on by default with a GPU pool.
        queueing = copied(queueing, {"enabled": any(pool.gpu is not None for pool in pools)})
    if all(new is old for new, old in zip(pools, compute.pools, strict=True)) and queueing is compute.queueing:
        return compute
    return copied(compute, {"pools": pools, "queueing": queueing})


LARGE_MODEL_RUNTIMES = ("vllm", "huggingface")
DEFAULT_MODEL_GIB = {"vllm": 16, "huggingface": 16}


def _startup_defaults(endpoint: Endpoint, gpu_pools: frozenset[str]) -> dict[str, object]:
    """The update of `endpoint` that gives its startup block its defaults (empty: none needed)."""
    startup = endpoint.startup
    update: dict[str, object] = {}
    if startup.model_size_gib is None:
        update["model_size_gib"] = DEFAULT_MODEL_GIB.get(endpoint.runtime, 1)
    if startup.pre_pull is None:
        update["pre_pull"] = endpoint.pool in gpu_pools
    return {"startup": copied(startup, update)} if update else {}


def _serving_with_defaults(
    serving: ServingSettings, project: str, first_registry: str | None, gpu_pools: frozenset[str]
) -> ServingSettings:
    endpoints = []
    for endpoint in serving.endpoints:
        update = _startup_defaults(endpoint, gpu_pools)  # one copy of the endpoint for all its defaults
        if endpoint.model is None:
            update["model"] = project
        if endpoint.image is None and endpoint.runtime == "custom" and first_registry:
            update["image"] = first_registry
        endpoints.append(copied(endpoint, update) if update else endpoint)
    if all(new is old for new, old in zip(endpoints, serving.endpoints, strict=True)):
        return serving
    return copied(serving, {"endpoints": endpoints})


def _llm_with_defaults(llm: LlmSettings, prod: bool) -> LlmSettings:
    vdb = llm.vector_database
    if vdb is None or vdb.instance_class is not None:
        return llm
    if vdb.engine == "pgvector":
        instance = "db.r6g.large" if prod else "db.t4g.medium"
    else:
        instance = "r6g.large.search" if prod else "t3.medium.search"
    return copied(llm, {"vector_database": copied(vdb, {"instance_class": instance})})


def _storage_with_defaults(storage: StorageSettings, prod_read_allowed: bool) -> StorageSettings:
    """`storage.prodReadAccessFromDev` unset means what the platform's tenancy allows. An
    explicit value is kept (a `true` the platform forbids is an error of `rules/tenancy.py`, so
    it never deploys)."""
    if storage.prod_read_access_from_dev is not None:
        return storage
    return copied(storage, {"prod_read_access_from_dev": prod_read_allowed})


class ProjectDefaults:
    """The derived defaults of one project, in each of its environments: every block derived
    once per distinct input (the same block object and the same values it depends on), and an
    environment's spec copied once, with every derived block."""

    def __init__(self, project: str, platform: PlatformBundle | None, pattern: str | None = None):
        self.project = project
        self.platform = platform
        # The project's deployment pattern decides which pipelines every environment has: an
        # environment that overrides it is refused by its own rule, and must not also lose (or
        # keep) its training pipelines, or every rule about them would report a consequence.
        self.pattern = pattern
        # (step, id of the block, the other inputs) -> (the block, its derived block). The block
        # is kept so that its id is not reused while the memo lives.
        self._derived: dict[tuple[object, ...], tuple[object, object]] = {}

    def resolve(self, spec: ProjectSpec, tier: Tier) -> ProjectSpec:
        first_registry = spec.registries[0] if spec.registries else None
        compute = self._once(_compute_with_defaults, spec.compute)
        gpu_pools = frozenset(pool.name for pool in compute.pools if pool.gpu is not None)
        pattern = self.pattern or spec.deployment_pattern
        pipelines = self._once(_pipelines_of_pattern, spec.pipelines, pattern, tier)
        blocks: dict[str, object] = {
            "pipelines": self._once(_pipelines_with_defaults, pipelines, first_registry, spec.monitoring.schedule),
            "compute": compute,
            "serving": self._once(_serving_with_defaults, spec.serving, self.project, first_registry, gpu_pools),
            "llm": self._once(_llm_with_defaults, spec.llm, tier == "prod"),
        }
        if self.platform is not None:
            allowed = self.platform.spec.tenancy.prod_read_access_from_dev
            blocks["storage"] = self._once(_storage_with_defaults, spec.storage, allowed)
        update = {name: block for name, block in blocks.items() if block is not getattr(spec, name)}
        return copied(spec, update) if update else spec

    def _once(self, derive: Callable[..., Any], block: Any, *inputs: Any) -> Any:
        key = (derive, id(block), *inputs)
        found = self._derived.get(key)
        if found is not None and found[0] is block:
            return found[1]
        derived = derive(block, *inputs)
        self._derived[key] = (block, derived)
        return derived
