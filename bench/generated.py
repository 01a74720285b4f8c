"""Generated bundles for the benchmarks: projects of any size, and whole organisations.

Never the repository's live `bundles/`: the platform is the example shipped in the package
(`mlrig.examples`), the projects are generated beside it.
"""

from __future__ import annotations

from pathlib import Path

from mlrig import examples

PLATFORM = "acme-ml"
PIPELINE_TYPES = ("feature-refresh", "training", "batch-inference", "monitoring")


def project_text(
    name: str, *, pipelines: int, endpoints: int, pools: int = 0, registries: int = 0, platform: str = PLATFORM
) -> str:
    """A valid Project bundle with `pipelines` pipelines (of four kinds, on a CPU and a GPU pool)
    and `endpoints` canary endpoints, plus `pools` extra CPU pools and `registries` extra
    registries. Every pipeline gets its own workload role and Kubernetes objects, so the stack
    grows by about seven resources per pipeline and per endpoint."""
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
        f"  registries: [{', '.join(['training', 'serving'] + [f'r{i}' for i in range(registries)])}]",
        "  compute:",
        "    pools:",
        "      - { name: cpu-batch, instanceTypes: [m6i.2xlarge], capacity: spot, max: 8 }",
        "      - { name: gpu-train, instanceTypes: [g5.2xlarge], gpu: { count: 1 }, capacity: spot, max: 4 }",
    ]
    lines += [f"      - {{ name: cpu-{i}, instanceTypes: [m6i.xlarge], capacity: spot, max: 2 }}" for i in range(pools)]
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


BENCH_CAPACITY = 100_000


def platform_admitting(directory: Path, names: list[str]) -> Path:
    """The example platform copied into `directory`, admitting the generated projects `names` as
    a platform team would (spec.tenancy.projects), beside the examples it already admits."""
    directory.mkdir(parents=True, exist_ok=True)
    text = examples.path(examples.PLATFORM).read_text(encoding="utf-8")
    marker = "    projects:\n"
    entries = "".join(
        f"      {name}:\n"
        f"        repository: acme/{name}\n"
        f"        principals: [arn:aws:iam::111111111111:role/ds, arn:aws:iam::111111111111:role/mle]\n"
        f'        prodApprovers: ["@acme/{name}-leads"]\n'
        # A platform team admitting a project this large raises its capacity bounds with it.
        f"        maxNodes: {BENCH_CAPACITY}\n"
        f"        maxGpus: {BENCH_CAPACITY}\n"
        f"        maxGeneralCpu: {BENCH_CAPACITY}\n"
        for name in names
    )
    assert marker in text, "the example platform admits projects under spec.tenancy.projects"
    path = directory / examples.PLATFORM
    path.write_text(text.replace(marker, marker + entries, 1), encoding="utf-8")
    return path


def project_directory(
    directory: Path, name: str, *, pipelines: int, endpoints: int, pools: int = 0, registries: int = 0
) -> Path:
    """`directory` holding the example platform and one generated project; returns the project."""
    names = sorted({name, *(p.stem for p in directory.glob("*.yaml") if p.name != examples.PLATFORM)})
    platform_admitting(directory, names)
    path = directory / f"{name}.yaml"
    text = project_text(name, pipelines=pipelines, endpoints=endpoints, pools=pools, registries=registries)
    path.write_text(text, encoding="utf-8")
    return path


def organisation(directory: Path, projects: int) -> list[Path]:
    """The example platform and `projects` generated projects of varied sizes (2 to 6
    pipelines, 1 or 2 endpoints), as an organisation keeps them in `bundles/`."""
    files = [platform_admitting(directory, [f"team-{index:02d}" for index in range(projects)])]
    for index in range(projects):
        path = directory / f"team-{index:02d}.yaml"
        text = project_text(f"team-{index:02d}", pipelines=2 + index % 5, endpoints=1 + index % 2)
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files
