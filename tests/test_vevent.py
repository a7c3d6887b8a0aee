"""The feed's direct VEVENT writer against icalendar, the reference: the same bytes for every
event of the repo's file, timed items in several zones, a large synthetic set and the
hostile inputs `timeline check` accepts; and its pieces (escaping, durations, folding)
against icalendar's own on many values."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from icalendar import vDuration, vText
from icalendar.parser import Contentline

from tests.feed_helpers import synthetic
from tests.test_feed import TIMED
from tests.test_hostile import ACCEPTED, EVENTS
from timeline import vevent
from timeline.feed import default_revision, event_props, render_event, write_event
from timeline.formatting import Lang
from timeline.loader import LoadedTimeline, parse_timeline
from timeline.store import Revision

ZONES = """
timezone: UTC
stories:
  - {id: s, title: "故事, 带逗号; 和分号", source: {newspaper: 报纸}, published: 2024-01-01}
events:
  - {id: utc, story: s, kind: deadline, title: u, source: q, due: 2024-06-04T17:00}
  - {id: etc, story: s, kind: happening, title: e, source: q, date: 2024-06-04T17:00,
     timezone: Etc/UTC}
  - {id: kolkata, story: s, kind: window, title: k, source: q, start: 2024-06-01T09:30,
     end: 2024-06-30T17:45, timezone: Asia/Kolkata, reminders: [1d, 90m, 45s]}
  - {id: caret, story: s, kind: deadline, title: "^^^^", source: "\\\\N and \\\\n, \\\\",
     due: 2024-06-04, description: "a\\nb c^d"}
"""


def _cases(loaded: LoadedTimeline, langs: tuple[Lang, ...] = ("zh", "en"),
           years: tuple[int, ...] = (2026,)) -> Iterator[tuple[str, bytes, bytes, bool]]:
    """Per event, language and year: (id, icalendar's bytes, the writer's, whether the
    writer wrote them itself rather than handing them to icalendar)."""
    timeline = loaded.timeline
    stories = {s.id: s for s in timeline.stories}
    revisions = [None, Revision(7, datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))]
    for i, event in enumerate(timeline.events):
        story = stories[event.story]
        revision = revisions[i % 2] or default_revision(story)
        rule = loaded.rules.get(event.id)
        for lang in langs:
            for year in years:
                args = (event, story, rule, revision, timeline.timezone, lang, year)
                direct = vevent.write(event_props(*args)) is not None
                yield event.id, render_event(*args), write_event(*args), direct


def _assert_same(loaded: LoadedTimeline, langs: tuple[Lang, ...] = ("zh", "en"),
                 years: tuple[int, ...] = (2026,)) -> int:
    """Every case's bytes equal; returns how many the writer wrote itself."""
    written = 0
    for event_id, reference, ours, direct in _cases(loaded, langs, years):
        assert ours == reference, event_id
        written += direct
    return written


def test_the_repo_file(loaded: LoadedTimeline) -> None:
    count = len(loaded.timeline.events) * 2 * 2
    assert _assert_same(loaded, years=(2024, 2031)) == count  # none left to icalendar


def test_timed_items_in_several_zones() -> None:
    for text in (TIMED, ZONES):
        timed = parse_timeline(text)
        assert _assert_same(timed) == len(timed.timeline.events) * 2


def test_thousands_of_synthetic_events() -> None:
    many = synthetic(4_000)  # every kind, zone and text shape of the set, many times over
    assert _assert_same(many, langs=("zh",)) == 4_000
    assert _assert_same(synthetic(500), langs=("en",), years=(2024, 2040)) == 1_000


@pytest.mark.parametrize("name", [n for n, (_, outcome) in EVENTS.items()
                                  if outcome == ACCEPTED and "9 MB" not in n])
def test_hostile_inputs(name: str) -> None:
    loaded = parse_timeline(EVENTS[name][0])
    assert _assert_same(loaded, langs=("zh",)) == len(loaded.timeline.events)


def test_a_shape_it_does_not_know_goes_to_icalendar() -> None:
    props = vevent.Props("VEVENT")
    props.add("uid", "x@policy-timeline")
    props.add("dtstart", datetime(2024, 1, 1, 9, tzinfo=timezone(timedelta(hours=8))))
    assert vevent.write(props) is None  # a fixed offset, not a named zone
    props = vevent.Props("VEVENT")
    props.add("summary", "s", {"LANGUAGE": "zh"})
    assert vevent.write(props) is None  # parameters it does not write
    props = vevent.Props("VEVENT")
    props.add("exdate", [datetime(2024, 1, 1, 9, tzinfo=UTC)])
    assert vevent.write(props) is None


# ── the pieces, on many values ──────────────────────────────────────────────────────────
ALPHABET = "aZ9 ,;:\\^\"\n\r\tN中文字😀é" + "x" * 10


def _texts(count: int, longest: int) -> Iterator[str]:
    rng = random.Random(13)
    for _ in range(count):
        yield "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(longest)))


def test_escaping_is_icalendars() -> None:
    for text in _texts(3000, 60):
        assert vevent._escape(text).encode() == vText(text).to_ical(), repr(text)


def test_folding_is_icalendars() -> None:
    for text in _texts(3000, 400):
        line = "DESCRIPTION:" + vevent._escape(text)
        assert vevent._fold(line) == Contentline(line).to_ical() + b"\r\n", repr(line)
    # Every length around the fold, in one-, two-, three- and four-byte characters.
    for char in ("a", "é", "中", "😀"):
        for size in range(60, 160):
            for tail in ("", "\\,", "^^"):
                line = "X:" + char * size + tail
                assert vevent._fold(line) == Contentline(line).to_ical() + b"\r\n"


def test_durations_are_icalendars() -> None:
    rng = random.Random(7)
    values = [timedelta(0), timedelta(seconds=1), -timedelta(seconds=1), timedelta(days=7),
              timedelta(hours=1, seconds=5), -timedelta(days=3660) + timedelta(hours=9)]
    values += [timedelta(seconds=rng.randrange(-10**9, 10**9)) for _ in range(2000)]
    for value in values:
        assert vevent._duration(value).encode() == vDuration(value).to_ical(), value


def test_dates_are_icalendars() -> None:
    for day in (date(1900, 1, 1), date(2024, 2, 29), date(2200, 12, 31)):
        props = vevent.Props("VEVENT")
        props.add("dtstart", day)
        props.add("dtstamp", datetime(2024, 5, 6, 7, 8, 9, 999999, tzinfo=UTC))
        assert vevent.write(props) == vevent.to_icalendar(props)


def test_a_leading_byte_order_mark_is_written_as_icalendar_writes_it() -> None:
    """icalendar drops a BOM that starts a value (found by a hostile fuzz run); the writer
    hands such values to it rather than copy that rule."""
    bom = parse_timeline(
        'stories:\n  - {id: s, title: "\\ufeff报道", source: {newspaper: 报},\n'
        '     published: 2024-01-01}\n'
        'events:\n  - {id: e, story: s, kind: deadline, title: "\\ufeffabc", source: "q\\ufeff",\n'
        '     due: 2024-06-04, description: "\\ufeff' + "长" * 80 + '"}\n')
    _assert_same(bom)
