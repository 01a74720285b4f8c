"""Schedules are 5-field cron expressions that Argo Workflows reads, and that fire.

Argo validates and runs a CronWorkflow's schedule with robfig/cron's standard parser (v3). This
module reads a schedule as that parser does: its grammar (numbers, names, `*`, `?`, ranges `a-b`,
lists `a,b`, steps `/n`, where `a/n` means `a-<highest>/n`), its bounds (day-of-week 0–6, Sunday
is 0 only) and how day-of-month and day-of-week combine (both restricted: either one is enough;
either one `*` or `?`: both must match). A schedule that parses but can never fire (`0 0 30 2 *`)
is refused too: robfig/cron finds no next time and the pipeline would never run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from . import Finding, ProjectView, project_rule

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# The five fields: name, lowest and highest value, value names (the first name is `lowest`).
FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTH_NAMES),
    ("day-of-week", 0, 6, DAY_NAMES),
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
# The most days each month ever has (February's 29th comes within the five years robfig/cron
# looks ahead).
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NUMBER = re.compile(r"[0-9]+")  # ASCII digits, as Go's strconv.Atoi reads them


class _Unreadable(Exception):
    """One field is not what Argo Workflows' cron parser reads; the message says why."""


@lru_cache(maxsize=4096)  # the same few schedules recur in every environment and file
def cron_problem(expression: str) -> str | None:
    fields = expression.split()
    if expression.startswith("@"):
        equivalent = MACROS.get(expression.strip().lower())
        if equivalent:
            return f"'{expression}' is a cron macro; write the 5 fields instead: '{equivalent}'"
        return f"'{expression}' is not a schedule; write the 5 fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'"
    if len(fields) != 5:
        return f"'{expression}' has {len(fields)} fields; a cron schedule has 5 (minute hour day-of-month month day-of-week)"
    try:
        _, _, (days, any_day), (months, _), (_, any_weekday) = (
            read_field(value, *field) for value, field in zip(fields, FIELDS, strict=True)
        )
    except _Unreadable as problem:
        return f"'{expression}' is not a valid cron expression: {problem}"
    # With day-of-week `*` only the days of the month count; restricted, every month has each
    # weekday, and with day-of-month `*` every day counts.
    if any_weekday and not any_day and not any(day <= MONTH_DAYS[month - 1] for month in months for day in days):
        return (
            f"'{expression}' never fires: none of its months has any of its days of the month, so the "
            "CronWorkflow would never run; pick days its months have"
        )
    return None


def read_field(value: str, name: str, lowest: int, highest: int, names: tuple[str, ...]) -> tuple[set[int], bool]:
    """The values one field matches, and whether it is unrestricted (`*` or `?`, or `*/1`: what
    robfig/cron's star bit records), read as robfig/cron's `getField` reads it."""
    matched: set[int] = set()
    unrestricted = False
    for part in (p for p in value.split(",") if p):  # robfig/cron skips empty list items
        base, *steps = part.split("/")
        bounds = base.split("-")
        if bounds[0] in ("*", "?"):
            if len(bounds) > 1:  # robfig/cron reads `*-5` as `*`: surely not what was meant
                raise _Unreadable(f"{name} '{part}' is read as '*' (every {name}); write '*' or a range a-b")
            start, end, star = lowest, highest, True
        elif len(bounds) > 2:
            raise _Unreadable(f"{name} '{part}' has more than one '-'; a range is a-b")
        else:
            start = _number(bounds[0], value, name, names)
            end = _number(bounds[-1], value, name, names)
            star = False
        if len(steps) > 1:
            raise _Unreadable(f"{name} '{part}' has more than one '/'; a step is /n")
        step = 1
        if steps:
            if not _NUMBER.fullmatch(steps[0]):
                raise _Unreadable(_syntax(name, value, names))
            step = int(steps[0])
            if len(bounds) == 1:
                end = highest  # `a/n` is `a-<highest>/n`
            star = star and step == 1
        for bound in (start, end):
            if not lowest <= bound <= highest:
                allowed = f"{lowest}–{highest}" + (f" or {names[0]}–{names[-1]}" if names else "")
                raise _Unreadable(f"{name} {bound} is out of range {allowed}")
        if start > end:
            raise _Unreadable(
                f"{name} range '{part}' runs backwards, which Argo refuses; write it low-high, and a range "
                "that wraps as a list (e.g. 22-23,0-2)"
            )
        if step == 0:
            raise _Unreadable(f"{name} step 0 in '{part}' must be at least 1")
        matched.update(range(start, end + 1, step))
        unrestricted = unrestricted or star
    if not matched:
        raise _Unreadable(_syntax(name, value, names))
    return matched, unrestricted


def _number(text: str, value: str, name: str, names: tuple[str, ...]) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + (1 if names is MONTH_NAMES else 0)
    if not _NUMBER.fullmatch(text):
        raise _Unreadable(_syntax(name, value, names))
    return int(text)


def _syntax(name: str, value: str, names: tuple[str, ...]) -> str:
    return (
        f"{name} '{value}' is not cron syntax Argo Workflows reads (numbers"
        + (f", names {names[0]}–{names[-1]}" if names else "")
        + ", *, ?, ranges a-b, lists a,b and steps /n; no L, W or #)"
    )


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
