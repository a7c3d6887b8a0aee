"""What is coming up, relative to a given day: shared by the page and `/api/upcoming`.

"Days left" counts to an occurrence's last day (a window's closing day, a deadline's due day),
because that is the day a reader must act by; 0 means "today is the last day".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from timeline.loader import LoadedTimeline
from timeline.model import Deadline, Precision, Recurring, Window
from timeline.occurrences import Occurrence, iter_occurrences

__all__ = ["Upcoming", "days_left", "is_open", "next_recurring", "upcoming", "upcoming_json"]

# Recurring items are listed on the page when they happen again within this many days.
RECURRING_HORIZON = timedelta(days=60)
# The page's "upcoming" list stops here: beyond it nothing is urgent, and the chart shows it.
UPCOMING_LIMIT = 50


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def days_left(occurrence: Occurrence, today: date) -> int:
    return (occurrence.last_date - today).days


def opened_on(occurrence: Occurrence, loaded: LoadedTimeline) -> date:
    """The first day of an occurrence; a window without a start opened when its story
    was published (the same reading `iter_occurrences` uses)."""
    if occurrence.start is not None:
        return _as_date(occurrence.start)
    story = loaded.timeline.story(occurrence.event.story)
    return min(occurrence.last_date, _as_date(story.published))


def is_open(occurrence: Occurrence, loaded: LoadedTimeline, today: date) -> bool:
    return opened_on(occurrence, loaded) <= today <= occurrence.last_date


@dataclass(frozen=True)
class Upcoming:
    occurrence: Occurrence
    days_left: int
    open: bool  # a window currently accepting applications
    opens_in: int | None  # days until a window opens; None when open or not a window

    @property
    def approximate(self) -> bool:
        return self.occurrence.event.precision is not Precision.DAY


def upcoming(loaded: LoadedTimeline, today: date, *, limit: int = UPCOMING_LIMIT,
             tags: list[str] | None = None, stories: list[str] | None = None) -> list[Upcoming]:
    """Deadlines and windows not yet over, soonest last day first."""
    # Only single-dated kinds matter here; leaving recurring items out spares expanding an
    # open-ended weekly rule across the far horizon.
    timeline = loaded.timeline
    singles = [e for e in timeline.events if isinstance(e, Deadline | Window)]
    only = LoadedTimeline(timeline.model_copy(update={"events": singles}), {}, loaded.source)
    horizon = date(today.year + 100, 12, 31)
    found = []
    for occ in iter_occurrences(only, today, horizon, tags=tags or (), stories=stories or ()):
        opened = is_open(occ, loaded, today)
        opens_in = None
        if isinstance(occ.event, Window) and not opened:
            opens_in = (opened_on(occ, loaded) - today).days
        found.append(Upcoming(occ, days_left(occ, today), opened, opens_in))
    found.sort(key=lambda u: (u.occurrence.last_date, u.occurrence.event.id))
    return found[:limit]


def next_recurring(loaded: LoadedTimeline, today: date,
                   horizon: timedelta = RECURRING_HORIZON) -> list[Occurrence]:
    """Each recurring item's next occurrence, when it falls within `horizon`."""
    seen: set[str] = set()
    out = []
    for occ in iter_occurrences(loaded, today, today + horizon):
        if isinstance(occ.event, Recurring) and occ.event.id not in seen:
            seen.add(occ.event.id)
            out.append(occ)
    return out


def upcoming_json(loaded: LoadedTimeline, today: date, days: int, *,
                  tags: list[str], stories: list[str]) -> list[dict[str, Any]]:
    """Every occurrence overlapping today..today+days, for `/api/upcoming`."""
    out = []
    for occ in iter_occurrences(loaded, today, today + timedelta(days=days), tags=tags,
                                stories=stories):
        item = occ.to_json()
        item["days_left"] = days_left(occ, today)
        item["open"] = is_open(occ, loaded, today)
        out.append(item)
    return out
