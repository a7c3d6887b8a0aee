"""Deliveries that fall due within PREPARE_AHEAD are claimed and rendered at once and sent at
their time: never before it, taken back by a re-plan, released by a stop, and not in the way
of what falls due meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import httpx

from tests.dispatch_helpers import in_memory_dispatcher, webhook_settings
from tests.receiver import Receiver
from timeline.delivery import PREPARE_AHEAD, Batch, Dispatcher
from timeline.loader import LoadedTimeline
from timeline.store import Delivery, PlannedDelivery, Store

EVENT = "diesel-window-1"
PAYLOAD = {"kind": "reminder", "occurrence": "2024-05-31", "anchor": "due", "lead": "7d",
           "all_day": True}


def _dispatcher(receiver: Receiver, client: httpx.AsyncClient,
                loaded: LoadedTimeline) -> tuple[Dispatcher, Store]:
    return in_memory_dispatcher(webhook_settings(f"{receiver.url}/hook", hook="group: false"),
                                client, loaded)


def _plan(store: Store, lead: str, due: datetime) -> str:
    key = f"{EVENT}/2024-05-31/{lead}/hook"
    store.add_planned([PlannedDelivery(key, EVENT, "hook", due, {**PAYLOAD, "lead": lead})],
                      now=datetime.now(UTC))
    return key


def _state(store: Store, key: str) -> tuple[str, int]:
    row = store.get(key)
    assert row is not None
    return row.state, row.attempts


async def _until(check: Callable[[], bool], limit: float = 2.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_reminder_due_shortly_is_prepared_at_once_and_sent_at_its_time(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    due = datetime.now(UTC) + PREPARE_AHEAD * 0.6
    key = _plan(store, "7d", due)

    run = asyncio.ensure_future(dispatcher.run_due())
    await _until(lambda: _state(store, key)[0] == "sending")
    assert time.time() < due.timestamp() - 0.3  # claimed well before its time
    assert receiver.requests == []
    assert await run == 1
    [hit] = receiver.requests
    assert 0 <= hit.at - due.timestamp() < 0.3
    assert hit.headers["webhook-id"] == key
    assert _state(store, key) == ("sent", 1)
    store.close()


async def test_a_replan_takes_a_prepared_reminder_back_and_it_goes_out_at_the_new_time(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    due = datetime.now(UTC) + PREPARE_AHEAD * 0.5
    moved = due + timedelta(seconds=0.6)
    key = _plan(store, "7d", due)

    run = asyncio.ensure_future(dispatcher.run_due())
    await _until(lambda: _state(store, key)[0] == "sending")
    async with dispatcher.replanning():
        # Back in the store, waiting, its attempt not counted: a re-plan can move it.
        assert _state(store, key) == ("pending", 0)
        _plan(store, "7d", moved)
    await asyncio.wait_for(run, 5)
    await dispatcher.run_due()  # the next pass, as the daemon's re-arming starts one
    [hit] = receiver.requests  # once, and not at the old time
    assert 0 <= hit.at - moved.timestamp() < 0.3
    assert _state(store, key) == ("sent", 1)
    store.close()


async def test_a_stop_releases_what_waits_prepared_without_waiting_for_its_time(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    due = datetime.now(UTC) + PREPARE_AHEAD * 0.8
    keys = [_plan(store, lead, due) for lead in ("1d", "7d", "30d")]

    run = asyncio.ensure_future(dispatcher.run_due())
    await _until(lambda: all(_state(store, k)[0] == "sending" for k in keys))
    dispatcher.stopping = True
    await asyncio.wait_for(run, 0.5)
    assert time.time() < due.timestamp()
    assert receiver.requests == []
    assert [_state(store, k) for k in keys] == [("pending", 0)] * 3
    store.close()


async def test_what_falls_due_while_a_pass_waits_goes_out_when_poked(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    later = datetime.now(UTC) + PREPARE_AHEAD * 0.8
    # More prepared batches than workers: none of them may hold a worker until its time.
    prepared = {_plan(store, f"{hours}h", later) for hours in range(20)}

    run = asyncio.ensure_future(dispatcher.run_due())
    await _until(lambda: all(_state(store, k)[0] == "sending" for k in prepared))
    urgent = _plan(store, "1d", datetime.now(UTC))  # a change notice would come like this
    poked = time.time()
    dispatcher.poke()
    await _until(lambda: len(receiver.requests) == 1)
    assert receiver.requests[0].headers["webhook-id"] == urgent
    assert receiver.requests[0].at - poked < 0.3
    assert await run == 21
    assert {r.headers["webhook-id"] for r in receiver.requests[1:]} == prepared
    assert min(r.at for r in receiver.requests[1:]) >= later.timestamp()
    store.close()


async def test_a_message_rendered_ahead_counts_days_from_the_day_it_goes_out(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    shanghai = ZoneInfo("Asia/Shanghai")
    tomorrow = datetime.now(shanghai).date() + timedelta(days=1)
    # Rendered now, sent just after the coming local midnight: "1 day left" for an event
    # the day after tomorrow, as it will be read, not "2 days left" as of today.
    sent_at = datetime.combine(tomorrow, clock(0, 0, 1), tzinfo=shanghai)
    occurrence = tomorrow + timedelta(days=1)
    store.add_planned([PlannedDelivery(
        f"{EVENT}/{occurrence}/1d/hook", EVENT, "hook", sent_at,
        {**PAYLOAD, "occurrence": occurrence.isoformat(), "lead": "1d"})],
        now=datetime.now(UTC))
    [row] = store.claim_due(datetime.now(UTC), "test", horizon=sent_at)
    message = dispatcher.render(Batch("hook", [row], late=False, kind="reminder"))
    assert message is not None
    assert [item.days_left for item in message.items] == [1]
    assert "还有1天" in message.text
    store.close()


async def test_a_claim_under_way_when_a_replan_starts_is_given_back_before_it(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    dispatcher, store = _dispatcher(receiver, client, loaded)
    claim_due = store.claim_due

    def slow_claim(*args: object, **kwargs: object) -> list[Delivery]:
        rows = claim_due(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.3)  # committed, not yet back in the loop
        return rows

    store.claim_due = slow_claim  # type: ignore[method-assign]
    due = datetime.now(UTC) + PREPARE_AHEAD * 0.5
    key = _plan(store, "7d", due)
    run = asyncio.ensure_future(dispatcher.run_due())
    await asyncio.sleep(0.1)  # the claim is under way
    async with dispatcher.replanning():
        # Waiting again before the re-plan runs, so the re-plan can move it.
        assert _state(store, key) == ("pending", 0)
        _plan(store, "7d", due + timedelta(seconds=30))
    await asyncio.wait_for(run, 5)
    assert receiver.requests == []  # not at the old time
    row = store.get(key)
    assert row is not None and row.due_at == due + timedelta(seconds=30)
    store.close()


async def test_the_daemon_does_not_spin_while_a_replan_holds_back_preparing_ahead(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    # While a re-plan runs nothing is claimed ahead, so a wake-up PREPARE_AHEAD early would
    # find nothing, re-arm into an immediate wake-up and spin (1,118 passes a second, seen).
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from timeline.daemon import Daemon

    dispatcher, store = _dispatcher(receiver, client, loaded)
    daemon = Daemon(dispatcher.settings, serve=False)
    daemon.store, daemon.dispatcher = store, dispatcher
    daemon.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
    daemon.scheduler.start()
    passes = 0
    run_due = dispatcher.run_due

    async def counted() -> int:
        nonlocal passes
        passes += 1
        return await run_due()

    dispatcher.run_due = counted  # type: ignore[method-assign]
    due = datetime.now(UTC) + PREPARE_AHEAD * 0.75
    key = _plan(store, "7d", due)
    worker = asyncio.ensure_future(daemon._worker())
    try:
        await daemon.arm()
        await _until(lambda: _state(store, key)[0] == "sending")  # prepared ahead
        async with dispatcher.replanning():
            before = passes
            await asyncio.sleep(0.8)
            during = passes - before
            # Not claimed ahead again behind the re-plan's back: it could not move it then.
            assert _state(store, key) == ("pending", 0)
        await daemon.arm()  # as _apply does after a re-plan
        await _until(lambda: len(receiver.requests) == 1, limit=3.0)
    finally:
        daemon.stopped.set()
        daemon.wake.set()
        dispatcher.stopping = True
        await asyncio.wait_for(worker, 2)
        daemon.scheduler.shutdown(wait=False)
    assert during <= 1  # the pass that was waiting with the prepared row ends; no more
    [hit] = receiver.requests
    assert 0 <= hit.at - due.timestamp() < 0.3  # and it still goes out on time
    assert _state(store, key) == ("sent", 1)
    store.close()


async def test_a_row_moved_elsewhere_and_claimed_again_goes_out_once_as_moved(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    """Another instance's re-plan changes a row this dispatcher prepared (its payload; the
    same key and time), which waits again; the pass claims it anew. Only the new claim is
    sent, once: the batch prepared with the old payload is forgotten."""
    dispatcher, store = _dispatcher(receiver, client, loaded)
    due = datetime.now(UTC) + PREPARE_AHEAD * 0.6
    key = _plan(store, "7d", due)

    run = asyncio.ensure_future(dispatcher.run_due())
    await _until(lambda: _state(store, key)[0] == "sending")
    # as a re-plan elsewhere does it: same key and time, another payload, waiting again
    store.add_planned([PlannedDelivery(key, EVENT, "hook", due,
                                       {**PAYLOAD, "occurrence": "2024-06-01"})])
    assert _state(store, key) == ("pending", 0)
    dispatcher.poke()
    await _until(lambda: _state(store, key)[0] == "sending")  # claimed again, here
    assert await asyncio.wait_for(run, 5) == 2
    [hit] = receiver.requests
    assert hit.headers["webhook-id"] == key
    assert hit.json()["items"][0]["occurrence"] == "2024-06-01"  # the moved row's
    assert _state(store, key) == ("sent", 1)
    store.close()
