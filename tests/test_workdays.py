"""China's working-day calendar.

Expected values come from the State Council's published holiday arrangements
(国务院办公厅关于2024年部分节假日安排的通知), not from the code under test:
- 清明节 4月4日至6日放假，4月7日（星期日）上班；
- 劳动节 5月1日至5日放假，4月28日（星期日）、5月11日（星期六）上班；
- 国庆节 10月1日至7日放假，9月29日（星期日）、10月12日（星期六）上班。
2028 is not published yet, so its holidays are estimated from the `holidays` package.
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest

from timeline.workdays import (
    day_info,
    is_estimated,
    is_public_holiday,
    is_workday,
    previous_workday,
)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.mark.parametrize(
    "day",
    [
        *_days(date(2024, 5, 1), date(2024, 5, 5)),  # Labour Day
        *_days(date(2024, 10, 1), date(2024, 10, 7)),  # National Day
        *_days(date(2024, 4, 4), date(2024, 4, 6)),  # Qingming
        date(2024, 6, 10),  # Dragon Boat, a Monday
    ],
)
def test_statutory_days_off_2024(day: date) -> None:
    info = day_info(day)
    assert not info.workday
    assert info.public_holiday
    assert info.holiday
    assert not info.estimated


@pytest.mark.parametrize(
    "day",
    [date(2024, 4, 7), date(2024, 4, 28), date(2024, 5, 11), date(2024, 9, 29),
     date(2024, 10, 12)],
)
def test_adjusted_weekend_working_days_count_as_workdays(day: date) -> None:
    assert day.weekday() >= 5  # the point: a weekend day that is worked (调休)
    assert is_workday(day)
    assert not is_public_holiday(day)


def test_ordinary_days() -> None:
    assert is_workday(date(2024, 5, 7))  # a Tuesday
    saturday = date(2024, 5, 18)
    assert not is_workday(saturday)
    assert not is_public_holiday(saturday)  # a weekend is a day off but not a holiday
    assert day_info(saturday).holiday is None


def test_labour_day_2024_week_by_the_calendar() -> None:
    """The whole stretch 2024-04-27..05-12 day by day, against the announcement."""
    off = set(_days(date(2024, 5, 1), date(2024, 5, 5)))
    worked_weekend = {date(2024, 4, 28), date(2024, 5, 11)}
    for day in _days(date(2024, 4, 27), date(2024, 5, 12)):
        expected = day in worked_weekend or (day.weekday() < 5 and day not in off)
        assert is_workday(day) is expected, day


def test_2028_is_estimated_from_the_holidays_package() -> None:
    estimate = holidays.China(years=2028)
    assert date(2028, 1, 26) in estimate  # Spring Festival 2028 (lunar new year)
    for day in _days(date(2028, 1, 1), date(2028, 12, 31)):
        info = day_info(day)
        assert info.estimated
        assert (info.holiday is not None) == (day in estimate), day
        assert info.workday == (day.weekday() < 5 and day not in estimate), day
    national_day = day_info(date(2028, 10, 2))  # a Monday
    assert national_day.public_holiday
    assert "National Day" in (national_day.holiday or "")
    assert is_estimated(date(2028, 3, 15))
    assert is_workday(date(2028, 3, 15))  # an ordinary Wednesday


def test_published_years_are_not_estimated() -> None:
    assert not is_estimated(date(2024, 5, 1))
    assert not is_estimated(date(2025, 12, 31))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 5, 7), date(2024, 5, 7)),  # already a working day
        (date(2024, 5, 5), date(2024, 4, 30)),  # the whole Labour Day break is skipped
        (date(2024, 5, 1), date(2024, 4, 30)),
        (date(2024, 5, 11), date(2024, 5, 11)),  # adjusted Saturday is worked
        (date(2024, 5, 12), date(2024, 5, 11)),
        (date(2024, 10, 7), date(2024, 9, 30)),
        (date(2024, 4, 7), date(2024, 4, 7)),  # adjusted Sunday after Qingming
        (date(2024, 4, 6), date(2024, 4, 3)),
        (date(2024, 5, 19), date(2024, 5, 17)),  # ordinary weekend
        (date(2028, 10, 3), date(2028, 9, 29)),  # estimated year: Oct 1-4 off, 9/30 Sat
    ],
)
def test_previous_workday(day: date, expected: date) -> None:
    assert previous_workday(day) == expected
