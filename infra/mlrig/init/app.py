"""The team's application repository skeleton, shaped by what its generated workflows and mlrig's
pipelines and endpoints expect of it:

- the pull-request workflow runs `pip install -e ".[dev]"`, `ruff check .` and `pytest -q tests/unit`;
- the staging workflow builds `docker/<registry>/Dockerfile` for each registry and runs
  `pytest -q tests/integration`;
- the pipelines start the image with `--step=<step> --<parameter>=<value> …` and read decisions
  from `/tmp/outputs/<name>`; custom endpoints run the image's default command on port 8080.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from ..bundle.resolved import Project
from .project import python_package
from .templates import render
from .tree import FileTree

CPU_BASE_IMAGE = "python:3.11-slim"
# Has torch, torchrun and the CUDA runtime: what GPU steps and distributed fine-tuning need.
GPU_BASE_IMAGE = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"


@dataclass(frozen=True)
class AppPipeline:
    name: str
    function: str
    type: str
    schedule: str | None


@dataclass(frozen=True)
class AppImage:
    registry: str
    base: str
    used_by: str


@dataclass(frozen=True)
class App:
    project: str
    package: str
    distribution: str
    python_version: str
    pipelines: tuple[AppPipeline, ...]
    images: tuple[AppImage, ...]

    @property
    def pipeline_names(self) -> list[str]:
        return [p.name for p in self.pipelines]


def function_name(pipeline: str) -> str:
    name = re.sub(r"[^0-9a-zA-Z_]", "_", pipeline).lower()
    if not name[:1].isalpha() or keyword.iskeyword(name):
        name = f"pipeline_{name}"
    return name


def app_of(project: Project) -> App:
    spec = project.bundle.spec
    gpu_pools = {pool.name for pool in spec.compute.pools if pool.gpu is not None}
    users: dict[str, list[str]] = {registry: [] for registry in spec.registries}
    gpu_registries: set[str] = set()
    for name, pipeline in spec.pipelines.items():
        if pipeline.image in users:
            users[pipeline.image].append(f"pipeline {name}")
            if pipeline.resources.gpu or pipeline.pool in gpu_pools:
                gpu_registries.add(pipeline.image)
    for endpoint in spec.serving.endpoints:
        if endpoint.image in users:
            users[endpoint.image].append(f"endpoint {endpoint.name}")
            if endpoint.resources.gpu or endpoint.pool in gpu_pools:
                gpu_registries.add(endpoint.image)
    images = tuple(
        AppImage(
            registry,
            GPU_BASE_IMAGE if registry in gpu_registries else CPU_BASE_IMAGE,
            ", ".join(users[registry]) or "unused so far",
        )
        for registry in spec.registries
    )
    pipelines = tuple(AppPipeline(name, function_name(name), p.type, p.schedule) for name, p in spec.pipelines.items())
    return App(
        project=project.name,
        package=python_package(project.name),
        distribution=spec.repository.split("/", 1)[1],
        python_version=spec.ci.python_version,
        pipelines=pipelines,
        images=images,
    )


def application_repository(project: Project) -> FileTree:
    app = app_of(project)
    source = f"src/{app.package}"
    tree = FileTree()
    tree.add("README.md", render("app/README.md.j2", app=app))
    tree.add("pyproject.toml", render("app/pyproject.toml.j2", app=app))
    tree.add(".gitignore", render("app/gitignore.j2"))
    tree.add(".dockerignore", render("app/dockerignore.j2"))
    tree.add(f"{source}/__init__.py", render("app/init.py.j2", app=app))
    tree.add(f"{source}/__main__.py", render("app/main.py.j2", app=app))
    tree.add(f"{source}/steps.py", render("app/steps.py.j2", app=app))
    tree.add(f"{source}/pipelines.py", render("app/pipelines.py.j2", app=app))
    tree.add(f"{source}/serve.py", render("app/serve.py.j2", app=app))
    for image in app.images:
        tree.add(f"docker/{image.registry}/Dockerfile", render("app/Dockerfile.j2", app=app, image=image))
    tree.add("tests/unit/test_steps.py", render("app/test_steps.py.j2", app=app))
    tree.add("tests/integration/test_staging.py", render("app/test_staging.py.j2", app=app))
    return tree
