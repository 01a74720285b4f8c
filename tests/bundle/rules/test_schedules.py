"""rules/schedules.py: pipeline and monitoring schedules are 5-field cron expressions that Argo
Workflows reads (robfig/cron's standard parser), and that fire."""

from __future__ import annotations

import random

import pytest

from mlrig.bundle.rules.schedules import FIELDS, cron_problem

from ..helpers import check_project, only


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 25 * * *", "hour 25 is out of range 0–23"),
        ("61 * * * *", "minute 61 is out of range 0–59"),
        ("0 3 * * 8", "day-of-week 8 is out of range 0–6 or sun–sat"),
        # robfig/cron reads Sunday as 0 only (croniter, which validation used before, took 7 too)
        ("0 3 * * 7", "day-of-week 7 is out of range 0–6 or sun–sat"),
        ("0 22-2 * * *", "hour range '22-2' runs backwards, which Argo refuses"),
        ("0 0 * * fri-mon", "day-of-week range 'fri-mon' runs backwards"),
        ("*-5 * * * *", "minute '*-5' is read as '*' (every minute)"),
        ("1-2-3 * * * *", "minute '1-2-3' has more than one '-'"),
        ("*/5/2 * * * *", "minute '*/5/2' has more than one '/'"),
        ("0 0 30 2 *", "never fires: none of its months has any of its days of the month"),
        ("0 0 31 4,6,9,11 *", "never fires"),
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
    "schedule",
    [
        "*/15 * * * *",
        "0 3 * * 0",
        "30 1 1,15 * *",
        "0 9-17 * * mon-fri",
        "0 0 1 jan *",
        "0 3 ? * MON",
        "0 0 29 2 *",  # leap years: within the five years robfig/cron looks ahead
        "0 0 30 2 1",  # both days restricted: either one is enough (every Monday of February)
        "0 0 31 */2 *",  # January has a 31st
        "5/10 * * * *",  # 5-59/10
    ],
)
def test_valid_cron_schedules_pass(schedule: str):
    assert cron_problem(schedule) is None
    assert check_project({"spec.pipelines.train.schedule": schedule}).valid


def test_the_monitoring_schedule_is_checked_too():
    error = only(check_project({"spec.monitoring.schedule": "0 0 0 * *"}), "schedules_parse")
    assert error.path == "spec.monitoring.schedule"


def test_where_both_read_a_schedule_croniter_agrees_on_which_ones_fire():
    """croniter (which `mlrig cost` counts runs with) as an independent oracle, on 3,000 seeded
    schedules in the syntax both read: numbers, names, *, ranges low-high, lists and steps."""
    from croniter import croniter

    rng = random.Random(20261130)

    def part(lowest: int, highest: int, names: tuple[str, ...]) -> str:
        low, high = sorted(rng.randint(lowest, highest) for _ in range(2))
        return rng.choice(
            [
                "*",
                f"*/{rng.randint(1, 5)}",
                str(low),
                f"{low}-{high}",
                f"{low}-{high}/{rng.randint(1, 4)}",
                f"{low}/{rng.randint(1, 4)}",
                names[low - lowest].upper() if names else str(low),
            ]
        )

    for _ in range(3000):
        fields = [",".join(part(lo, hi, names) for _ in range(rng.randint(1, 2))) for _, lo, hi, names in FIELDS]
        expression = " ".join(fields)
        try:
            fires = croniter.is_valid(expression) and croniter(expression).get_next(float) > 0
        except ValueError:  # croniter's "failed to find next date"
            fires = False
        assert (cron_problem(expression) is None) == fires, (expression, cron_problem(expression))
