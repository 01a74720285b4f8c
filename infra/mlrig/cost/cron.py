"""How many times a month a 5-field cron schedule fires (UTC), counted over a whole year.

Minutes × hours per matching day, over the days of a non-leap year whose month matches and whose
day of month or day of week matches (cron's rule: when both are restricted, either one is
enough), divided by 12.
"""

from __future__ import annotations

import datetime
from functools import lru_cache

from croniter import croniter

YEAR = 2025  # any non-leap year: the average month is what matters


@lru_cache(maxsize=1024)
def runs_per_month(expression: str) -> float:
    fields, _ = croniter.expand(expression)
    minutes, hours, days, months, weekdays = fields
    per_day = (60 if minutes == ["*"] else len(minutes)) * (24 if hours == ["*"] else len(hours))
    any_day, any_weekday = days == ["*"], weekdays == ["*"]
    matching_days = 0
    day = datetime.date(YEAR, 1, 1)
    while day.year == YEAR:
        if months == ["*"] or day.month in months:
            cron_weekday = day.isoweekday() % 7  # cron: 0 (or 7) is Sunday
            day_ok = any_day or day.day in days
            weekday_ok = any_weekday or cron_weekday in weekdays or (cron_weekday == 0 and 7 in weekdays)
            if (day_ok and weekday_ok) if (any_day or any_weekday) else (day_ok or weekday_ok):
                matching_days += 1
        day += datetime.timedelta(days=1)
    return per_day * matching_days / 12
