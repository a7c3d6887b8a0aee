"""A dispatch pass logs one summary line; only failures get a line per message."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from tests.dispatch_helpers import in_memory_dispatcher, webhook_settings
from tests.receiver import Receiver, Reply
from timeline.loader import LoadedTimeline
from timeline.store import PlannedDelivery


async def test_a_pass_logs_a_summary_and_each_failure(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline,
        caplog: pytest.LogCaptureFixture) -> None:
    now = datetime.now(UTC)
    dispatcher, store = in_memory_dispatcher(
        webhook_settings(f"{receiver.url}/hook", hook="group: false"), client, loaded,
        started_at=now)
    payload = {"kind": "reminder", "occurrence": "2024-05-31", "anchor": "due", "lead": "7d",
               "all_day": True}
    store.add_planned([PlannedDelivery(f"diesel-window-1/2024-05-31/{lead}/hook",
                                       "diesel-window-1", "hook", now, payload)
                       for lead in ("1d", "7d", "30d")], now=now)
    receiver.reset(Reply(200), Reply(200), Reply(400, body="bad request"))

    with caplog.at_level(logging.INFO, logger="timeline.delivery"):
        assert await dispatcher.run_due() == 3

    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 2, lines  # the failure, then the pass
    assert lines[0].startswith("permanent 1 via hook: HTTP 400")
    assert lines[1].startswith("dispatched in ")
    assert lines[1].endswith(": 1 dead via hook, 2 sent via hook")
    assert sorted(d.state for d in store.deliveries(None, 10)) == ["dead", "sent", "sent"]
    store.close()


async def test_an_unkeepable_retry_after_is_held_to_a_day_not_a_stuck_claim(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    now = datetime.now(UTC)
    dispatcher, store = in_memory_dispatcher(webhook_settings(f"{receiver.url}/hook"), client,
                                             loaded, started_at=now)
    key = "diesel-window-1/2024-05-31/7d/hook"
    store.add_planned([PlannedDelivery(key, "diesel-window-1", "hook", now, {
        "occurrence": "2024-05-31", "anchor": "due", "lead": "7d", "all_day": True})], now=now)
    receiver.reset(Reply(429, headers={"Retry-After": "1e20"}))
    assert await dispatcher.run_due() == 1
    row = store.get(key)
    assert row is not None and row.state == "retrying"  # recorded, not left `sending`
    assert row.next_attempt_at is not None
    assert abs((row.next_attempt_at - now).total_seconds() - 86_400) < 60
    store.close()
