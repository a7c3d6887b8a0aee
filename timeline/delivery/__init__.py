"""Delivery: from the outbox's due rows to messages sent and their outcomes recorded.

    kinds.py       the four kinds (reminder, digest, change, missed): keys and payloads
    dispatcher.py  Dispatcher: the loop (claim, triage, prepare or queue, send, record)
    batching.py    which rows go together and which are missed: pure functions
    render.py      a batch to the Message people read (reminders, digest, change, missed)
    prepared.py    what is claimed and rendered ahead and waits on a timer for its time
    leases.py      claims held, the heartbeat, lapse, release, taking over a dead run's
    outcomes.py    SendResult to outcomes, the back-off, the group-commit writer
    metrics.py     counts for /healthz and /metrics
    outbox.py      Outbox: the store methods delivery uses (a Protocol)

The names below are loaded on first use: the plan and the reload import `kinds` alone,
and the dispatcher imports the plan.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from timeline.delivery.batching import Batch
    from timeline.delivery.dispatcher import RELEASE_GRACE, Dispatcher
    from timeline.delivery.leases import LEASE
    from timeline.delivery.outbox import Outbox
    from timeline.delivery.prepared import PREPARE_AHEAD

__all__ = ["LEASE", "PREPARE_AHEAD", "RELEASE_GRACE", "Batch", "Dispatcher", "Outbox"]

_HOMES = {"Batch": "batching", "Dispatcher": "dispatcher", "RELEASE_GRACE": "dispatcher",
          "LEASE": "leases", "Outbox": "outbox", "PREPARE_AHEAD": "prepared"}


_MODULES = frozenset({"kinds", "dispatcher", "batching", "render", "prepared", "leases",
                      "outcomes", "metrics", "outbox"})


def __getattr__(name: str) -> Any:
    if name in _MODULES:  # `timeline.delivery.batching` without importing it first
        return importlib.import_module(f"{__name__}.{name}")
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
