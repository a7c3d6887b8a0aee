"""VTIMEZONE blocks (RFC 5545 3.6.5) that hold for any year a feed can name.

icalendar's generator lists each transition up to 2038 and stops: a reader that trusts the
block (dateutil, vobject, so Radicale) puts a 2040 New York deadline an hour off, and it
writes a spring change at the new offset's wall clock where the RFC reads it at the old.
Here every run of consecutive years whose change follows one rule ("the second Sunday of
March at 02:00") is one STANDARD or DAYLIGHT with a yearly RRULE; the run still going at
the end of the scan is left open, which is what tzdata's own rule for the future says.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

__all__ = ["vtimezone"]

FIRST_YEAR = 1970
# Past the last transition tzdata lists one by one (Morocco's run to 2087); from there on
# the zone repeats the rule in force, so a run reaching this year repeats for ever.
LAST_YEAR = 2100
_STEP = timedelta(hours=12)  # no zone changes twice within half a day
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

State = tuple[timedelta, bool, str]  # UTC offset, daylight saving, abbreviation


@dataclass(frozen=True)
class _Change:
    at: datetime  # the instant, UTC
    before: timedelta  # UTC offset before it
    after: State

    @property
    def local(self) -> datetime:
        """Its wall-clock time as read before it (RFC 5545: DTSTART is in TZOFFSETFROM)."""
        return (self.at + self.before).replace(tzinfo=None)

    def rule(self) -> tuple[int, int, int, time, timedelta, State]:
        """What makes two changes in consecutive years one yearly rule."""
        local = self.local
        last_day = calendar.monthrange(local.year, local.month)[1]
        nth = -1 if local.day + 7 > last_day else (local.day - 1) // 7 + 1
        return (local.month, local.weekday(), nth, local.time(), self.before, self.after)


def _state(tz: ZoneInfo, at: datetime) -> State:
    local = at.astimezone(tz)
    return local.utcoffset() or timedelta(0), bool(local.dst()), local.tzname() or ""


def _changes(tz: ZoneInfo) -> tuple[State, list[_Change]]:
    """The state at the start of FIRST_YEAR and every change until the end of LAST_YEAR."""
    at = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    end = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
    first = state = _state(tz, at)
    changes = []
    while at < end:
        step = at + _STEP
        new = _state(tz, step)
        if new != state:
            low, high = at, step  # the change lies in (low, high]: bisect to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _state(tz, middle) == state:
                    low = middle
                else:
                    high = middle
            changes.append(_Change(high.replace(microsecond=0), state[0], new))
            state = new
        at = step
    return first, changes


def _runs(changes: list[_Change]) -> list[list[_Change]]:
    """Changes gathered into runs of consecutive years that follow one rule."""
    runs: list[list[_Change]] = []
    open_runs: dict[tuple[object, ...], list[_Change]] = {}
    for change in changes:
        rule = change.rule()
        run = open_runs.get(rule)
        if run is not None and run[-1].local.year == change.local.year - 1:
            run.append(change)
            continue
        open_runs[rule] = run = [change]
        runs.append(run)
    return runs


def _component(state: State, before: timedelta, start: datetime
               ) -> TimezoneStandard | TimezoneDaylight:
    offset, daylight, name = state
    part = TimezoneDaylight() if daylight else TimezoneStandard()
    part.add("dtstart", start)
    if name:
        part.add("tzname", name)
    part.add("tzoffsetfrom", before)
    part.add("tzoffsetto", offset)
    return part


@lru_cache(maxsize=64)
def vtimezone(tzid: str) -> bytes:
    """The VTIMEZONE block for an IANA zone; scanning 130 years takes a moment, so once."""
    first, changes = _changes(ZoneInfo(tzid))
    zone = Timezone()
    zone.add("tzid", tzid)
    zone.add_component(_component(first, first[0], datetime(FIRST_YEAR, 1, 1)))
    for run in _runs(changes):
        head, last = run[0], run[-1]
        part = _component(head.after, head.before, head.local)
        if len(run) > 1:
            month, weekday, nth = head.rule()[:3]
            recur = vRecur(freq="YEARLY", bymonth=month, byday=f"{nth}{_WEEKDAYS[weekday]}")
            if last.local.year < LAST_YEAR:  # ended; else tzdata's rule for the future
                # A day after its last change: any UNTIL before the next year's bounds the
                # same changes, and readers that compare UNTIL with the local DTSTART
                # (dateutil) would drop the last one east of Greenwich.
                recur["until"] = last.at + timedelta(days=1)
            part.add("rrule", recur)
        zone.add_component(part)
    block: bytes = zone.to_ical()  # icalendar leaves it unannotated
    return block
