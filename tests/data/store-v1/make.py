"""Wrote sqlite.db and (dumped) postgres.sql: a store made by the release before schema
version 2 (commit 3eb8017), with `settings.yaml` and the repo's events.yaml. Kept to say
how they were made; it runs only against that release."""

import sys
from datetime import UTC, datetime, timedelta

from timeline.config import load_settings
from timeline.loader import load_timeline
from timeline.reload import apply_timeline
from timeline.store import Outcome, PlannedDelivery, Store

EVENT = "nanchuan-phase-1-green-power-park"
url = sys.argv[1]
settings = load_settings("settings.yaml")
loaded = load_timeline("/work/main/events.yaml")
store = Store.open(url)
now = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
print(apply_timeline(store, settings, loaded, now, configured=True))
store.add_planned([
    PlannedDelivery(key=f"{EVENT}/change-2/ops", event_id=EVENT, notifier="ops", due_at=now,
                    payload={"kind": "change", "old": "2025-12-31", "new": "2026-06-30"}),
    PlannedDelivery(key="missed/0123456789abcdef0123/ops", event_id="", notifier="ops",
                    due_at=now,
                    payload={"kind": "missed", "keys": [f"{EVENT}/2025-12-31/30d/ops"]}),
], now=now)
claimed = store.claim_due(now + timedelta(days=400), "old-run", limit=3, lease=60)
print([r.key for r in claimed])
store.record_outcomes([Outcome(claimed[0].key, "sent"),
                       Outcome(claimed[1].key, "dead", error="HTTP 400")], "old-run", now)
print(store.counts())
