"""Each kind of row through the real dispatcher, store and receiver: a row whose payload is
not what its kind carries is never sent as something else, and says why as a dead letter."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.dispatch_helpers import in_memory_dispatcher, webhook_settings
from tests.receiver import Receiver
from timeline.delivery.kinds import (
    ChangePayload,
    DigestPayload,
    MissedPayload,
    change_key,
    missed_key,
)
from timeline.loader import LoadedTimeline
from timeline.store import PlannedDelivery, Store

NOW = datetime(2024, 5, 20, 1, 0, tzinfo=UTC)


async def test_a_row_unreadable_as_its_kind_is_a_dead_letter_that_says_why(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = webhook_settings(f"{receiver.url}/hook")
    dispatcher, store = in_memory_dispatcher(settings, client, loaded, started_at=NOW)
    notice = ChangePayload("2024-05-31", "2024-06-30")
    good = change_key("diesel-window-1", 2, "hook")
    store.add_planned([
        PlannedDelivery(good, "diesel-window-1", "hook", NOW, notice.to_json(), notice.kind),
        # A digest's payload filed as a reminder (a row edited by hand).
        PlannedDelivery("diesel-window-1/2024-05-31/7d/hook", "diesel-window-1", "hook", NOW,
                        {"anchor": "digest", "occurrence": "2024-05-20"}, "reminder"),
        PlannedDelivery("missed/x/hook", "", "hook", NOW, {"keys": []}, "missed"),
    ], now=NOW)
    with store._engine.begin() as conn:  # a payload that is not even JSON any more
        conn.execute(text("UPDATE deliveries SET payload = '{\"keys\": [' "
                          "WHERE key = 'missed/x/hook'"))
    with caplog.at_level(logging.ERROR, logger="timeline.delivery"):
        assert await dispatcher.run_due() == 3  # and waits for the outcomes' commit

    assert [r.headers["webhook-id"] for r in receiver.requests] == [good]
    assert receiver.last.json()["kind"] == "change"
    assert store.get(good).state == "sent"
    for key, kind in (("diesel-window-1/2024-05-31/7d/hook", "reminder"),
                      ("missed/x/hook", "missed")):
        row = store.get(key)
        assert row is not None and row.state == "dead" and row.attempts == 1
        assert f"cannot be read as a {kind!r} delivery" in (row.last_error or "")
        assert key in caplog.text
    store.close()


def test_an_unknown_kind_is_refused_before_anything_is_written() -> None:
    store = Store.open("sqlite://")
    try:
        with pytest.raises(ValueError, match="unknown delivery kind 'newsletter'"):
            store.add_planned([
                PlannedDelivery("a/1/hook", "a", "hook", NOW, {"old": "", "new": ""}, "change"),
                PlannedDelivery("x/1/hook", "", "hook", NOW, {}, "newsletter"),  # type: ignore[arg-type]
            ], now=NOW)
        assert store.counts()["pending"] == 0
        with pytest.raises(IntegrityError), store._engine.begin() as conn:  # nor by hand
            conn.execute(text("INSERT INTO deliveries (key, event_id, notifier, due_at, state,"
                              " attempts, late, created_at, updated_at, kind) VALUES ('k', '',"
                              " 'hook', '2024-05-20', 'pending', 0, 0, '2024-05-20',"
                              " '2024-05-20', 'newsletter')"))
    finally:
        store.close()


def test_a_re_plan_puts_a_rows_kind_right() -> None:
    """A row whose kind a migration could not tell (`reminder`) becomes what the plan says."""
    store = Store.open("sqlite://")
    try:
        digest = DigestPayload(date(2024, 5, 20))
        key = "digest/2024-05-20/daily/hook"
        store.add_planned([PlannedDelivery(key, "", "hook", NOW, {"kind": "digest"})], now=NOW)
        assert store.add_planned([PlannedDelivery(key, "", "hook", NOW, digest.to_json(),
                                                  digest.kind)], now=NOW) == 0
        row = store.get(key)
        assert row is not None and row.kind == "digest" and row.payload == digest.to_json()
    finally:
        store.close()


async def test_a_missed_summary_names_events_by_title_and_digests_by_their_day(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    settings = webhook_settings(f"{receiver.url}/hook")
    dispatcher, store = in_memory_dispatcher(settings, client, loaded, started_at=NOW)
    summary = MissedPayload(("diesel-window-1/2024-05-31/7d/hook",
                             "digest/2024-05-13/weekly/hook", "gone/2024-05-01/1d/hook"))
    key = missed_key(summary.keys, "hook")
    store.add_planned([PlannedDelivery(key, "", "hook", NOW, summary.to_json(), summary.kind)],
                      now=NOW)
    assert await dispatcher.run_due() == 1
    text = receiver.last.json()["text"]
    title = loaded.timeline.event("diesel-window-1").title
    assert f"- {title}（diesel-window-1/2024-05-31/7d/hook）" in text
    assert "- 2024-05-13 起的政策摘要（digest/2024-05-13/weekly/hook）" in text
    assert "- gone（gone/2024-05-01/1d/hook）" in text  # no longer in the file: its id
    store.close()
