"""rules/schedules.py: pipeline and monitoring schedules are 5-field cron expressions that parse."""

from __future__ import annotations

import pytest

from mlrig.bundle.rules.schedules import cron_problem, parsed_problem, plainly_valid

from ..helpers import check_project, only


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 25 * * *", "hour 25 is out of range 0–23"),
        ("61 * * * *", "minute 61 is out of range 0–59"),
        ("0 3 * * 8", "day-of-week 8 is out of range 0–7 or sun–sat"),
        ("0 0 0 * *", "day-of-month 0 is out of range 1–31"),
        ("0 0 1 13 *", "month 13 is out of range 1–12"),
        ("0 1-30 * * *", "hour 30 is out of range 0–23"),
        ("*/0 * * * *", "minute step 0 in '*/0' must be at least 1"),
        ("0 3 * *", "has 4 fields"),
        ("0 0 3 * * 0", "has 6 fields"),
        ("@daily", "write the 5 fields instead: '0 0 * * *'"),
        ("@hourly", "write the 5 fields instead: '0 * * * *'"),
        ("@weekly", "write the 5 fields instead: '0 0 * * 0'"),
        ("@reboot", "not a schedule"),
        ("every day at noon", "fields"),
        # Quartz syntax croniter takes but Argo Workflows' cron parser (robfig/cron) refuses:
        ("0 3 L * *", "day-of-month 'L' is not cron syntax Argo Workflows reads"),
        ("0 3 15W * *", "day-of-month '15W' is not cron syntax"),
        ("0 3 * * 1#2", "day-of-week '1#2' is not cron syntax"),
        ("0 3 * * MONDAY", "day-of-week 'MONDAY' is not cron syntax"),
    ],
)
def test_a_schedule_that_does_not_parse_is_rejected(schedule: str, expected: str):
    error = only(check_project({"spec.pipelines.train.schedule": schedule}), "schedules_parse")
    assert error.path == "spec.pipelines.train.schedule" and expected in error.message


@pytest.mark.parametrize(
    "schedule", ["*/15 * * * *", "0 3 * * 0", "30 1 1,15 * *", "0 9-17 * * mon-fri", "0 0 1 jan *", "0 3 ? * MON"]
)
def test_valid_cron_schedules_pass(schedule: str):
    assert cron_problem(schedule) is None
    assert check_project({"spec.pipelines.train.schedule": schedule}).valid


def test_the_monitoring_schedule_is_checked_too():
    error = only(check_project({"spec.monitoring.schedule": "0 0 0 * *"}), "schedules_parse")
    assert error.path == "spec.monitoring.schedule"


@pytest.mark.parametrize("day_of_week", ["*", *map(str, range(8))])
def test_every_schedule_taken_without_croniter_is_one_croniter_accepts(day_of_week: str):
    # `plainly_valid` spares croniter the schedules written `<minute> <hour> * * <day-of-week>`:
    # asked about each of them, croniter (and every check of `parsed_problem`) finds no problem.
    minutes, hours = ["*", *map(str, range(60))], ["*", *map(str, range(24))]
    schedules = [f"{minute} {hour} * * {day_of_week}" for minute in minutes for hour in hours]
    assert all(plainly_valid(s) for s in schedules)
    assert [s for s in schedules if parsed_problem(s) is not None] == []


@pytest.mark.parametrize(
    "schedule",
    [
        "0  3 * * *",
        " 0 3 * * *",
        "0 3 * * * ",
        "0\t3 * * *",
        "05 3 * * *",
        "0 3 1 * *",
        "0 3 * 1 *",
        "60 3 * * *",
        "0 3 * * 8",
        "٣ 3 * * *",
    ],
)
def test_a_schedule_written_otherwise_is_parsed(schedule: str):
    assert not plainly_valid(schedule)
    assert cron_problem(schedule) == parsed_problem(schedule)
