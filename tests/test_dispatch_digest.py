"""A digest row in the outbox becomes one message listing what falls due in its period,
sent through the notifier like any reminder (in process, real store and real receiver)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from notifiers.registry import build
from tests.receiver import Receiver
from timeline.config import parse_settings
from timeline.dispatch import Dispatcher
from timeline.loader import LoadedTimeline
from timeline.store import PlannedDelivery, Store
from timeline.web.source import TimelineSource

# Monday 2024-05-20 09:00 in Shanghai: the week up to 05-27 holds one reminder of the
# repo's timeline, diesel window 1 closing on 05-31 (its 7-day reminder on Friday 05-24).
MONDAY_9AM = datetime(2024, 5, 20, 1, 0, tzinfo=UTC)


async def test_a_weekly_digest_lists_the_weeks_reminders(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    settings = parse_settings(f"""
notifiers:
  hook: {{type: webhook, url: "{receiver.url}/digest", reminders: false,
          digest: weekly mon 09:00}}
routes:
  - {{notify: [hook]}}
""", "digest-config.yaml")
    store = Store.open("sqlite://")
    key = "digest/2024-05-20/weekly/hook"
    store.add_planned([PlannedDelivery(key, "", "hook", MONDAY_9AM, {"kind": "digest"})],
                      now=MONDAY_9AM)
    notifiers = {"hook": build("hook", {"type": "webhook", "url": f"{receiver.url}/digest"},
                               client)}
    dispatcher = Dispatcher(settings, store, notifiers, TimelineSource(loaded), "test")

    assert await dispatcher.run_due() == 1

    assert len(receiver.requests) == 1
    body = receiver.last.json()
    assert body["kind"] == "digest"
    assert receiver.last.headers["webhook-id"] == key
    assert [item["event"] for item in body["items"]] == ["diesel-window-1"]
    assert body["items"][0]["occurrence"] == "2024-05-31"
    assert body["items"][0]["days_left"] == 11  # counted from the digest's Monday
    assert "2024-05-20" in body["title"] and "2024-05-27" in body["title"]
    assert store.get(key).state == "sent"
    store.close()
