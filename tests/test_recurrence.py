"""Recurring items: the friendly forms and RRULEs become one Rule, expanded the same way for
the listing, the reminders and the feed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from timeline.feed import render_feed
from timeline.loader import parse_timeline
from timeline.model import Recurring, Window
from timeline.occurrences import iter_occurrences
from timeline.recurrence import HORIZON_YEARS, RuleError, add_years, build_rule

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def recurring(**fields: Any) -> Recurring:
    base = {"id": "r", "story": "s", "kind": "recurring", "title": "办理日", "source": "原文"}
    return Recurring.model_validate({**base, **fields})


def window(**fields: Any) -> Window:
    base = {"id": "w", "story": "s", "kind": "window", "title": "受理期", "source": "原文"}
    return Window.model_validate({**base, **fields})


def no_windows(_: str) -> Window | None:
    return None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"every": "yearly"}, "FREQ=YEARLY"),
        ({"every": "annually"}, "FREQ=YEARLY"),
        ({"every": "3 years"}, "FREQ=YEARLY;INTERVAL=3"),
        ({"every": "every 2 months"}, "FREQ=MONTHLY;INTERVAL=2"),
        ({"every": "month"}, "FREQ=MONTHLY"),
        ({"every": "Weekly"}, "FREQ=WEEKLY"),
        ({"every": "1 day"}, "FREQ=DAILY"),
        ({"weekdays": ["tue", "fri"]}, "FREQ=WEEKLY;BYDAY=TU,FR"),
        ({"weekdays": ["fri", "tue", "fri"]}, "FREQ=WEEKLY;BYDAY=FR,TU"),  # repeats dropped
        ({"every": "2 weeks", "weekdays": ["mon", "thu"]}, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"),
        ({"rrule": "freq=monthly;bymonthday=15"}, "FREQ=MONTHLY;BYMONTHDAY=15"),
        ({"rrule": "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1"},
         "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=4"}, "FREQ=WEEKLY;BYDAY=MO;COUNT=4"),
    ],
)
def test_forms_become_the_published_rrule(fields: dict[str, Any], expected: str) -> None:
    rule = build_rule(recurring(start="2024-01-01", **fields), no_windows, SHANGHAI)
    assert rule.rrule == expected
    assert rule.last_day is None


def test_all_day_end_becomes_a_date_until() -> None:
    rule = build_rule(recurring(weekdays=["tue", "fri"], start="2024-04-02", end="2024-05-31"),
                      no_windows, SHANGHAI)
    assert rule.rrule == "FREQ=WEEKLY;BYDAY=TU,FR;UNTIL=20240531"
    assert rule.all_day
    assert rule.last_day == date(2024, 5, 31)


def test_timed_end_becomes_a_utc_until() -> None:
    # RFC 5545 3.3.10: with a zoned DTSTART, UNTIL is UTC. The last day ends at 23:59:59 in
    # New York, which on 2024-03-26 is EDT (UTC-4): 03:59:59Z the next day.
    rule = build_rule(recurring(weekdays=["tue"], start="2024-03-05T09:00", end="2024-03-26",
                                timezone="America/New_York"), no_windows, NEW_YORK)
    assert rule.rrule == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20240327T035959Z"
    assert not rule.all_day


def test_within_a_window_takes_its_bounds() -> None:
    windows = {"w": window(start="2024-06-04", end="2024-07-30")}
    rule = build_rule(recurring(weekdays=["tue", "fri"], within="w"), windows.get, SHANGHAI)
    assert rule.dtstart == date(2024, 6, 4)
    assert rule.last_day == date(2024, 7, 30)
    assert rule.rrule.endswith(";UNTIL=20240730")
    # The item's own start narrows the window's.
    later = build_rule(recurring(weekdays=["tue"], within="w", start="2024-07-01"), windows.get,
                       SHANGHAI)
    assert later.between(date(2024, 6, 1), date(2024, 8, 31))[0] == date(2024, 7, 2)


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"start": "2024-01-01"}, "rrule", "needs `rrule`, `every` or `weekdays`"),
        ({"start": "2024-01-01", "rrule": "FREQ=DAILY", "every": "daily"}, "rrule", "not both"),
        ({"start": "2024-01-01", "every": "monthly", "weekdays": ["mon"]}, "weekdays",
         "weekly rhythm"),
        ({"start": "2024-01-01", "every": "fortnightly"}, "every", "cannot read every"),
        ({"start": "2024-01-01", "every": "0 days"}, "every", "at least 1"),
        ({"start": "2024-01-01", "rrule": "FREQ=DAILY;DTSTART=20240101"}, "rrule",
         "first date in `start`"),
        ({"start": "2024-01-01", "rrule": "FREQ=DAILY;UNTIL=20240201"}, "rrule",
         "last date in `end`"),
        ({"start": "2024-01-01", "end": "2024-03-01", "rrule": "FREQ=DAILY;COUNT=3"}, "rrule",
         "COUNT and an end date"),
        ({"start": "2024-01-01", "rrule": "FREQ=FORTNIGHTLY"}, "rrule", "bad RRULE"),
        ({"start": "2024-01-01", "rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "bad RRULE"),
        ({"every": "yearly"}, "start", "needs a first date"),
        ({"every": "yearly", "within": "nope"}, "within", "no window with id 'nope'"),
        ({"every": "daily", "start": "2024-05-02", "end": "2024-05-01"}, "end",
         "end 2024-05-01 is before start 2024-05-02"),
        # A Monday rule in a Tuesday..Friday span never happens: the feed's DTSTART would
        # show a phantom Monday after the end.
        ({"weekdays": ["mon"], "start": "2024-04-02", "end": "2024-04-05"}, "weekdays",
         "no occurrence between 2024-04-02 and 2024-04-05"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "start": "2024-01-01",
          "end": "2024-12-31"}, "rrule", "no occurrence"),
    ],
)
def test_rule_errors_name_the_field(fields: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(RuleError) as info:
        build_rule(recurring(**fields), no_windows, SHANGHAI)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_office_hours_skip_cn_holidays_and_exdates_list_them() -> None:
    # Tuesdays and Fridays in April 2024, minus Qingming (Apr 4-6 off: Fri 5th).
    rule = build_rule(recurring(weekdays=["tue", "fri"], start="2024-04-02", end="2024-04-30",
                                **{"except": ["cn-holidays"]}), no_windows, SHANGHAI)
    tue_fri = [date(2024, 4, d) for d in range(1, 31) if date(2024, 4, d).weekday() in (1, 4)]
    assert rule.between(date(2024, 4, 1), date(2024, 4, 30)) == [
        d for d in tue_fri if d != date(2024, 4, 5)]
    assert rule.exdates() == [date(2024, 4, 5)]
    # The feed's DTSTART is the first generated day even when that day is skipped.
    assert rule.first() == date(2024, 4, 2)


def test_explicit_except_dates_and_holidays_together() -> None:
    rule = build_rule(recurring(weekdays=["tue", "fri"], start="2024-04-02", end="2024-05-10",
                                **{"except": ["2024-04-16", "cn-holidays"]}), no_windows, SHANGHAI)
    assert rule.exdates() == [date(2024, 4, 5), date(2024, 4, 16), date(2024, 5, 3)]
    got = rule.between(date(2024, 4, 1), date(2024, 5, 31))
    assert date(2024, 4, 16) not in got
    assert date(2024, 4, 30) in got
    assert got[-1] == date(2024, 5, 10)  # the end is inclusive


def test_first_is_the_first_generated_day_not_the_start() -> None:
    rule = build_rule(recurring(weekdays=["tue", "fri"], start="2024-04-03"), no_windows,
                      SHANGHAI)  # a Wednesday
    assert rule.first() == date(2024, 4, 5)


def test_open_ended_exdates_stop_at_the_horizon() -> None:
    # October 1st is National Day every year, so every occurrence is excluded.
    rule = build_rule(recurring(every="yearly", start="2024-10-01",
                                **{"except": ["cn-holidays"]}), no_windows, SHANGHAI)
    assert rule.exdates() == [date(2024 + n, 10, 1) for n in range(HORIZON_YEARS + 1)]
    assert rule.between(date(2024, 1, 1), date(2030, 12, 31)) == []
    # Years later the horizon has moved with the years: still ten years ahead.
    assert rule.exdates(this_year=2040)[-1] == date(2040 + HORIZON_YEARS, 10, 1)
    assert rule.exdates(this_year=2023) == rule.exdates()  # the start decides then


def test_the_feed_of_an_old_open_ended_rule_skips_this_years_holidays() -> None:
    loaded = parse_timeline("""
