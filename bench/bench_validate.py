"""How fast is `mlrig validate`? Validating 1,000 bundle files, as a ratio to merely parsing them.

Generates 1,000 varied bundle files (10 platforms, 990 projects derived from the examples in
`bundles/` with different names, pools, pipelines, endpoints and overrides) in a temporary
directory, then times, in the same run and on the same files:

- baseline: reading every file and `yaml.load(text, Loader=yaml.CSafeLoader)`;
- mlrig:    `validate_paths([directory])` — load with positions, schema, overrides, defaults and
            every semantic rule, for every file and every environment.

Each is run `--repeat` times (default 5) and the best time is kept, in CPU seconds of the
process (wall seconds are printed too). Target: ratio ≤ 2.0.

    .venv/bin/python bench/bench_validate.py [--files 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from mlrig.bundle.validate import validate_paths

PLATFORMS = 10

PLATFORM = """\
# yaml-language-server: $schema=../schemas/bundle.schema.json
apiVersion: mlrig/v1
kind: Platform
metadata:
  name: {name}
  owners: ["@acme/platform"]
  description: Platform number {index}
spec:
  isolation: {isolation}
  state:
    backend: s3://{name}-pulumi-state
  github:
    organization: acme
    repository: acme/{name}
    prodApprovers: ["@acme/platform-leads"]
  tenancy:
    principalAccounts: ["111111111111"]
    prodReadAccessFromDev: true
    projects:
{admissions}
  cluster:
    version: "1.34"
    systemNodeGroup: {{ instanceTypes: [m6i.large, m7i.large], min: 2, max: 4 }}
    addons:
      kserve: {{ enabled: {kserve} }}
  environments:
    dev:
      tier: dev
      account: "{a}1{a}1{a}1{a}1{a}1{a}1"
      region: {region}
      network: {{ cidr: 10.10.0.0/16 }}
    staging:
      tier: staging
      account: "{a}2{a}2{a}2{a}2{a}2{a}2"
      region: {region}
      network: {{ cidr: 10.20.0.0/16 }}
    prod:
      tier: prod
      account: "{a}3{a}3{a}3{a}3{a}3{a}3"
      region: {region}
      network: {{ cidr: 10.30.0.0/16, availabilityZones: 3 }}
      cluster:
        systemNodeGroup: {{ min: 3, max: {prod_max} }}
  tags:
    department: machine-learning
"""

PROJECT_HEAD = """\
# yaml-language-server: $schema=../schemas/bundle.schema.json
apiVersion: mlrig/v1
kind: Project
metadata:
  name: {name}
  team: team-{team}
  owners: ["@acme/team-{team}"]
  costCenter: cc-{team}
  description: Project {index}
spec:
  platform: {platform}
  repository: acme/{name}
  access:
    dataScientists:
      - arn:aws:iam::111111111111:role/ds-{team}
    mlEngineers:
      - arn:aws:iam::111111111111:role/mle-{team}
  storage: {{ stagingRetentionDays: {retention}, prodReadAccessFromDev: {prod_read} }}
  registries: [training, serving]
  compute:
    pools:
      - name: cpu-batch
        instanceTypes: [m6i.2xlarge, m7i.2xlarge]
        capacity: spot
        max: {cpu_max}
      - name: gpu-train
        instanceTypes: [{gpu_types}]
        gpu: {{ count: {gpus} }}
        capacity: spot
        max: 4
  pipelines:
"""

PIPELINES = [
    """\
    features:
      type: feature-refresh
      schedule: "{minute} 2 * * *"
      image: training
      pool: cpu-batch
      resources: {{ cpu: "4", memory: 16Gi }}
""",
    """\
    train:
      type: training
      schedule: "{minute} 3 * * 0"
      image: training
      pool: gpu-train
      resources: {{ cpu: "3", memory: 12Gi, gpu: 1 }}
      parameters: {{ epochs: {epochs}, learningRate: 0.001 }}
""",
    """\
    deploy-model:
      type: model-deployment
      image: training
""",
    """\
    score-batch:
      type: batch-inference
      schedule: "{minute} 5 * * *"
      image: serving
      pool: cpu-batch
""",
    """\
    monitor:
      type: monitoring
      image: training
