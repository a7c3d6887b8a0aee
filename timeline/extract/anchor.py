"""From a written point to the dates the timeline stores: an anchor and its real precision.

"2025年底" is stored as 2025-12-31 with precision year-end, "6月" as the 1st (a start) or
the last day (an end) with precision month, "5月中旬" as the 15th, approximate; a date
without a year takes the publication's. The anchor is for sorting and reminders, never a
claim: `precision` and the note say what the text really gave.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from timeline.extract.recognize import Point
from timeline.model import Precision

__all__ = ["Anchored", "Published", "anchor"]

_QUARTERS = {"q1": (1, 3), "q2": (4, 6), "q3": (7, 9), "q4": (10, 12)}
_TEN_DAYS = {"early": 5, "mid": 15, "late": 25}
_PART_WORDS = {"year-end": "年底", "month-end": "月底", "h1": "上半年", "h2": "下半年",
               "q1": "第一季度", "q2": "第二季度", "q3": "第三季度", "q4": "第四季度",
               "early": "上旬", "mid": "中旬", "late": "下旬", "year-start": "年初",
               "mid-year": "年中"}


@dataclass(frozen=True)
class Published:
    """The notice's own date: where a year-less date takes its year, what 近日 means."""

    day: date
    precision: Precision
    origin: str  # "--published", "signature", "header"

    @property
    def exact(self) -> bool:
        return self.precision is Precision.DAY


@dataclass(frozen=True)
class Anchored:
    first: date | datetime  # the anchor when the point starts something
    last: date | datetime  # the anchor when it ends something (a deadline, an end)
    precision: Precision
    notes: tuple[str, ...] = ()
    year_guessed: bool = False  # the year is not in the text


def _last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _moment(day: date, point: Point) -> date | datetime:
    if point.hour is None:
        return day
    if point.hour == 24:  # 24时: the end of the day, the next day's first moment
        return datetime.combine(day + timedelta(days=1), datetime.min.time())
    return datetime(day.year, day.month, day.day, point.hour, point.minute)


class InvalidDate(ValueError):
    """The text names a day no calendar has (2月30日, 1月32日)."""


# A date without a year this long before the notice's own day is next year's: a notice of
# 10 December that says "1月15日" means the coming January. A deadline or an end rolls
# sooner than a happening, which a report may tell weeks after; one said to be past
# ("已于4月中旬开工") never rolls.
ROLL_FORWARD = {True: timedelta(days=45), False: timedelta(days=120)}


def anchor(point: Point, published: Published | None, context_year: int | None,
           *, ends: bool = False, past: bool = False, future: bool = False
           ) -> Anchored | None:
    """The anchors of `point`; None when its year cannot be known; raises InvalidDate for a
    day that does not exist. `ends`: the point ends something (a deadline, a range's end)."""
    if point.invalid:
        raise InvalidDate(point)
    notes: list[str] = []
    year = point.year
    guessed = False
    if point.relative_week is not None:
        if published is None:
            return None
        monday = published.day - timedelta(days=published.day.weekday())
        day = monday + timedelta(days=7 * point.relative_week + (point.weekday or 0))
        words = "本周" if point.relative_week == 0 else "下周"
        return Anchored(day, day, Precision.DAY, (f"原文“{words}”，按发布日期所在的周推算",))
    if year is None and point.relative_year is not None:
        if published is None:
            return None
        year = published.day.year + point.relative_year
    elif year is None:
        if published is not None:
            year = published.day.year
            probe = date(year, point.month or 12, min(point.day or 28, 28))
            if point.festival is not None:
                probe = _festival_day(point.festival, year) or probe
            # "请于1月10日前报送" asks for what is ahead: before the notice's day, it is
            # next year's whatever the gap
            gap = timedelta(0) if future else ROLL_FORWARD[ends]
            if (point.month or point.festival) and not past and probe < published.day - gap:
                year += 1
                notes.append(f"原文未写年份；按发布日期（{published.day:%Y年%-m月%-d日}）之后最近的"
                             f"该日期读作{year}年")
            else:
                notes.append(f"原文未写年份；年份取自发布日期（{year}年）")
        elif context_year is not None:
            year = context_year
            notes.append(f"原文未写年份，通知也未写发布日期；按文中前面出现的年份读作{year}年，请核对")
        else:
            return None
        guessed = True
    elif point.year_inferred:
        notes.append(f"后一日期未写年份，随前一日期读作{year}年")
    month = point.month
    if point.relative_month is not None and published is not None:
        total = published.day.month - 1 + point.relative_month
        year, month = year + total // 12, total % 12 + 1
    if point.festival is not None:
        return _festival(point, year, notes, guessed)
    if point.season is not None:
        day = date(year, point.season, 1)
        notes.append("原文只给到季节；以该季第一天为约数锚点")
        return Anchored(day, day, Precision.APPROXIMATE, tuple(notes), guessed)
    try:
        return _anchored(point, year, month, notes, guessed)
    except ValueError:  # 2月30日: not a day
        raise InvalidDate(point) from None


