"""Compute pools: GPU pools use GPU families, counts fit, bounds are ordered, requests fit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ...aws_catalog import ARM64_GPU_FAMILIES, NON_NVIDIA_ACCELERATORS, nvidia_gpus, split_instance_type
from ..diagnostics import Path
from ..model import ComputePool
from . import Finding, ProjectView, project_rule


def _pool_path(i: int, *rest: str | int) -> tuple[str | int, ...]:
    return ("spec", "compute", "pools", i, *rest)


@project_rule
def pool_bounds_ordered(view: ProjectView) -> Iterator[Finding]:
    for i, pool in enumerate(view.spec.compute.pools):
        if pool.min > pool.max:
            yield Finding(
                _pool_path(i, "min"), f"min ({pool.min}) is greater than max ({pool.max}) in pool '{pool.name}'"
            )


@project_rule
def gpu_pools_use_gpu_instances(view: ProjectView) -> Iterator[Finding]:
    for i, pool in enumerate(view.spec.compute.pools):
        for j, instance_type in enumerate(pool.instance_types):
            family, _ = split_instance_type(instance_type)
            gpus = nvidia_gpus(instance_type)
            path = _pool_path(i, "instanceTypes", j)
            if pool.gpu is None:
                if gpus:
                    yield Finding(
                        path,
                        f"'{instance_type}' is a GPU instance in CPU pool '{pool.name}'; add `gpu: {{count: 1}}` or use a CPU type",
                    )
                continue
            if family in NON_NVIDIA_ACCELERATORS:
                yield Finding(
                    path,
                    f"'{instance_type}' has {NON_NVIDIA_ACCELERATORS[family]}, not NVIDIA GPUs; GPU pools need g4dn, g5, g6, g6e, p4d, p5 … types",
                )
            elif gpus == 0:
                yield Finding(
                    path,
                    f"'{instance_type}' is not a GPU instance type; GPU pool '{pool.name}' needs NVIDIA GPU families such as g5, g6, p4d or p5",
                )
            elif gpus is None:
                yield Finding(path, f"unknown size of GPU family '{family}' in '{instance_type}'")
            elif gpus < pool.gpu.count:
                yield Finding(path, f"'{instance_type}' has {gpus} GPU(s), fewer than gpu.count {pool.gpu.count}")
            if pool.gpu is not None and (family in ARM64_GPU_FAMILIES) != (pool.architecture == "arm64"):
                yield Finding(
                    path,
                    f"'{instance_type}' is {'arm64' if family in ARM64_GPU_FAMILIES else 'amd64'} but pool '{pool.name}' has architecture {pool.architecture}",
                )


@project_rule
def gpu_requests_have_gpu_pools(view: ProjectView) -> Iterator[Finding]:
    names = Counter(p.name for p in view.spec.compute.pools)
    # A name declared twice is ambiguous: that is the error, reported once by its own rule.
    pools: dict[str, ComputePool] = {p.name: p for p in view.spec.compute.pools if names[p.name] == 1}
    ambiguous = {name for name, count in names.items() if count > 1}
    workloads: list[tuple[Path, str, str | None, int]] = [
        (("spec", "pipelines", name), name, p.pool, p.resources.gpu) for name, p in view.spec.pipelines.items()
    ]
    workloads += [
        (("spec", "serving", "endpoints", i), e.name, e.pool, e.resources.gpu)
        for i, e in enumerate(view.spec.serving.endpoints)
    ]
    for path, name, pool_name, gpus in workloads:
        if gpus == 0:
            continue
        pool = pools.get(pool_name) if pool_name else None
        if pool_name in ambiguous:
            continue
        if pool_name is None:
            yield Finding(
                (*path, "pool"),
                f"'{name}' requests {gpus} GPU(s) but names no `pool`; point it at a GPU pool",
                key=False,
            )
        elif pool is None:
            continue  # reported by the reference rule
        elif pool.gpu is None:
            yield Finding((*path, "pool"), f"'{name}' requests {gpus} GPU(s) but pool '{pool_name}' has no GPUs")
        elif gpus > pool.gpu.count:
            yield Finding(
                (*path, "resources", "gpu"),
                f"'{name}' requests {gpus} GPU(s) but pool '{pool_name}' nodes have {pool.gpu.count}",
            )


@project_rule
def vllm_endpoints_use_gpus(view: ProjectView) -> Iterator[Finding]:
    for i, endpoint in enumerate(view.spec.serving.endpoints):
        if endpoint.runtime == "vllm" and endpoint.resources.gpu == 0:
            yield Finding(
                ("spec", "serving", "endpoints", i, "resources"),
                f"vllm endpoint '{endpoint.name}' needs `resources.gpu` ≥ 1 and a GPU pool",
            )
