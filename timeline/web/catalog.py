"""What the pages look things up by, built once per timeline version.

With 10,000 events a page must not walk every event to find one story's items, one tag's
items or the words a search is after. `Catalog` groups them once per snapshot version; the
app keeps the current version's catalog and builds a new one after a reload.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from timeline.model import Deadline, Happening, Window
from timeline.occurrences import AnyEvent
from timeline.source import Snapshot
from timeline.web.items import as_day

__all__ = ["Catalog", "CatalogCache"]


def first_day(event: AnyEvent, snap: Snapshot) -> date:
    """The day that orders an item in its list."""
    if isinstance(event, Deadline):
        return as_day(event.due)
    if isinstance(event, Window):
        return as_day(event.start if event.start is not None else event.end)
    if isinstance(event, Happening):
        return as_day(event.date)
    return as_day(snap.loaded.rules[event.id].dtstart)


def last_day(event: AnyEvent, snap: Snapshot) -> date | None:
    """The item's last day; None for a rule that never ends (never past)."""
    if isinstance(event, Deadline):
        return as_day(event.due)
    if isinstance(event, Window):
        return as_day(event.end)
    if isinstance(event, Happening):
        return as_day(event.end if event.end is not None else event.date)
    return snap.loaded.rules[event.id].last_day


@dataclass(frozen=True)
class Catalog:
    version: int
    ordered: list[AnyEvent]  # every event in date order
    by_story: dict[str, list[AnyEvent]]  # in date order
    by_tag: dict[str, list[AnyEvent]]  # in date order
    first: dict[str, date]
    last: dict[str, date | None]
    # Search works on positions in `ordered`, not on the models: reading an attribute of
    # a pydantic model costs ~0.5 µs, more than the substring test it would feed.
    # Each event's searchable text, lower-cased once: title, description and source
    # quote, Chinese and English together, so either language's words find an item.
    haystacks: list[str]
    titles: list[str]  # both titles, lower-cased: title matches are listed first
    story_positions: dict[str, list[int]]
    tag_positions: dict[str, list[int]]

    @classmethod
    def build(cls, snap: Snapshot) -> Catalog:
        events = snap.loaded.timeline.events
        first = {e.id: first_day(e, snap) for e in events}
        ordered = sorted(events, key=lambda e: (first[e.id], e.id))
        by_story: dict[str, list[AnyEvent]] = defaultdict(list)
        by_tag: dict[str, list[AnyEvent]] = defaultdict(list)
        story_positions: dict[str, list[int]] = defaultdict(list)
        tag_positions: dict[str, list[int]] = defaultdict(list)
        for i, event in enumerate(ordered):
            by_story[event.story].append(event)
            story_positions[event.story].append(i)
            for tag in event.tags:
                by_tag[tag].append(event)
                tag_positions[tag].append(i)
        haystacks = ["\n".join((e.title, e.title_en or "", e.description, e.description_en,
                                e.source)).lower() for e in ordered]
        titles = [f"{e.title}\n{e.title_en or ''}".lower() for e in ordered]
        return cls(snap.version, ordered, dict(by_story), dict(by_tag), first,
                   {e.id: last_day(e, snap) for e in events}, haystacks, titles,
                   dict(story_positions), dict(tag_positions))

    def is_past(self, event: AnyEvent, today: date) -> bool:
        end = self.last[event.id]
        return end is not None and end < today

    def split(self, events: list[AnyEvent], today: date
              ) -> tuple[list[AnyEvent], list[AnyEvent]]:
        """(current and coming, in date order; past, newest first)."""
        current = [e for e in events if not self.is_past(e, today)]
        past = [e for e in events if self.is_past(e, today)]
        past.sort(key=lambda e: (self.last[e.id] or date.max, e.id), reverse=True)
        return current, past


class CatalogCache:
    """The current version's catalog; built by the first request that needs it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None

    def get(self, snap: Snapshot) -> Catalog:
        catalog = self._catalog
        if catalog is not None and catalog.version == snap.version:
            return catalog
        with self._lock:
            catalog = self._catalog
            if catalog is None or catalog.version != snap.version:
                catalog = Catalog.build(snap)
                self._catalog = catalog
            return catalog
