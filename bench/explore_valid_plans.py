"""Does every valid bundle plan cleanly? Random bundle sets nobody has seen, validated, then planned.

Generates `--count` random variants with `--seed` (the same seed always gives the same files):
each is one platform and 2-4 projects, made from the example bundles shipped in the package
(`mlrig.examples`, never a repository's live `bundles/`) and varied across what the schema
allows: isolation, environments (names, tiers, regions, accounts, networks), cluster versions,
the system node group and add-ons, tenancy bounds and admissions; per project its names,
principals, storage, registries, pools (instance types, sizes, capacity, GPU time-slicing or MIG,
EFA, reservations and their fallbacks, placement groups, queue shares), queueing, pipelines left
out or added (every type, schedules, workers, modes), deploy-code or deploy-models, model
deployment gates, endpoints (every runtime, canary / A-B / shadow / direct rollouts, scale to
zero, start-up), monitoring and alert routes, LLMOps parts (model hub, pgvector or OpenSearch,
gateway, feedback), CI and tags, and per-environment overrides that change pools and endpoints,
add an endpoint or remove them all.

Each variant is written into a directory of its own and checked with `mlrig validate DIR` (a
subprocess, as a user runs it). An invalid variant is counted with its first error (the rule and
message, so the generator can be tuned: most variants should validate); a valid one is planned
with `mlrig plan DIR --out plan.json` and classified:

- clean: exit 0;
- traceback: "Traceback" anywhere in the output, whatever the exit (always an mlrig bug);
- failed check: exit 1 with mandatory findings (check id and message listed);
- other: any other non-zero exit (a plan error reported without a traceback).

The summary table counts each class; every non-clean variant is listed with the seed and index
that reproduce it, and its files (with the plan's output) are kept under `--keep DIR`. The
variants are a function of the seed and of this script: a change to the generator gives a seed
other variants, so a reproduction names the script's commit too.

A variant is one platform and its projects: 1-4 environments plan 2-20 stacks. On a 2-core
machine with `--jobs 2` a valid variant planned in 6-11 s on average (at most 19 s) over 280 of
them, and validation takes a fraction of a second, so the default 20 variants take 2-4 minutes.

    .venv/bin/python bench/explore_valid_plans.py [--count 20] [--seed 1] [--jobs 2]
                                                   [--keep DIR]      # keep non-clean variants here
                                                   [--only INDEX]    # reproduce one variant
                                                   [--write DIR]     # only write the variants
                                                   [--mlrig PATH]    # another install's mlrig
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlrig import examples

# --- the world the generator draws from -----------------------------------------------------------

WORDS = ("fraud", "churn", "rank", "vision", "chat", "price", "risk", "ads", "search", "voice", "maps", "tides")
ORGS = ("acme", "globex", "initech", "umbrella", "hooli")
REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-1")
CLUSTER_VERSIONS = ("1.34", "1.34", "1.33", "1.32", "1.31", "1.30")
OPTIONAL_ADDONS = ("monitoring", "dcgmExporter", "kueue", "efaDevicePlugin", "mountpointS3", "metricsServer")
ENVIRONMENT_LAYOUTS = (
    (("dev", "dev"), ("staging", "staging"), ("prod", "prod")),
    (("dev", "dev"), ("staging", "staging"), ("prod", "prod")),
    (("sandbox", "dev"), ("qa", "staging"), ("live", "prod")),
    (("dev", "dev"), ("prod", "prod")),
    (("dev", "dev"), ("dev2", "dev"), ("staging", "staging"), ("prod", "prod")),
    (("dev", "dev"),),
)
CPU_TYPES = (
    "m6i.xlarge",
    "m6i.2xlarge",
    "m7i.2xlarge",
    "m6i.4xlarge",
    "c6i.4xlarge",
    "r6i.2xlarge",
    "m5.2xlarge",
    "r7i.4xlarge",
    "c5n.4xlarge",
    "i4i.2xlarge",
    "m6i.metal",
)
ARM_CPU_TYPES = ("m7g.2xlarge", "m6g.2xlarge", "c7g.4xlarge", "r7g.2xlarge")
SYSTEM_TYPES = (("m6i.large", "m7i.large"), ("m6i.large",), ("m5.large", "m6i.xlarge"), ("m7g.large", "m6g.large"))
# GPU instance types by the GPUs a node must have, smallest first; (type, has EFA).
GPU_TYPES: dict[int, tuple[tuple[str, bool], ...]] = {
    1: (
        ("g5.xlarge", False),
        ("g4dn.2xlarge", False),
        ("g5.2xlarge", False),
        ("g6.2xlarge", False),
        ("g6e.2xlarge", False),
        ("g5.4xlarge", False),
        ("g6.4xlarge", False),
        ("g5.8xlarge", True),
        ("g6.8xlarge", True),
        ("g6e.8xlarge", True),
    ),
    4: (("g5.12xlarge", True), ("g6.12xlarge", True), ("g6e.12xlarge", True), ("g5.24xlarge", True)),
    8: (("g5.48xlarge", True), ("g6e.48xlarge", True), ("p4d.24xlarge", True), ("p5.48xlarge", True)),
}
# Instance types whose GPUs have MIG, with the profiles all of them share.
MIG_OPTIONS = (
    (("p4d.24xlarge",), 8, ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")),
    (("p5.48xlarge", "p4de.24xlarge"), 8, ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")),
    (("p5.4xlarge",), 1, ("1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb")),
)
NODE_GPUS = {t: count for count, types in GPU_TYPES.items() for t, _ in types} | {"p5.4xlarge": 1, "p4de.24xlarge": 8}
RUNTIMES = ("custom", "sklearn", "xgboost", "lightgbm", "pytorch", "huggingface")
HUB_MODELS = (
    "meta-llama/Llama-3.1-8B-Instruct",
    "BAAI/bge-large-en-v1.5",
    "Qwen/Qwen2.5-7B",
    "mistralai/Mistral-7B-v0.3",
)
PROVIDERS = ("openai", "anthropic", "azure-openai", "bedrock", "vertex-ai", "mistral", "cohere", "groq")
EXTRA_PIPELINE_TYPES = ("feature-refresh", "batch-inference", "monitoring", "training", "vector-index-refresh")


def example(file: str) -> dict[str, Any]:
    return yaml.safe_load(examples.path(file).read_text(encoding="utf-8"))


def chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def cron(rng: random.Random) -> str:
    return rng.choice(
        (
            f"{rng.randint(0, 59)} {rng.randint(0, 23)} * * *",
            f"{rng.randint(0, 59)} {rng.randint(0, 23)} * * {rng.randint(0, 6)}",
            f"*/{rng.choice((5, 10, 15, 30))} * * * *",
            f"{rng.randint(0, 59)} */{rng.choice((2, 4, 6))} * * *",
            f"{rng.randint(0, 59)} {rng.randint(0, 23)} {rng.randint(1, 28)} * *",
            f"{rng.randint(0, 59)} {rng.randint(0, 23)} * * 1-5",
        )
    )


def account(rng: random.Random) -> str:
    return str(rng.randint(10**11, 10**12 - 1))


# --- the platform -----------------------------------------------------------------------------------


@dataclass
class PlatformShape:
    """What the projects of a variant must fit: decided before them, admitted after them."""

    name: str
    org: str
    isolation: str
    environments: dict[str, dict[str, Any]]  # name -> the environment's spec
    principal_account: str
    addons_off: set[str]
    prod_read: bool
    min_approvers: int
    webhook_hosts: list[str]
    admissions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def tiers(self) -> dict[str, str]:
        return {name: env["tier"] for name, env in self.environments.items()}


def platform_shape(rng: random.Random, index: int) -> PlatformShape:
    org = rng.choice(ORGS)
    isolation = rng.choice(("account", "account", "cluster", "namespace"))
    layout = rng.choice(ENVIRONMENT_LAYOUTS)
    shared_region = rng.choice(REGIONS)
    shared_account = account(rng)
    environments: dict[str, dict[str, Any]] = {}
    for n, (name, tier) in enumerate(layout):
        region = shared_region if isolation == "namespace" or chance(rng, 0.8) else rng.choice(REGIONS)
        env: dict[str, Any] = {"tier": tier}
        if isolation == "account":
            env["account"] = account(rng)
        elif chance(rng, 0.6):
            env["account"] = shared_account
        env["region"] = region
        network: dict[str, Any] = {"cidr": f"10.{10 * (n + 1)}.0.0/{rng.choice((16, 16, 18, 20))}"}
        if chance(rng, 0.4):
            network["availabilityZones"] = 2 if region == "us-west-1" else rng.choice((2, 3))
        if chance(rng, 0.3):
            network["natGateways"] = rng.choice(("single", "per-az"))
        if chance(rng, 0.3):
            network["flowLogs"] = chance(rng, 0.5)
        env["network"] = network
        if chance(rng, 0.15):
            env["deploymentRole"] = f"{org}-deployer"
        if chance(rng, 0.3):
            low = rng.randint(1, 3)
            env["cluster"] = {"systemNodeGroup": {"min": low, "max": rng.randint(low, 6)}}
        environments[name] = env
    principal_account = next(
        (e["account"] for e in environments.values() if e["tier"] == "dev" and "account" in e), shared_account
    )
    addons_off = {addon for addon in OPTIONAL_ADDONS if chance(rng, 0.12)}
    return PlatformShape(
        name=f"{rng.choice(WORDS)}-ml{index}",
        org=org,
        isolation=isolation,
        environments=environments,
        principal_account=principal_account,
        addons_off=addons_off,
        prod_read=chance(rng, 0.5),
        min_approvers=rng.choice((1, 1, 1, 2)),
        webhook_hosts=[f"hooks.{org}.example"] if chance(rng, 0.5) else [],
    )


def platform_bundle(rng: random.Random, shape: PlatformShape) -> dict[str, Any]:
    bundle = example(examples.PLATFORM)
    bundle["metadata"] = {"name": shape.name, "owners": [f"@{shape.org}/platform"], "description": "generated"}
    spec = bundle["spec"]
    spec["isolation"] = shape.isolation
    spec["environments"] = shape.environments
    state: dict[str, Any] = {}
    if shape.isolation == "account" and chance(rng, 0.7):
        state["account"] = account(rng)
    if chance(rng, 0.7):
        state["backend"] = f"s3://{shape.name}-pulumi-state"
    if chance(rng, 0.3):
        state["secretsProvider"] = f"awskms://alias/{shape.name}-{{environment}}-secrets"
    spec["state"] = state
    github: dict[str, Any] = {"organization": shape.org}
    if chance(rng, 0.6):
        github["repository"] = f"{shape.org}/{shape.name}-bundles"
    if chance(rng, 0.3):
        github["defaultBranch"], github["releaseBranch"] = rng.choice((("trunk", "prod"), ("main", "releases/v1")))
    github["prodApprovers"] = [f"@{shape.org}/platform-leads"] if chance(rng, 0.7) else []
    spec["github"] = github
    cluster = spec["cluster"]
    cluster["version"] = rng.choice(CLUSTER_VERSIONS)
    if chance(rng, 0.3):
        cluster["publicAccessCidrs"] = ["203.0.113.0/24", "198.51.100.0/24"]
    if chance(rng, 0.2):
        cluster["logRetentionDays"] = rng.choice((1, 30, 365, 3653))
    low = rng.randint(1, 3)
    cluster["systemNodeGroup"] = {
        "instanceTypes": list(rng.choice(SYSTEM_TYPES)),
        "min": low,
        "max": rng.randint(low, 8),
        "diskGiB": rng.choice((20, 50, 100)),
    }
    for addon in OPTIONAL_ADDONS:
        cluster["addons"][addon] = {"enabled": addon not in shape.addons_off}
    tenancy: dict[str, Any] = {
        "githubOrganizations": [shape.org] if chance(rng, 0.7) else [shape.org, "partner-org"],
        "prodReadAccessFromDev": shape.prod_read,
        "minProdApprovers": shape.min_approvers,
        "alerts": {"webhookHosts": shape.webhook_hosts},
        "projects": shape.admissions,
    }
    accounts = {e.get("account") for e in shape.environments.values()}
    if shape.principal_account not in accounts or chance(rng, 0.6):
        tenancy["principalAccounts"] = [shape.principal_account]
    if chance(rng, 0.2):
        tenancy["awsOrganizationId"] = f"o-{rng.getrandbits(48):012x}"
    if chance(rng, 0.2):
        tenancy["maxNodes"], tenancy["maxGpus"] = rng.choice(((400, 256), (1000, 512)))
    if chance(rng, 0.15):
        tenancy["maxGeneralCpu"] = rng.choice((256, 512, 1024))
    spec["tenancy"] = tenancy
    spec["tags"] = {"department": rng.choice(("ml", "data-science"))} if chance(rng, 0.7) else {}
    if chance(rng, 0.3):
        spec["tags"]["cost-pool"] = f"cp-{rng.randint(1, 99)}"
    return bundle


# --- projects -----------------------------------------------------------------------------------------


@dataclass
class ProjectContext:
    """A project being generated: its name and what its admission must hold."""

    name: str
    shape: PlatformShape
    principals: list[str] = field(default_factory=list)
    reservations: list[str] = field(default_factory=list)


def gpu_types(rng: random.Random, count: int, *, smallest: int = 0, efa: bool = False) -> list[str]:
    """1-2 GPU instance types of nodes with at least `count` GPUs, from the `smallest`-th size up."""
    candidates = [
        t for c, types in GPU_TYPES.items() if c >= count for t, has_efa in types[smallest:] if has_efa or not efa
    ]
    if not candidates:
        candidates = [t for t, has_efa in GPU_TYPES[8] if has_efa or not efa]
    return rng.sample(candidates, k=min(len(candidates), rng.choice((1, 1, 2))))


def vary_pool(rng: random.Random, context: ProjectContext, pool: dict[str, Any], workers: int, big_gpu: int) -> None:
    """Sizes, capacity and GPU options of one pool. `workers` is the most pods of one
    distributed job on it and `big_gpu` the most GPUs one pod there requests."""
    shape = context.shape
    pool["capacity"] = rng.choice(("spot", "on-demand"))
    pool["min"] = rng.choice((0, 0, 0, 1))
    pool["max"] = max(pool["min"], workers, rng.choice((1, 2, 4, 8, 16)))
    if chance(rng, 0.3):
        pool["diskGiB"] = rng.choice((50, 100, 200, 500, 1000))
    if "gpu" not in pool:
        if chance(rng, 0.2) and big_gpu == 0:
            pool["architecture"] = "arm64"
            pool["instanceTypes"] = rng.sample(ARM_CPU_TYPES, k=rng.choice((1, 2)))
        else:
            pool["instanceTypes"] = rng.sample(CPU_TYPES[1:], k=rng.choice((1, 2)))
        return
    count = pool["gpu"]["count"]
    roll = rng.random()
    if roll < 0.15 and workers == 1 and big_gpu <= 1:
        types, _, profiles = rng.choice([m for m in MIG_OPTIONS if m[1] >= count])
        pool["instanceTypes"] = list(types)
        pool["sharing"] = {"mode": "mig", "profile": rng.choice(profiles)}
    elif 0.35 <= roll < 0.45 and count == 1 and big_gpu <= 1:
        pool["instanceTypes"] = ["g5g.8xlarge", "g5g.16xlarge"][: rng.randint(1, 2)]
        pool["architecture"] = "arm64"
        pool.pop("sharing", None)
        pool.pop("efa", None)
        pool.pop("placementGroup", None)
    elif roll < 0.35 and workers == 1 and big_gpu <= 1:
        pool["instanceTypes"] = gpu_types(rng, count, smallest=2)
        pool["sharing"] = {"mode": "time-slicing", "replicas": rng.randint(2, 8)}
    else:
        pool.pop("sharing", None)
        efa = "efaDevicePlugin" not in shape.addons_off and chance(rng, 0.3 if count > 1 else 0.1)
        pool["instanceTypes"] = gpu_types(rng, count, smallest=2, efa=efa)
        pool["efa"] = efa
        if not efa:
            pool.pop("placementGroup", None)
    if chance(rng, 0.3) or "reservations" in pool:
        reservation = f"cr-{rng.getrandbits(64):017x}"
        context.reservations.append(reservation)
        other = "on-demand" if pool["capacity"] == "spot" else "spot"
        reservations: dict[str, Any] = {"ids": [reservation]}
        fallback = rng.choice((None, [pool["capacity"]], [pool["capacity"], other], []))
        if fallback is not None:
            reservations["fallback"] = fallback
        pool["reservations"] = reservations
        if pool.get("efa") and chance(rng, 0.5):
            pool["placementGroup"] = "cluster"
    else:
        pool.pop("reservations", None)
        pool.pop("placementGroup", None)
    if chance(rng, 0.2):
        pool["queue"] = {"nominalGpus": rng.randint(min(workers * big_gpu, count * pool["max"]), count * pool["max"])}


def resources(rng: random.Random, gpu: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = {"cpu": rng.choice(("500m", "1", "2", "4")), "memory": rng.choice(("2Gi", "4Gi", "8Gi"))}
    if gpu:
        found["gpu"] = gpu
    return found


def vary_pipelines(rng: random.Random, spec: dict[str, Any], optional: tuple[str, ...]) -> None:
    pipelines = spec["pipelines"]
    for name in optional:
        if name in pipelines and chance(rng, 0.3):
            del pipelines[name]
    pools = {p["name"]: p for p in spec["compute"]["pools"]}
    cpu_pools = [n for n, p in pools.items() if "gpu" not in p]
    registries = spec["registries"]
    for n in range(rng.choice((0, 0, 1, 2, 3))):
        kind = rng.choice(EXTRA_PIPELINE_TYPES)
        if kind == "vector-index-refresh" and not spec.get("llm", {}).get("vectorDatabase"):
            continue
        pipeline: dict[str, Any] = {"type": kind, "image": rng.choice(registries)}
        if kind == "training":
            gpu_pools = [
                n for n, p in pools.items() if "gpu" in p and p.get("sharing", {}).get("mode", "none") == "none"
            ]
            if gpu_pools:
                pipeline["pool"] = rng.choice(gpu_pools)
                pipeline["resources"] = resources(rng, gpu=1)
        elif cpu_pools and chance(rng, 0.6):
            pipeline["pool"] = rng.choice(cpu_pools)
            pipeline["resources"] = resources(rng)
        if kind == "batch-inference" and chance(rng, 0.4):
            pipeline["mode"] = "streaming"
        pipelines[f"extra-{kind.split('-')[0]}-{n}"] = pipeline
    for pipeline in pipelines.values():
        if pipeline["type"] not in ("model-deployment", "fine-tuning") and chance(rng, 0.5):
            pipeline["schedule"] = cron(rng)
        if chance(rng, 0.2):
            pipeline["timeoutMinutes"] = rng.choice((30, 120, 1440))
        if chance(rng, 0.2):
            pipeline["retries"] = rng.randint(0, 5)
        if chance(rng, 0.2):
            pipeline["expectedMinutes"] = rng.choice((5, 60, 600))
        if chance(rng, 0.15):
            pipeline["stagingDataFraction"] = rng.choice((0.01, 0.5, 1.0))
        if chance(rng, 0.15):
            pipeline["command"] = ["python", "-m", "job", f"--flag={rng.randint(0, 9)}"]
        if chance(rng, 0.2):
            pipeline["parameters"] = {"seed": rng.randint(0, 99), "name": "x y", "ratio": 0.5, "dry_run": False}


def endpoint(rng: random.Random, name: str, spec: dict[str, Any], shape: PlatformShape) -> dict[str, Any]:
    """A new endpoint of a runtime served without a GPU, or on a whole-GPU pool."""
    runtime = rng.choice(RUNTIMES)
    found: dict[str, Any] = {"name": name, "runtime": runtime}
    gpu_pools = [
        p["name"]
        for p in spec["compute"]["pools"]
        if "gpu" in p and p.get("sharing", {}).get("mode", "none") == "none" and p["max"] >= 1
    ]
    if runtime == "custom" or chance(rng, 0.2):
        found["image"] = rng.choice(spec["registries"])
    if runtime in ("pytorch", "huggingface") and gpu_pools and chance(rng, 0.6):
        found["pool"] = rng.choice(gpu_pools)
        found["resources"] = {"cpu": "2", "memory": "8Gi", "gpu": 1}
    else:
        found["resources"] = resources(rng)
    if runtime == "huggingface":
        found["model"] = rng.choice(HUB_MODELS)
    vary_endpoint(rng, found, shape)
    return found


def rollout(rng: random.Random) -> dict[str, Any]:
    strategy = rng.choice(("canary", "ab", "shadow", "direct"))
    if strategy == "direct":
        return {"strategy": "direct"}
    return {"strategy": strategy, "percent": rng.randint(1, 100 if strategy == "shadow" else 99)}


def vary_endpoint(rng: random.Random, found: dict[str, Any], shape: PlatformShape) -> None:
    if chance(rng, 0.7):
        found["rollout"] = rollout(rng)
    scaling = dict(found.get("autoscaling", {}))
    if chance(rng, 0.6):
        low = rng.choice((1, 1, 2, 3))
        scaling.update(minReplicas=low, maxReplicas=rng.randint(low, 12), targetConcurrency=rng.choice((1, 8, 50)))
    if "monitoring" not in shape.addons_off and chance(rng, 0.15):
        start = rng.randint(0, 20)
        scaling["minReplicas"] = 0
        scaling["awakeHoursUtc"] = {"start": start, "end": rng.randint(start + 1, 24)}
    if scaling:
        found["autoscaling"] = scaling
    if chance(rng, 0.2):
        found["requestLogging"] = False
    if chance(rng, 0.2):
        startup: dict[str, Any] = {"modelSizeGiB": rng.choice((1, 4, 16, 70))}
        if chance(rng, 0.5) or "mountpointS3" in shape.addons_off:
            startup["modelCache"] = "download"
        if found.get("pool") and chance(rng, 0.5):
            startup["prePull"] = chance(rng, 0.5)
        found["startup"] = startup


def alert_routes(rng: random.Random, context: ProjectContext, env: dict[str, Any] | None) -> list[dict[str, str]]:
    routes = []
    for _ in range(rng.choice((0, 1, 1, 2))):
        kind = rng.choice(("slack", "email", "pagerduty", "webhook", "sns"))
        if "monitoring" in context.shape.addons_off:
            kind = "email"  # the others go through Alertmanager
        if kind == "webhook" and context.shape.webhook_hosts:
            routes.append({"type": kind, "target": f"https://{context.shape.webhook_hosts[0]}/alerts/{context.name}"})
        elif kind == "sns" and env is not None and env.get("account"):
            arn = f"arn:aws:sns:{env['region']}:{env['account']}:{context.name}-alerts"
            routes.append({"type": kind, "target": arn})
        elif kind == "email":
            routes.append({"type": kind, "target": f"{context.name}@{context.shape.org}.example"})
        elif kind == "pagerduty":
            routes.append({"type": kind, "target": f"{context.name}-oncall"})
        else:
            routes.append({"type": "slack", "target": f"#{context.name}-alerts"})
    return routes


def vary_llm(rng: random.Random, spec: dict[str, Any], shape: PlatformShape) -> None:
    llm = spec.setdefault("llm", {})
    if chance(rng, 0.3):
        llm["modelHub"] = {"models": rng.sample(HUB_MODELS, k=rng.randint(1, 3))}
        if chance(rng, 0.15):
            llm["modelHub"]["enabled"] = False
    if chance(rng, 0.3) or "vectorDatabase" in llm:
        engine = rng.choice(("pgvector", "opensearch"))
        database: dict[str, Any] = {"engine": engine, "dimensions": rng.choice((384, 768, 1024, 1536))}
        if chance(rng, 0.3):
            database["instanceClass"] = "db.r6g.large" if engine == "pgvector" else "r6g.large.search"
        if chance(rng, 0.4):
            database["storageGiB"] = rng.choice((10, 100, 1000))
        llm["vectorDatabase"] = database
    # No gateway-wide caps: the gateway cannot enforce them, and validation refuses them.
    if chance(rng, 0.3) or "gateway" in llm:
        providers = rng.sample(PROVIDERS, k=rng.randint(1, 3))
        gateway: dict[str, Any] = {"providers": providers}
        limits = {}
        for provider in providers:
            if chance(rng, 0.5):
                limits[provider] = {"requestsPerMinute": rng.choice((60, 600)), "monthlyBudgetUsd": 100.5}
                if chance(rng, 0.5):
                    limits[provider]["tokensPerMinute"] = rng.choice((10000, 300000))
        gateway["limits"] = limits
        if chance(rng, 0.3):
            gateway["replicas"] = rng.randint(1, 4)
        llm["gateway"] = gateway
    if chance(rng, 0.4):
        llm["feedback"] = {"enabled": chance(rng, 0.7), "retentionDays": rng.choice((30, 365, 3650))}
    if not llm:
        del spec["llm"]


def override(rng: random.Random, spec: dict[str, Any], tier: str, context: ProjectContext, env: dict[str, Any]) -> dict:
    """A per-environment override: pools, endpoints (changed, one added, or all removed),
    storage, alerts, rollout."""
    found: dict[str, Any] = {}
    pools = spec["compute"]["pools"]
    if pools and chance(rng, 0.5):
        pool = rng.choice(pools)
        changed_pool: dict[str, Any] = {"name": pool["name"], "max": max(pool["max"], rng.choice((1, 2, 8)))}
        users = [p for p in spec["pipelines"].values() if p.get("pool") == pool["name"]]
        users += [e for e in spec["serving"]["endpoints"] if e.get("pool") == pool["name"]]
        whole = all(u.get("workers", 1) == 1 and u.get("resources", {}).get("gpu", 0) <= 1 for u in users)
        if "gpu" in pool and "sharing" not in pool and whole and chance(rng, 0.3):
            changed_pool["sharing"] = {"mode": "time-slicing", "replicas": rng.randint(2, 8)}
        elif "reservations" not in pool and chance(rng, 0.3):
            changed_pool["capacity"] = rng.choice(("spot", "on-demand"))
        elif chance(rng, 0.2):
            changed_pool["diskGiB"] = rng.choice((100, 400))
        found["compute"] = {"pools": [changed_pool]}
    if chance(rng, 0.15):
        found.setdefault("compute", {})["queueing"] = {"enabled": False}
    if chance(rng, 0.15):
        found["modelDeployment"] = {"approval": "automatic" if tier == "dev" else "manual"}
    llm = spec.get("llm", {})
    if llm.get("gateway") and chance(rng, 0.3):
        found["llm"] = {"gateway": {"replicas": rng.randint(1, 4)}}
    if llm.get("vectorDatabase") and tier == "prod" and chance(rng, 0.3):
        engine = llm["vectorDatabase"].get("engine", "pgvector")
        instance_class = "db.r6g.xlarge" if engine == "pgvector" else "r6g.xlarge.search"
        found["llm"] = {"vectorDatabase": {"instanceClass": instance_class, "storageGiB": 500}}
    endpoints = spec.get("serving", {}).get("endpoints", [])
    roll = rng.random()
    if endpoints and roll < 0.15:
        found["serving"] = {"endpoints": []}
    elif roll < 0.35:
        found["serving"] = {"endpoints": [endpoint(rng, f"{tier}-only", spec, context.shape)]}
    elif endpoints and roll < 0.6:
        changed: dict[str, Any] = {"name": rng.choice(endpoints)["name"]}
        if chance(rng, 0.5):
            low = rng.choice((1, 2, 3))
            changed["autoscaling"] = {
                "minReplicas": low,
                "maxReplicas": low + rng.randint(0, 10),
                "awakeHoursUtc": None,
            }
        else:
            changed["rollout"] = {"strategy": "direct", "percent": 100}
        found["serving"] = {"endpoints": [changed]}
    if chance(rng, 0.2):
        found["storage"] = {"stagingRetentionDays": rng.randint(1, 30)}
    if chance(rng, 0.2):
        found["monitoring"] = {"alerts": alert_routes(rng, context, env)}
    return found


def project_bundle(rng: random.Random, context: ProjectContext) -> dict[str, Any]:
    shape = context.shape
    rag = chance(rng, 0.5)
    bundle = example("rag-assistant.yaml" if rag else "fraud-detection.yaml")
    name = context.name
    team = f"{name}-team" if chance(rng, 0.7) else None
    bundle["metadata"] = {"name": name, "owners": [f"@{shape.org}/{name}"], "description": f"variant of {name}"}
    if team:
        bundle["metadata"]["team"] = team
    if chance(rng, 0.6):
        bundle["metadata"]["costCenter"] = f"cc-{rng.randint(1000, 9999)}"
    spec = bundle["spec"]
    spec["platform"] = shape.name
    spec["repository"] = f"{shape.org}/{name}"
    dev_tiers = [e for e in shape.environments.values() if e["tier"] == "dev"]
    spec["deploymentPattern"] = rng.choice(("deploy-code", "deploy-models")) if len(dev_tiers) == 1 else "deploy-code"
    access: dict[str, list[str]] = {}
    for persona in ("dataScientists", "mlEngineers"):
        if chance(rng, 0.85):
            kind = "user" if chance(rng, 0.1) else "role"
            access[persona] = [
                f"arn:aws:iam::{shape.principal_account}:{kind}/{name}-{persona.lower()}-{j}"
                for j in range(rng.randint(1, 3))
            ]
            context.principals += access[persona]
    spec["access"] = access
    storage: dict[str, Any] = {"stagingRetentionDays": rng.randint(1, 365)}
    if chance(rng, 0.5):
        storage["prodReadAccessFromDev"] = shape.prod_read and chance(rng, 0.7)
    if chance(rng, 0.3):
        storage["noncurrentVersionRetentionDays"] = rng.choice((1, 30, 3650))
    if chance(rng, 0.3):
        storage["dataLayers"] = rng.choice((["raw", "curated"], ["landing", "bronze", "silver", "gold"], ["all"]))
    spec["storage"] = storage
    if chance(rng, 0.3):
        spec["registries"].append("tools")
    if chance(rng, 0.3):
        spec["registry"] = {"keepLastImages": rng.choice((1, 50, 10000)), "untaggedExpiryDays": rng.randint(1, 365)}

    # Pools: the example's pools, each varied for what runs on it.
    pools = spec["compute"]["pools"]
    if rag:
        tune = spec["pipelines"]["fine-tune"]
        tune["workers"] = rng.choice((1, 2, 2, 4))
        spec["pipelines"]["fine-tune"]["baseModel"] = rng.choice(HUB_MODELS)
    else:
        train = spec["pipelines"]["train"]
        train["workers"] = rng.choice((1, 1, 2))
        if chance(rng, 0.3):
            train["resources"] = {"cpu": "2", "memory": "8Gi", "gpu": 1}
    for pool in pools:
        users = [p for p in spec["pipelines"].values() if p.get("pool") == pool["name"]]
        users += [e for e in spec["serving"]["endpoints"] if e.get("pool") == pool["name"]]
        workers = max([u.get("workers", 1) for u in users] or [1])
        big_gpu = max([u.get("resources", {}).get("gpu", 0) for u in users] or [0])
        vary_pool(rng, context, pool, workers, big_gpu)
    if chance(rng, 0.3):
        pools.append({"name": "extra-cpu", "instanceTypes": rng.sample(CPU_TYPES[1:], k=1), "max": rng.randint(1, 4)})
    queueing = spec["compute"].setdefault("queueing", {})
    if "kueue" in shape.addons_off:
        queueing["enabled"] = False
    elif chance(rng, 0.2):
        queueing["enabled"] = chance(rng, 0.5)
    if chance(rng, 0.3):
        jobs = [p.get("workers", 1) * p.get("resources", {}).get("gpu", 0) for p in spec["pipelines"].values()]
        queueing["borrowingLimit"] = max(rng.choice((0, 2, 16)), *jobs)
    if chance(rng, 0.3):
        queueing["priorities"] = {
            "training": rng.randint(500, 5000),
            "batchInference": rng.randint(0, 400),
            "serving": rng.randint(5000, 100000),
        }

    vary_llm(rng, spec, shape)
    vary_pipelines(rng, spec, ("index-docs", "monitor") if rag else ("features", "score-batch", "monitor"))

    deployment = spec["modelDeployment"]
    if chance(rng, 0.4):
        deployment["complianceChecks"] = rng.sample(["schema", "signature", "model-card", "bias", "pii-scan"], k=2)
    if chance(rng, 0.4):
        deployment["approval"] = rng.choice(("manual", "automatic"))
    if chance(rng, 0.3):
        deployment["comparison"] = {"metric": "f1", "direction": rng.choice(("maximize", "minimize"))}

    serving = spec["serving"]["endpoints"]
    for found in serving:
        vary_endpoint(rng, found, shape)
    if chance(rng, 0.2) and len(serving) > 1:
        serving.pop()
    for n in range(rng.choice((0, 0, 1, 2))):
        serving.append(endpoint(rng, f"ep-{n}", spec, shape))
    if chance(rng, 0.1):
        serving.clear()

    monitoring = spec["monitoring"]
    if chance(rng, 0.4):
        monitoring["schedule"] = cron(rng)
    monitoring["drift"] = {
        "threshold": rng.choice((0.05, 0.2, 1.0)),
        "method": rng.choice(("psi", "ks", "wasserstein", "jensen-shannon")),
    }
    if chance(rng, 0.3):
        monitoring["drift"]["features"] = ["amount", "merchant"]
    if chance(rng, 0.3):
        monitoring["latencyP99Ms"] = rng.choice((50, 1000, 600000))
        monitoring["errorRate"] = rng.choice((0.0, 0.05, 1.0))
    one_place = shape.isolation != "account" and len({e["region"] for e in shape.environments.values()}) == 1
    monitoring["alerts"] = alert_routes(rng, context, first_env(shape) if one_place else None)
    trains = any(p["type"] == "training" for p in spec["pipelines"].values())
    monitoring["retrainOnDrift"] = trains and spec["deploymentPattern"] == "deploy-code" and chance(rng, 0.5)
    if {"dcgmExporter", "monitoring"} & shape.addons_off:
        monitoring.pop("gpuIdle", None)
    elif chance(rng, 0.3):
        monitoring["gpuIdle"] = {"belowPercent": rng.randint(1, 100), "forMinutes": rng.choice((5, 60, 10080))}

    ci: dict[str, Any] = {}
    if chance(rng, 0.2):
        ci["defaultBranch"], ci["releaseBranch"] = "develop", "main"
    if chance(rng, 0.15):
        ci["manageRepository"] = False
    if chance(rng, 0.3):
        ci["pythonVersion"] = rng.choice(("3.10", "3.12", "3.13"))
    approvers = [f"@{shape.org}/{name}-leads", f"@{shape.org}/{name}-seniors", f"@{shape.org}-bot"]
    admitted = approvers[: max(shape.min_approvers, rng.randint(1, 3))]
    if chance(rng, 0.5):
        ci["prodApprovers"] = admitted[: max(shape.min_approvers, rng.randint(1, len(admitted)))]
    spec["ci"] = ci
    spec["tags"] = {"data-owner": name} if chance(rng, 0.4) else {}

    if "mountpointS3" in shape.addons_off:
        for found in serving:
            if found.get("startup", {}).get("modelCache") == "mount":
                found["startup"]["modelCache"] = "download"

    # The example's own overrides (by tier) are kept in some variants, with new ones merged in.
    by_tier = {"dev": "dev", "staging": "staging", "prod": "prod"}
    examples_overrides = spec["environments"] if chance(rng, 0.5) and "monitoring" not in shape.addons_off else {}
    for kept in examples_overrides.values():
        for changed_pool in kept.get("compute", {}).get("pools", []):
            base_pool = next(p for p in pools if p["name"] == changed_pool["name"])
            if "sharing" in base_pool or spec["pipelines"].get("train", {}).get("workers", 1) > 1:
                changed_pool.pop("sharing", None)
            if "reservations" in base_pool:
                changed_pool.pop("capacity", None)
    environments = {}
    for env_name, env in shape.environments.items():
        if by_tier[env["tier"]] in examples_overrides:
            environments[env_name] = examples_overrides[env["tier"]]
        if chance(rng, 0.5):
            found = override(rng, spec, env["tier"], context, env)
            if found:
                environments[env_name] = {**environments.get(env_name, {}), **found}
    spec["environments"] = environments

    pools_hold_their_endpoints(spec)
    for part in spec["environments"].values():
        for found in part.get("serving", {}).get("endpoints", []):
            if found.get("autoscaling", {}).get("minReplicas", 0) > 0:
                found["autoscaling"]["awakeHoursUtc"] = None  # the base's, where it scales to zero
    if "metricsServer" in shape.addons_off:
        fixed_replicas(spec)
    admission: dict[str, Any] = {"repository": spec["repository"], "principals": list(context.principals)}
    admission["prodApprovers"] = admitted
    if context.reservations:
        admission["capacityReservations"] = list(context.reservations)
    if chance(rng, 0.2) and team:
        admission["team"] = team
    nodes, gpus = capacity_asked(spec)
    if nodes > 200 or gpus > 128 or chance(rng, 0.15):
        admission["maxNodes"], admission["maxGpus"] = max(nodes, 100), max(gpus, 64)
    if chance(rng, 0.1):
        admission["maxGeneralCpu"] = 1024
    shape.admissions[name] = admission
    return bundle


def pools_hold_their_endpoints(spec: dict[str, Any]) -> None:
    """Raise each pool's max (and its overrides') to a node per replica its endpoints keep at
    least, in any environment: the generator knows no node sizes, so it assumes one per node."""
    least: Counter[str] = Counter()
    bundles = [spec, *spec["environments"].values()]
    for part in bundles:
        for found in part.get("serving", {}).get("endpoints", []):
            base = next((e for e in spec["serving"]["endpoints"] if e["name"] == found["name"]), {})
            pool = found.get("pool", base.get("pool"))
            if pool is None:
                continue
            scaling = {**base.get("autoscaling", {}), **found.get("autoscaling", {})}
            strategy = {**base.get("rollout", {}), **found.get("rollout", {})}.get("strategy", "direct")
            replicas = max(scaling.get("minReplicas", 1), 1) * (1 if strategy == "direct" else 2)
            least[pool] = max(least[pool], replicas)
    for part in bundles:
        for pool in part.get("compute", {}).get("pools", []):
            if pool["name"] in least and "max" in pool:
                pool["max"] = max(pool["max"], least[pool["name"]])


def fixed_replicas(spec: dict[str, Any]) -> None:
    """Without metrics-server an endpoint that scales on CPU never scales: keep its replicas fixed."""
    for part in [spec, *spec["environments"].values()]:
        for found in part.get("serving", {}).get("endpoints", []):
            scaling = found.setdefault("autoscaling", {})
            if "minReplicas" in scaling or part is spec:
                scaling["maxReplicas"] = max(scaling.get("minReplicas", 1), 1)


def capacity_asked(spec: dict[str, Any]) -> tuple[int, int]:
    """Most nodes and GPUs the pools may launch in an environment, counted high (every
    override's max at once, twice for a pool with two NodePools)."""
    maxes: Counter[str] = Counter()
    for part in [spec, *spec["environments"].values()]:
        for pool in part.get("compute", {}).get("pools", []):
            maxes[pool["name"]] = max(maxes[pool["name"]], pool.get("max", 4))
    nodes = gpus = 0
    for pool in spec["compute"]["pools"]:
        twice = 2 if len((pool.get("reservations") or {}).get("fallback") or []) > 1 else 1
        nodes += maxes[pool["name"]] * twice
        if "gpu" in pool:
            gpus += maxes[pool["name"]] * twice * max(NODE_GPUS.get(t, 8) for t in pool["instanceTypes"])
    return nodes, gpus


def first_env(shape: PlatformShape) -> dict[str, Any]:
    return next(iter(shape.environments.values()))


# --- a variant --------------------------------------------------------------------------------------


def variant(seed: int, index: int) -> dict[str, str]:
    """The files of variant `index` of `seed`: file name -> YAML text. Deterministic."""
    rng = random.Random(f"explore-valid-plans:{seed}:{index}")
    shape = platform_shape(rng, index)
    names = rng.sample(WORDS, k=rng.randint(2, 4))
    projects = [project_bundle(rng, ProjectContext(project_name(rng, word, index), shape)) for word in names]
    platform = platform_bundle(rng, shape)  # after the projects: it admits them
    files = {"platform.yaml": dump(platform)}
    for project in projects:
        files[f"{project['metadata']['name']}.yaml"] = dump(project)
    return files


# Validation refuses longer project names: some AWS names derived from them would not fit.
MAX_PROJECT_NAME = 18


def project_name(rng: random.Random, word: str, index: int) -> str:
    """Mostly short; some as long as a team might name it (derived names then near their limits)."""
    long = f"{word}-{rng.choice(('realtime', 'batch', 'global', 'x'))}-{index}"
    return long if chance(rng, 0.2) and len(long) <= MAX_PROJECT_NAME else f"{word}-{index}"


def dump(bundle: dict[str, Any]) -> str:
    return yaml.safe_dump(bundle, sort_keys=False, default_flow_style=False, width=200)


def write_variant(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for file, text in files.items():
        (directory / file).write_text(text, encoding="utf-8")
    return directory


# --- validating and planning ----------------------------------------------------------------------------


@dataclass
class Outcome:
    seed: int
    index: int
    status: str  # invalid, clean, traceback, failed-check, other
    detail: list[str] = field(default_factory=list)
    reason: str = ""  # invalid: the first error's rule and message
    seconds: float = 0.0


def validate(mlrig: str, directory: Path) -> str | None:
    """None when the variant is valid; else its first error as `rule: path: message`."""
    done = subprocess.run(
        [mlrig, "validate", "--format", "json", str(directory)], capture_output=True, text=True, check=False
    )
    if done.returncode == 0:
        return None
    try:
        report = json.loads(done.stdout)
        for file in report["files"]:
            for error in file.get("errors", []):
                return f"{error.get('rule', '?')}: {error['path']}: {error['message']}"
    except (ValueError, KeyError):
        pass
    return f"exit {done.returncode}: {(done.stdout + done.stderr).strip().splitlines()[:1]}"


def plan(mlrig: str, directory: Path, jobs: int, seed: int, index: int) -> Outcome:
    started = time.monotonic()
    out = directory / "plan.json"
    done = subprocess.run(
        [mlrig, "plan", str(directory), "--out", str(out), "--jobs", str(jobs)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    (directory / "plan.log").write_text(f"exit {done.returncode}\n{output}", encoding="utf-8")
    if "Traceback" in output:
        lines = output.splitlines()
        start = next(i for i, line in enumerate(lines) if "Traceback" in line)
        tail = [line for line in lines[start:] if line.strip()]
        return Outcome(seed, index, "traceback", tail[-3:], seconds=seconds)
    if done.returncode == 0:
        return Outcome(seed, index, "clean", seconds=seconds)
    findings = mandatory_findings(out, output)
    if done.returncode == 1 and findings:
        return Outcome(seed, index, "failed-check", findings, seconds=seconds)
    first = [line for line in output.splitlines() if line.strip()][-3:]
    return Outcome(seed, index, "other", [f"exit {done.returncode}", *first], seconds=seconds)


def mandatory_findings(out: Path, output: str) -> list[str]:
    """`CHECK-ID stack resource: message` of every mandatory finding (the JSON plan's, else the text's)."""
    if out.exists():
        payload = json.loads(out.read_text(encoding="utf-8"))
        found = []
        for bundle in payload if isinstance(payload, list) else [payload]:
            for env, stack in bundle.get("environments", {}).items():
                for check in stack.get("checks", []):
                    if check.get("enforcement") == "mandatory":
                        name = bundle["bundle"]["name"]
                        found.append(f"{check['id']} {name}.{env} {check['resource']}: {check['message']}")
        if found:
            return found
    return [line.strip()[2:] for line in output.splitlines() if line.lstrip().startswith("✗ ") and "mandatory" in line]


# --- reporting -----------------------------------------------------------------------------------------

STATUSES = ("clean", "traceback", "failed-check", "other")


def report(outcomes: list[Outcome], keep: Path | None) -> None:
    seeds = sorted({o.seed for o in outcomes})
    print(
        f"\n{'seed':>6} {'variants':>9} {'valid':>6} {'clean':>6} {'traceback':>10} {'failed-check':>13} {'other':>6}"
    )
    for seed in [*seeds, None]:
        mine = [o for o in outcomes if seed is None or o.seed == seed]
        counts = Counter(o.status for o in mine)
        valid = len(mine) - counts["invalid"]
        label = "all" if seed is None else str(seed)
        row = " ".join(f"{counts[s]:>{w}}" for s, w in zip(STATUSES, (6, 10, 13, 6), strict=True))
        print(f"{label:>6} {len(mine):>9} {valid:>6} {row}")
    planned = [o for o in outcomes if o.status != "invalid"]
    if planned:
        seconds = [o.seconds for o in planned]
        print(f"plan time per valid variant: mean {sum(seconds) / len(seconds):.1f} s, max {max(seconds):.1f} s")
    reasons = Counter(o.reason.split(": ", 1)[0] for o in outcomes if o.status == "invalid")
    if reasons:
        print("\nwhy variants were invalid (first error's rule; an example):")
        for rule, count in reasons.most_common():
            sample = next(o for o in outcomes if o.status == "invalid" and o.reason.startswith(rule + ": "))
            print(
                f"  {count:4}  {rule}  (seed {sample.seed} index {sample.index}) {sample.reason[len(rule) + 2 :][:200]}"
            )
    bad = [o for o in planned if o.status != "clean"]
    if bad:
        print("\nnot clean (reproduce: --seed S --only I --keep DIR):")
        for o in bad:
            kept = f"  kept in {keep / variant_name(o.seed, o.index)}" if keep else ""
            print(f"  seed {o.seed} index {o.index}: {o.status}{kept}")
            for line in o.detail[:12]:
                print(f"      {line[:400]}")


def variant_name(seed: int, index: int) -> str:
    return f"seed{seed}-{index:03d}"


def mlrig_command() -> str:
    """The console script beside this interpreter (`.venv/bin/mlrig`)."""
    return str(Path(sys.executable).with_name("mlrig"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=20, help="variants per seed")
    parser.add_argument("--seed", type=int, action="append", help="repeatable; default 1")
    parser.add_argument("--only", type=int, default=None, help="just this variant index (to reproduce it)")
    parser.add_argument("--jobs", type=int, default=2, help="`mlrig plan --jobs` (worker processes per plan)")
    parser.add_argument("--keep", type=Path, default=None, help="copy every non-clean valid variant here")
    parser.add_argument("--write", type=Path, default=None, help="only write the variants here; no validate or plan")
    parser.add_argument("--mlrig", default=None, help="the mlrig script to run (default: this install's)")
    args = parser.parse_args(argv)
    seeds = args.seed or [1]
    indexes = [args.only] if args.only is not None else list(range(args.count))
    if args.write:
        for seed in seeds:
            for index in indexes:
                write_variant(args.write / variant_name(seed, index), variant(seed, index))
        print(f"wrote {len(seeds) * len(indexes)} variant(s) into {args.write}")
        return 0
    mlrig = args.mlrig or mlrig_command()
    outcomes: list[Outcome] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlrig-explore-") as tmp:
        for seed in seeds:
            for index in indexes:
                directory = write_variant(Path(tmp) / variant_name(seed, index), variant(seed, index))
                reason = validate(mlrig, directory)
                if reason is not None:
                    outcome = Outcome(seed, index, "invalid", reason=reason)
                else:
                    outcome = plan(mlrig, directory, args.jobs, seed, index)
                    if outcome.status != "clean" and args.keep:
                        shutil.copytree(directory, args.keep / variant_name(seed, index), dirs_exist_ok=True)
                outcomes.append(outcome)
                print(
                    f"seed {seed} index {index}: {outcome.status}"
                    + (f" ({outcome.seconds:.0f} s)" if outcome.status != "invalid" else f" - {outcome.reason[:150]}"),
                    flush=True,
                )
    report(outcomes, args.keep)
    print(f"\n{len(outcomes)} variant(s) in {time.monotonic() - started:.0f} s")
    return 1 if any(o.status not in ("clean", "invalid") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
