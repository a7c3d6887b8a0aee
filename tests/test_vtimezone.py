"""The feed's VTIMEZONE blocks, read by a parser that trusts them (dateutil's tzical, as
vobject and so Radicale do), agree with the zone database for every year up to 2099."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil.tz import tzical

from timeline.vtimezone import vtimezone

ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Shanghai",
         "America/Sao_Paulo"]


def _read(tzid: str) -> tzical:
    return tzical(io.StringIO(vtimezone(tzid).decode())).get(tzid)


@pytest.mark.parametrize("tzid", ZONES)
def test_offsets_agree_with_the_zone_database_until_2099(tzid: str) -> None:
    block, database = _read(tzid), ZoneInfo(tzid)
    at, wrong = datetime(1971, 1, 1, 5, tzinfo=UTC), []
    while at.year < 2100:
        if at.astimezone(block).utcoffset() != at.astimezone(database).utcoffset():
            wrong.append(at)
        at += timedelta(days=6, hours=5)  # walks through every hour of the day
    assert wrong == []


def test_a_new_york_deadline_in_2040_is_read_at_summer_time() -> None:
    # icalendar's own block stopped in 2038, and its readers put this an hour late.
    new_york = _read("America/New_York")
    assert datetime(2040, 7, 2, 9, 0, tzinfo=new_york).astimezone(UTC) == datetime(
        2040, 7, 2, 13, 0, tzinfo=UTC)
    # The spring change: 02:00 EST (RFC 5545 reads DTSTART at the offset before it).
    change = datetime(2040, 3, 11, 7, 0, tzinfo=UTC)
    assert (change - timedelta(seconds=1)).astimezone(new_york).utcoffset() == timedelta(hours=-5)
    assert change.astimezone(new_york).utcoffset() == timedelta(hours=-4)


def test_rules_in_force_repeat_for_ever_and_ended_ones_say_until_when() -> None:
    [zone] = icalendar.Calendar.from_ical(
        b"BEGIN:VCALENDAR\r\n" + vtimezone("America/New_York") + b"END:VCALENDAR\r\n"
    ).walk("VTIMEZONE")
    rules = {(str(part["DTSTART"].dt), part["RRULE"].get("UNTIL") is None)
             for part in zone.subcomponents if "RRULE" in part}
    # Since 2007: the second Sunday of March and the first of November, open-ended.
    assert ("2007-03-11 02:00:00", True) in rules
    assert ("2007-11-04 02:00:00", True) in rules
    assert ("1987-04-05 02:00:00", False) in rules  # the first Sunday of April, to 2006
    # A zone without daylight saving since 1991 is one standard time from then on.
    shanghai = _read("Asia/Shanghai")
    assert datetime(2090, 7, 1, tzinfo=shanghai).utcoffset() == timedelta(hours=8)
