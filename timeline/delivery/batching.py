"""Claimed rows into send batches: what kind each is, which go together, which are missed.

Pure functions of the rows, the settings and the clock, so they are tested without a store
or a running daemon. A row says what it is by its payload: the plan's reminders and digests
by their `anchor`, change notices and missed summaries by their `kind`.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from notifiers.base import Message
from timeline.config import Settings
from timeline.plan import digest_slot
from timeline.store import Delivery

__all__ = ["LATE_TOLERANCE", "Batch", "Kind", "Triage", "digest_day", "digest_over",
           "kind_of", "reminder_past", "triage"]

Kind = Literal["reminder", "digest", "change", "missed"]
# A delivery due this long before the daemon started fell due while it was down.
LATE_TOLERANCE = timedelta(seconds=5)
_NUMBERS = itertools.count()


@dataclass
class Batch:
    """Rows that go out as one message, to one notifier."""

    notifier: str
    rows: list[Delivery]
    late: bool  # fell due while the daemon was down: the message says so
    kind: Kind
    number: int = field(default_factory=lambda: next(_NUMBERS))
    # Claimed before its due time, rendered then (and from which loaded timeline: a reload
    # since then means rendering it again), queued for the workers by a timer at its time.
    message: Message | None = None
    rendered_from: object = None
    # When its claim was taken (monotonic): with the last renewal, how long it is ours.
    claimed: float = field(default_factory=time.monotonic)

    @property
    def send_at(self) -> datetime:
        """Not before every row in it is due."""
        return max(row.run_at for row in self.rows)


@dataclass(frozen=True)
class Triage:
    batches: list[Batch]
    missed: dict[str, list[Delivery]]  # by notifier: fell due while down, of no use now


_KINDS: dict[object, Kind] = {"reminder": "reminder", "digest": "digest", "change": "change",
                               "missed": "missed"}


def kind_of(row: Delivery) -> Kind:
    """A change notice or missed summary says its `kind`; the plan's rows their anchor."""
    payload = row.payload or {}
    kind = _KINDS.get(payload.get("kind"))
    if kind is not None:
        return kind
    return "digest" if payload.get("anchor") == "digest" else "reminder"


def triage(rows: list[Delivery], settings: Settings, *, started_at: datetime,
           now: datetime, tz: tzinfo) -> Triage:
    """Split claimed rows into send batches (a grouping notifier's reminders of one minute
    together, up to its `group_max`; everything else alone); what fell due while the daemon
    was down and is past by more than `catch_up` (a digest: whose period is over) is missed."""
    catch_up = settings.reminders.catch_up
    missed: dict[str, list[Delivery]] = defaultdict(list)
    groups: dict[tuple[str, str, bool, Kind], list[Delivery]] = defaultdict(list)
    for row in rows:
        kind = kind_of(row)
        late = row.due_at < started_at - LATE_TOLERANCE and row.attempts <= 1
        if late and ((kind == "reminder" and reminder_past(row.payload or {}, now, catch_up, tz))
                     or (kind == "digest" and digest_over(row, settings, now, tz))):
            missed[row.notifier].append(row)
            continue
        entry = settings.notifiers.get(row.notifier)
        grouped = kind == "reminder" and entry is not None and entry.group
        minute = row.due_at.strftime("%Y%m%d%H%M") if grouped else row.key
        groups[(row.notifier, minute, late, kind)].append(row)
    batches = []
    for (notifier, _, late, kind), members in groups.items():
        limit = settings.notifiers[notifier].group_max if notifier in settings.notifiers else 1
        for i in range(0, len(members), limit):
            batches.append(Batch(notifier, members[i:i + limit], late, kind))
    return Triage(batches, dict(missed))


def reminder_past(payload: dict[str, Any], now: datetime, catch_up: timedelta,
                  tz: tzinfo) -> bool:
    """The event this reminder is about has passed by more than `catch_up`."""
    text = payload.get("occurrence")
    if not text:
        return False
    if payload.get("all_day", len(text) == 10):
        day = date.fromisoformat(text[:10])
        # An all-day item lasts until the end of its (local) day.
        ends = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    else:
        ends = datetime.fromisoformat(text)
    return ends + catch_up < now


def digest_over(row: Delivery, settings: Settings, now: datetime, tz: tzinfo) -> bool:
    """The period a digest speaks for has ended: the next one says what it would."""
    entry = settings.notifiers.get(row.notifier)
    if entry is None or entry.digest is None:
        return False  # sending it fails and says why
    return digest_slot(settings, entry, digest_day(row, tz)).end <= now


def digest_day(row: Delivery, tz: tzinfo) -> date:
    """The first day a digest row speaks for (its key's day, in the plan's payload)."""
    first_day = (row.payload or {}).get("occurrence")
    return date.fromisoformat(first_day) if first_day else row.due_at.astimezone(tz).date()
