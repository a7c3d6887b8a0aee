"""The feed_blocks table: rendered VEVENTs kept across restarts and shared by instances.

The feed treats this as a cache, never as the record: a block is used only when its digest
is the one the current event asks for, a lost or stale row is rendered again, and writes
go in small transactions so that SQLite's one write lock is never held long away from the
dispatcher.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from timeline.store._base import StoreBase
from timeline.store._records import StoredBlock
from timeline.store._schema import feed_blocks

__all__ = ["FeedBlocksMixin"]

# Rows per write transaction: short enough that a claim waiting for SQLite's write lock
# waits milliseconds, long enough that 10,000 blocks take a few dozen commits.
WRITE_CHUNK = 500
# Ids per IN list; above this many wanted, reading the language's whole table is cheaper.
READ_CHUNK = 500
WHOLE_TABLE_ABOVE = 2000
# Rows fetched from the cursor at a time: 100,000 blocks never sit in memory twice.
FETCH = 1000

_COLUMNS = (feed_blocks.c.event_id, feed_blocks.c.digest, feed_blocks.c.block,
            feed_blocks.c.tzid)
_SOME = select(*_COLUMNS).where(feed_blocks.c.lang == bindparam("lang"),
                                feed_blocks.c.event_id.in_(bindparam("ids", expanding=True)))
_ALL = select(*_COLUMNS).where(feed_blocks.c.lang == bindparam("lang"))
_IDS = select(feed_blocks.c.event_id).distinct()
_DROP = delete(feed_blocks).where(feed_blocks.c.event_id.in_(bindparam("ids", expanding=True)))


def _upsert(dialect: Any) -> Any:
    """INSERT … ON CONFLICT (lang, event_id) DO UPDATE: a newer render replaces the row."""
    stmt = dialect.insert(feed_blocks)
    return stmt.on_conflict_do_update(
        index_elements=[feed_blocks.c.lang, feed_blocks.c.event_id],
        set_={"digest": stmt.excluded.digest, "tzid": stmt.excluded.tzid,
              "block": stmt.excluded.block, "rendered_at": stmt.excluded.rendered_at})


_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


class FeedBlocksMixin(StoreBase):
    def feed_blocks(self, lang: str, event_ids: Collection[str] | None = None
                    ) -> Iterator[StoredBlock]:
        """The stored blocks of `lang`, of `event_ids` only when given (in no order).
        Streams: the caller keeps what it wants as it goes."""
        if event_ids is not None and len(event_ids) <= WHOLE_TABLE_ABOVE:
            ids = sorted(event_ids)
            with self._read() as conn:
                for i in range(0, len(ids), READ_CHUNK):
                    rows = conn.execute(_SOME, {"lang": lang, "ids": ids[i:i + READ_CHUNK]})
                    yield from (StoredBlock(*row) for row in rows)
            return
        with self._read() as conn:
            result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(
                _ALL, {"lang": lang})
            for row in result:
                yield StoredBlock(*row)

    def save_feed_blocks(self, lang: str, blocks: Sequence[StoredBlock]) -> None:
        """Keep `blocks`, replacing what the store had for those events in `lang`."""
        now = datetime.now(UTC)
        # Sorted: two instances writing the same events lock their rows in the same order
        # (PostgreSQL), so they wait for each other instead of deadlocking.
        rows = [{"lang": lang, "event_id": b.event_id, "digest": b.digest, "tzid": b.tzid,
                 "block": b.block, "rendered_at": now}
                for b in sorted(blocks, key=lambda b: b.event_id)]
        statement = _UPSERT[self.backend]
        for i in range(0, len(rows), WRITE_CHUNK):
            with self._write() as conn:
                conn.execute(statement, rows[i:i + WRITE_CHUNK])

    def prune_feed_blocks(self, keep: Collection[str]) -> int:
        """Drop the blocks of events not in `keep` (removed from the file); returns how many
        events' blocks went."""
        with self._read() as conn:
            gone = [i for i in conn.execute(_IDS).scalars() if i not in keep]
        for i in range(0, len(gone), WRITE_CHUNK):
            with self._write() as conn:
                conn.execute(_DROP, {"ids": gone[i:i + WRITE_CHUNK]})
        return len(gone)
