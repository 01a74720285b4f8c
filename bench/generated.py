"""Generated bundles for the benchmarks: projects of any size, and whole organisations.

Never the repository's live `bundles/`: the platform is the example shipped in the package
(`mlrig.examples`), the projects are generated beside it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlrig import examples

PLATFORM = "acme-ml"
PIPELINE_TYPES = ("feature-refresh", "training", "batch-inference", "monitoring")


def project_text(name: str, *, pipelines: int, endpoints: int, platform: str = PLATFORM) -> str:
    """A valid Project bundle with `pipelines` pipelines (of four kinds, on a CPU and a GPU pool)
    and `endpoints` canary endpoints. Every pipeline gets its own workload role and Kubernetes
    objects, so the stack grows by about seven resources per pipeline and per endpoint."""
    lines = [
        "apiVersion: mlrig/v1",
        "kind: Project",
        f'metadata: {{ name: {name}, team: team-{name}, owners: ["@acme/{name}"], costCenter: cc-1 }}',
        "spec:",
        f"  platform: {platform}",
        f"  repository: acme/{name}",
        "  access:",
        "    dataScientists: [arn:aws:iam::111111111111:role/ds]",
        "    mlEngineers: [arn:aws:iam::111111111111:role/mle]",
        "  registries: [training, serving]",
        "  compute:",
        "    pools:",
        "      - { name: cpu-batch, instanceTypes: [m6i.2xlarge], capacity: spot, max: 8 }",
        "      - { name: gpu-train, instanceTypes: [g5.2xlarge], gpu: { count: 1 }, capacity: spot, max: 4 }",
    ]
    if pipelines:
        lines.append("  pipelines:")
        for index in range(pipelines):
            kind = PIPELINE_TYPES[index % len(PIPELINE_TYPES)]
            pool = "gpu-train" if kind == "training" else "cpu-batch"
            lines.append(f"    p{index}: {{ type: {kind}, image: training, pool: {pool} }}")
    if endpoints:
        lines += ["  serving:", "    endpoints:"]
        for index in range(endpoints):
            lines.append(f"      - {{ name: e{index}, image: serving, rollout: {{ strategy: canary, percent: 10 }} }}")
    return "\n".join(lines) + "\n"


def project_directory(directory: Path, name: str, *, pipelines: int, endpoints: int) -> Path:
    """`directory` holding the example platform and one generated project; returns the project."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(examples.path(examples.PLATFORM), directory / examples.PLATFORM)
    path = directory / f"{name}.yaml"
    path.write_text(project_text(name, pipelines=pipelines, endpoints=endpoints), encoding="utf-8")
    return path


def organisation(directory: Path, projects: int) -> list[Path]:
    """The example platform and `projects` generated projects of varied sizes (2 to 6
    pipelines, 1 or 2 endpoints), as an organisation keeps them in `bundles/`."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(examples.path(examples.PLATFORM), directory / examples.PLATFORM)
    files = [directory / examples.PLATFORM]
    for index in range(projects):
        path = directory / f"team-{index:02d}.yaml"
        text = project_text(f"team-{index:02d}", pipelines=2 + index % 5, endpoints=1 + index % 2)
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files
