"""The Store: opening, closing and checking the database; the work lives in the mixins."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from timeline.errors import ConfigError
from timeline.store._base import DEFAULT_URL, engine_url, make_engine
from timeline.store._claims import ClaimsMixin
from timeline.store._events import EventsMixin
from timeline.store._feed_blocks import FeedBlocksMixin
from timeline.store._outbox import OutboxMixin
from timeline.store._schema import ensure_schema

__all__ = ["Store"]


class Store(EventsMixin, OutboxMixin, ClaimsMixin, FeedBlocksMixin):
    """The events, the delivery outbox and the feed's rendered blocks, on SQLite or
    PostgreSQL.

    Methods are synchronous and safe to call from several threads at once (the daemon
    calls them through `asyncio.to_thread`); several processes may share one database.
    Every datetime going in must be aware; every datetime coming out is aware UTC.
    """

    @classmethod
    def open(cls, url: str = DEFAULT_URL) -> Store:
        """Open (creating or migrating the schema) the store at `url`:
        `sqlite:///path/to/timeline.db` or `postgresql://user@host/database`.

        Raises ConfigError for an unsupported URL, an unreachable or unopenable database,
        or a schema newer than this code."""
        engine = make_engine(engine_url(url))
        store = cls(engine)
        try:
            with store._write(lock="schema") as conn:
                ensure_schema(conn, store.url)
        except DBAPIError as exc:  # unreachable, not a database, a bad connection option
            engine.dispose()
            reason = " ".join(str(exc.orig).split())[:300]
            raise ConfigError(f"cannot open the store at {store.url}: {reason}") from None
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection; the Store is not to be used afterwards."""
        self._engine.dispose()

    def ping(self) -> bool:
        """Whether the database answers (for health checks)."""
        try:
            with self._read() as conn:
                return conn.execute(select(1)).scalar() == 1
        except Exception:
            return False

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"
