"""The store: loaded events with their revisions, and the delivery outbox.

One implementation on SQLAlchemy Core for SQLite (the default, `sqlite:///timeline.db`) and
PostgreSQL (`postgresql://user@host/db`, via psycopg 3). The schema is versioned and created
or migrated on open.

    _records   the dataclasses handed in and out (Delivery, PlannedDelivery, EventChange)
    _schema    tables, UTC and JSON column types, schema versions and migrations
    _base      URLs, engines, read/write transactions and the locks that serialize writers
    _events    sync_events, revisions
    _outbox    add_planned, cancel_except and the read-only queries
    _feed_blocks  the feed's rendered VEVENTs: feed_blocks, save_feed_blocks, prune_feed_blocks
    _claims    claim_due, extend_lease and the outcomes: mark_sent/retry/dead, release,
               mark_missed, retry
    _store     Store: open, close, ping
"""

from __future__ import annotations

from timeline.store._base import DEFAULT_URL, StoreBusy
from timeline.store._records import (
    ACTIVE_STATES,
    STATES,
    Delivery,
    DeliveryState,
    EventChange,
    Outcome,
    PlannedDelivery,
    Revision,
    StoredBlock,
)
from timeline.store._schema import SCHEMA_VERSION
from timeline.store._store import Store

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_URL",
    "SCHEMA_VERSION",
    "STATES",
    "Delivery",
    "DeliveryState",
    "EventChange",
    "Outcome",
    "PlannedDelivery",
    "Revision",
    "Store",
    "StoreBusy",
    "StoredBlock",
]
