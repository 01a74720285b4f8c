"""Reconcile: a second plan over the first one's state changes nothing; no run-dependent inputs."""

from __future__ import annotations

import pytest

from mlrig.checks.reconcile import plan_differences
from mlrig.plan.runner import Planner

from .helpers import findings, record


def test_an_input_holding_a_timestamp_or_a_random_uuid_fails():
    stamped = record("aws:s3/bucket:Bucket", "b", {"tags": {"created": "2026-11-29T10:00:00Z"}})
    random_name = record("aws:s3/bucket:Bucket", "b", {"bucket": "b-0f8e2f5c-3d4b-4a8e-9c1d-2b3c4d5e6f70"})
    dated_but_fixed = record("aws:s3/bucket:Bucket", "b", {"bucket": "data-2026", "tags": {"date": "2026-11-29"}})
    assert findings("MLRIG-REC-001", stamped) and findings("MLRIG-REC-001", random_name)
    assert findings("MLRIG-REC-001", dated_but_fixed) == []


def test_plan_differences_names_what_would_change():
    first = [record("aws:s3/bucket:Bucket", "b", {"bucket": "x", "tags": {"a": "1"}})]
    second = [record("aws:s3/bucket:Bucket", "b", {"bucket": "x", "tags": {"a": "2"}})]
    [change] = plan_differences(first, second)
    assert change.endswith("tags.a: '1' → '2'")


@pytest.mark.slow
@pytest.mark.parametrize("project", ["fraud-detection", "rag-assistant"])
def test_planning_an_example_again_over_the_first_plans_state_changes_nothing(project, example_result, project_plan):
    """A fresh planner (new platform plan, new mocks) gives the same inputs: nothing to update."""
    first = project_plan(project, "prod").resources
    second = Planner().project(example_result.projects[project], "prod").resources
    assert plan_differences(first, second) == []
