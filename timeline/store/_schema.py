"""Tables, column types and schema versions.

The `schema_version` table holds one row per applied version; `ensure_schema` creates a
fresh store, walks an older one forward through MIGRATIONS, and refuses one written by a
newer release (its rows might mean things this code does not know).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from timeline.delivery.kinds import KINDS
from timeline.errors import ConfigError
from timeline.store._records import ACTIVE_STATES, OUTCOME_STATES, STATES, utc

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "JSONText",
    "UTCDateTime",
    "deliveries",
    "encode_json",
    "ensure_schema",
    "events",
    "feed_blocks",
    "metadata",
    "sqlite_time",
]

# 2: deliveries.kind (reminder, digest, change, missed), read from the payload before.
# 3: feed_blocks, the feed's rendered VEVENTs kept across restarts.
SCHEMA_VERSION = 3
# One encoder for every value: json.dumps with options builds a new one per call.
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def sqlite_time(value: datetime) -> str:
    """How SQLite stores a moment: fixed-width UTC text, so text order is time order."""
    return utc(value).isoformat(sep=" ", timespec="microseconds")[:26]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends.

    PostgreSQL gets `timestamptz`. SQLite gets fixed-width ISO text in UTC
    (`2024-05-31 01:00:00.000000`), so comparing and ordering the text compares the moments,
    and the file stays readable with the sqlite3 shell.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(DateTime(timezone=True))

    # bind_processor/result_processor rather than process_*_param: the dialect is chosen
    # once per statement, not per value, which matters for 100,000-row batches.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        if dialect.name != "sqlite":
            return lambda value: None if value is None else utc(value)
        # The previous value and its text, swapped as one tuple so threads sharing this
        # processor never pair one value with another's text: batches repeat `now`.
        last: list[tuple[Any, str]] = [(None, "")]

        def process(value: datetime | None) -> Any:
            if value is None:
                return None
            previous, text = last[0]
            if value is previous:
                return text
            text = sqlite_time(value)
            last[0] = (value, text)
            return text

        return process

    def result_processor(self, dialect: Dialect, coltype: object
                         ) -> Callable[[Any], datetime | None]:
        def process(value: datetime | str | None) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, str):
                # Parsed with its offset: six times faster than .replace(tzinfo=UTC) after.
                return datetime.fromisoformat(value + "+00:00")
            # psycopg answers in the session's time zone, whatever the server is set to.
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

        return process


class JSONText(TypeDecorator[Any]):
    """JSON kept as text on both backends, so the two stores hold byte-identical data."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else encode_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        try:
            return None if value is None else json.loads(value)
        except ValueError:
            # Text edited by hand: read as no payload, which fails that row and says so,
            # instead of every claim that reads it.
            return None


def state_in(states: Iterable[str]) -> ColumnElement[bool]:
    """`state IN ('a', 'b')` with the values written into the SQL, not bound.

    The partial indexes below are declared with this same text; SQLite (and PostgreSQL's
    cached generic plans) only use a partial index when the query repeats its condition
    literally, which a bound parameter does not.
    """
    values: list[ColumnElement[str]] = [
        literal_column(f"'{state}'") for state in states if state in STATES]
    return deliveries.c.state.in_(values)


metadata = MetaData()
_KIND_LIST = ", ".join(f"'{kind}'" for kind in KINDS)

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("modified", UTCDateTime, nullable=False),
    Column("data", JSONText, nullable=False),
    Column("removed", UTCDateTime, nullable=True),  # when it left the events file
)

