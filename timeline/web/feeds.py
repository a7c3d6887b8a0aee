"""The feed cache: every (filter, language) feed is rendered once per timeline version.

A calendar app polls the same URL every few hours and thousands of subscribers poll the same
few URLs, so a request must cost a dictionary lookup, not a render. The bytes, their gzip
form, the ETag and Last-Modified are computed together when a version is first asked for;
`FeedRenderer` keeps per-event VEVENT blocks across versions (and, given the store, across
restarts), so a reload that changed one event re-renders one block and re-assembles the
rest.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

import anyio.to_thread

from timeline.blocks import BlockStore
from timeline.feed import FeedRenderer, default_revision
from timeline.formatting import Lang
from timeline.occurrences import matches
from timeline.source import Snapshot

__all__ = ["CachedFeed", "FeedCache", "FeedKey"]

# Level 6 is zlib's default: close to 9 in size for calendar text, several times faster.
GZIP_LEVEL = 6


@dataclass(frozen=True)
class FeedKey:
    """A feed's identity; tags and stories sorted so `?tag=b,a` shares `?tag=a,b`'s entry."""

    tags: tuple[str, ...] = ()
    stories: tuple[str, ...] = ()
    lang: Lang = "zh"

    @classmethod
    def of(cls, tags: list[str], stories: list[str], lang: Lang) -> FeedKey:
        return cls(tuple(sorted(set(tags))), tuple(sorted(set(stories))), lang)


@dataclass(frozen=True)
class CachedFeed:
    version: int
    body: bytes
    gzipped: bytes
    etag: str  # strong: a digest of `body`, quoted
    gzip_etag: str  # the gzip bytes are another representation, so another strong tag
    last_modified: datetime | None  # the latest revision among the feed's events, UTC
    last_modified_http: str | None  # the same as an HTTP date, formatted once

    def matches_etag(self, header: str) -> bool:
        """If-None-Match uses weak comparison (RFC 9110 13.1.2), and either form of the
        tag names the same content."""
        if header.strip() == "*":
            return True
        ours = {self.etag, self.gzip_etag}
        return any(tag.strip().removeprefix("W/") in ours for tag in header.split(","))


class FeedCache:
    """Rendered feeds by FeedKey, at most `max_entries` of them (least recently used go)."""

    def __init__(self, max_entries: int = 64, store: BlockStore | None = None) -> None:
        # With a store, the per-event blocks outlive the process: a restart renders only
        # the events that changed while it was down (see timeline.blocks).
        self._renderer = FeedRenderer(store)
        self._entries: OrderedDict[FeedKey, CachedFeed] = OrderedDict()
        # A thread lock, not an asyncio one: renders run in worker threads, and the app may
        # be driven by more than one event loop over its life (tests do this).
        self._lock = threading.Lock()
        self._max = max_entries
        self._pruned_for = 0
        self.renders = 0

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[FeedKey]:
        """The feeds cached now, most recently used last (waits for a render under way)."""
        with self._lock:
            return list(self._entries)

    @property
    def blocks_rendered(self) -> int:
        """VEVENTs rendered so far (the rest came from memory or the store)."""
        return self._renderer.rendered

    @property
    def blocks_from_store(self) -> int:
        """VEVENTs taken from the store instead of being rendered."""
        return self._renderer.from_store

    def cached(self, snapshot: Snapshot, key: FeedKey) -> CachedFeed | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != snapshot.version:
            return None
        return entry

    async def get(self, snapshot: Snapshot, key: FeedKey) -> CachedFeed:
        """The feed for `key` at `snapshot`'s version, rendered now if not yet cached."""
        entry = self.cached(snapshot, key)
        if entry is not None:
            return entry
        # A 100,000-event cold render takes seconds; keep the event loop serving meanwhile.
        return await anyio.to_thread.run_sync(self.get_sync, snapshot, key)

    def get_sync(self, snapshot: Snapshot, key: FeedKey) -> CachedFeed:
        with self._lock:
            # Checked again under the lock: concurrent first requests render only once.
            entry = self.cached(snapshot, key)
            if entry is None:
                entry = self._render(snapshot, key)
                self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return entry

    def _render(self, snapshot: Snapshot, key: FeedKey) -> CachedFeed:
        loaded = snapshot.loaded
        if snapshot.version > self._pruned_for:
            # Blocks of deleted events would otherwise live as long as the process, and
            # feeds of older versions are never served again (versions only go up).
            self._renderer.forget(e.id for e in loaded.timeline.events)
            self._entries = OrderedDict((k, v) for k, v in self._entries.items()
                                        if v.version >= snapshot.version)
            self._pruned_for = snapshot.version
        body = self._renderer.render(loaded, tags=key.tags, stories=key.stories,
                                     revisions=snapshot.revisions, lang=key.lang)
        self.renders += 1
        digest = hashlib.sha256(body).hexdigest()[:32]
        modified = last_modified(snapshot, key)
        return CachedFeed(
            version=snapshot.version,
            body=body,
            gzipped=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gzip"',
            last_modified=modified,
            last_modified_http=format_datetime(modified, usegmt=True) if modified else None,
        )


def last_modified(snapshot: Snapshot, key: FeedKey) -> datetime | None:
    """The newest revision time among the feed's events, or of the last change to the
    timeline when the store knows it (whole seconds, as HTTP dates are). An event that left
    the feed (removed, or no longer tagged) changed it too, and a client asking only
    If-Modified-Since must not be told 304 then."""
    timeline = snapshot.loaded.timeline
    stories = {s.id: s for s in timeline.stories}
    newest: datetime | None = snapshot.changed_at
    for event in timeline.events:
        if not matches(event, key.tags, key.stories):
            continue
        # The same default the feed's LAST-MODIFIED uses, so header and body agree.
        revision = snapshot.revisions.get(event.id) or default_revision(stories[event.story])
        if newest is None or revision.modified > newest:
            newest = revision.modified
    return newest.replace(microsecond=0) if newest is not None else None
