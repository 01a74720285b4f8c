"""Generated random-but-valid projects: bundle validation and the plan checks agree on fit, and a
second plan changes nothing. Few examples (each plans a stack); derandomized in CI (conftest)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundle.helpers import admitting, example, minimal_project, validate
from mlrig.bundle import rules
from mlrig.checks import catalogue, run_check
from mlrig.checks.reconcile import plan_differences
from mlrig.checks.runner import principal_owners, stack_graph
from mlrig.plan.runner import Planner

ONE_GPU_TYPES = ["g5.xlarge", "g5.2xlarge", "g6.2xlarge", "g5.4xlarge", "g6e.xlarge", "g6.4xlarge"]
FIT_RULES = ("workloads_fit_pool_nodes", "pool_max_holds_workloads")
FEW = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def gpu_projects(draw: st.DrawFn) -> dict[str, Any]:
    types = draw(st.lists(st.sampled_from(ONE_GPU_TYPES), min_size=1, max_size=2, unique=True))
    cpu = draw(st.integers(min_value=1, max_value=16))
    memory = draw(st.integers(min_value=2, max_value=64))
    return minimal_project(
        "gen",
        registries=["training"],
        compute={"pools": [{"name": "gpu", "instanceTypes": types, "gpu": {"count": 1}, "max": 2}]},
        pipelines={
            "train": {
                "type": "training",
                "image": "training",
                "pool": "gpu",
                "resources": {"cpu": str(cpu), "memory": f"{memory}Gi", "gpu": 1},
            }
        },
    )


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner()


def plan_checks(result, planner: Planner) -> list[str]:
    project = result.projects["gen"]
    owners = principal_owners([project])
    graph = stack_graph(project, "dev", planner, owners)
    items = catalogue()
    return [f.check for check in ("MLRIG-DEP-001", "MLRIG-DEP-002") for f in run_check(items[check], graph)]


@pytest.mark.slow
@FEW
@given(project=gpu_projects())
def test_validation_rejects_exactly_the_projects_whose_plan_has_pods_that_do_not_fit(project, planner):
    planner._projects.clear()  # the same project name each example; the platform plan is shared
    rejected = {d.rule for d in validate(admitting(example("platform"), project), project).diagnostics}
    # Plan with the fit rules switched off, so misfits reach the plan too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rules, "PROJECT_RULES", [r for r in rules.PROJECT_RULES if r.__name__ not in FIT_RULES])
        result = validate(admitting(example("platform"), project), project)
    assert result.valid, [d.text() for d in result.diagnostics]
    found = plan_checks(result, planner)
    assert ("workloads_fit_pool_nodes" in rejected) == ("MLRIG-DEP-001" in found)
    assert ("pool_max_holds_workloads" in rejected) == ("MLRIG-DEP-002" in found)


@pytest.mark.slow
@settings(FEW, max_examples=3)
@given(project=gpu_projects())
def test_a_generated_project_planned_twice_changes_nothing(project):
    result = validate(admitting(example("platform"), project), project)
    if not result.valid:
        return
    first = Planner().project(result.projects["gen"], "dev").resources
    second = Planner().project(result.projects["gen"], "dev").resources
    assert plan_differences(first, second) == []
