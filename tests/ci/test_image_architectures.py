"""A project's images run where its pods run: built natively for every architecture its pods can be
scheduled on (and no other), and pushed to every staging- and prod-tier environment that deploys
the project, each in its own GitHub environment with its own ci-deployer role."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mlrig.bundle.resolved import Project
from mlrig.bundle.validate import validate_paths
from mlrig.checks.runner import stack_graph
from mlrig.checks.scheduling import accepts, node_shapes
from mlrig.ci import images
from mlrig.ci.render import render_project_workflows
from mlrig.plan.runner import Planner

from .conftest import parse
from .test_platform_workflows import runs

SETS = Path(__file__).parents[1] / "valid_sets" / "sets"
STAGING = ".github/workflows/mlrig-staging.yml"
RELEASE = ".github/workflows/mlrig-release.yml"
SHA = "${{ github.sha }}"
# Added to the arm64 set's project: a pipeline without a pool (general nodes, amd64), a monitoring
# pipeline on an arm64 pool (its publish step is light: general nodes) and a model-deployment
# pipeline on an arm64 pool (every step light).
MIXED_PIPELINES = """
    score: { type: batch-inference, resources: { cpu: "1", memory: 2Gi } }
    watch: { type: monitoring, pool: arm-cpu, resources: { cpu: "1", memory: 2Gi } }
    ship: { type: model-deployment, pool: arm-cpu }
"""
# Distributed fine-tuning on the arm64 GPU pool: its workers run there, its rendezvous (light) on
# the general nodes.
DISTRIBUTED_PIPELINE = """
    dist: { type: fine-tuning, pool: arm-gpu, workers: 2, baseModel: Qwen/Qwen2.5-7B, resources: { cpu: "6", memory: 12Gi, gpu: 1 } }
"""


def load_set(tmp_path: Path, name: str, edit: Mapping[str, tuple[str, str]] = {}) -> dict[str, Project]:
    """The valid set `name`, copied to `tmp_path`, with `edit` (file → (old, new)) applied."""
    directory = tmp_path / name
    shutil.copytree(SETS / name, directory)
    for file, (old, new) in edit.items():
        path = directory / file
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = validate_paths([directory])
    assert result.valid, "\n".join(d.text() for d in result.diagnostics)
    return dict(result.projects)


def mixed(tmp_path: Path) -> Project:
    edit = {"edge.yaml": ("  pipelines:\n", "  pipelines:" + MIXED_PIPELINES)}
    return load_set(tmp_path, "arm64", edit)["edge"]


def workflow(project: Project, path: str) -> dict[str, Any]:
    return parse(render_project_workflows(project)[path])


def built(job: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(repository, architecture, tag) of each image a build job pushes."""
    return [
        (s["env"]["REPOSITORY"], s["env"]["ARCHITECTURE"], s["env"]["TAG"])
        for s in job["steps"]
        if "docker build" in s.get("run", "") and "docker push" in s.get("run", "")
    ]


def published(job: Mapping[str, Any]) -> dict[str, str]:
    """Repository → the architectures of the image index a job publishes as the run's tag."""
    return {
        s["env"]["REPOSITORY"]: s["env"]["ARCHITECTURES"]
        for s in job["steps"]
        if "docker buildx imagetools create" in s.get("run", "")
    }


# --- architectures ----------------------------------------------------------------------------


def test_a_project_whose_pools_are_all_arm64_gets_arm64_images_only(tmp_path: Path) -> None:
    edge = load_set(tmp_path, "arm64")["edge"]
    for path, env, deploy in ((STAGING, "staging", "integration-staging"), (RELEASE, "prod", "roll-prod")):
        jobs = workflow(edge, path)["jobs"]
        assert set(jobs) == {f"build-{env}-arm64", deploy}, "nothing of edge runs on amd64: no amd64 build"
        build = jobs[f"build-{env}-arm64"]
        assert build["runs-on"] == "ubuntu-24.04-arm", "built natively on an arm64 runner, no emulation"
        assert built(build) == [(f"edge/{env}/arm", "arm64", SHA)], "the run's tag, the tag the pods run"
        assert 'docker build --platform "linux/$ARCHITECTURE"' in runs(build)
        assert jobs[deploy]["needs"] == [f"build-{env}-arm64"]
        assert published(jobs[deploy]) == {}, "one architecture: no image index"


