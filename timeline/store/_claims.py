"""The outbox, sending side: claiming due deliveries under a lease and recording outcomes.

A claim moves a row to `sending` with `lease_owner` and `lease_until`; every outcome is
written only while the row is still `sending` under the same owner, so an owner whose lease
ran out and whose row was claimed again cannot overwrite the newer claim. Owners must be
unique per claiming process (host, pid and a random part).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Update, and_, bindparam, case, or_, select, update
from sqlalchemy.sql.dml import ReturningUpdate

from timeline.store._base import StoreBase
from timeline.store._outbox import chunks, to_delivery
from timeline.store._records import RETRYABLE_STATES, Delivery, Outcome, utc
from timeline.store._schema import ACTIVE, SENDING, deliveries, run_at, state_in

__all__ = ["ClaimsMixin"]


def _outcome_statement(**values: Any) -> Update:
    # Built once with bound parameters: a statement built per call, with its keys as
    # literals, cost more CPU in SQLAlchemy than the update itself did in the database.
    return (update(deliveries)
            .where(deliveries.c.key.in_(bindparam("b_keys", expanding=True)), SENDING,
                   deliveries.c.lease_owner == bindparam("b_owner"))
            .values(state=bindparam("b_state"), lease_until=None,
                    updated_at=bindparam("b_now"), **values))


_OUTCOME = {
    "sent": _outcome_statement(sent_at=bindparam("b_now"), late=bindparam("b_late")),
    "retrying": _outcome_statement(last_error=bindparam("b_error"),
                                   next_attempt_at=bindparam("b_retry_at")),
    "dead": _outcome_statement(last_error=bindparam("b_error")),
}


def _claim_statement(picked: Select[Any], postgres: bool) -> ReturningUpdate[Any]:
    """UPDATE the rows `picked` selects (their keys) to claimed, RETURNING them."""
    if postgres:
        # Locked rows are skipped, not waited for, so concurrent claimers each get other
        # rows. MATERIALIZED runs the pick exactly once: were the planner to rescan a plain
        # IN-subquery, SKIP LOCKED + LIMIT could pick a second set.
        cte = picked.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        where = deliveries.c.key.in_(select(cte.c.key))
    else:
        # SQLite: the transaction began IMMEDIATE, so no one else writes meanwhile.
        where = deliveries.c.key.in_(picked.scalar_subquery())
    return (update(deliveries).where(where)
            .values(state="sending", lease_owner=bindparam("b_owner"),
                    lease_until=bindparam("b_until"), attempts=deliveries.c.attempts + 1,
                    updated_at=bindparam("b_now"))
            .returning(*deliveries.c))


# Abandoned claims first: they are overdue by at least one lease already.
_STALE = (select(deliveries.c.key)
          .where(SENDING, deliveries.c.lease_until <= bindparam("b_now"))
          .order_by(deliveries.c.lease_until, deliveries.c.key).limit(bindparam("b_limit")))
_READY = (select(deliveries.c.key).where(ACTIVE, run_at <= bindparam("b_horizon"))
          .order_by(run_at, deliveries.c.key).limit(bindparam("b_limit")))
# Built once per backend: building them on every claim cost more CPU in SQLAlchemy than a
# claimed row costs in the database.
_CLAIMS = {postgres: (_claim_statement(_STALE, postgres), _claim_statement(_READY, postgres))
           for postgres in (False, True)}


class ClaimsMixin(StoreBase):
    def claim_due(self, now: datetime, owner: str, limit: int = 100,
                  lease: float = 60.0, *, horizon: datetime | None = None) -> list[Delivery]:
        """Claim up to `limit` deliveries that are due by `horizon` (default: now; a later
        one lets the caller prepare what falls due shortly), and those whose sender's lease
        ran out by now (it crashed), earliest first. Each comes back `sending`, leased to
        `owner` until now + `lease` seconds, its attempt counted. No two claimers ever get
        the same row."""
        now = utc(now)
        if limit <= 0:
            return []
        params = {"b_now": now, "b_owner": owner, "b_until": now + timedelta(seconds=lease),
                  "b_limit": limit, "b_horizon": utc(horizon) if horizon else now}
        stale, ready = _CLAIMS[self._postgres]
        with self._write() as conn:
            claimed = [to_delivery(row) for row in conn.execute(stale, params)]
            if len(claimed) < limit:
                params["b_limit"] = limit - len(claimed)
                claimed += [to_delivery(row) for row in conn.execute(ready, params)]
        # RETURNING gives no order; the caller gets them in due order.
        return sorted(claimed, key=lambda d: (d.run_at, d.key))

    def still_claimed(self, keys: Sequence[str], owner: str) -> set[str]:
        """Those of `keys` that `owner` still holds: the last look before sending what was
        claimed ahead, since another instance's re-plan may have moved or cancelled it
        meanwhile. It waits for a re-plan under way rather than reading around it: on
        SQLite in a write transaction (the database's write lock, which the re-plan holds
        until it commits; nothing is written, so its commit costs no sync), on PostgreSQL
        with FOR SHARE (the re-plan's row locks). A row looked at here is due, so a later
        re-plan leaves it alone (PREPARED_MARGIN)."""
        found: set[str] = set()
        with self._write() as conn:
            for chunk in chunks(sorted(set(keys))):
                query = select(deliveries.c.key).where(
                    deliveries.c.key.in_(chunk), SENDING, deliveries.c.lease_owner == owner)
                if self._postgres:
                    query = query.with_for_update(read=True)
                found.update(conn.execute(query).scalars())
        return found

    def extend_lease(self, keys: Iterable[str], owner: str, now: datetime,
                     lease: float = 60.0) -> int:
        """Renew `owner`'s claims on `keys` to now + `lease` seconds (a heartbeat while a
        long batch is being sent); returns how many it still held.

        A heartbeat lets claims use a short lease, so that the deliveries of an instance
        killed mid-send are taken over within seconds rather than after a long lease."""
        now = utc(now)
        renewed = 0
        with self._write() as conn:
            for chunk in chunks(sorted(set(keys))):
                stmt = (update(deliveries)
                        .where(deliveries.c.key.in_(chunk), SENDING,
                               deliveries.c.lease_owner == owner)
                        .values(lease_until=now + timedelta(seconds=lease), updated_at=now))
                renewed += conn.execute(stmt).rowcount
        return renewed

    def _finish(self, key: str, owner: str, values: dict[str, Any]) -> bool:
        stmt = (update(deliveries)
                .where(deliveries.c.key == key, SENDING, deliveries.c.lease_owner == owner)
                .values(**values))
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def record_outcomes(self, outcomes: Iterable[Outcome], owner: str, now: datetime, *,
                        wait: bool = True) -> int:
        """Record many send outcomes in one transaction (group commit); returns how many
        rows `owner` still held. Same rules as mark_sent / mark_retry / mark_dead.
        `wait=False`: StoreBusy at once if another writer holds the lock (nothing written)."""
        now = utc(now)
        by_values: dict[tuple[Any, ...], list[str]] = {}
        for o in outcomes:
            retry_at = utc(o.next_attempt_at) if o.next_attempt_at else None
            by_values.setdefault((o.state, o.error, retry_at, o.late), []).append(o.key)
        recorded = 0
        with self._write(wait=wait) as conn:
            for (state, error, retry_at, late), keys in by_values.items():
                params = {"b_owner": owner, "b_now": now, "b_state": state, "b_late": late,
                          "b_error": error, "b_retry_at": retry_at}
                for chunk in chunks(sorted(keys)):
                    recorded += conn.execute(_OUTCOME[state],
                                             {**params, "b_keys": list(chunk)}).rowcount
        return recorded

    def mark_sent(self, key: str, owner: str, now: datetime, *, late: bool = False) -> bool:
        """Record a delivery as sent (`late`: after its due time, e.g. the daemon was down).
        False when `owner` no longer holds the claim."""
        now = utc(now)
        return self._finish(key, owner, {"state": "sent", "sent_at": now, "late": late,
                                         "lease_until": None, "updated_at": now})

    def mark_retry(self, key: str, owner: str, next_attempt_at: datetime, error: str, *,
                   now: datetime | None = None) -> bool:
        """Record a failed attempt to be retried at `next_attempt_at`."""
        now = utc(now or datetime.now(UTC))
        return self._finish(key, owner, {"state": "retrying", "last_error": error,
                                         "next_attempt_at": utc(next_attempt_at),
                                         "lease_until": None, "updated_at": now})

    def mark_dead(self, key: str, owner: str, error: str, now: datetime) -> bool:
        """Dead-letter a delivery: retrying cannot help, or the retries ran out."""
        now = utc(now)
        return self._finish(key, owner, {"state": "dead", "last_error": error,
                                         "lease_until": None, "updated_at": now})

    def release(self, key: str, owner: str, *, now: datetime | None = None) -> bool:
        """Give a claim back unsent (clean shutdown): pending again, the attempt not counted.
        A retry's `next_attempt_at` stays, so it still waits for its back-off."""
        return self.release_many([key], owner, now=now) == 1

    def release_many(self, keys: Iterable[str], owner: str, *,
                     now: datetime | None = None) -> int:
        """`release` for many claims in one transaction; returns how many `owner` held."""
        now = utc(now or datetime.now(UTC))
        released = 0
        with self._write() as conn:
            for chunk in chunks(sorted(set(keys))):
                stmt = (update(deliveries)
                        .where(deliveries.c.key.in_(chunk), SENDING,
                               deliveries.c.lease_owner == owner)
                        .values(state="pending", attempts=deliveries.c.attempts - 1,
                                lease_owner=None, lease_until=None, updated_at=now))
                released += conn.execute(stmt).rowcount
        return released

    def mark_missed(self, keys: Iterable[str], now: datetime, *, owner: str | None = None
                    ) -> int:
        """Record deliveries as missed (fell due too long ago to send); returns how many.

        Waiting ones are marked; claimed ones are left to their owner, unless `owner` is
        given: the dispatcher decides "missed" only after claiming, so it marks the rows it
        holds (their claim undone: the attempt was not made)."""
        now = utc(now)
        which = ACTIVE if owner is None else or_(
            ACTIVE, and_(SENDING, deliveries.c.lease_owner == owner))
        values: dict[str, Any] = {"state": "missed", "lease_until": None, "updated_at": now}
        if owner is not None:
            values["attempts"] = case((SENDING, deliveries.c.attempts - 1),
                                      else_=deliveries.c.attempts)
        missed = 0
        # Serialized with add_planned and cancel_except, which also update many waiting rows
        # at once: two such updates locking rows in different orders could deadlock.
        with self._write(lock="plan") as conn:
            for chunk in chunks(sorted(set(keys))):
                stmt = (update(deliveries).where(deliveries.c.key.in_(chunk), which)
                        .values(**values))
                missed += conn.execute(stmt).rowcount
        return missed

    def retry(self, key: str, now: datetime) -> bool:
        """Send a dead, missed or cancelled delivery again, due now, with a fresh count of
        attempts. False when the key is unknown or the delivery is not in such a state.

        Both `due_at` and `next_attempt_at` become `now`: due now, so the dispatcher does not
        judge it late (and miss it again) by its old due time; `next_attempt_at` set marks it
        as no longer the plan's, so a re-plan does not move it back (see add_planned).
        """
        now = utc(now)
        stmt = (update(deliveries).where(deliveries.c.key == key, state_in(RETRYABLE_STATES))
                .values(state="pending", due_at=now, next_attempt_at=now, attempts=0,
                        lease_owner=None, lease_until=None, updated_at=now))
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1
