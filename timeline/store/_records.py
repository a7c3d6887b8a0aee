"""What the store hands out and takes in: plain frozen dataclasses, no database types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from timeline.delivery.kinds import Kind

__all__ = [
    "ACTIVE_STATES",
    "STATES",
    "Delivery",
    "DeliveryState",
    "EventChange",
    "PlannedDelivery",
    "Revision",
    "StoredBlock",
    "utc",
]

DeliveryState = Literal["pending", "sending", "sent", "retrying", "dead", "missed", "cancelled"]
STATES: tuple[DeliveryState, ...] = (
    "pending", "sending", "sent", "retrying", "dead", "missed", "cancelled",
)
# Waiting to be claimed: the plan may still move or cancel these, and claim_due takes them.
ACTIVE_STATES: tuple[DeliveryState, ...] = ("pending", "retrying")
# An operator may send these again with Store.retry.
RETRYABLE_STATES: tuple[DeliveryState, ...] = ("dead", "missed", "cancelled")
# Finished attempts, for "what happened last" in the CLI.
OUTCOME_STATES: tuple[DeliveryState, ...] = ("sent", "dead")


def utc(value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is refused because its zone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store needs an aware (UTC) time")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Revision:
    """What the store knows of an event's history: feeds SEQUENCE and LAST-MODIFIED."""

    sequence: int
    modified: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """One event's rendered VEVENT in one language, as the feed keeps it in the store:
    `digest` names what the bytes were made from, `tzid` the zone they refer to."""

    event_id: str
    digest: str
    block: bytes
    tzid: str | None


@dataclass(frozen=True, slots=True)
class EventChange:
    """How one event differs from what the store held; `old`/`new` are the stored JSON data."""

    event_id: str
    change: Literal["added", "changed", "removed"]
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One reminder the plan wants sent: `key` is its idempotency key
    (`event-id/occurrence-date/offset/channel`), unique across the store's life."""

    key: str
    event_id: str
    notifier: str
    due_at: datetime  # aware
    payload: dict[str, Any] | None = None
    kind: Kind = "reminder"  # timeline.delivery.kinds: the payload's shape


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one send attempt came to, for `Store.record_outcomes`."""

    key: str
    state: Literal["sent", "retrying", "dead"]
    error: str | None = None
    next_attempt_at: datetime | None = None  # for "retrying"
    late: bool = False  # for "sent": went out after its due time (downtime)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A row of the outbox. Every datetime is aware UTC.

    `lease_owner` is who holds (or last held) the claim; it stays after a delivery finishes
    so an operator can tell which instance sent it.
    """

    key: str
    event_id: str
    notifier: str
    due_at: datetime
    state: DeliveryState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    late: bool
    payload: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    kind: str  # one of timeline.delivery.kinds.KINDS, unless the row was edited by hand

    @property
    def run_at(self) -> datetime:
        """When it is (or was) due to be tried: a retry's or an operator's time, else due_at.

        Grace-period checks should use this, not `due_at`, so that a delivery an operator
        retried is not judged by its original due time."""
        return self.next_attempt_at or self.due_at
