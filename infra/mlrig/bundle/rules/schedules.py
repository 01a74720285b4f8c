"""Schedules are 5-field cron expressions that parse."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from croniter import croniter

from . import Finding, ProjectView, project_rule


@lru_cache(maxsize=4096)  # the same few schedules recur in every environment and file
def cron_problem(expression: str) -> str | None:
    fields = expression.split()
    if expression.startswith("@"):
        return f"'{expression}' is a cron macro; write the 5 fields instead (e.g. '0 3 * * 0')"
    if len(fields) != 5:
        return f"'{expression}' has {len(fields)} fields; a cron schedule has 5 (minute hour day-of-month month day-of-week)"
    try:
        if not croniter.is_valid(expression):
            return f"'{expression}' is not a valid cron expression"
        croniter(expression).get_next(float)
    except (ValueError, KeyError, TypeError, OverflowError) as error:  # croniter raises these
        return f"'{expression}' is not a valid cron expression: {error}"
    return None


@project_rule
def schedules_parse(view: ProjectView) -> Iterator[Finding]:
    for name, pipeline in view.spec.pipelines.items():
        if pipeline.type == "monitoring" and pipeline.schedule == view.spec.monitoring.schedule:
            continue  # the default, taken from monitoring.schedule: reported there
        if pipeline.schedule:
            problem = cron_problem(pipeline.schedule)
            if problem:
                yield Finding(("spec", "pipelines", name, "schedule"), problem)
    problem = cron_problem(view.spec.monitoring.schedule)
    if problem:
        yield Finding(("spec", "monitoring", "schedule"), problem)
