"""Group commit of send outcomes: outcomes that arrive within the window share one store
transaction, and a flush (a dispatch pass has nothing more to send) commits at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from timeline.delivery.outcomes import OutcomeWriter
from timeline.store import Outcome, PlannedDelivery, Store

T0 = datetime(2024, 5, 20, 1, 0, tzinfo=UTC)
KEYS = ["a/1", "b/1", "c/1"]


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store.open("sqlite://")
    store.add_planned([PlannedDelivery(key, key.split("/")[0], "hook", T0, {})
                       for key in KEYS], now=T0)
    assert len(store.claim_due(T0, "me", limit=10)) == len(KEYS)
    yield store
    store.close()


@pytest.fixture
def transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of each record_outcomes call, in order."""
    calls: list[list[str]] = []
    record = store.record_outcomes

    def counted(outcomes: list[Outcome], owner: str, now: datetime, *,
                wait: bool = True) -> int:
        calls.append([o.key for o in outcomes])
        return record(outcomes, owner, now, wait=wait)

    monkeypatch.setattr(store, "record_outcomes", counted)
    return calls


async def test_outcomes_within_the_window_share_one_transaction(
        store: Store, transactions: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    writer = OutcomeWriter(store, "me", window=0.2)
    stored: list[BaseException | None] = []
    for key in KEYS:
        task = writer.submit([Outcome(key, "sent")], stored.append)
        await asyncio.sleep(0.01)  # sends finishing a few ms apart
    await task
    assert transactions == [KEYS]
    assert stored == [None, None, None]
    assert {store.get(key).state for key in KEYS} == {"sent"}


async def test_a_flush_commits_without_waiting_for_the_window(
        store: Store, transactions: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    # A window no test could wait out: only the flush can end it in time.
    writer = OutcomeWriter(store, "me", window=3600)
    task = writer.submit([Outcome("a/1", "sent"), Outcome("b/1", "dead", "HTTP 400")],
                         lambda failure: None)
    await asyncio.sleep(0)  # the writer is waiting in its window
    assert transactions == []
    writer.flush()
    await asyncio.wait_for(task, 5)
    assert transactions == [["a/1", "b/1"]]
    assert store.get("a/1").state == "sent"
    assert store.get("b/1").state == "dead"
    assert store.get("c/1").state == "sending"  # never submitted: still claimed


async def test_a_store_failure_reaches_every_waiting_send(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:

    def broken(outcomes: list[Outcome], owner: str, now: datetime, *,
               wait: bool = True) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(store, "record_outcomes", broken)
    writer = OutcomeWriter(store, "me", window=0.01)
    seen: list[BaseException | None] = []
    writer.submit([Outcome("a/1", "sent")], seen.append)
    await writer.submit([Outcome("b/1", "sent")], seen.append)
    assert [str(failure) for failure in seen] == ["disk full", "disk full"]
    assert store.get("a/1").state == "sending"  # left claimed: sent again after its lease


async def test_an_outcome_whose_row_was_taken_is_said_and_counted(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """A re-plan elsewhere moved b/1 back to pending after it went out: its outcome cannot
    be stored under this claim, which is said (once for the group) and counted."""
    store.release_many(["b/1"], "me")
    writer = OutcomeWriter(store, "me", window=0.01)
    with caplog.at_level("WARNING", logger="timeline.delivery"):
        await writer.record([Outcome(key, "sent") for key in KEYS])
    assert writer.unrecorded == 1
    assert [r.getMessage()[:30] for r in caplog.records] == ["1 outcome(s) not recorded: the"]
    assert store.get("b/1").state == "pending"  # type: ignore[union-attr]
    assert store.get("a/1").state == "sent"  # type: ignore[union-attr]