stories:
  - {id: s, title: 报道, source: {newspaper: 报}, published: 2015-01-01}
events:
  - {id: office, story: s, kind: recurring, title: 办公, source: 原文,
     weekdays: [tue, fri], start: 2015-01-02, except: [cn-holidays]}
""")
    for year in (2025, 2026):
        calendar = icalendar.Calendar.from_ical(render_feed(loaded, this_year=year))
        listed = {o.start for o in iter_occurrences(loaded, date(year, 1, 1),
                                                    date(year, 12, 31))}
        fed = {e["DTSTART"].dt for e in recurring_ical_events.of(calendar).between(
            (year, 1, 1), (year + 1, 1, 1))}
        assert fed == listed
        assert date(year, 10, 3) not in fed  # National Day week


def test_a_leap_day_rule_neither_crashes_nor_invents_days() -> None:
    rule = build_rule(recurring(every="yearly", start="2024-02-29",
                                **{"except": ["cn-holidays"]}), no_windows, SHANGHAI)
    # RFC 5545: a yearly rule from Feb 29 only hits leap years.
    assert rule.between(date(2024, 1, 1), date(2033, 12, 31)) == [
        date(2024, 2, 29), date(2028, 2, 29), date(2032, 2, 29)]
    assert rule.exdates() == []


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2024, 5, 31), 1, date(2025, 5, 31)),
        (date(2024, 2, 29), 1, date(2025, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 29)),
        (date(2024, 2, 29), 10, date(2034, 2, 28)),
    ],
)
def test_add_years(day: date, years: int, expected: date) -> None:
    assert add_years(day, years) == expected


@pytest.mark.parametrize(
    ("zone", "change", "utc_before", "utc_after"),
    [
        # 09:00 EST (UTC-5) is 14:00Z; from 10 March, 09:00 EDT (UTC-4) is 13:00Z.
        ("America/New_York", date(2024, 3, 10), 14, 13),
        # 09:00 CET (UTC+1) is 08:00Z; from 31 March, 09:00 CEST (UTC+2) is 07:00Z.
        ("Europe/Berlin", date(2024, 3, 31), 8, 7),
    ],
)
def test_timed_weekly_rule_keeps_local_time_across_dst(zone: str, change: date,
                                                       utc_before: int, utc_after: int) -> None:
    tz = ZoneInfo(zone)
    rule = build_rule(recurring(every="weekly", start="2024-02-20T09:00", end="2024-04-30",
                                timezone=zone), no_windows, tz)
    starts = [s for s in rule.between(date(2024, 2, 1), date(2024, 4, 30))
              if isinstance(s, datetime)]
    assert [s.date() for s in starts] == [date(2024, 2, 20) + timedelta(weeks=n)
                                          for n in range(11)]
    assert {(s.hour, s.minute) for s in starts} == {(9, 0)}
    assert all(s.tzinfo == tz for s in starts)
    assert {s.astimezone(UTC).hour for s in starts if s.date() < change} == {utc_before}
    assert {s.astimezone(UTC).hour for s in starts if s.date() > change} == {utc_after}


def test_dst_through_the_feed_and_an_independent_reader() -> None:
    text = """
