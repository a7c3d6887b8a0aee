"""Expanding a timeline into dated occurrences: what happens when, in date order.

One function answers "what falls in this range" for the CLI listing, the web page and the
reminder plan alike; recurring items are expanded through their Rule, holidays excluded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from timeline.loader import LoadedTimeline
from timeline.model import (
    DEFAULT_TIMED_LENGTH,
    Deadline,
    Happening,
    Precision,
    Recurring,
    Window,
    localize,
)
from timeline.recurrence import default_duration
from timeline.workdays import is_estimated

__all__ = ["Occurrence", "iter_occurrences", "matches"]

AnyEvent = Deadline | Window | Happening | Recurring

@dataclass(frozen=True)
class Occurrence:
    """One dated instance of an event.

    For all-day items `start`/`end` are dates and `end` is inclusive (a window's last day).
    For timed items they are aware datetimes and `end` is the exclusive end moment.
    `start` is None only for a window whose opening day the source does not give.
    """

    event: AnyEvent = field(compare=False)
    start: date | datetime | None
    end: date | datetime | None
    all_day: bool
    estimated: bool = False  # the date depends on an estimated holiday calendar

    @property
    def event_id(self) -> str:
        return self.event.id

    @property
    def key_date(self) -> date:
        """The day that orders the listing: the start, or the end for an open start."""
        value = self.start if self.start is not None else self.end
        assert value is not None
        return value.date() if isinstance(value, datetime) else value

    @property
    def last_date(self) -> date:
        value = self.end if self.end is not None else self.start
        assert value is not None
        if isinstance(value, datetime):
            # A timed end is exclusive: an item ending at midnight ends the day before.
            return (value - timedelta(microseconds=1)).date() if self.start != value \
                else value.date()
        return value

    def to_json(self) -> dict[str, Any]:
        event = self.event
        return {
            "event": event.id,
            "story": event.story,
            "kind": event.kind,
            "title": event.title,
            "title_en": event.title_en,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "all_day": self.all_day,
            "precision": event.precision.value,
            "estimated": self.estimated,
            "tags": list(event.tags),
            "note": event.note,
        }

def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()

def _single(event: AnyEvent, tz_name: str) -> Occurrence:
    tz = event.zone(tz_name)

    def norm(value: date | datetime | None) -> date | datetime | None:
        return value if value is None or not isinstance(value, datetime) else localize(value, tz)

    if isinstance(event, Deadline):
        due = norm(event.due)
        return Occurrence(event, due, due, all_day=not isinstance(due, datetime))
    if isinstance(event, Window):
        start, end = norm(event.start), norm(event.end)
        return Occurrence(event, start, end, all_day=not isinstance(end, datetime))
    assert isinstance(event, Happening)
    start, end = norm(event.date), norm(event.end)
    if end is None:
        end = start + DEFAULT_TIMED_LENGTH if isinstance(start, datetime) else start
    return Occurrence(event, start, end, all_day=not isinstance(start, datetime))

def _recurring(event: Recurring, loaded: LoadedTimeline, first: date,
               last: date) -> Iterator[Occurrence]:
    rule = loaded.rules[event.id]
    length = default_duration(rule, event)
    # Start far enough back for one that began before `first` and lasts into it; in whole
    # days, as `first` is a date (a date minus two hours is the same date).
    for start in rule.between(first - timedelta(days=-(-length // timedelta(days=1))), last):
        day = start.date() if isinstance(start, datetime) else start
        estimated = rule.skip_cn_holidays and is_estimated(day)
        if rule.all_day:
            end: date | datetime = start + length - timedelta(days=1)
        else:
            end = start + length
        yield Occurrence(event, start, end, all_day=rule.all_day, estimated=estimated)

def matches(event: AnyEvent, tags: Iterable[str] = (), stories: Iterable[str] = ()) -> bool:
    """Filter used by listing and feeds: any of the tags, any of the stories."""
    tags, stories = set(tags), set(stories)
    return (not tags or bool(tags & set(event.tags))) and (not stories or event.story in stories)

def iter_occurrences(loaded: LoadedTimeline, first: date, last: date, *,
                     tags: Iterable[str] = (), stories: Iterable[str] = ()) -> list[Occurrence]:
    """Every occurrence that overlaps first..last (inclusive), in date order."""
    tags, stories = list(tags), list(stories)
    found: list[Occurrence] = []
    for event in loaded.timeline.events:
        if not matches(event, tags, stories):
            continue
        if isinstance(event, Recurring):
            found.extend(o for o in _recurring(event, loaded, first, last)
                         if o.last_date >= first and o.key_date <= last)
            continue
        occurrence = _single(event, loaded.timeline.timezone)
        opened = occurrence.key_date
        if occurrence.start is None:
            # "From the plan's release": open at least since the story reported it.
            published = loaded.timeline.story(event.story).published
            opened = min(opened, published.date() if isinstance(published, datetime)
                         else published)
        if occurrence.last_date >= first and opened <= last:
            found.append(occurrence)
    found.sort(key=lambda o: (o.key_date, o.last_date, o.event.id))
    return found

PRECISE = {Precision.DAY}
