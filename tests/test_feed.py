"""The iCalendar feed, read back by `icalendar` and by `recurring_ical_events` (an independent
expander), and byte by byte where RFC 5545 says how the bytes must look."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from click.testing import CliRunner

from timeline.cli import cli
from timeline.feed import FeedRenderer, render_feed
from timeline.loader import LoadedTimeline, parse_timeline
from timeline.model import Precision, Window
from timeline.occurrences import iter_occurrences

SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE = timedelta(hours=9)

# Statutory days off in spring 2024, from the State Council's announcement (not the code):
# 清明节 4月4日至6日, 劳动节 5月1日至5日.
DAYS_OFF_SPRING_2024 = {date(2024, 4, d) for d in (4, 5, 6)} | {date(2024, 5, d)
                                                               for d in range(1, 6)}


@pytest.fixture(scope="module")
def feed(loaded: LoadedTimeline) -> bytes:
    return render_feed(loaded)


@pytest.fixture(scope="module")
def calendar(feed: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(feed)


def by_uid(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["UID"]).removesuffix("@policy-timeline"): e for e in calendar.walk("VEVENT")}


def event_properties(feed: bytes) -> Iterator[tuple[str, str, str]]:
    """(event uid, property name, raw value) for each VEVENT property, unfolded by hand
    (RFC 5545 3.1: CRLF followed by one space or tab is removed), not by icalendar."""
    text = re.sub(r"\r\n[ \t]", "", feed.decode("utf-8"))
    stack: list[str] = []
    props: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        if line.startswith("BEGIN:"):
            stack.append(line[6:])
            if stack[-1] == "VEVENT":
                props = []
        elif line.startswith("END:"):
            if stack.pop() == "VEVENT":
                uid = dict(props)["UID"].removesuffix("@policy-timeline")
                yield from ((uid, name, value) for name, value in props)
        elif stack and stack[-1] == "VEVENT":
            head, _, value = line.partition(":")
            props.append((head.split(";")[0], value))


def unescape(value: str) -> str:
    """RFC 5545 3.3.11 TEXT unescaping."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def occurrence_days(calendar: icalendar.Calendar, uid: str, first: date,
                    last: date) -> list[date]:
    instances = recurring_ical_events.of(calendar).between(first, last + timedelta(days=1))
    return sorted(e["DTSTART"].dt for e in instances
                  if str(e["UID"]) == f"{uid}@policy-timeline")


# ── the CLI gives the same bytes ───────────────────────────────────────────────