timezone: Asia/Shanghai
stories:
  - {id: s, title: 故事, source: {newspaper: 报纸}, published: 2024-01-01}
events:
  - id: standup
    story: s
    kind: recurring
    title: Weekly call
    source: quote
    every: weekly
    start: 2024-02-27T09:00
    end: 2024-03-26
    timezone: America/New_York
    except: [2024-03-19]
"""
    feed = render_feed(parse_timeline(text))
    calendar = icalendar.Calendar.from_ical(feed)
    tzids = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    assert "America/New_York" in tzids
    instances = recurring_ical_events.of(calendar).between((2024, 2, 1), (2024, 4, 30))
    starts = sorted(e["DTSTART"].dt for e in instances)
    expected_days = [date(2024, 2, 27), date(2024, 3, 5), date(2024, 3, 12), date(2024, 3, 26)]
    assert [s.astimezone(NEW_YORK).date() for s in starts] == expected_days
    assert {s.astimezone(NEW_YORK).time() for s in starts} == {time(9, 0)}
    assert {s.astimezone(UTC).hour for s in starts} == {13, 14}  # EST then EDT


def test_a_timed_occurrence_running_past_midnight_is_listed_on_the_next_day() -> None:
    loaded = parse_timeline("""
stories:
  - {id: s, title: 报道, source: {newspaper: 报}, published: 2025-01-01}
