"""The timeline in effect: what the web app publishes and the dispatcher renders from, with
its revisions and a version number.

The daemon owns one `TimelineSource` and calls `update()` after each reload; the app reads
`snapshot()` on every request, so a reload is picked up without restarting the server. The
version number is what the feed cache keys on: a new version means "render again" (only the
changed events are actually re-rendered, see `timeline.feed.FeedRenderer`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from timeline.loader import LoadedTimeline
from timeline.store import Revision

__all__ = ["Snapshot", "TimelineSource"]

log = logging.getLogger("timeline.web")


@dataclass(frozen=True)
class Snapshot:
    """One consistent view: a request never mixes an old timeline with new revisions."""

    loaded: LoadedTimeline
    revisions: Mapping[str, Revision]
    version: int
    # When an event last changed, came or went, by the store: what the events in a feed
    # cannot tell, that one left it.
    changed_at: datetime | None = None

    # Worked out once per version, not per request: every feed request checks its filter.
    @cached_property
    def known_tags(self) -> frozenset[str]:
        return frozenset(self.loaded.timeline.tags)

    @cached_property
    def known_stories(self) -> frozenset[str]:
        return frozenset(s.id for s in self.loaded.timeline.stories)


class TimelineSource:
    """Holds the timeline being served; `update()` is safe to call from any thread."""

    def __init__(self, loaded: LoadedTimeline,
                 revisions: Mapping[str, Revision] | None = None) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot(loaded, dict(revisions or {}), 1)
        self._listeners: list[Callable[[Snapshot], None]] = []

    def on_update(self, listener: Callable[[Snapshot], None]) -> None:
        """Call `listener` with every snapshot published from now on, in the publishing
        thread (the daemon's event loop): it must return at once, e.g. start a thread."""
        self._listeners.append(listener)

    def update(self, loaded: LoadedTimeline,
               revisions: Mapping[str, Revision] | None = None,
               changed_at: datetime | None = None) -> int:
        """Publish a newly loaded timeline; returns the new version."""
        with self._lock:
            version = self._snapshot.version + 1
            # Copy the mapping: the caller may keep mutating its own dict.
            self._snapshot = snapshot = Snapshot(loaded, dict(revisions or {}), version,
                                                 changed_at)
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:  # a listener's trouble must not fail the reload that published
                log.exception("a listener of the timeline's updates failed")
        return version

    def snapshot(self) -> Snapshot:
        # A single attribute read is atomic, so readers need no lock.
        return self._snapshot

    @property
    def loaded(self) -> LoadedTimeline:
        return self._snapshot.loaded

    @property
    def revisions(self) -> Mapping[str, Revision]:
        return self._snapshot.revisions

    @property
    def version(self) -> int:
        return self._snapshot.version