def test_cli_ics_writes_the_feed_to_stdout(events_path: Path, feed: bytes) -> None:
    result = CliRunner().invoke(cli, ["ics", "--events", str(events_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == feed


def test_cli_ics_writes_a_file_atomically(events_path: Path, feed: bytes,
                                          tmp_path: Path) -> None:
    out = tmp_path / "calendar.ics"
    result = CliRunner().invoke(cli, ["ics", "--events", str(events_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == feed
    assert f"wrote {out}" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["calendar.ics"]  # no .tmp left behind


# ── recurring office hours, expanded by an independent reader ──────────────────


def test_office_hours_skip_holidays(calendar: icalendar.Calendar) -> None:
    days = occurrence_days(calendar, "diesel-office-hours-window-1", date(2024, 3, 1),
                           date(2024, 6, 30))
    assert date(2024, 5, 3) not in days  # Friday in the Labour Day break
    assert date(2024, 4, 5) not in days  # Friday in the Qingming break
    assert date(2024, 4, 30) in days  # Tuesday before the break: a normal working day
    assert date(2024, 5, 7) in days  # Tuesday after it
    # Tuesdays and Fridays from the first listed Tuesday (2 April) to the window's last day
    # (31 May, inclusive), minus the announced days off.
    expected: list[date] = []
    day = date(2024, 4, 2)
    while day <= date(2024, 5, 31):
        if day.weekday() in (1, 4) and day not in DAYS_OFF_SPRING_2024:
            expected.append(day)
        day += timedelta(days=1)
    assert days == expected
    may = [d for d in days if d.month == 5]
    assert may == [date(2024, 5, d) for d in (7, 10, 14, 17, 21, 24, 28, 31)]


def test_office_hours_exdates_and_all_day_instances(calendar: icalendar.Calendar) -> None:
    event = by_uid(calendar)["diesel-office-hours-window-1"]
    props = event["EXDATE"] if isinstance(event["EXDATE"], list) else [event["EXDATE"]]
    exdates = {d.dt for prop in props for d in prop.dts}
    assert exdates == {date(2024, 4, 5), date(2024, 5, 3)}
    assert event["DTSTART"].dt == date(2024, 4, 2)
    assert event["DTEND"].dt == date(2024, 4, 3)  # one whole day, end exclusive
    assert "UNTIL=20240531" in event["RRULE"].to_ical().decode()


def test_second_window_office_hours(calendar: icalendar.Calendar) -> None:
    days = occurrence_days(calendar, "diesel-office-hours-window-2", date(2024, 5, 1),
                           date(2024, 8, 31))
    # 4 June (a Tuesday) .. 30 July (a Tuesday); Dragon Boat (10 June) is a Monday.
    assert days[0] == date(2024, 6, 4)
    assert days[-1] == date(2024, 7, 30)
    assert all(d.weekday() in (1, 4) for d in days)
    assert len(days) == 17  # 9 Tuesdays (4 Jun..30 Jul) + 8 Fridays (7 Jun..26 Jul)


# ── dates, UIDs, determinism ────────────────────────────────────────────────────


def test_all_day_dtend_is_exclusive(calendar: icalendar.Calendar, feed: bytes) -> None:
    window = by_uid(calendar)["diesel-window-2"]
    assert window["DTSTART"].dt == date(2024, 6, 4)
    assert window["DTEND"].dt == date(2024, 7, 31)  # the day after the last day, 30 July
    props = [(n, v) for uid, n, v in event_properties(feed) if uid == "diesel-window-2"]
    assert ("DTEND", "20240731") in props
    for uid, event in by_uid(calendar).items():
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        assert not isinstance(start, datetime), uid  # the repo file is all-day
        assert end > start, uid  # never a zero-length all-day item


def test_uids_unique_and_stable(loaded: LoadedTimeline, feed: bytes) -> None:
    first = [str(e["UID"]) for e in icalendar.Calendar.from_ical(feed).walk("VEVENT")]
    again = [str(e["UID"]) for e in
             icalendar.Calendar.from_ical(render_feed(loaded)).walk("VEVENT")]
    assert len(first) == len(set(first)) == len(loaded.timeline.events)
    assert first == again
    assert set(first) == {f"{e.id}@policy-timeline" for e in loaded.timeline.events}


def test_rendering_is_deterministic(loaded: LoadedTimeline, feed: bytes) -> None:
    assert render_feed(loaded) == feed
    renderer = FeedRenderer()
    assert renderer.render(loaded) == feed
    assert renderer.render(loaded) == feed  # from the per-event cache


def test_rendering_does_not_depend_on_the_machine_zone(loaded: LoadedTimeline,
                                                       feed: bytes) -> None:
    saved = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "Pacific/Auckland"
        time.tzset()
        assert render_feed(loaded) == feed
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_every_story_has_an_event(loaded: LoadedTimeline) -> None:
    for story in loaded.timeline.stories:
        calendar = icalendar.Calendar.from_ical(render_feed(loaded, stories=[story.id]))
        uids = set(by_uid(calendar))
        assert uids, story.id
        assert uids == {e.id for e in loaded.timeline.events if e.story == story.id}


# ── text: folding, escaping, what the description says ─────────────────────────


def test_lines_are_folded_to_75_octets_without_splitting_characters(feed: bytes) -> None:
    assert feed.endswith(b"END:VCALENDAR\r\n")
    lines = feed.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        assert len(line) <= 75, line
        assert b"\n" not in line and b"\r" not in line
        line.decode("utf-8")  # a fold never cuts a multi-byte character in half
    assert any(len(line) > 60 and not line.isascii()
               for line in lines)  # the check above really saw folded Chinese text


def test_chinese_text_survives_folding(loaded: LoadedTimeline, feed: bytes,
                                       calendar: icalendar.Calendar) -> None:
    raw = {(uid, name): unescape(value) for uid, name, value in event_properties(feed)
           if name in ("SUMMARY", "DESCRIPTION")}
    parsed = by_uid(calendar)
    for event in loaded.timeline.events:
        summary = raw[(event.id, "SUMMARY")]
        assert str(parsed[event.id]["SUMMARY"]) == summary
        if event.precision is Precision.DAY:
            assert summary == event.title
        else:  # a title with a made-up exact day would mislead: the summary says so
            assert summary.startswith(event.title) and len(summary) > len(event.title)
        description = raw[(event.id, "DESCRIPTION")]
        assert str(parsed[event.id]["DESCRIPTION"]) == description
        if event.description:
            assert description.split("\n")[0] == event.description
        assert f"「{event.source}」" in description
        if event.note:
            assert event.note in description


def test_description_shows_the_precision(calendar: icalendar.Calendar) -> None:
    events = by_uid(calendar)
    # The events file promises these renderings: "约2024年4月", "2025年底前".
    approximate = str(events["nanchuan-plan-passed-review"]["DESCRIPTION"])
    assert "约2024年4月" in approximate
    assert "约数" in str(events["nanchuan-plan-passed-review"]["SUMMARY"])
    year_end = events["nanchuan-phase-1-green-power-park"]
    assert "2025年底前" in str(year_end["DESCRIPTION"])
    assert "年底前" in str(year_end["SUMMARY"])
    assert str(year_end["X-TIMELINE-PRECISION"]) == "year-end"
    exact = str(events["diesel-window-2"]["DESCRIPTION"])
    assert "2024-07-30" in exact
    # The window whose opening day is unknown says so in words.
    assert "自工作方案发布之日起" in str(events["diesel-window-1"]["DESCRIPTION"])


def test_calendar_properties(calendar: icalendar.Calendar) -> None:
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]).startswith("-//policy-timeline//")
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "政策时间表"
    assert str(calendar["X-WR-CALDESC"])
    assert str(calendar["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    assert calendar["REFRESH-INTERVAL"].dt == timedelta(hours=6)
    assert calendar["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
    assert str(calendar["X-PUBLISHED-TTL"]) == "PT6H"
    assert not calendar.walk("VTIMEZONE")  # all-day only: nothing refers to a TZID


def test_categories_come_from_tags(loaded: LoadedTimeline, calendar: icalendar.Calendar) -> None:
    events = by_uid(calendar)
    for event in loaded.timeline.events:
        assert [str(c) for c in events[event.id]["CATEGORIES"].cats] == event.tags


# ── alarms ──────────────────────────────────────────────────────────────────────


def _alarms(event: icalendar.Event) -> list[tuple[timedelta, bool]]:
    return [(a["TRIGGER"].dt, a["TRIGGER"].params.get("RELATED") == "END")
            for a in event.walk("VALARM")]


def _rings(event: icalendar.Event) -> list[datetime]:
    """Absolute alarm times worked out by hand: an all-day DTSTART/DTEND is local
    midnight of that day, plus the TRIGGER (RFC 5545 3.8.6.3)."""
    out = []
    for trigger, related_end in _alarms(event):
        anchor = event["DTEND" if related_end else "DTSTART"].dt
        out.append(datetime.combine(anchor, datetime.min.time()) + trigger)
    return out


def test_one_alarm_per_lead_time(loaded: LoadedTimeline, calendar: icalendar.Calendar) -> None:
    events = by_uid(calendar)
    for event in loaded.timeline.events:
        expected = len(event.lead_times)
        if isinstance(event, Window) and event.start is not None:
            expected += len(event.start_reminders or [])
        assert len(events[event.id].walk("VALARM")) == expected, event.id


def test_all_day_deadline_alarm_rings_at_nine_local(calendar: icalendar.Calendar) -> None:
    deadline = by_uid(calendar)["nanchuan-phase-1-green-power-park"]  # due 2025-12-31
    assert deadline["DTSTART"].dt == date(2025, 12, 31)
    assert all(not related_end for _, related_end in _alarms(deadline))
    due = datetime(2025, 12, 31)
    expected = [due - timedelta(days=lead) + NINE for lead in (180, 90, 30, 7)]
    assert _rings(deadline) == expected
    assert datetime(2025, 12, 24, 9, 0) in _rings(deadline)  # "7d": a week before, 09:00
    # icalendar's own alarm arithmetic agrees.
    assert sorted(t.trigger for t in deadline.alarms.times) == sorted(expected)


def test_window_alarms_count_back_from_the_last_day(calendar: icalendar.Calendar) -> None:
    window = by_uid(calendar)["diesel-window-2"]  # 2024-06-04 .. 2024-07-30
    end_alarms = [(t, r) for t, r in _alarms(window) if r]
    assert len(end_alarms) == 3  # reminders: [30d, 7d, 1d], all RELATED=END
    rings = _rings(window)
    last_day = datetime(2024, 7, 30)
    opens = datetime(2024, 6, 4)
    assert sorted(rings) == sorted([
        last_day - timedelta(days=30) + NINE,  # 30 June 09:00
        last_day - timedelta(days=7) + NINE,  # 23 July 09:00
        last_day - timedelta(days=1) + NINE,  # 29 July 09:00
        opens - timedelta(days=7) + NINE,  # start_reminders: 28 May 09:00
        opens - timedelta(days=1) + NINE,  # 3 June 09:00
    ])
    assert datetime(2024, 7, 23, 9, 0) in rings
    assert sorted(t.trigger for t in window.alarms.times) == sorted(rings)


def test_open_start_window_alarms(calendar: icalendar.Calendar) -> None:
    window = by_uid(calendar)["diesel-window-1"]  # opening day unknown, ends 2024-05-31
    assert window["DTEND"].dt == date(2024, 6, 1)
    assert all(related_end for _, related_end in _alarms(window))
    last_day = datetime(2024, 5, 31)
    assert sorted(_rings(window)) == sorted(last_day - timedelta(days=d) + NINE
                                            for d in (30, 7, 1))


# ── filters and language ────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("tags", "stories"),
    [
        (["office-hours"], []),
        (["zero-carbon", "preschool"], []),  # any of the tags
        ([], ["diesel-subsidy"]),
        ([], ["marriage-registration", "third-front-base"]),
        (["application-window"], ["diesel-subsidy"]),  # tag and story
        (["preschool"], ["diesel-subsidy"]),  # nothing matches both
    ],
)
def test_filters(loaded: LoadedTimeline, tags: list[str], stories: list[str]) -> None:
    calendar = icalendar.Calendar.from_ical(render_feed(loaded, tags=tags, stories=stories))
    expected = {e.id for e in loaded.timeline.events
                if (not tags or set(tags) & set(e.tags)) and (not stories or e.story in stories)}
    assert set(by_uid(calendar)) == expected
    name = str(calendar["X-WR-CALNAME"])
    assert all(t in name for t in tags) and all(s in name for s in stories)


def test_cli_filters(events_path: Path, loaded: LoadedTimeline) -> None:
    result = CliRunner().invoke(cli, ["ics", "--events", str(events_path),
                                      "--tag", "office-hours,goal"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == render_feed(loaded, tags=["office-hours", "goal"])
    assert set(by_uid(icalendar.Calendar.from_ical(result.stdout_bytes))) == {
        "diesel-office-hours-window-1", "diesel-office-hours-window-2",
        "diesel-scrapping-goal-2025"}


def test_cli_unknown_tag_is_a_usage_error(events_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ics", "--events", str(events_path), "--tag", "nope"])
    assert result.exit_code == 2
    assert "unknown tag 'nope'" in result.output
    assert "Traceback" not in result.output
    assert not result.stdout_bytes


def test_english_feed(loaded: LoadedTimeline) -> None:
    calendar = icalendar.Calendar.from_ical(render_feed(loaded, lang="en"))
    events = by_uid(calendar)
    assert str(calendar["X-WR-CALNAME"]) == "Policy timeline"
    for event in loaded.timeline.events:
        summary = str(events[event.id]["SUMMARY"])
        assert event.title_en, event.id  # the repo file gives every event an English title
        assert summary.startswith(event.title_en)
        description = str(events[event.id]["DESCRIPTION"])
        if event.description_en:
            assert description.startswith(event.description_en)
        assert "Source:" in description
    assert "(approximate date)" in str(events["nanchuan-plan-passed-review"]["SUMMARY"])
    assert "by the end of 2025" in str(events["nanchuan-phase-1-green-power-park"]
                                       ["DESCRIPTION"])
    # The window whose opening day the source leaves open says so in English too.
    opens = str(events["diesel-window-1"]["DESCRIPTION"])
    assert "Opens: From the work plan's release (about April 2024)" in opens
    assert "Opens: 自" not in opens


# ── timed items and their zones (the repo file is all-day) ──────────────────────

TIMED = """
timezone: Asia/Shanghai
stories:
  - {id: s, title: 故事, source: {newspaper: 报纸}, published: 2024-01-01}
  - {id: t, title: 另一个, source: {newspaper: 报纸}, published: 2024-01-01}
events:
  - id: timed-deadline
    story: s
    kind: deadline
    title: 截止时刻
    source: 原文
    due: 2024-06-04T17:00
  - id: london-window
    story: s
    kind: window
    title: London window
    source: quote
    start: 2024-06-01T09:00
    end: 2024-06-30T17:00
    timezone: Europe/London
    reminders: [1d, 2h]
  - id: ny-call
    story: s
    kind: recurring
    title: call
    source: quote
    weekdays: [tue]
    start: 2024-06-04T09:00
    end: 2024-06-25
    timezone: America/New_York
    except: [2024-06-11]
  - id: offset-happening
    story: s
    kind: happening
    title: 发布会
    source: 原文
    date: 2024-06-04T09:00+09:00
  - id: all-day
    story: t
    kind: deadline
    title: 全天
    source: 原文
    due: 2024-06-30
"""


@pytest.fixture(scope="module")
def timed() -> LoadedTimeline:
    return parse_timeline(TIMED)


def _tzids_used(feed: bytes) -> set[str]:
    unfolded = re.sub(r"\r\n[ \t]", "", feed.decode("utf-8"))
    inside_zone = False
    used = set()
    for line in unfolded.split("\r\n"):
        if line == "BEGIN:VTIMEZONE":
            inside_zone = True
        elif line == "END:VTIMEZONE":
            inside_zone = False
        elif not inside_zone:
            used |= set(re.findall(r";TZID=([^;:]+)", line.partition(":")[0]))
    return used


def test_a_vtimezone_for_every_tzid(timed: LoadedTimeline) -> None:
    feed = render_feed(timed)
    calendar = icalendar.Calendar.from_ical(feed)
    defined = {str(z["TZID"]) for z in calendar.walk("VTIMEZONE")}
    used = _tzids_used(feed)
    assert used == {"Asia/Shanghai", "Europe/London", "America/New_York"}
    assert defined == used


def test_vtimezones_follow_the_filter(timed: LoadedTimeline) -> None:
    only_all_day = render_feed(timed, stories=["t"])
    assert b"VTIMEZONE" not in only_all_day and _tzids_used(only_all_day) == set()


def test_timed_values_and_alarms(timed: LoadedTimeline) -> None:
    calendar = icalendar.Calendar.from_ical(render_feed(timed))
    events = by_uid(calendar)
    deadline = events["timed-deadline"]
    assert deadline["DTSTART"].dt == datetime(2024, 6, 4, 17, 0, tzinfo=SHANGHAI)
    # Default deadline leads are 90, 30, 7 and 1 days; a timed alarm is exactly lead before.
    rings = sorted(t.trigger for t in deadline.alarms.times)
    assert rings == sorted(datetime(2024, 6, 4, 17, 0, tzinfo=SHANGHAI) - timedelta(days=d)
                           for d in (90, 30, 7, 1))
    # An explicit offset is kept as the same instant, shown in the file's zone.
    happening = events["offset-happening"]["DTSTART"].dt
    assert happening == datetime(2024, 6, 4, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert happening.tzinfo is not None and str(happening.tzinfo) == "Asia/Shanghai"
    # Given only its start, it lasts an hour here as in the listing, not no time at all.
    assert events["offset-happening"]["DTEND"].dt == happening + timedelta(hours=1)
    [listed] = [o for o in iter_occurrences(timed, date(2024, 6, 1), date(2024, 6, 30))
                if o.event.id == "offset-happening"]
    assert (listed.start, listed.end) == (happening, happening + timedelta(hours=1))
    # A timed window rings before its end.
    london = ZoneInfo("Europe/London")
    window = events["london-window"]
    assert window["DTEND"].dt == datetime(2024, 6, 30, 17, 0, tzinfo=london)
    assert sorted(t.trigger for t in window.alarms.times) == [
        datetime(2024, 6, 29, 17, 0, tzinfo=london), datetime(2024, 6, 30, 15, 0, tzinfo=london)]


def test_timed_recurring_expands_in_its_own_zone(timed: LoadedTimeline) -> None:
    calendar = icalendar.Calendar.from_ical(render_feed(timed))
    new_york = ZoneInfo("America/New_York")
    instances = [e for e in recurring_ical_events.of(calendar).between((2024, 6, 1), (2024, 7, 1))
                 if str(e["UID"]) == "ny-call@policy-timeline"]
    starts = sorted(e["DTSTART"].dt for e in instances)
    assert starts == [datetime(2024, 6, d, 9, 0, tzinfo=new_york) for d in (4, 18, 25)]
    assert all(e["DTEND"].dt - e["DTSTART"].dt == timedelta(hours=1) for e in instances)



def test_leap_day_rule_renders_and_says_holidays_are_estimated() -> None:
    loaded = parse_timeline("""
stories:
  - {id: s, title: 故事, source: {newspaper: 报纸}, published: 2024-01-01}
events:
  - id: leap
    story: s
    kind: recurring
    title: 闰日
    source: 原文
    every: yearly
    start: 2024-02-29
    except: [cn-holidays]
""")
    calendar = icalendar.Calendar.from_ical(render_feed(loaded))
    event = by_uid(calendar)["leap"]
    assert event["DTSTART"].dt == date(2024, 2, 29)
    # Open-ended and skipping holidays: years past the published calendar are estimates.
    assert "节假日尚未公布" in str(event["DESCRIPTION"])
    days = occurrence_days(calendar, "leap", date(2024, 1, 1), date(2032, 12, 31))
    assert days == [date(2024, 2, 29), date(2028, 2, 29), date(2032, 2, 29)]


def test_english_falls_back_to_the_chinese_text_where_none_is_written(events_path: Path) -> None:
    from tests.web_helpers import edited_timeline

    english = "    start_label_en: \"From the work plan's release (about April 2024)\"\n"
    loaded = edited_timeline(events_path, english, "")
    calendar = icalendar.Calendar.from_ical(render_feed(loaded, lang="en"))
    opens = str(by_uid(calendar)["diesel-window-1"]["DESCRIPTION"])
    assert "Opens: 自工作方案发布之日起（约2024年4月）" in opens


def test_a_time_given_with_another_offset_reads_as_the_events_wall_clock() -> None:
    from timeline.source import TimelineSource
    from timeline.web.page import render_home

    loaded = parse_timeline("""
stories:
  - {id: s, title: 报道, source: {newspaper: 报}, published: 2024-05-01}
events:
  - {id: utc-deadline, story: s, kind: deadline, title: 截止, source: 原文,
     due: "2024-06-01T20:00:00+00:00"}
  - {id: all-day, story: s, kind: deadline, title: 全天截止, source: 原文, due: 2024-06-02}
""")
    event = loaded.timeline.event("utc-deadline")
    assert event.due == datetime(2024, 6, 2, 4, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert str(event.due.tzinfo) == "Asia/Shanghai"
    vevent = by_uid(icalendar.Calendar.from_ical(render_feed(loaded)))["utc-deadline"]
    assert "(2024-06-02 04:00)" in str(vevent["DESCRIPTION"])
    page = render_home(TimelineSource(loaded).snapshot(), today=date(2024, 5, 31), lang="zh",
                       base_url="http://test/")
    assert "2024-06-02 04:00" in page and "2024-06-01 20:00" not in page
    # A timed and an all-day deadline in one story: the chart orders them (it raised).
    assert page.index("截止 · 2024-05-01 – 2024-06-02") < page.index("全天截止 · 2024-06-02")
