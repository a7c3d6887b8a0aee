"""What waits prepared for its time (timeline/delivery/prepared.py), with a real store in
memory and the real loop: the last look a slice at a time, what it finds taken, a release
that fails, and a newer claim of the same key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from timeline.delivery.batching import Batch
from timeline.delivery.leases import Leases
from timeline.delivery.prepared import Prepared
from timeline.store import Delivery, PlannedDelivery, Store


class _Outbox(Store):
    """The real store, whose release can be made to fail."""

    fail_release = False

    def release_many(self, keys: Iterable[str], owner: str, *,
                     now: datetime | None = None) -> int:
        if self.fail_release:
            raise OSError("disk full")
        return super().release_many(keys, owner, now=now)


def _claimed(store: Store, keys: list[str], due: datetime) -> list[Delivery]:
    store.add_planned([PlannedDelivery(k, k.split("/")[0], "hook", due, None) for k in keys],
                      now=due - timedelta(seconds=5))
    return store.claim_due(due, "me", limit=len(keys), lease=30)


async def _prepared(store: Store, look_at_once: int) -> tuple[Prepared, list[Batch], Leases]:
    leases = Leases(store, "me")
    tasks: set[asyncio.Task[None]] = set()
    prepared = Prepared(store, leases, lambda: None, tasks.add, look_at_once=look_at_once)
    return prepared, [], leases


async def test_later_slices_are_sent_although_giving_back_a_dropped_one_fails() -> None:
    store = _Outbox.open("sqlite://")
    due = datetime.now(UTC) + timedelta(milliseconds=300)
    rows = _claimed(store, [f"e{i}/x/0d/hook" for i in range(6)], due)
    prepared, queued, leases = await _prepared(store, look_at_once=2)
    # another instance's re-plan took e1 (in the first slice of two) back meanwhile
    store.release_many(["e1/x/0d/hook"], "me")
    store.fail_release = True
    batches = [Batch("hook", rows[i:i + 2], late=False, kind="reminder") for i in (0, 2, 4)]
    for batch in batches:
        leases.hold(batch)
        prepared.hold(batch, queued.append)
    assert prepared.waiting == 6
    for _ in range(100):
        await asyncio.sleep(0.02)
        if not prepared.waiting:
            break
    assert [b.number for b in queued] == [batches[1].number, batches[2].number]
    assert prepared.waiting == 0 and not prepared.batches
    assert batches[0].number not in leases.in_flight  # not sent; e0 left to its lease
    store.close()


async def test_a_newer_claim_of_a_key_replaces_the_batch_prepared_with_it() -> None:
    store = Store.open("sqlite://")
    due = datetime.now(UTC) + timedelta(seconds=30)
    rows = _claimed(store, ["a/x/0d/hook", "b/x/0d/hook"], due)
    prepared, queued, leases = await _prepared(store, look_at_once=500)
    batch = Batch("hook", rows, late=False, kind="reminder")
    leases.hold(batch)
    prepared.hold(batch, queued.append)
    others = prepared.superseded({"a/x/0d/hook"})
    assert [row.key for row in others] == ["b/x/0d/hook"]  # still ours: to be given back
    assert prepared.waiting == 0 and not prepared.batches
    assert batch.number not in leases.in_flight
    assert prepared.superseded({"a/x/0d/hook"}) == []  # nothing prepared holds it now
    prepared.take_back()  # its timer is cancelled with the rest
    store.close()
