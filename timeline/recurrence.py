"""Recurring items: the RFC 5545 rule behind each one, and its expansion into dates.

A recurring event is written as an RRULE or in a friendly form (`weekdays: [tue, fri]`,
`every: yearly`, `every: 3 years`). Both become one `Rule`: the RRULE text the feed publishes
and the bounds and exclusions the listing and the reminder plan use, so the feed and the
reminders can never disagree about which days an item happens on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule as DateutilRule
from dateutil.rrule import rrulestr

from timeline.model import DEFAULT_TIMED_LENGTH, LAST_YEAR, Recurring, Window, is_all_day
from timeline.workdays import public_holidays

__all__ = ["Rule", "RuleError", "add_years", "build_rule"]

_FREQ_WORDS = {
    "daily": ("DAILY", 1), "weekly": ("WEEKLY", 1), "monthly": ("MONTHLY", 1),
    "yearly": ("YEARLY", 1), "annually": ("YEARLY", 1),
}
_FREQ_UNITS = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}
_EVERY = re.compile(r"\s*(?:every\s+)?(\d{1,6})?\s*(day|week|month|year)s?\s*", re.IGNORECASE)
_BYDAY = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA",
          "sun": "SU"}
# The feed's EXDATE list and open-ended listings stop this far after the first occurrence.
HORIZON_YEARS = 10


class RuleError(ValueError):
    """A recurring item's rule cannot be built; `field` names the key at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NoOccurrence(RuleError):
    """The rule yields nothing in its span: finding that out walks the whole span."""


@dataclass(frozen=True)
class Rule:
    """A recurring event's occurrences: local wall-clock rule plus exclusions."""

    rrule: str  # the RRULE value as published, e.g. FREQ=WEEKLY;BYDAY=TU,FR;UNTIL=20240531
    dtstart: date | datetime  # date for all-day items; aware datetime for timed ones
    last_day: date | None  # inclusive; None when open-ended
    excluded: frozenset[date]  # explicit `except` dates
    skip_cn_holidays: bool
    tz: ZoneInfo

    @property
    def all_day(self) -> bool:
        return is_all_day(self.dtstart)

    def _naive_rule(self, near: datetime | None = None) -> DateutilRule:
        """The rule as dateutil runs it. `near`: the expansion starts there, so the rule is
        started at the last whole period before it instead (dateutil walks every period
        from the start: a daily item since 1900 cost 45,000 steps a listing)."""
        start = self.dtstart
        naive = (start.replace(tzinfo=None) if isinstance(start, datetime)
                 else datetime.combine(start, time()))
        # UNTIL is part of the published text; expansion here bounds by last_day instead.
        parts = [p for p in self.rrule.split(";") if not p.startswith("UNTIL=")]
        if near is not None:
            naive, parts = fast_forward(naive, parts, near)
        # One RRULE line without forceset: dateutil returns an rrule, never a set.
        return cast(DateutilRule, rrulestr(f"RRULE:{';'.join(parts)}", dtstart=naive))

    def is_excluded(self, day: date) -> bool:
        return day in self.excluded or (self.skip_cn_holidays and day in public_holidays(day.year))

    def _candidates(self, first: date, last: date) -> Iterator[date | datetime]:
        """Every occurrence start (excluded ones too) whose date lies in first..last."""
        if self.last_day is not None:
            last = min(last, self.last_day)
        if last < first:
            return
        lo = datetime.combine(first, time())
        hi = datetime.combine(last, time(23, 59, 59))
        for naive in self._naive_rule(near=lo).between(lo, hi, inc=True):
            if self.all_day:
                yield naive.date()
            else:
                # Local wall-clock time, so 09:00 stays 09:00 across a DST change.
                yield naive.replace(tzinfo=self.tz)

    def between(self, first: date, last: date) -> list[date | datetime]:
        """Occurrence starts whose date lies in first..last, exclusions removed."""
        return [s for s in self._candidates(first, last) if not self.is_excluded(_day(s))]

    def first(self) -> date | datetime:
        """The rule's first generated occurrence (excluded or not): the feed's DTSTART."""
        naive = self._naive_rule()[0]
        return naive.date() if self.all_day else naive.replace(tzinfo=self.tz)

    def exdates(self, this_year: int | None = None) -> list[date | datetime]:
        """Occurrences the rule generates but the item skips (for the feed's EXDATE). An
        open-ended rule has them listed HORIZON_YEARS past its start, or past `this_year`
        when that is later: a rule started long ago still skips next year's holidays."""
        first = _day(self.dtstart)
        last = self.last_day or horizon_end(first, this_year)
        # Only the skipped days are looked at, a few days of the rule at a time around
        # each: walking every occurrence of a daily rule since 1900 cost seconds an item.
        skipped = {d for d in self.excluded if first <= d <= last}
        if self.skip_cn_holidays:
            for year in range(first.year, last.year + 1):
                skipped.update(d for d in public_holidays(year) if first <= d <= last)
        found: list[date | datetime] = []
        for low, high in _clusters(sorted(skipped)):
            found.extend(s for s in self._candidates(low, high) if _day(s) in skipped)
        return found


