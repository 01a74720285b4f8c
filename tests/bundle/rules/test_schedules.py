"""rules/schedules.py: pipeline and monitoring schedules are 5-field cron expressions that parse."""

from __future__ import annotations

import pytest

from mlrig.bundle.rules.schedules import cron_problem

from ..helpers import check_project, only


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 25 * * *", "not a valid cron expression"),
        ("61 * * * *", "not a valid cron expression"),
        ("0 3 * * 8", "not a valid cron expression"),
        ("0 3 * *", "has 4 fields"),
        ("0 0 3 * * 0", "has 6 fields"),
        ("@daily", "cron macro"),
        ("every day at noon", "fields"),
    ],
)
def test_a_schedule_that_does_not_parse_is_rejected(schedule: str, expected: str):
    error = only(check_project({"spec.pipelines.train.schedule": schedule}), "schedules_parse")
    assert error.path == "spec.pipelines.train.schedule" and expected in error.message


@pytest.mark.parametrize(
    "schedule", ["*/15 * * * *", "0 3 * * 0", "30 1 1,15 * *", "0 9-17 * * mon-fri", "0 0 1 jan *"]
)
def test_valid_cron_schedules_pass(schedule: str):
    assert cron_problem(schedule) is None
    assert check_project({"spec.pipelines.train.schedule": schedule}).valid


def test_the_monitoring_schedule_is_checked_too():
    error = only(check_project({"spec.monitoring.schedule": "0 0 0 * *"}), "schedules_parse")
    assert error.path == "spec.monitoring.schedule"
