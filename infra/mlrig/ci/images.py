"""Which CPU architectures each project image must be built for, in one environment: those of the
nodes its pods can be scheduled on.

A pod pulling an image built for another architecture fails with `exec format error`. The project
CI builds every image natively for each architecture listed here, on a runner of that
architecture (`RUNNERS`; see `ci/templates/project/_steps.j2`), so an image runs wherever its pods
run, and nothing is built for an architecture no pod of it runs on.

Where a project image's pods run, as the project program places them:

- a pipeline step on its pool runs on the pool's `architecture` (the Karpenter NodePool requires
  `kubernetes.io/arch` to be it; validation holds the pool's instance types to it);
- light steps (model-deployment gates, the monitoring publish step, the rendezvous of distributed
  training) and everything without a pool run on the platform's general nodes: the default
  Karpenter NodePool, which is amd64 (`mlrig.platform.karpenter`);
- a custom-runtime endpoint runs its registry's image on its pool, or on the general nodes (the
  built-in runtimes serve KServe's images, not the project's).

tests/ci/test_image_architectures.py checks this against the pods of planned stacks.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..bundle.model import ComputePool, Pipeline, ProjectSpec

# The architecture of the general nodes: the platform's default Karpenter NodePool requires amd64.
GENERAL_NODES = "amd64"
# Build order, and the order of the platforms in a multi-architecture image.
ARCHITECTURES = ("amd64", "arm64")
# GitHub-hosted runners that build natively for each architecture (no emulation: an ML image's
# dependency installs run many times slower under QEMU, and no third-party action is needed).
RUNNERS = {"amd64": "ubuntu-latest", "arm64": "ubuntu-24.04-arm"}
# Pipeline types all of whose steps are light (gates and comparisons on small general pods).
ALL_STEPS_LIGHT = frozenset({"model-deployment"})
# Distributed pipeline types: with more than one worker a light rendezvous step runs beside them.
DISTRIBUTED = frozenset({"training", "fine-tuning"})


def _pool_architecture(spec: ProjectSpec, pool_name: str | None) -> str:
    pool: ComputePool | None = next((p for p in spec.compute.pools if p.name == pool_name), None)
    return pool.architecture if pool is not None else GENERAL_NODES


def _has_light_steps(pipeline: Pipeline) -> bool:
    return pipeline.type == "monitoring" or (pipeline.type in DISTRIBUTED and pipeline.workers > 1)


def pipeline_architectures(spec: ProjectSpec, pipeline: Pipeline) -> set[str]:
    """The architectures a pipeline's steps run on."""
    if pipeline.type in ALL_STEPS_LIGHT:
        return {GENERAL_NODES}
    found = {_pool_architecture(spec, pipeline.pool)}
    if _has_light_steps(pipeline):
        found.add(GENERAL_NODES)
    return found


def _uses(spec: ProjectSpec) -> Iterator[tuple[str, set[str]]]:
    """(registry, architectures) of every workload that runs a project image."""
    for pipeline in spec.pipelines.values():
        if pipeline.image is not None:
            yield pipeline.image, pipeline_architectures(spec, pipeline)
    for endpoint in spec.serving.endpoints:
        if endpoint.runtime == "custom" and endpoint.image is not None:
            yield endpoint.image, {_pool_architecture(spec, endpoint.pool)}


def image_architectures(spec: ProjectSpec) -> dict[str, tuple[str, ...]]:
    """Registry → the architectures its image is built for, for every registry of `spec` (one
    environment's resolved spec). A registry no workload runs yet gets the general nodes'
    architecture, so that a pipeline or endpoint added later finds an image it can run."""
    wanted: dict[str, set[str]] = {registry: set() for registry in spec.registries}
    for registry, architectures in _uses(spec):
        wanted.setdefault(registry, set()).update(architectures)
    return {
        registry: tuple(a for a in ARCHITECTURES if a in (found or {GENERAL_NODES}))
        for registry, found in wanted.items()
    }