def _clusters(days: list[date], gap: int = 7) -> Iterator[tuple[date, date]]:
    """Sorted days grouped into first..last spans with no more than `gap` days between."""
    if not days:
        return
    low = high = days[0]
    for day in days[1:]:
        if (day - high).days > gap:
            yield low, high
            low = day
        high = day
    yield low, high


_DAY_PARTS = ("BYMONTHDAY", "BYDAY", "BYYEARDAY", "BYWEEKNO")


def fast_forward(start: datetime, parts: list[str], near: datetime
                 ) -> tuple[datetime, list[str]]:
    """A later start for the same rule, whole periods on, at or before `near`: the same
    occurrences from there on. Not for COUNT (counted from the real start). What dateutil
    takes from the start when a part is missing (the day of the month, the month of the
    year) is written into the rule, so the new start's own day does not change it."""
    values = dict(p.split("=", 1) for p in parts if "=" in p)
    if "COUNT" in values or near <= start:
        return start, parts
    freq, every = values.get("FREQ"), int(values.get("INTERVAL", "1"))
    clock = start.time()
    if freq in ("DAILY", "WEEKLY"):
        size = every * (1 if freq == "DAILY" else 7)
        periods = (near.date() - start.date()).days // size - 1
        if periods < 1:
            return start, parts
        return start + timedelta(days=periods * size), parts
    if freq == "MONTHLY":
        months = (near.year - start.year) * 12 + near.month - start.month
        periods = months // every - 1
        if periods < 1:
            return start, parts
        total = start.month - 1 + periods * every
        moved = datetime.combine(date(start.year + total // 12, total % 12 + 1, 1), clock)
        if not any(p in values for p in _DAY_PARTS):
            parts = [*parts, f"BYMONTHDAY={start.day}"]
        return moved, parts
    if freq == "YEARLY":
        periods = (near.year - start.year) // every - 1
        if periods < 1:
            return start, parts
        moved = datetime.combine(date(start.year + periods * every, 1, 1), clock)
        if not any(p in values for p in (*_DAY_PARTS, "BYMONTH")):
            parts = [*parts, f"BYMONTH={start.month}", f"BYMONTHDAY={start.day}"]
        elif "BYMONTH" in values and not any(p in values for p in _DAY_PARTS):
            parts = [*parts, f"BYMONTHDAY={start.day}"]
        return moved, parts
    return start, parts


def horizon_end(first: date, this_year: int | None = None) -> date:
    """How far an open-ended rule is spelled out: HORIZON_YEARS past its first day, or past
    the end of `this_year` if that is later."""
    end = add_years(first, HORIZON_YEARS)
    return end if this_year is None else max(end, date(this_year + HORIZON_YEARS, 12, 31))


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February falls back to the 28th when the
    target year is not a leap year (`date.replace` would raise)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _freq_from_every(every: str) -> tuple[str, int]:
    word = every.strip().lower()
    if word in _FREQ_WORDS:
        return _FREQ_WORDS[word]
    match = _EVERY.fullmatch(word)
    if not match:
        raise RuleError("every", f"cannot read every: {every!r}; write 'yearly', 'weekly', "
                                 "'3 years', '2 weeks' or 'month'")
    count = int(match.group(1) or 1)
    if not 1 <= count <= MAX_INTERVAL:
        raise RuleError("every", "every: the interval must be at least 1 and at most "
                                 f"{MAX_INTERVAL}")
    return _FREQ_UNITS[match.group(2).lower()], count


# What a policy timeline's rules are made of. Left out on purpose: SECONDLY to HOURLY and
# BYHOUR/BYMINUTE/BYSECOND (hundreds of thousands of occurrences a year, which every
# listing, feed and plan would spell out; a timed item takes its time from `start`), and
# BYEASTER (dateutil's own; calendar apps do not read it).
_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYYEARDAY",
          "BYWEEKNO", "BYSETPOS", "WKST")
MAX_INTERVAL, MAX_COUNT = 100, 10_000


def _check_parts(parts: list[str]) -> None:
    values: dict[str, str] = {}
    for part in parts:
        name, _, value = part.partition("=")
        if name not in _PARTS:
            raise RuleError("rrule", f"{name[:20]!r} is not supported "
                                     f"(use {', '.join(_PARTS)})")
        if name in values:
            raise RuleError("rrule", f"{name} is given twice")
        values[name] = value
    if values.get("FREQ") not in _FREQS:
        raise RuleError("rrule", f"FREQ must be one of {', '.join(_FREQS)} "
                                 "(a policy timeline repeats daily at the most)")
    for name, most in (("INTERVAL", MAX_INTERVAL), ("COUNT", MAX_COUNT)):
        if name in values and not (values[name].isascii() and values[name].isdigit()
                                   and 1 <= int(values[name]) <= most):
            raise RuleError("rrule", f"{name} must be a whole number from 1 to {most}")


def _rule_body(event: Recurring) -> str:
    given = [k for k in ("rrule", "every", "weekdays") if getattr(event, k) is not None]
    if not given:
        raise RuleError("rrule", "a recurring item needs `rrule`, `every` or `weekdays`")
    if event.rrule is not None:
        if len(given) > 1:
            raise RuleError("rrule", "give either `rrule` or the friendly form "
                                     "(`every`/`weekdays`), not both")
        body = event.rrule.strip()
        body = body[6:] if body.upper().startswith("RRULE:") else body
        parts = [p.strip().upper() for p in body.split(";") if p.strip()]
        if any(p.startswith("DTSTART") for p in parts):
            raise RuleError("rrule", "put the first date in `start`, not in the RRULE")
        try:
            _check_parts(parts)
        except RuleError as exc:
            shown = body if len(body) <= 60 else body[:57] + "…"
            raise RuleError("rrule", f"bad RRULE {shown!r}: {exc}") from None
        return ";".join(parts)
    if event.every is not None:
        freq, interval = _freq_from_every(event.every)
    else:
        freq, interval = "WEEKLY", 1
    if event.weekdays:
        if freq != "WEEKLY":
            raise RuleError("weekdays", "weekdays go with a weekly rhythm (every: 2 weeks), "
                                        f"not {event.every!r}")
        days = ",".join(_BYDAY[d] for d in dict.fromkeys(event.weekdays))
        parts = [f"FREQ={freq}", f"INTERVAL={interval}" if interval > 1 else "", f"BYDAY={days}"]
    else:
        parts = [f"FREQ={freq}", f"INTERVAL={interval}" if interval > 1 else ""]
    return ";".join(p for p in parts if p)


def build_rule(event: Recurring, windows: Callable[[str], Window | None], tz: ZoneInfo) -> Rule:
    """The event's Rule; `windows` finds the window named by `within`. Raises RuleError."""
    start, end = event.start, event.end
    if event.within is not None:
        window = windows(event.within)
        if window is None:
            raise RuleError("within", f"no window with id {event.within!r}")
        start = start if start is not None else window.start
        end = end if end is not None else window.end
    if start is None:
        raise RuleError("start", "a recurring item needs a first date: `start`, or `within` "
                                 "a window that has one")
    body = _rule_body(event)
    if "COUNT=" in body and end is not None:
        raise RuleError("rrule", "COUNT and an end date together are ambiguous; keep one")
    if isinstance(start, datetime) and start.tzinfo is not None:
        start = start.astimezone(tz)
    elif isinstance(start, datetime):
        start = start.replace(tzinfo=tz)
    last_day = _day(end) if end is not None else None
    if last_day is not None and last_day < _day(start):
        raise RuleError("end", f"end {last_day} is before start {_day(start)}")
    if "UNTIL=" in body:
        raise RuleError("rrule", "put the last date in `end`, not UNTIL in the RRULE")
    try:
        naive = datetime.combine(_day(start), time())
        rrulestr(f"RRULE:{body}", dtstart=naive)
    except (ValueError, TypeError) as exc:
        raise RuleError("rrule", f"bad RRULE {event.rrule or body!r}: {exc}") from None
    # The feed's DTSTART is the rule's first occurrence, and a calendar always shows DTSTART;
    # a rule whose first occurrence lies past `end` (weekdays: [mon] within a Tue..Fri span)
    # would show a day the listing and the reminders never have.
    limit = datetime.combine(last_day or date(LAST_YEAR, 12, 31), time(23, 59, 59))
    first = _first_occurrence(body, naive, limit)
    if first is None or (last_day is not None and first.date() > last_day):
        span = f"between {_day(start)} and {last_day}" if last_day else f"from {_day(start)} on"
        field = "rrule" if event.rrule is not None else "weekdays" if event.weekdays else "every"
        raise NoOccurrence(field, f"the rule has no occurrence {span}")
    if last_day is not None:
        if is_all_day(start):
            until = last_day.strftime("%Y%m%d")
        else:
            # RFC 5545: with a zoned DTSTART, UNTIL is a UTC date-time.
            end_local = datetime.combine(last_day, time(23, 59, 59), tzinfo=tz)
            until = end_local.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")
        body = f"{body};UNTIL={until}"
    return Rule(
        rrule=body,
        dtstart=start,
        last_day=last_day,
        excluded=frozenset(_day(d) for d in event.excluded_dates),
        skip_cn_holidays=event.excludes_cn_holidays,
        tz=tz,
    )


def _first_occurrence(body: str, start: datetime, limit: datetime) -> datetime | None:
    """The rule's first occurrence from `start` up to `limit`. dateutil stops looking only
    at year 9999 (an impossible rule, 30 February, cost three seconds an item), so the
    search runs 400-year cycles later, where the Gregorian calendar repeats day for day and
    weekday for weekday, and year 9999 is at most 400 years past `limit`."""
    shift = 400 * ((MAXYEAR - limit.year) // 400)
    moved = start.replace(year=start.year + shift)
    found = rrulestr(f"RRULE:{body}", dtstart=moved).after(moved, inc=True)
    if found is None or found > limit.replace(year=limit.year + shift):
        return None
    return found.replace(year=found.year - shift)


def yearly_count(rule: Rule, most: int) -> int:
    """How many occurrences the rule has in its first year (at most `most`): what every
    listing, feed and plan of a year spells out for it."""
    first = _day(rule.dtstart)
    last = first + timedelta(days=365)
    count = 0
    for _ in rule._candidates(first, last):
        count += 1
        if count >= most:
            break
    return count


def default_duration(rule: Rule, event: Recurring) -> timedelta:
    """How long one occurrence lasts: a day when all-day, else `duration` or an hour."""
    if rule.all_day:
        return timedelta(days=1)
    return event.duration if event.duration is not None else DEFAULT_TIMED_LENGTH
