"""The VEVENT blocks a feed is assembled from: kept in memory, kept in the store, rendered
only when neither has the one an event needs now.

A block's bytes depend on the event (its fingerprint covers its YAML, its story's, its zone
and the window a recurring item lies within), its revision (SEQUENCE, DTSTAMP,
LAST-MODIFIED), the language, for a recurring item the year (open-ended rules list the
holidays from this year on), and the code that renders it and the holiday data it reads.
`block_digest` names all of that, so a block found in the store under the same digest is
the block this process would render, byte for byte, and a restart or a second instance
serves the same feed with the same ETag without rendering it again.

Memory holds one block per (event, language): the newest asked for, so it is bounded by
the events however often they change. The store holds the same, shared by instances.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

from timeline import __version__
from timeline.formatting import Lang
from timeline.heap import collector_paused
from timeline.loader import LoadedTimeline
from timeline.occurrences import AnyEvent
from timeline.store import Revision, StoredBlock

__all__ = ["FORMAT", "Block", "BlockCache", "BlockStore", "block_digest"]

log = logging.getLogger("timeline.feed")

# Bump when the rendering changes in a way the versions below do not show (a change on a
# branch before a release): every stored block is then rendered again once.
FORMAT = "vevent-1"


def _versions() -> str:
    """What else shapes the bytes: this package, the serializer, the holiday calendars."""
    parts = [f"policy-timeline={__version__}"]
    for name in ("icalendar", "chinesecalendar", "holidays"):
        try:
            parts.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:  # run from a source tree without metadata
            parts.append(f"{name}=?")
    return ",".join(parts)


_ENVIRONMENT = f"{FORMAT};{_versions()}"


def block_digest(event_id: str, fingerprint: str, revision: Revision, lang: Lang,
                 year: int) -> str:
    """The name of one block's content; `year` is 0 for an event whose bytes do not
    depend on it. (A restart works this out for every event: one f-string, one hash.)"""
    text = (f"{_ENVIRONMENT}\0{event_id}\0{fingerprint}\0{revision.sequence}\0"
            f"{revision.modified.isoformat()}\0{lang}\0{year}")
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class BlockStore(Protocol):
    """The part of the store the feed uses (`timeline.store.Store` implements it)."""

    def feed_blocks(self, lang: str, event_ids: Collection[str] | None = None
                    ) -> Iterator[StoredBlock]: ...

    def save_feed_blocks(self, lang: str, blocks: Sequence[StoredBlock]) -> None: ...

    def prune_feed_blocks(self, keep: Collection[str]) -> int: ...


BULK = 1000  # blocks missing from memory at once above which the collector is paused


def well_formed(stored: StoredBlock) -> bool:
    """A stored block that can be served as it is: one VEVENT's bytes, framed as the writer
    frames them, and a zone this machine knows (the feed's VTIMEZONE is built from it).
    Anything else (a row edited by hand, another release's) is rendered again, never
    served: the digest names what a block was made from, not its bytes."""
    block = stored.block
    # By lines, not words: a content line starts after CRLF (a folded one after CRLF and a
    # space), so an item's text never looks like a component's BEGIN or END. The first
    # END:VEVENT line is the last line; no line after the first opens another component
    # that could hold or close a calendar. One scan each: a restart reads 9 MiB of them.
    return (isinstance(block, bytes) and block.startswith(b"BEGIN:VEVENT\r\n")
            and block.find(b"\r\nEND:VEVENT\r\n") == len(block) - _END
            and _FRAMING.search(block) is None
            and (stored.tzid is None or _known_zone(stored.tzid)))


_END = len(b"\r\nEND:VEVENT\r\n")
_FRAMING = re.compile(rb"\r\n(?:BEGIN:VEVENT|BEGIN:VCALENDAR|END:VCALENDAR)\r\n")


@functools.lru_cache(maxsize=256)
def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


# The in-memory key: cheap to build and compare for 100,000 events on every render. The
# digest (a hash) is worked out only for the events that miss here.
MemoryKey = tuple[str, Revision, int]


@dataclass(frozen=True, slots=True)
class Block:
    key: MemoryKey
    block: bytes
    tzid: str | None


# (event, its revision) in; (VEVENT bytes, TZID or None) out, in the same order.
Render = Callable[[Sequence[tuple[AnyEvent, Revision]]], list[tuple[bytes, str | None]]]


class BlockCache:
    """Blocks by (event id, language), backed by a `BlockStore` when given one."""

    def __init__(self, store: BlockStore | None = None) -> None:
        self._memory: dict[tuple[str, Lang], Block] = {}
        self._store = store
        self._store_ok = True
        self._state = threading.Lock()  # the prune thread reports trouble too
        self._pruned: frozenset[str] | None = None
        self.rendered = 0  # VEVENTs rendered by this process (tests and /metrics count)
        self.from_store = 0  # VEVENTs taken from the store instead

    def blocks(self, loaded: LoadedTimeline, wanted: Sequence[tuple[AnyEvent, Revision]],
               lang: Lang, this_year: int, render: Render) -> list[Block]:
        """The block of each (event, revision) in `wanted`, in order; `render` makes the
        ones neither memory nor the store has."""
        fingerprints, rules, memory = loaded.fingerprints, loaded.rules, self._memory
        out: list[Block | None] = []
        missing: list[tuple[int, MemoryKey]] = []
        for i, (event, revision) in enumerate(wanted):
            key = (fingerprints.get(event.id, ""), revision,
                   this_year if event.id in rules else 0)
            hit = memory.get((event.id, lang))
            if hit is not None and hit.key == key:
                out.append(hit)
            else:
                out.append(None)
                missing.append((i, key))
        if missing:
            # Thousands of blocks read back or rendered at once (a start, a big change) make
            # objects that all live on; the collections they set off would only walk them
            # (a third of a restart's time at 50,000 events). None of them is cyclic.
            with collector_paused() if len(missing) >= BULK else nullcontext():
                for i, block in self._fill(wanted, missing, lang, render):
                    out[i] = memory[(wanted[i][0].id, lang)] = block
        return [b for b in out if b is not None]

    def _fill(self, wanted: Sequence[tuple[AnyEvent, Revision]],
              missing: list[tuple[int, MemoryKey]], lang: Lang, render: Render
              ) -> list[tuple[int, Block]]:
        # Events without a fingerprint (a LoadedTimeline built by hand) are never stored:
        # without it the digest could not tell two versions of the event apart.
        digests = {} if self._store is None else {
            wanted[i][0].id: block_digest(wanted[i][0].id, key[0], wanted[i][1], lang, key[2])
            for i, key in missing if key[0]}
        found = self._load(lang, digests)
        out: list[tuple[int, Block]] = []
        to_render: list[tuple[int, MemoryKey]] = []
        for i, key in missing:
            stored = found.get(wanted[i][0].id)
            if stored is None:
                to_render.append((i, key))
            else:
                out.append((i, Block(key, stored.block, stored.tzid)))
        self.from_store += len(out)
        if not to_render:
            return out
        rendered = render([wanted[i] for i, _ in to_render])
        self.rendered += len(rendered)
        new: list[StoredBlock] = []
        for (i, key), (block, tzid) in zip(to_render, rendered, strict=True):
            event_id = wanted[i][0].id
            if event_id in digests:
                new.append(StoredBlock(event_id, digests[event_id], block, tzid))
            out.append((i, Block(key, block, tzid)))
        if new and self._store is not None:
            self._save(lang, new)
        return out

    def _load(self, lang: Lang, digests: dict[str, str]) -> dict[str, StoredBlock]:
        if self._store is None or not digests:
            return {}
        found: dict[str, StoredBlock] = {}
        try:
            for stored in self._store.feed_blocks(lang, digests.keys()):
                if digests.get(stored.event_id) == stored.digest and well_formed(stored):
                    found[stored.event_id] = stored
        except Exception as exc:  # a cache: trouble in the store means rendering, not failing
            self._trouble("read", exc)
            return {}
        self._recovered()
        return found

    def _save(self, lang: Lang, blocks: list[StoredBlock]) -> None:
        if self._store is None:
            return
        try:
            self._store.save_feed_blocks(lang, blocks)
        except Exception as exc:
            self._trouble("write", exc)
            return
        self._recovered()

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the blocks of events that no longer exist, here and (in a thread of its
        own, so that no feed waits for it) in the store."""
        keep = frozenset(keep)
        self._memory = {k: v for k, v in self._memory.items() if k[0] in keep}
        if self._store is None or keep == self._pruned:
            return
        self._pruned = keep
        threading.Thread(target=self._prune, args=(keep,), name="timeline-feed-prune",
                         daemon=True).start()

    def _prune(self, keep: frozenset[str]) -> None:
        assert self._store is not None
        try:
            self._store.prune_feed_blocks(keep)
        except Exception as exc:
            self._pruned = None  # try again with the next version
            self._trouble("prune", exc)
            return
        self._recovered()

    def _trouble(self, what: str, exc: Exception) -> None:
        # Once per change of state, as the daemon logs store trouble: not once a request.
        with self._state:
            if self._store_ok:
                log.warning("feed blocks: cannot %s the store (%s: %s); rendering instead",
                            what, type(exc).__name__, " ".join(str(exc).split())[:200])
            self._store_ok = False

    def _recovered(self) -> None:
        with self._state:
            if not self._store_ok:
                log.info("feed blocks: store usable again")
            self._store_ok = True