deliveries = Table(
    "deliveries", metadata,
    Column("key", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("notifier", Text, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("next_attempt_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("lease_owner", Text),
    Column("lease_until", UTCDateTime),
    Column("late", Boolean, nullable=False),
    Column("payload", JSONText),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Last, where ALTER TABLE puts it in a migrated store: the columns' order is Delivery's.
    Column("kind", Text, CheckConstraint(f"kind IN ({_KIND_LIST})", name="ck_deliveries_kind"),
           nullable=False, server_default="reminder"),
    CheckConstraint("state IN ({})".format(", ".join(f"'{s}'" for s in STATES)),
                    name="ck_deliveries_state"),
)

# The feed's VEVENT bytes per event and language, so a restart or another instance renders
# only what changed. `digest` names everything the bytes depend on (timeline.feed_blocks);
# one row per (lang, event) bounds the table by the events, and a new digest replaces the
# old bytes in place. `tzid`: the zone the block refers to, which the feed must define.
feed_blocks = Table(
    "feed_blocks", metadata,
    Column("lang", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("digest", Text, nullable=False),
    Column("tzid", Text),
    Column("block", LargeBinary, nullable=False),
    Column("rendered_at", UTCDateTime, nullable=False),
)

# When a waiting delivery is next to be tried; claims filter and order by exactly this.
run_at = func.coalesce(deliveries.c.next_attempt_at, deliveries.c.due_at)
ACTIVE = state_in(ACTIVE_STATES)
SENDING = state_in(["sending"])
OUTCOME = state_in(OUTCOME_STATES)

# The claim query walks this in order and stops at its LIMIT; being partial, it only
# holds waiting rows, so sent history does not slow claims down.
Index("ix_deliveries_ready", run_at, deliveries.c.key,
      sqlite_where=ACTIVE, postgresql_where=ACTIVE)
# Leases of crashed owners, found without scanning the table.
Index("ix_deliveries_lease", deliveries.c.lease_until, deliveries.c.key,
      sqlite_where=SENDING, postgresql_where=SENDING)
# Cancelling works per event, on waiting rows only.
Index("ix_deliveries_event", deliveries.c.event_id,
      sqlite_where=ACTIVE, postgresql_where=ACTIVE)
# last_outcome reads this backwards. Partial, like the others, so that inserting a big plan
# (all pending) does not pay for it: every index on all rows costs ~20% of a bulk insert.
Index("ix_deliveries_outcome", deliveries.c.updated_at, deliveries.c.key,
      sqlite_where=OUTCOME, postgresql_where=OUTCOME)
# Deliberately no index leading with `state`: without statistics SQLite's planner prefers
# such an index to the partial ones above and then sorts every waiting row on each claim.

# MIGRATIONS[n] turns a version-n schema into version n+1, inside the open transaction.
def _add_kind(conn: Connection) -> None:
    """1 → 2: each row's kind, which its payload told, into a column of its own."""
    conn.execute(text(f"ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'reminder'"
                      f" CONSTRAINT ck_deliveries_kind CHECK (kind IN ({_KIND_LIST}))"))
    # As the previous release read it: a payload's "kind" when it names one, else a digest
    # by its anchor. Only rows that can be other than a reminder are decoded; the filter
    # is loose (LIKE ignores case on SQLite, not on PostgreSQL), the decision is here.
    payload = type_coerce(deliveries.c.payload, Text)
    candidates = select(deliveries.c.key, payload).where(
        or_(payload.like('%"kind"%'), payload.like('%digest%')))
    changes = []
    for key, raw in conn.execute(candidates):
        try:
            data = json.loads(raw)
        except ValueError:
            continue  # unreadable as any kind: sending it fails and says why
        if not isinstance(data, dict):
            continue
        said = data.get("kind")
        kind = said if said in KINDS else "digest" if data.get("anchor") == "digest" else None
        if kind not in (None, "reminder"):
            changes.append({"b_key": key, "b_kind": kind})
    if changes:
        conn.execute(update(deliveries).where(deliveries.c.key == bindparam("b_key"))
                     .values(kind=bindparam("b_kind")), changes)


def _add_feed_blocks(conn: Connection) -> None:
    """2 → 3: the feed's blocks; empty, the first render after the upgrade fills it."""
    feed_blocks.create(conn)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _add_kind, 2: _add_feed_blocks}


def _stored_version(conn: Connection) -> int | None:
    tables = set(inspect(conn).get_table_names())
    if "schema_version" not in tables:
        ours = tables & {"events", "deliveries"}
        if ours:
            raise ConfigError(
                f"the database has {', '.join(sorted(ours))} table(s) but no schema_version: "
                "it was not made by policy-timeline; use an empty database or schema")
        return None
    return conn.execute(select(func.max(schema_version.c.version))).scalar()


def ensure_schema(conn: Connection, where: str) -> int:
    """Create or migrate the schema inside `conn`'s (locked) transaction; returns the
    version found before (0 for a new store)."""
    found = _stored_version(conn)
    now = datetime.now(UTC)
    if found is None:
        metadata.create_all(conn)
        conn.execute(insert(schema_version), [{"version": SCHEMA_VERSION, "applied_at": now}])
        return 0
    if found > SCHEMA_VERSION:
        raise ConfigError(
            f"the store at {where} has schema version {found}, newer than this release of "
            f"policy-timeline understands ({SCHEMA_VERSION}); upgrade policy-timeline, or "
            "point it at another database")
    for version in range(found, SCHEMA_VERSION):
        step = MIGRATIONS.get(version)
        if step is None:
            raise ConfigError(f"the store at {where} has schema version {version} and no "
                              f"migration from it is known")
        step(conn)
        conn.execute(insert(schema_version), [{"version": version + 1, "applied_at": now}])
    return found
