"""When the store and this process disagree or part: an event another instance loaded first,
a store that refuses outcomes for a while, claims that can no longer be renewed. Real store,
real receiver; the store's failures are injected into its methods."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.dispatch_helpers import in_memory_dispatcher, webhook_settings
from tests.receiver import Receiver, Reply
from timeline.delivery import Dispatcher
from timeline.loader import LoadedTimeline
from timeline.store import PlannedDelivery, Store

PAYLOAD = {"occurrence": "2024-05-31", "anchor": "due", "lead": "7d", "all_day": True}


def _dispatcher(receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline,
                concurrency: int = 8, **timings: Any) -> tuple[Dispatcher, Store]:
    settings = webhook_settings(
        f"{receiver.url}/hook", hook="group: false",
        top=f"reminders: {{concurrency: {concurrency}, retry_base: 1s}}")
    return in_memory_dispatcher(settings, client, loaded, started_at=datetime.now(UTC),
                                **timings)


def _plan(store: Store, event: str, lead: str) -> str:
    key = f"{event}/2024-05-31/{lead}/hook"
    now = datetime.now(UTC)
    store.add_planned([PlannedDelivery(key, event, "hook", now, {**PAYLOAD, "lead": lead})],
                      now=now)
    return key


async def test_an_event_another_instance_loaded_first_is_retried_after_a_reload(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    reloads: list[bool] = []
    dispatcher.on_stale = lambda: reloads.append(True)
    key = _plan(store, "added-since", "7d")  # in the file and the store, not loaded here
    assert await dispatcher.run_due() == 1
    row = store.get(key)
    assert row is not None and row.state == "retrying"  # not a dead letter
    assert "reloading" in (row.last_error or "")
    assert reloads and receiver.requests == []
    store.close()


async def test_outcomes_the_store_refused_for_a_moment_are_recorded_without_a_resend(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    keys = [_plan(store, "diesel-window-1", lead) for lead in ("1d", "7d", "30d")]
    record = store.record_outcomes
    refusals = [RuntimeError("database is locked")] * 2

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if refusals:
            raise refusals.pop()
        return record(*args, **kwargs)

    store.record_outcomes = flaky  # type: ignore[method-assign]
    assert await dispatcher.run_due() == 3
    await _settled(dispatcher)
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(keys)
    assert {key: store.get(key).state for key in keys} == dict.fromkeys(keys, "sent")  # type: ignore[union-attr]
    store.close()


async def test_claims_that_cannot_be_renewed_stop_being_sent_before_they_run_out(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded, concurrency=1,
                                    lease=timedelta(seconds=0.9))
    keys = [_plan(store, "diesel-window-1", lead) for lead in ("1d", "7d", "30d", "90d")]

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("connection refused")

    store.extend_lease = unreachable  # type: ignore[method-assign]
    receiver.reset(*[Reply(200, delay=0.35)] * 4)
    assert await dispatcher.run_due() == 4
    # One at a time, 0.35 s each: after 0.6 s (2/3 of the lease) the rest are not started,
    # as another instance may take them over once the lease is out.
    sent = {r.headers["webhook-id"] for r in receiver.requests}
    assert 1 <= len(sent) <= 2 and dispatcher.lapsed == 4 - len(sent)
    assert {store.get(k).state for k in set(keys) - sent} == {"sending"}  # type: ignore[union-attr]
    store.close()


async def _settled(dispatcher: Dispatcher) -> None:
    """Until the outcome retries have landed."""
    deadline = time.monotonic() + 5
    while dispatcher.in_flight:
        assert time.monotonic() < deadline, "outcomes never recorded"
        await asyncio.sleep(0.05)
