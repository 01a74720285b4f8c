"""The rules' shortcuts (work skipped or shared because it cannot change a finding) find exactly
what the rules find without them: the same diagnostics, in the same order, on the examples, on
bundle sets built to trigger each rule, and on mutated bundle sets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings

from mlrig import naming
from mlrig.bundle.rules import names

from ..helpers import admitting, example, minimal_platform, minimal_project, validate
from ..test_fuzz import mutated_bundle_sets


def every_derived_name(
    project: naming.ProjectNames, pipelines: list[str], registries: list[str], pools: list[str]
) -> list[tuple[str, str]]:
    return project.derived_names(pipelines=pipelines, registries=registries, opensearch=True, pools=pools)


@contextmanager
def without_shortcuts() -> Iterator[None]:
    """Every rule as it reads without its shortcut."""
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(names, "_shareable_names", every_derived_name))
        stack.enter_context(mock.patch.object(naming, "PREFIX_JUDGED", frozenset(naming.LIMITS)))
        for cached in (names._inference_service_name_findings, names._kserve_object_name_findings):
            stack.enter_context(mock.patch.object(names, cached.__name__, cached.__wrapped__))
        for cached in (names._judged_names, names._derived_names):
            stack.callback(cached.cache_clear)  # they hold answers of either kind
            cached.cache_clear()
        yield


def diagnostics(*documents: dict[str, Any], files: list[str] | None = None) -> list[dict[str, object]]:
    return [{"file": d.file, **d.as_dict()} for d in validate(*documents, files=files).diagnostics]


def assert_as_without_shortcuts(make: Callable[[], list[dict[str, Any]]]) -> list[dict[str, object]]:
    found = diagnostics(*make())
    with without_shortcuts():
        assert found == diagnostics(*make())
    return found


def two_projects(first: dict[str, Any], second: dict[str, Any], platform: dict[str, Any] | None = None):
    return [admitting(platform or example("platform"), first, second), first, second]


def test_the_examples_validate_as_without_shortcuts():
    assert assert_as_without_shortcuts(lambda: [example("platform"), example("fraud"), example("rag")]) == []


def test_database_names_clashing_through_environment_names_are_found_as_without_shortcuts():
    envs = {"prod": {"tier": "prod", "region": "us-east-1"}, "eu-prod": {"tier": "staging", "region": "us-east-1"}}
    found = assert_as_without_shortcuts(
        lambda: two_projects(minimal_project("a"), minimal_project("a-eu"), minimal_platform(environments=envs))
    )
    assert [d["rule"] for d in found] == ["derived_names_unique", "derived_names_unique"]


def test_a_project_copied_under_a_longer_name_is_judged_as_without_shortcuts():
    # `fraud-detection` in `staging-prod` and `fraud-detection-staging` in `prod`, one account.
    def sets() -> list[dict[str, Any]]:
        original, twin = example("fraud"), example("fraud")
        twin["metadata"]["name"] = "fraud-detection-staging"
        twin["spec"]["repository"] = "acme/fraud-detection-staging"
        original["spec"]["environments"] = twin["spec"]["environments"] = {}
        platform = example("platform")
        environments = platform["spec"]["environments"]
        environments["dev"]["account"] = environments["prod"]["account"]
        platform["spec"]["environments"] = {"staging-prod" if k == "dev" else k: v for k, v in environments.items()}
        return two_projects(original, twin, platform)

    found = assert_as_without_shortcuts(sets)
    assert "derived_names_unique" in {d["rule"] for d in found}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bundle_sets())
def test_mutated_bundle_sets_validate_as_without_shortcuts(documents: list[dict[str, Any]]):
    try:
        found = diagnostics(*documents)
    except Exception:  # a document the helpers cannot dump or load: the loader's fuzzing covers it
        return
    with without_shortcuts():
        assert found == diagnostics(*documents)


@pytest.mark.parametrize("isolation", ["account", "cluster", "namespace"])
def test_every_joined_name_starts_with_the_project_name_and_the_separator(isolation: str):
    names = naming.ProjectNames("fraud-detection", "prod", "111111111111", "eu-west-1", isolation)
    joined = names.joined_names(pipelines=["train", "serving-x"], opensearch=True, pools=["gpu-train", "cpu"])
    assert all(name.startswith("fraud-detection--") for _, name in joined)
    unjoined = names.unjoined_names(registries=["training"])
    assert (
        names.derived_names(
            pipelines=["train", "serving-x"],
            registries=["training"],
            opensearch=True,
            pools=[
                "gpu-train",
                "cpu",
            ],
        )
        == joined + unjoined
    )


@pytest.mark.parametrize("kind", sorted(naming.LIMITS.keys() - naming.PREFIX_JUDGED))
def test_a_name_that_fits_has_no_problem_unless_its_kind_is_judged_by_prefix(kind: str):
    prefixes = [*naming.S3_RESERVED_PREFIXES, naming.PRIORITY_CLASS_RESERVED_PREFIX, "a", "-", "xn--"]
    assert [p for p in prefixes if naming.name_problem(kind, f"{p}x") is not None] == []


def test_a_project_name_with_a_reserved_prefix_is_judged_as_without_shortcuts():
    for name in ("sthree-fraud", "system-fraud", "amzn-s3-demo-fraud"):
        fraud = example("fraud")
        fraud["metadata"]["name"] = name
        found = assert_as_without_shortcuts(lambda fraud=fraud: two_projects(fraud, example("rag")))
        assert "derived_names_fit" in {d["rule"] for d in found}


@pytest.mark.parametrize("isolation", ["account", "namespace"])
def test_endpoint_names_are_judged_as_without_shortcuts(isolation: str):
    def sets() -> list[dict[str, Any]]:
        rag, platform = example("rag"), example("platform")
        platform["spec"]["isolation"] = isolation
        endpoints = rag["spec"]["serving"]["endpoints"]
        endpoints[0]["name"] = "a-very-long-endpoint-name-that-kserve-labels-cannot-hold-x"
        endpoints[0]["rollout"] = {"strategy": "canary", "percent": 10}
        endpoints[-1]["name"] = f"{endpoints[0]['name']}-canary"[:40]
        return two_projects(example("fraud"), rag, platform)

    found = assert_as_without_shortcuts(sets)
    assert "inference_service_names_fit" in {d["rule"] for d in found}