def _festival_day(name: str, year: int) -> date | None:
    """春节, 国庆节, …: the day China's holiday calendar gives it that year."""
    import holidays

    days = sorted(d for d, named in holidays.China(years=year).items() if named == name)
    return days[0] if days else None


def _festival(point: Point, year: int, notes: list[str], guessed: bool) -> Anchored | None:
    assert point.festival is not None
    day = _festival_day(point.festival, year)
    if day is None:
        return None
    notes.append(f"节日按当年放假安排取{day:%Y年%-m月%-d日}")
    return Anchored(day, day, Precision.DAY, tuple(notes), guessed)


def _anchored(point: Point, year: int, month: int | None, notes: list[str],
              guessed: bool) -> Anchored:
    part = point.part
    if month is not None and point.day is not None:
        day = date(year, month, point.day)
        return Anchored(_moment(day, point), _moment(day, point), Precision.DAY, tuple(notes),
                        guessed)
    if month is not None:
        if part == "month-end":
            end = _last_day(year, month)
            notes.append(f"原文“{month}月底”只给到月底；以{month}月{end.day}日为锚点")
            return Anchored(end, end, Precision.MONTH_END, tuple(notes), guessed)
        if part in _TEN_DAYS:
            day = date(year, month, _TEN_DAYS[part])
            notes.append(f"原文“{month}月{_PART_WORDS[part]}”没有确切日期；以{month}月{day.day}日为约数锚点")
            return Anchored(day, day, Precision.APPROXIMATE, tuple(notes), guessed)
        notes.append(f"原文只给到月份（{year}年{month}月）；开始按1日、截止按月末计")
        return Anchored(date(year, month, 1), _last_day(year, month), Precision.MONTH,
                        tuple(notes), guessed)
    if part == "year-end":
        notes.append(f"原文只给到年底（{year}年底）；以12月31日为截止锚点")
        end = date(year, 12, 31)
        return Anchored(end, end, Precision.YEAR_END, tuple(notes), guessed)
    if part in ("h1", "h2"):
        first, last = (date(year, 1, 1), date(year, 6, 30)) if part == "h1" else \
            (date(year, 7, 1), date(year, 12, 31))
        notes.append(f"原文只给到{_PART_WORDS[part]}（{year}年）；开始按{first:%-m月%-d日}、截止按"
                     f"{last:%-m月%-d日}计")
        return Anchored(first, last, Precision.HALF_YEAR, tuple(notes), guessed)
    if part in _QUARTERS:
        a, b = _QUARTERS[part]
        notes.append(f"原文只给到季度（{year}年{_PART_WORDS[part]}）；开始按季初、截止按季末计")
        return Anchored(date(year, a, 1), _last_day(year, b), Precision.QUARTER, tuple(notes),
                        guessed)
    if part in ("year-start", "mid-year"):
        day = date(year, 1, 15) if part == "year-start" else date(year, 7, 1)
        notes.append(f"原文“{_PART_WORDS[part]}”没有确切日期；以{day:%-m月%-d日}为约数锚点")
        return Anchored(day, day, Precision.APPROXIMATE, tuple(notes), guessed)
    notes.append(f"原文只给到年份（{year}年）；开始按1月1日、截止按12月31日计")
    return Anchored(date(year, 1, 1), date(year, 12, 31), Precision.YEAR, tuple(notes), guessed)
