"""Claimed rows into send batches: what kind each is, which go together, which are missed.

Pure functions of the rows, the settings and the clock, so they are tested without a store
or a running daemon. A row says what it is by its kind column (timeline.delivery.kinds).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from notifiers.base import Message
from timeline.config import Settings
from timeline.delivery.kinds import (
    DigestPayload,
    Kind,
    Payload,
    ReminderPayload,
    read_payload,
)
from timeline.plan import digest_slot
from timeline.store import Delivery

__all__ = ["LATE_TOLERANCE", "Batch", "BatchKind", "Triage", "digest_over", "kind_of",
           "reminder_past", "triage"]

# The kinds (timeline.delivery.kinds), and rows whose payload cannot be read as theirs.
BatchKind = Kind | Literal["unreadable"]
# A delivery due this long before the daemon started fell due while it was down.
LATE_TOLERANCE = timedelta(seconds=5)
_NUMBERS = itertools.count()


@dataclass
class Batch:
    """Rows that go out as one message, to one notifier."""

    notifier: str
    rows: list[Delivery]
    late: bool  # fell due while the daemon was down: the message says so
    kind: BatchKind
    number: int = field(default_factory=lambda: next(_NUMBERS))
    # Claimed before its due time, rendered then (and from which loaded timeline: a reload
    # since then means rendering it again), queued for the workers by a timer at its time.
    message: Message | None = None
    rendered_from: object = None
    # When its claim was taken (monotonic): with the last renewal, how long it is ours.
    claimed: float = field(default_factory=time.monotonic)
    # Each row's payload as triage read it (in the rows' order), so render reads none again.
    payloads: tuple[Payload | None, ...] = ()

    def payload_of(self, index: int) -> Payload | None:
        if self.payloads:
            return self.payloads[index]
        row = self.rows[index]
        return read_payload(row.kind, row.payload)

    @property
    def send_at(self) -> datetime:
        """Not before every row in it is due."""
        return max(row.run_at for row in self.rows)


@dataclass(frozen=True)
class Triage:
    batches: list[Batch]
    missed: dict[str, list[Delivery]]  # by notifier: fell due while down, of no use now


def kind_of(row: Delivery) -> BatchKind:
    """Its kind column, or `unreadable`: a kind this release does not know, or a payload
    that is not what its kind carries (a row edited by hand). Such a row is sent as
    nothing else: it fails, as a dead letter that says why."""
    payload = read_payload(row.kind, row.payload)
    return "unreadable" if payload is None else payload.kind


def triage(rows: list[Delivery], settings: Settings, *, started_at: datetime,
           now: datetime, tz: tzinfo) -> Triage:
    """Split claimed rows into send batches (a grouping notifier's reminders of one minute
    together, up to its `group_max`; everything else alone); what fell due while the daemon
    was down and is past by more than `catch_up` (a digest: whose period is over) is missed."""
    catch_up = settings.reminders.catch_up
    missed: dict[str, list[Delivery]] = defaultdict(list)
    groups: dict[tuple[str, str, bool, BatchKind], list[tuple[Delivery, Payload | None]]] = \
        defaultdict(list)
    for row in rows:
        payload = read_payload(row.kind, row.payload)
        kind: BatchKind = "unreadable" if payload is None else payload.kind
        late = row.due_at < started_at - LATE_TOLERANCE and row.attempts <= 1
        if late and (
                (isinstance(payload, ReminderPayload) and reminder_past(payload, now, catch_up, tz))
                or (isinstance(payload, DigestPayload)
                    and digest_over(row.notifier, payload, settings, now, tz))):
            missed[row.notifier].append(row)
            continue
        entry = settings.notifiers.get(row.notifier)
        grouped = kind == "reminder" and entry is not None and entry.group
        minute = row.due_at.strftime("%Y%m%d%H%M") if grouped else row.key
        groups[(row.notifier, minute, late, kind)].append((row, payload))
    batches = []
    for (notifier, _, late, kind), members in groups.items():
        limit = settings.notifiers[notifier].group_max if notifier in settings.notifiers else 1
        for i in range(0, len(members), limit):
            chunk = members[i:i + limit]
            batches.append(Batch(notifier, [row for row, _ in chunk], late, kind,
                                 payloads=tuple(payload for _, payload in chunk)))
    return Triage(batches, dict(missed))


def reminder_past(payload: ReminderPayload, now: datetime, catch_up: timedelta,
                  tz: tzinfo) -> bool:
    """The event this reminder is about has passed by more than `catch_up`."""
    if isinstance(payload.occurrence, datetime):
        ends = payload.occurrence
    else:
        # An all-day item lasts until the end of its (local) day.
        ends = datetime.combine(payload.occurrence + timedelta(days=1), datetime.min.time(),
                                tzinfo=tz)
    return ends + catch_up < now


def digest_over(notifier: str, payload: DigestPayload, settings: Settings, now: datetime,
                tz: tzinfo) -> bool:
    """The period a digest speaks for has ended: the next one says what it would."""
    entry = settings.notifiers.get(notifier)
    if entry is None or entry.digest is None:
        return False  # sending it fails and says why
    return digest_slot(settings, entry, payload.first_day).end <= now
