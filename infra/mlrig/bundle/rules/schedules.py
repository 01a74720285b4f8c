"""Schedules are 5-field cron expressions that parse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from croniter import croniter

from . import Finding, ProjectView, project_rule

# The five fields: name, lowest and highest value, value names.
FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day-of-week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),  # 0 and 7 are Sunday
)
# What each macro means, written as the 5 fields.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NUMBER = re.compile(r"^\d+$")


# Schedules written as `<minute> <hour> * * <day-of-week>`, each a number in its range or `*`,
# one space apart: croniter accepts every one of them (tests/bundle/rules/test_schedules.py asks
# it about each), so they need not be parsed. Most schedules are such; croniter's parse and first
# run cost a fifth of a millisecond each.
_PLAIN_FIELDS = tuple(frozenset(["*", *map(str, range(low, high + 1))]) for _, low, high, _ in FIELDS)


def plainly_valid(expression: str) -> bool:
    fields = expression.split(" ")
    return (
        len(fields) == 5
        and fields[0] in _PLAIN_FIELDS[0]
        and fields[1] in _PLAIN_FIELDS[1]
        and fields[2] == "*"
        and fields[3] == "*"
        and fields[4] in _PLAIN_FIELDS[4]
    )


@lru_cache(maxsize=4096)  # the same few schedules recur in every environment and file
def cron_problem(expression: str) -> str | None:
    if plainly_valid(expression):
        return None
    return parsed_problem(expression)


def parsed_problem(expression: str) -> str | None:
    fields = expression.split()
    if expression.startswith("@"):
        equivalent = MACROS.get(expression.strip().lower())
        if equivalent:
            return f"'{expression}' is a cron macro; write the 5 fields instead: '{equivalent}'"
        return f"'{expression}' is not a schedule; write the 5 fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'"
    if len(fields) != 5:
        return f"'{expression}' has {len(fields)} fields; a cron schedule has 5 (minute hour day-of-month month day-of-week)"
    for value, field in zip(fields, FIELDS, strict=True):
        problem = field_problem(value, *field)
        if problem:
            return f"'{expression}' is not a valid cron expression: {problem}"
    try:
        if not croniter.is_valid(expression):
            return f"'{expression}' is not a valid cron expression"
        croniter(expression).get_next(float)
    except (ValueError, KeyError, TypeError, OverflowError) as error:  # croniter raises these
        return f"'{expression}' is not a valid cron expression: {error}"
    return None


# What Argo Workflows' cron parser (robfig/cron's standard parser, which CronWorkflows are
# validated with) reads in a field: numbers, names, *, ?, ranges, lists and steps. croniter also
# takes Quartz's L, W and #, which Argo would refuse only once the stack is applied.
_FIELD_SYNTAX = re.compile(r"^[0-9A-Za-z*?,/-]+$")
_WORD = re.compile(r"[A-Za-z]+")


def field_problem(value: str, name: str, lowest: int, highest: int, names: tuple[str, ...]) -> str | None:
    """Which number of one field is out of its range, which step is zero, or which character or
    word Argo's cron parser does not read; None when every number fits (other syntax is left to
    croniter)."""
    words = _WORD.findall(value)
    unknown = next((w for w in words if w.lower() not in names), None)
    if not _FIELD_SYNTAX.match(value) or unknown is not None:
        return (
            f"{name} '{value}' is not cron syntax Argo Workflows reads (numbers"
            + (f", names {names[0]}–{names[-1]}" if names else "")
            + ", *, ?, ranges a-b, lists a,b and steps /n; no L, W or #)"
        )
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step and _NUMBER.match(step) and int(step) == 0:
            return f"{name} step 0 in '{part}' must be at least 1"
        for bound in base.split("-") if base != "*" else []:
            if _NUMBER.match(bound) and not lowest <= int(bound) <= highest:
                allowed = f"{lowest}–{highest}" + (f" or {names[0]}–{names[-1]}" if names else "")
                return f"{name} {int(bound)} is out of range {allowed}"
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