""",
]

PROJECT_TAIL = """\
  modelDeployment:
    complianceChecks: [schema, signature, model-card]
    comparison: {{ metric: auc, direction: maximize, minImprovement: 0.005, baselineThreshold: 0.85 }}
  serving:
    endpoints:
      - name: scorer
        image: serving
        resources: {{ cpu: "2", memory: 4Gi }}
        rollout: {{ strategy: {strategy}, percent: {percent} }}
        autoscaling: {{ minReplicas: 2, maxReplicas: 10 }}
  monitoring:
    drift: {{ threshold: 0.2, method: psi }}
    quality:
      - {{ name: auc, threshold: 0.8 }}
    alerts:
      - {{ type: slack, target: "#alerts-{team}" }}
    retrainOnDrift: {retrain}
  llm:
    vectorDatabase: {{ engine: {engine} }}
    gateway:
      providers: [openai, anthropic]
      limits:
        openai: {{ requestsPerMinute: 600, monthlyBudgetUsd: 2000 }}
    feedback: {{ enabled: true }}
  ci:
    prodApprovers: ["@acme/team-{team}-leads"]
  environments:
    dev:
      compute:
        pools:
          - {{ name: gpu-train, max: 1 }}
    prod:
      compute:
        pools:
          - {{ name: gpu-train, max: 16, capacity: on-demand }}
      serving:
        endpoints:
          - {{ name: scorer, autoscaling: {{ minReplicas: 3, maxReplicas: 30 }} }}
"""


ADMISSION = """\
      {name}:
        repository: acme/{name}
        principals: [arn:aws:iam::111111111111:role/ds-{team}, arn:aws:iam::111111111111:role/mle-{team}]
        prodApprovers: ["@acme/team-{team}-leads"]
"""


def platform_text(index: int, rng: random.Random, count: int) -> str:
    """A platform admitting the projects that name it (every PLATFORMS-th one)."""
    admissions = "".join(
        ADMISSION.format(name=f"project-{project}", team=project % 37)
        for project in range(PLATFORMS, count)
        if project % PLATFORMS == index
    )
    return PLATFORM.format(
        admissions=admissions.rstrip("\n") or "      {}",
        name=f"platform-{index}",
        index=index,
        isolation="account",
        kserve=rng.choice(["true", "false"]),
        a=index % 10,
        region=rng.choice(["us-east-1", "eu-west-1", "us-west-2"]),
        prod_max=rng.randint(3, 8),
    )


def project_text(index: int, rng: random.Random) -> str:
    values = {
        "name": f"project-{index}",
        "team": index % 37,
        "index": index,
        "platform": f"platform-{index % PLATFORMS}",
        "retention": rng.randint(1, 60),
        "prod_read": rng.choice(["true", "false"]),
        "cpu_max": rng.randint(1, 20),
        "gpu_types": rng.choice(["g5.2xlarge, g6.2xlarge", "g5.12xlarge", "p4d.24xlarge", "g6e.xlarge"]),
        "gpus": 1,
        "minute": rng.randint(0, 59),
        "epochs": rng.randint(1, 50),
        "strategy": rng.choice(["canary", "ab", "shadow", "direct"]),
        "percent": rng.randint(1, 99),
        "retrain": "true",
        "engine": rng.choice(["pgvector", "opensearch"]),
    }
    pipelines = [PIPELINES[1], *rng.sample([PIPELINES[0], PIPELINES[2], PIPELINES[3], PIPELINES[4]], rng.randint(1, 4))]
    return (
        PROJECT_HEAD.format(**values) + "".join(p.format(**values) for p in pipelines) + PROJECT_TAIL.format(**values)
    )


def generate(directory: Path, count: int) -> list[Path]:
    rng = random.Random(2)
    files = []
    for index in range(count):
        if index < PLATFORMS:
            path, text = directory / f"platform-{index}.yaml", platform_text(index, rng, count)
        else:
            path, text = directory / f"project-{index}.yaml", project_text(index, rng)
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    """Best CPU seconds of the process and best wall seconds over `repeat` runs. CPU time is the
    figure reported: other jobs on a shared machine make wall time noisy."""
    cpu_times, wall_times = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        work()
        cpu_times.append(time.process_time() - cpu)
        wall_times.append(time.perf_counter() - wall)
    return min(cpu_times), min(wall_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-") as tmp:
        directory = Path(tmp)
        files = generate(directory, args.files)

        def parse_only() -> None:
            for path in files:
                yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)

        result = validate_paths([directory])  # warm-up, and proof the files are valid
        if not result.valid:
            for diagnostic in result.diagnostics[:10]:
                print(diagnostic.text(), file=sys.stderr)
            print("generated bundles are invalid; the benchmark is broken", file=sys.stderr)
            return 1
        parse_cpu, parse_wall = best_of(args.repeat, parse_only)
        validate_cpu, validate_wall = best_of(args.repeat, lambda: validate_paths([directory]))
    print(f"files:                {len(files)} ({PLATFORMS} platforms, {len(files) - PLATFORMS} projects)")
    print("                      cpu s    wall s")
    print(f"parse (CSafeLoader):  {parse_cpu:6.3f}   {parse_wall:6.3f}")
    print(f"mlrig validate_paths: {validate_cpu:6.3f}   {validate_wall:6.3f}")
    print(
        f"ratio:                {validate_cpu / parse_cpu:5.2f}x   {validate_wall / parse_wall:5.2f}x   (target <= 2.0x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
