"""Engines and transactions: where SQLite and PostgreSQL are told apart.

Writes are serialized per concern so that two processes on one database never interleave:
on SQLite every write transaction starts with `BEGIN IMMEDIATE` (the database write lock,
taken up front rather than on first write, so busy_timeout can wait for it instead of
failing with SQLITE_BUSY when a read lock cannot be upgraded); on PostgreSQL schema
changes, event syncing and the many-row outbox updates (planning, cancelling, marking
missed) each take a transaction-scoped advisory lock, and claims rely on row locks with
`FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Literal

from sqlalchemy import URL, Connection, Engine, create_engine, event, func, make_url, select
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool

from timeline.errors import ConfigError

__all__ = ["DEFAULT_URL", "StoreBase", "StoreBusy", "engine_url", "make_engine"]

DEFAULT_URL = "sqlite:///timeline.db"
_WRITE = "timeline_write"  # execution option read by the SQLite `begin` hook
_NOWAIT = "timeline_nowait"  # likewise: fail at once on another writer's lock, not wait
BUSY_TIMEOUT_MS = 30_000  # how long SQLite waits for another writer's lock
NOWAIT_LOCK_TIMEOUT = "100ms"  # PostgreSQL's wait for a row lock in a non-waiting write


class StoreBusy(Exception):
    """A non-waiting write found another writer's lock (`wait=False`)."""
# Advisory lock ids (PostgreSQL): arbitrary constants, one per serialized concern.
_LOCKS = {"schema": 7_301_001, "events": 7_301_002, "plan": 7_301_003}
LockName = Literal["schema", "events", "plan"]


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL for a store URL: `sqlite:///path` or `postgresql://user@host/db`
    (driven by psycopg 3); anything else is a ConfigError naming what is supported."""
    # Never echo the URL: it may carry a password (a mistyped one as well as a good one).
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError("bad store URL (not shown: it may hold a password): expected "
                          "sqlite:///path/to/timeline.db or postgresql://user@host:5432/database"
                          ) from None
    if "@" in (parsed.host or ""):
        raise ConfigError("bad store URL (not shown: it may hold a password): an '@' in the "
                          "password must be written %40")
    name = parsed.drivername
    if name in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+pysqlite")
    if name in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigError(f"unsupported store URL scheme {name[:20]!r}: use "
                      "sqlite:///path/to/timeline.db or postgresql://user@host/database")


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    # pysqlite's own transaction handling would BEGIN lazily (and DEFERRED); turn it off so
    # the `begin` hook below decides how each transaction starts.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    # Wait for another writer (thread or process) instead of failing at once.
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    record.info[_NOWAIT] = False
    # WAL: readers never block the writer and vice versa; the setting sticks to the file.
    # Switching a new file to WAL needs a lock that SQLite does not wait for through
    # busy_timeout, so processes opening a fresh database together retry here.
    for attempt in range(100):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                break
            cursor.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)
    # FULL: a commit (a delivery marked sent) survives a power cut too, so it is not resent.
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    nowait = options.get(_NOWAIT, False)
    if conn.info.get(_NOWAIT, False) != nowait:  # a pragma only when it changes
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {0 if nowait else BUSY_TIMEOUT_MS}")
        conn.info[_NOWAIT] = nowait
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE, False) else "BEGIN")


def _busy(exc: OperationalError) -> bool:
    """Whether a failed statement met another writer's lock (SQLITE_BUSY, PostgreSQL's
    lock_not_available), rather than some other trouble."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return "locked" in str(orig) or "busy" in str(orig)
    return getattr(orig, "sqlstate", None) == "55P03"


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            # One shared connection, or every pooled connection would see its own empty
            # database; StoreBase serializes its use with a lock.
            engine = create_engine(url, poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
        else:
            # A file database gets a QueuePool whose connections may move between threads.
            engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # A daemon outlives database restarts and fail-overs: test connections before use.
    return create_engine(url, pool_pre_ping=True)


class StoreBase:
    """The engine plus read and write transactions; the Store's parts build on this."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        memory = engine.dialect.name == "sqlite" and engine.url.database in (None, "",
                                                                            ":memory:")
        self._serial: AbstractContextManager[Any] = threading.RLock() if memory else nullcontext()
        self._current = threading.local()  # the connection of a transaction() under way

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything the store does in this thread inside the block is one transaction,
        committed at its end or rolled back whole if it raises: a reload is all or
        nothing. It holds the event and plan locks (in that order, as every writer takes
        them) until it ends."""
        if getattr(self._current, "conn", None) is not None:
            yield  # already inside one
            return
        with self._serial, self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                if self._postgres:
                    for lock in ("events", "plan"):
                        conn.execute(select(func.pg_advisory_xact_lock(_LOCKS[lock])))
                self._current.conn = conn
                try:
                    yield
                finally:
                    self._current.conn = None

    @property
    def url(self) -> str:
        """The database URL, password hidden (also one given as ?password=…): every query
        value is, since a driver option may hold a secret."""
        url = self._engine.url
        masked = url.set(query={key: "***" for key in url.query})
        return masked.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection in a read-only transaction, rolled back at the end (one snapshot on
        SQLite; on PostgreSQL each statement sees what was committed before it)."""
        current = getattr(self._current, "conn", None)
        if current is not None:
            yield current  # inside transaction(): see what it has written so far
            return
        with self._serial, self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, lock: LockName | None = None, *, wait: bool = True
               ) -> Iterator[Connection]:
        """A write transaction, committed on success; `lock` serializes it with every other
        transaction taking the same lock, in any process. Inside transaction(), a part of
        that one. `wait=False`: raise StoreBusy at once (PostgreSQL: within 100 ms) when
        another writer holds a lock it needs, for a caller that must not block."""
        current = getattr(self._current, "conn", None)
        if current is not None:
            yield current
            return
        with self._serial, self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True, _NOWAIT: not wait})
            try:
                with conn.begin():
                    if not wait and self._postgres:
                        conn.exec_driver_sql(
                            f"SET LOCAL lock_timeout = '{NOWAIT_LOCK_TIMEOUT}'")
                    if lock is not None and self._postgres:
                        conn.execute(select(func.pg_advisory_xact_lock(_LOCKS[lock])))
                    yield conn
            except OperationalError as exc:
                if not wait and _busy(exc):
                    raise StoreBusy(str(exc.orig)) from exc
                raise
