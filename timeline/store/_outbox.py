"""The outbox, planning side: the plan's deliveries go in, moved ones follow, dropped ones
are cancelled; and the read-only questions the CLI and the daemon ask."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    DateTime,
    Text,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql

from timeline.delivery.kinds import KINDS
from timeline.store._base import StoreBase
from timeline.store._records import (
    ACTIVE_STATES,
    STATES,
    Delivery,
    PlannedDelivery,
    utc,
)
from timeline.store._schema import (
    ACTIVE,
    OUTCOME,
    SENDING,
    UTCDateTime,
    deliveries,
    encode_json,
    run_at,
    sqlite_time,
    state_in,
)

__all__ = ["OutboxMixin", "to_delivery"]

# What the plan makes; change notices and missed summaries are made once, never re-planned.
PLANNED_KINDS = ("reminder", "digest")

T = TypeVar("T")
# Rows per statement: far below SQLite's 32766 bound parameters, big enough to be fast.
CHUNK = 1000

# The payload as stored text: add_planned compares it with the planned payload's encoding,
# which costs a tenth of decoding 100,000 stored payloads on every restart.
_EXISTING = select(deliveries.c.key, deliveries.c.state, deliveries.c.due_at,
                   type_coerce(deliveries.c.payload, Text).label("payload"),
                   deliveries.c.next_attempt_at, deliveries.c.kind)
_SQLITE_EXISTING = ('SELECT "key", state, due_at, payload, next_attempt_at, kind FROM deliveries'
                    ' WHERE "key" IN ({})')
# A row another instance claimed ahead of its time and waits to send (prepared): a re-plan
# may still move or cancel it, until this close to its time; its holder looks before
# sending (Store.still_claimed) and drops what is no longer its own. Closer than this, the
# send may be under way, and the holder sends it as claimed.
PREPARED_MARGIN = timedelta(seconds=0.25)


def _prepared(now: datetime) -> ColumnElement[bool]:
    """Claimed, and not due before now + PREPARED_MARGIN: not being sent yet."""
    return and_(SENDING, run_at > utc(now) + PREPARED_MARGIN)


# Only rows still as planned: a retry's or an operator's next_attempt_at is left alone.
_MOVE = (
    update(deliveries)
    .where(deliveries.c.key == bindparam("b_key"), ACTIVE,
           deliveries.c.next_attempt_at.is_(None))
    .values(due_at=bindparam("due_at"), payload=bindparam("payload"), kind=bindparam("kind"),
            updated_at=bindparam("updated_at"))
)
# The same for a row claimed ahead elsewhere: waiting again at its new time, the claim and
# its attempt undone (as a release does), so its holder finds it no longer its own.
_MOVE_PREPARED = (
    update(deliveries)
    .where(deliveries.c.key == bindparam("b_key"), SENDING,
           deliveries.c.next_attempt_at.is_(None), deliveries.c.due_at > bindparam("b_after"))
    .values(state="pending", due_at=bindparam("due_at"), payload=bindparam("payload"),
            kind=bindparam("kind"), updated_at=bindparam("updated_at"),
            attempts=deliveries.c.attempts - 1,
            lease_owner=None, lease_until=None)
)
# A cancelled delivery the plan wants again (its event moved back): waiting once more.
_REVIVE = (
    update(deliveries)
    .where(deliveries.c.key == bindparam("b_key"), state_in(["cancelled"]))
    .values(state="pending", due_at=bindparam("due_at"), payload=bindparam("payload"),
            kind=bindparam("kind"), updated_at=bindparam("updated_at"), next_attempt_at=None,
            attempts=0,
            lease_owner=None, lease_until=None)
)

_COLUMNS = ["key", "event_id", "notifier", "due_at", "state", "attempts", "late", "payload",
            "created_at", "updated_at", "kind"]
# Written out for SQLite's executemany (see _insert_new); rowcount then sums the rows the
# statements inserted, which DO NOTHING leaves out.
_SQLITE_INSERT = (
    'INSERT INTO deliveries ("key", event_id, notifier, due_at, state, attempts, late,'
    " payload, created_at, updated_at, kind) VALUES (?, ?, ?, ?, 'pending', 0, 0, ?, ?, ?, ?)"
    ' ON CONFLICT ("key") DO NOTHING'
)
# PostgreSQL: one array parameter per column, unnested into rows (see _insert_new).
_planned = func.unnest(
    bindparam("keys", type_=ARRAY(Text)), bindparam("event_ids", type_=ARRAY(Text)),
    bindparam("notifiers", type_=ARRAY(Text)),
    bindparam("dues", type_=ARRAY(DateTime(timezone=True))),
    bindparam("payloads", type_=ARRAY(Text)), bindparam("kinds", type_=ARRAY(Text)),
).table_valued("key", "event_id", "notifier", "due_at", "payload", "kind"
               ).render_derived("planned")
_pg_now = bindparam("now", type_=UTCDateTime)
_PG_INSERT = (
    postgresql.insert(deliveries)
    .from_select(_COLUMNS, select(
        _planned.c.key, _planned.c.event_id, _planned.c.notifier, _planned.c.due_at,
        literal_column("'pending'"), literal_column("0"), false(), _planned.c.payload,
        _pg_now, _pg_now, _planned.c.kind))
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(deliveries.c.key)
)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def to_delivery(row: Sequence[Any]) -> Delivery:
    """A Delivery from a row of all the outbox's columns (`select(deliveries)`).

    Positional: the table's columns and Delivery's fields are in the same order (a test
    holds them so). Going through `row._mapping` built a key view per row, which cost as
    much as the rest of a 200-row claim."""
    return Delivery(*row)


def _check_states(states: Iterable[str]) -> list[str]:
    states = list(states)
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise ValueError(f"unknown delivery state(s) {unknown}; expected {', '.join(STATES)}")
    return states


class OutboxMixin(StoreBase):
    def _existing(self, conn: Connection, keys: Sequence[str]) -> dict[str, Any]:
        """The rows among `keys` already in the outbox, by key: state, due_at and
        next_attempt_at as the database holds them (text on SQLite), payload as text."""
        if self._postgres:
            found = conn.execute(_EXISTING.where(deliveries.c.key.in_(keys)))
        else:
            # Straight to the driver: SQLAlchemy's expanding IN rendered and processed 1,000
            # parameters per chunk, a tenth of a 100,000-reminder first start, for a lookup
            # that finds nothing then.
            found = conn.exec_driver_sql(_SQLITE_EXISTING.format(",".join("?" * len(keys))),
                                         tuple(keys))
        return {row.key: row for row in found}

    def _stored_time(self, value: datetime) -> Any:
        """A time as `_existing` reads it back, for comparing."""
        return utc(value) if self._postgres else sqlite_time(value)

    def _insert_new(self, conn: Connection, new: list[PlannedDelivery],
                    texts: dict[str, str | None], now: datetime) -> int:
        """Insert pending deliveries, skipping keys that exist; returns how many went in.

        ON CONFLICT DO NOTHING still matters after add_planned's SELECT: on PostgreSQL another
        writer may have added a key since, and only our rows are counted.
        """
        if self._postgres:
            # One array per column: a single short statement per chunk, several times faster
            # than psycopg's executemany or a 15,000-placeholder VALUES list.
            return len(conn.execute(_PG_INSERT, {
                "keys": [p.key for p in new], "event_ids": [p.event_id for p in new],
                "notifiers": [p.notifier for p in new], "dues": [utc(p.due_at) for p in new],
                "payloads": [texts[p.key] for p in new], "kinds": [p.kind for p in new],
                "now": now,
            }).all())
        # Straight to the driver's executemany with values converted here: skipping
        # SQLAlchemy's per-row parameter processing saves a quarter of a 100,000-row plan.
        stamp = sqlite_time(now)
        rows = [(p.key, p.event_id, p.notifier, sqlite_time(p.due_at), texts[p.key], stamp,
                 stamp, p.kind) for p in new]
        return conn.exec_driver_sql(_SQLITE_INSERT, rows).rowcount

    def add_planned(self, items: Iterable[PlannedDelivery], *,
                    now: datetime | None = None) -> int:
        """Insert the planned deliveries whose key is new; returns how many were inserted.

        A waiting delivery whose due time or payload changed is updated, unless it already
        has a `next_attempt_at` (a retry's back-off or an operator's retry); a cancelled one
        planned again is revived (its event moved back); one claimed ahead of its time
        (prepared, see PREPARED_MARGIN) is moved and waits again. Anything else with a
        known key (sent, being sent, dead, missed) is left alone: a key is sent at most
        once.
        """
        given = now
        now = utc(now or datetime.now(UTC))
        planned: dict[str, PlannedDelivery] = {}
        for item in items:
            utc(item.due_at)  # refuse a naive time or an unknown kind before writing anything
            if item.kind not in KINDS:
                raise ValueError(f"{item.key}: unknown delivery kind {item.kind!r}; expected "
                                 f"{', '.join(KINDS)}")
            planned[item.key] = item
        keys = sorted(planned)  # one lock order for every writer: no deadlocks
        inserted = 0
        with self._write(lock="plan") as conn:
            for chunk in chunks(keys):
                # The time of this statement (a big plan takes a while): what falls due
                # meanwhile may be on the wire by now, and is not moved.
                after = (utc(given) if given else datetime.now(UTC)) + PREPARED_MARGIN
                existing = self._existing(conn, chunk)
                new: list[PlannedDelivery] = []
                # Each payload encoded once: to compare with the stored text, or to insert.
                texts = {key: None if planned[key].payload is None
                         else encode_json(planned[key].payload) for key in chunk}
                moved: list[dict[str, Any]] = []
                moved_prepared: list[dict[str, Any]] = []
                revived: list[dict[str, Any]] = []
                for key in chunk:
                    item = planned[key]
                    row = existing.get(key)
                    if row is None:
                        new.append(item)
                        continue
                    change = {"b_key": key, "due_at": item.due_at, "payload": item.payload,
                              "kind": item.kind, "updated_at": now}
                    if row.state == "cancelled":
                        revived.append(change)
                    elif (row.next_attempt_at is None
                          and (row.due_at != self._stored_time(item.due_at)
                               or row.payload != texts[key] or row.kind != item.kind)):
                        if row.state in ACTIVE_STATES:
                            moved.append(change)
                        elif row.state == "sending":  # the statement checks it is prepared
                            moved_prepared.append({**change, "b_after": after})
                if new:
                    inserted += self._insert_new(conn, new, texts, now)
                if moved:
                    conn.execute(_MOVE, moved)
                if moved_prepared:
                    conn.execute(_MOVE_PREPARED, moved_prepared)
                if revived:
                    conn.execute(_REVIVE, revived)
        return inserted

    def cancel_except(self, event_ids: Iterable[str] | None, keep_keys: set[str],
                      now: datetime) -> int:
        """Cancel waiting (or prepared) deliveries of `event_ids` (of every event when None)
        whose key is not in `keep_keys`: their event moved or went away. Returns how many."""
        now = utc(now)
        query = select(deliveries.c.key).where(or_(ACTIVE, _prepared(now)))
        with self._write(lock="plan") as conn:
            if event_ids is None:
                candidates = set(conn.execute(query).scalars())
            else:
                ids = sorted(set(event_ids))
                candidates = set()
                for chunk in chunks(ids):
                    candidates.update(conn.execute(
                        query.where(deliveries.c.event_id.in_(chunk))).scalars())
            # Done in Python: keep_keys may be far larger than SQL's parameter limits.
            return _cancel(conn, candidates - keep_keys, now)

    def cancel_unplanned(self, keep_keys: set[str], first: datetime, last: datetime,
                         now: datetime) -> int:
        """Cancel waiting reminders and digests due in first..last that the plan for that
        span (`keep_keys`) no longer holds: their route, notifier or send time changed in
        the configuration. Change notices and missed summaries are not the plan's; they
        stay. Returns how many."""
        now = utc(now)
        query = select(deliveries.c.key).where(
            or_(ACTIVE, _prepared(now)), deliveries.c.due_at >= utc(first),
            deliveries.c.due_at <= utc(last),
            deliveries.c.kind.in_(PLANNED_KINDS))
        with self._write(lock="plan") as conn:
            return _cancel(conn, set(conn.execute(query).scalars()) - keep_keys, now)

    def deliveries(self, state: str | None = None, limit: int = 1000) -> list[Delivery]:
        """Deliveries (of one state, or all) in the order they are due."""
        query = select(deliveries).order_by(run_at, deliveries.c.key).limit(limit)
        if state is not None:
            query = query.where(state_in(_check_states([state])))
        with self._read() as conn:
            return [to_delivery(row) for row in conn.execute(query)]

    def get(self, key: str) -> Delivery | None:
        with self._read() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.key == key)).first()
        return None if row is None else to_delivery(row)

    def counts(self) -> dict[str, int]:
        """How many deliveries are in each state; every state is present, zeros included."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        with self._read() as conn:
            out.update({state: count for state, count in conn.execute(query)})
        return out

    def next_due(self, ahead: timedelta = timedelta(0)) -> datetime | None:
        """The earliest time claim_due would find work: `ahead` before the first waiting
        (pending/retrying) delivery's due time (for a claimer that prepares that far ahead),
        or a claim's lease running out (its owner may have crashed, and another instance
        should wake then to take the delivery over; never earlier: a lease is not taken
        over before it runs out)."""
        with self._read() as conn:
            due = conn.execute(select(func.min(run_at)).where(ACTIVE)).scalar()
            lease = conn.execute(
                select(func.min(deliveries.c.lease_until)).where(SENDING)).scalar()
        if due is not None:
            due -= ahead
        return min((t for t in (due, lease) if t is not None), default=None)

    def keys(self, states: Iterable[str]) -> set[str]:
        query = select(deliveries.c.key).where(state_in(_check_states(states)))
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    def last_outcome(self) -> Delivery | None:
        """The delivery most recently finished as sent or dead."""
        query = (select(deliveries).where(OUTCOME)
                 .order_by(deliveries.c.updated_at.desc(), deliveries.c.key.desc())
                 .limit(1))
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else to_delivery(row)


def _cancel(conn: Connection, keys: set[str], now: datetime) -> int:
    """Cancel those of `keys` still waiting or only prepared; returns how many. A prepared
    one's claim and attempt are undone, so its holder finds it no longer its own."""
    cancelled = 0
    for chunk in chunks(sorted(keys)):
        result = conn.execute(update(deliveries).where(deliveries.c.key.in_(chunk), ACTIVE)
                              .values(state="cancelled", updated_at=now))
        cancelled += result.rowcount
        result = conn.execute(update(deliveries)
                              .where(deliveries.c.key.in_(chunk), _prepared(now))
                              .values(state="cancelled", updated_at=now,
                                      attempts=deliveries.c.attempts - 1,
                                      lease_owner=None, lease_until=None))
        cancelled += result.rowcount
    return cancelled