def test_a_project_with_pods_on_both_architectures_gets_an_image_for_each(tmp_path: Path) -> None:
    jobs = workflow(mixed(tmp_path), STAGING)["jobs"]
    assert jobs["build-staging-amd64"]["runs-on"] == "ubuntu-latest"
    assert jobs["build-staging-arm64"]["runs-on"] == "ubuntu-24.04-arm"
    assert built(jobs["build-staging-amd64"]) == [("edge/staging/arm", "amd64", f"{SHA}-amd64")]
    assert built(jobs["build-staging-arm64"]) == [("edge/staging/arm", "arm64", f"{SHA}-arm64")]
    integration = jobs["integration-staging"]
    assert integration["needs"] == ["build-staging-amd64", "build-staging-arm64"]
    assert published(integration) == {"edge/staging/arm": "amd64 arm64"}, "the run's tag: an index of both"
    script = runs(integration)
    assert script.index("imagetools create") < script.index("aws eks update-kubeconfig"), "published, then rolled"


def test_light_steps_of_a_pipeline_on_an_arm64_pool_need_an_amd64_image(tmp_path: Path) -> None:
    spec = mixed(tmp_path).environments["staging"].spec
    pipelines = spec.pipelines
    assert images.pipeline_architectures(spec, pipelines["prep"]) == {"arm64"}
    assert images.pipeline_architectures(spec, pipelines["score"]) == {"amd64"}, "no pool: the general nodes"
    assert images.pipeline_architectures(spec, pipelines["watch"]) == {"amd64", "arm64"}, "publish is light"
    assert images.pipeline_architectures(spec, pipelines["ship"]) == {"amd64"}, "every gate is light"
    edit = {"edge.yaml": ("  pipelines:\n", "  pipelines:" + DISTRIBUTED_PIPELINE)}
    distributed = load_set(tmp_path / "distributed", "arm64", edit)["edge"].environments["staging"].spec
    assert images.pipeline_architectures(distributed, distributed.pipelines["dist"]) == {"amd64", "arm64"}


def test_a_registry_no_workload_runs_yet_gets_an_image_for_the_general_nodes(tmp_path: Path) -> None:
    edit = {"edge.yaml": ("registries: [arm]", "registries: [arm, spare]")}
    spec = load_set(tmp_path, "arm64", edit)["edge"].environments["prod"].spec
    assert images.image_architectures(spec) == {"arm": ("arm64",), "spare": ("amd64",)}


