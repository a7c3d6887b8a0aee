"""Each kind of row through the real dispatcher, store and receiver: a row whose payload is
not what its kind carries is never sent as something else, and says why as a dead letter."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from tests.dispatch_helpers import in_memory_dispatcher, webhook_settings
from tests.receiver import Receiver
from timeline.delivery.kinds import ChangePayload, change_key
from timeline.loader import LoadedTimeline
from timeline.store import PlannedDelivery

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
        PlannedDelivery("x/1/hook", "", "hook", NOW, {"keys": []}, "newsletter"),  # type: ignore[arg-type]
    ], now=NOW)
    with caplog.at_level(logging.ERROR, logger="timeline.delivery"):
        assert await dispatcher.run_due() == 3  # and waits for the outcomes' commit

    assert [r.headers["webhook-id"] for r in receiver.requests] == [good]
    assert receiver.last.json()["kind"] == "change"
    assert store.get(good).state == "sent"
    for key, kind in (("diesel-window-1/2024-05-31/7d/hook", "reminder"),
                      ("x/1/hook", "newsletter")):
        row = store.get(key)
        assert row is not None and row.state == "dead" and row.attempts == 1
        assert f"cannot be read as a {kind!r} delivery" in (row.last_error or "")
        assert key in caplog.text
    store.close()