events:
  - {id: late, story: s, kind: recurring, title: 夜班, source: 原文, weekdays: [sun],
     start: "2025-01-05T23:30:00", end: 2025-03-01, duration: 2h}
""")
    [listed] = iter_occurrences(loaded, date(2025, 1, 6), date(2025, 1, 7))
    assert listed.start == datetime(2025, 1, 5, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert listed.end == listed.start + timedelta(hours=2)


def test_fast_forward_gives_the_same_occurrences_as_the_full_walk() -> None:
    """A rule started whole periods later (fast_forward) yields what dateutil's walk from
    the real start yields, for random rules, starts and ranges (seeded)."""
    import random
    from datetime import time as clock

    from dateutil.rrule import rrulestr

    from timeline.recurrence import fast_forward

    chance = random.Random(7)
    compared = 0
    for _ in range(600):
        freq = chance.choice(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"])
        parts = [f"FREQ={freq}"]
        if chance.random() < 0.5:
            parts.append(f"INTERVAL={chance.randint(1, 5)}")
        days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        if chance.random() < 0.4:
            parts.append("BYDAY=" + ",".join(chance.sample(days, chance.randint(1, 3))))
        if freq in ("MONTHLY", "YEARLY") and chance.random() < 0.3:
            parts.append(f"BYMONTHDAY={chance.choice([1, 15, 28, 29, 30, 31, -1])}")
        if freq == "YEARLY" and chance.random() < 0.3:
            parts.append(f"BYMONTH={chance.randint(1, 12)}")
        start = datetime.combine(date(chance.randint(1900, 2030), chance.randint(1, 12), 1)
                                 + timedelta(days=chance.randint(0, 30)),
                                 clock(chance.choice([0, 9]), chance.choice([0, 30])))
        low = start + timedelta(days=chance.randint(0, 40000))
        high = low + timedelta(days=chance.randint(1, 400))
        body = ";".join(parts)
        full = list(rrulestr(f"RRULE:{body}", dtstart=start).between(low, high, inc=True))
        moved, new_parts = fast_forward(start, parts, low)
        fast = list(rrulestr(f"RRULE:{';'.join(new_parts)}", dtstart=moved).between(
            low, high, inc=True))
        assert fast == full, (body, start, low, high)
        compared += 1
    assert compared == 600


def test_exdates_are_the_skipped_occurrences_of_the_full_walk() -> None:
    """Rule.exdates looks only around the skipped days; it finds what walking every
    occurrence and asking each whether it is skipped finds (random rules, seeded)."""
    import random

    from pydantic import TypeAdapter

    from timeline.model import Recurring
    from timeline.recurrence import _day, horizon_end
    from timeline.workdays import is_public_holiday

    chance = random.Random(3)
    adapter = TypeAdapter(Recurring)
    skipped = 0
    for _ in range(150):
        rhythm = chance.choice([{"every": "daily"}, {"every": "weekly"}, {"every": "2 days"},
                                {"weekdays": ["tue", "fri"]}, {"every": "yearly"},
                                {"rrule": "FREQ=MONTHLY;BYMONTHDAY=1,2,3"}])
        start = date(chance.randint(1990, 2030), chance.randint(1, 12), chance.randint(1, 28))
        first_value = f"{start}T09:00" if chance.random() < 0.5 else start.isoformat()
        event = adapter.validate_python({
            "id": "r", "story": "s", "source": "Q", "title": "T", "kind": "recurring",
            **rhythm, "start": first_value,
            "except": ["cn-holidays", start.replace(year=start.year + 1).isoformat()]})
        rule = build_rule(event, lambda _: None, SHANGHAI)
        first = _day(rule.dtstart)
        last = rule.last_day or horizon_end(first, 2026)
        walked = [s for s in rule._candidates(first, last)
                  if _day(s) in rule.excluded or is_public_holiday(_day(s))]
        assert rule.exdates(2026) == walked, (rhythm, first_value)
        skipped += len(walked)
    assert skipped > 10_000