def _project_pods(spec: Any, image: re.Pattern[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(registry, pod spec) of every container in `spec` (a workload's inputs) whose image matches
    `image`: Argo templates (`container`), pod specs and KServe predictors (`containers`,
    `initContainers`, as the pre-pull DaemonSets use them)."""
    stack: list[Any] = [spec]
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            containers = [
                value.get("container"),
                *(value.get("containers") or []),
                *(value.get("initContainers") or []),
            ]
            for container in containers:
                match = image.match(str(container.get("image"))) if isinstance(container, Mapping) else None
                if match:
                    yield match.group("registry"), value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


@pytest.mark.parametrize(
    ("pipelines", "expected"),
    [("", {"arm64"}), (MIXED_PIPELINES, {"amd64", "arm64"}), (DISTRIBUTED_PIPELINE, {"amd64", "arm64"})],
    ids=["arm64", "mixed", "distributed"],
)
def test_every_planned_pod_of_a_project_image_runs_on_an_architecture_it_was_built_for(
    tmp_path: Path, pipelines: str, expected: set[str]
) -> None:
    """The CI's architectures, checked against the planned stack: the nodes each pod running a
    project image can land on (its pool's NodePool, or the platform's general NodePool), found as
    the scheduling checks find them."""
    edge = load_set(tmp_path, "arm64", {"edge.yaml": ("  pipelines:\n", "  pipelines:" + pipelines + "\n")})["edge"]
    graph = stack_graph(edge, "staging", Planner(), {})
    shapes = node_shapes(graph)
    image = re.compile(r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/edge/staging/(?P<registry>[a-z0-9-]+):")
    found: dict[str, set[str]] = {}
    for resource in graph.resources:
        for registry, pod in _project_pods(resource.inputs, image):
            landing = {
                s.facts.architecture
                for s in shapes
                if accepts(
                    s, node_selector=pod.get("nodeSelector") or {}, tolerations=pod.get("tolerations") or [], terms=()
                )
            }
            assert landing, f"{resource.name}: a pod of {registry} lands on no node"
            found.setdefault(registry, set()).update(landing)
    assert found == {"arm": expected}, "light and unpooled steps run on the amd64 general nodes, the rest on arm64"
    spec = edge.environments["staging"].spec
    assert {r: set(a) for r, a in images.image_architectures(spec).items()} == found


def test_a_repository_keeps_whole_builds_whether_built_for_one_architecture_or_two(tmp_path: Path) -> None:
    """ECR counts an index and each architecture's image as images: `keepLastImages` counts builds,
    so a kept index never loses one of its architectures' images."""
    import json

    for pipelines, images_per_build in (("", 1), (MIXED_PIPELINES, 3)):
        edge = load_set(
            tmp_path / str(images_per_build),
            "arm64",
            {"edge.yaml": ("  pipelines:\n", "  pipelines:" + pipelines + "\n")},
        )["edge"]
        graph = stack_graph(edge, "staging", Planner(), {})
        keep = edge.environments["staging"].spec.registry.keep_last_images
        [lifecycle] = [r for r in graph.resources if r.type == "aws:ecr/lifecyclePolicy:LifecyclePolicy"]
        [kept] = [
            rule for rule in json.loads(lifecycle.inputs["policy"])["rules"] if rule["selection"]["tagStatus"] == "any"
        ]
        assert kept["selection"]["countNumber"] == keep * images_per_build


# --- every environment of a tier ----------------------------------------------------------------


def test_every_staging_tier_environment_receives_its_images_and_its_rollout(tmp_path: Path) -> None:
    """five-envs: `qa` and `preprod` are both staging-tier; each builds into its own registry, in its
    own GitHub environment (its variables: its account's ci-deployer role), and rolls its own pods."""
    recs = load_set(tmp_path, "five-envs")["recs"]
    jobs = workflow(recs, STAGING)["jobs"]
    assert set(jobs) == {"build-qa-amd64", "integration-qa", "build-preprod-amd64", "integration-preprod"}
    for env in ("qa", "preprod"):
        build, integration = jobs[f"build-{env}-amd64"], jobs[f"integration-{env}"]
        assert build["environment"] == integration["environment"] == env
        assert built(build) == [(f"recs/{env}/main", "amd64", SHA)]
        assert integration["needs"] == [f"build-{env}-amd64"], "each environment rolls only what it built"
        rolled = [s["env"]["REPOSITORY"] for s in integration["steps"] if "--field-manager" in s.get("run", "")]
        assert rolled == [f"recs/{env}/main"]
        assert "pytest -q tests/integration" in runs(integration)
    assert "dev-a" not in str(jobs) and "dev-b" not in str(jobs), "dev-tier environments are the developers'"
    release = workflow(recs, RELEASE)["jobs"]
    assert set(release) == {"build-prod-amd64", "roll-prod"}


def test_the_one_prod_environment_is_released_from_the_release_branch_only(tmp_path: Path) -> None:
    """Validation admits exactly one prod-tier environment; the release workflow deploys it and
    nothing else, and the staging workflow never touches it."""
    recs = load_set(tmp_path, "five-envs")["recs"]
    release = workflow(recs, RELEASE)
    assert release["on"] == {"push": {"branches": ["release"]}}
    assert {job["environment"] for job in release["jobs"].values()} == {"prod"}
    assert built(release["jobs"]["build-prod-amd64"]) == [("recs/prod/main", "amd64", SHA)]
    staging = workflow(recs, STAGING)
    assert staging["on"] == {"push": {"branches": ["main"]}}
    assert {job["environment"] for job in staging["jobs"].values()} == {"qa", "preprod"}
