"""China's working-day calendar: statutory holidays and the adjusted working days (调休).

Published years come from `chinese-calendar`, which knows what the State Council announced.
Later years are estimated: the `holidays` package computes the lunar festivals and the rest is
weekends. Every answer says whether it rests on such an estimate. When a newer
`chinese-calendar` release knows a year, its data replaces the estimate with no other change,
because the published source is always asked first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
import holidays

__all__ = [
    "DayInfo",
    "add_working_days",
    "day_info",
    "is_estimated",
    "is_public_holiday",
    "is_workday",
    "previous_workday",
    "public_holidays",
]


@dataclass(frozen=True)
class DayInfo:
    day: date
    workday: bool
    holiday: str | None  # the festival a day off belongs to; None for ordinary days
    estimated: bool  # True when the year's holidays were not published yet

    @property
    def public_holiday(self) -> bool:
        """A statutory day off (including days moved by 调休), not an ordinary weekend."""
        return not self.workday and self.holiday is not None


@lru_cache(maxsize=64)
def _estimated_holidays(year: int) -> dict[date, str]:
    return {d: str(name) for d, name in holidays.China(years=year).items()}


@lru_cache(maxsize=8192)
def day_info(day: date) -> DayInfo:
    try:
        off, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        name = _estimated_holidays(day.year).get(day)
        return DayInfo(day, workday=name is None and day.weekday() < 5, holiday=name,
                       estimated=True)
    return DayInfo(day, workday=not off, holiday=name if off else None, estimated=False)


def is_workday(day: date) -> bool:
    return day_info(day).workday


def is_public_holiday(day: date) -> bool:
    return day_info(day).public_holiday


@lru_cache(maxsize=512)
def public_holidays(year: int) -> frozenset[date]:
    """The statutory days off of a year: what `is_public_holiday` says yes to, found among
    the published and the estimated festival days instead of asked of every day."""
    named = {d for d in chinese_calendar.holidays if d.year == year}
    return frozenset(d for d in named | set(_estimated_holidays(year)) if is_public_holiday(d))


def is_estimated(day: date) -> bool:
    return day_info(day).estimated


def previous_workday(day: date) -> date:
    """`day` itself when it is a working day, else the closest working day before it."""
    while not is_workday(day):
        day -= timedelta(days=1)
    return day


def add_working_days(day: date, count: int) -> date:
    """The `count`th working day after `day` ("发布之日起5个工作日内": the fifth one)."""
    for _ in range(max(0, min(count, 3660))):
        day += timedelta(days=1)
        while not is_workday(day):
            day += timedelta(days=1)
    return day
