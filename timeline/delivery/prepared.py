"""What is claimed and rendered ahead of its time and waits for it: the prepared batches,
one timer per moment they fall due, and the last look in the store before they are sent.

The dispatcher claims what falls due within PREPARE_AHEAD (2 s), renders it at once and
leaves it here; at its time only the send and its record are left, so 10,000 reminders due
at 09:00 start going out at 09:00. A re-plan in this process takes back what waits here
first (`take_back`); one in another process moves or cancels the rows in the store (those
not due within 0.25 s), and the last look (`Outbox.still_claimed`, 500 rows a query, which
waits for a re-plan under way) drops them. A row moved and claimed again by this process
replaces its older prepared batch (`superseded`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from timeline.delivery.batching import Batch
from timeline.delivery.leases import Leases
from timeline.delivery.outbox import Outbox
from timeline.store import Delivery

__all__ = ["FREEZE_PREPARED", "PREPARE_AHEAD", "PREPARE_MAX", "Prepared", "freeze_young"]

log = logging.getLogger("timeline.delivery")
# How long before its due time a delivery is claimed and rendered, so that when it falls due
# only its send is left: 10,000 reminders due at 09:00 start going out at 09:00, not after
# being claimed and rendered one batch after another while the first ones are sent.
PREPARE_AHEAD = timedelta(seconds=2)
# At most this many deliveries wait prepared for their due time (a rendered message is a
# few KB); the rest of a bigger burst is claimed and rendered while the first are sent.
PREPARE_MAX = 20_000
# With this many prepared, they are moved out of the collector's sight (see freeze_young).
FREEZE_PREPARED = 1_000
# Prepared deliveries looked at in one query before they are sent (see _look_and_queue).
LOOK_AT_ONCE = 500

Due = Callable[[Batch], None]


class Prepared:
    """Prepared batches by number, and the deliveries they hold (`waiting`), which a
    dispatch pass waits for before it ends. `due(batch)` queues a batch once its time has
    come and it is still this process's; `wake()` tells the pass to look again;
    `track(task)` hands the last looks to whoever waits for work under way."""

    def __init__(self, store: Outbox, leases: Leases, wake: Callable[[], None],
                 track: Callable[[asyncio.Task[None]], None], *,
                 look_at_once: int = LOOK_AT_ONCE) -> None:
        self.store = store
        self.look_at_once = look_at_once
        self.leases = leases
        self.wake = wake
        self.track = track
        self.batches: dict[int, Batch] = {}
        self._by_key: dict[str, Batch] = {}  # which prepared batch holds a key
        self.waiting = 0
        # One timer per moment that prepared batches fall due, with those batches: 10,000
        # due at 09:00 are one callback, not 10,000 run before the first send can start.
        self._timers: dict[datetime, tuple[asyncio.TimerHandle, list[Batch], Due]] = {}

    def hold(self, batch: Batch, due: Due) -> None:
        """Keep `batch` until its time, then `due(batch)` (if it is still ours)."""
        self.batches[batch.number] = batch
        for row in batch.rows:
            self._by_key[row.key] = batch
        self.waiting += len(batch.rows)
        when = batch.send_at
        if when in self._timers:
            self._timers[when][1].append(batch)
            return
        # From the time now, not the claim's: the claim and the renders took a while.
        delay = (when - datetime.now(UTC)).total_seconds()
        handle = asyncio.get_running_loop().call_later(delay, self._at_its_time, when)
        self._timers[when] = (handle, [batch], due)

    def take_back(self) -> list[Batch]:
        """Every prepared batch off its timer and out of the claims held (to give back)."""
        batches = list(self.batches.values())
        self.batches.clear()
        self._by_key.clear()
        self.waiting = 0
        for handle, _, _ in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for batch in batches:
            self.leases.drop(batch)
        self.wake()
        return batches

    def _at_its_time(self, when: datetime) -> None:
        delay = (when - datetime.now(UTC)).total_seconds()
        if delay > 0:  # the loop's timer may fire a little early; never send early
            _, batches, due = self._timers[when]
            handle = asyncio.get_running_loop().call_later(delay, self._at_its_time, when)
            self._timers[when] = (handle, batches, due)
            return
        _, batches, due = self._timers.pop(when)
        self.track(asyncio.ensure_future(self._look_and_queue(batches, due)))

    async def _look_and_queue(self, batches: list[Batch], due: Due) -> None:
        """The last looks for everything due at one moment, a slice at a time, so that the
        first slice is being sent while the next is looked at (10,000 at once: the first
        send waited ~50 ms for one look at them all). What a look finds taken is given
        back only after every slice is queued, in a task of its own: a failing release
        must not leave the later slices waiting."""
        back: list[Delivery] = []
        dropped = 0
        part: list[Batch] = []
        size = 0
        for batch in batches:
            if batch.number not in self.batches:
                continue  # taken back meanwhile (a re-plan here, a stop, a newer claim)
            part.append(batch)
            size += len(batch.rows)
            if size >= self.look_at_once:
                dropped += await self._still_ours(part, due, back)
                part, size = [], 0
        if part:
            dropped += await self._still_ours(part, due, back)
        if dropped:
            log.info("%d prepared delivery(ies) not sent: moved or cancelled by a re-plan "
                     "since they were claimed", dropped)
        if back:
            self.track(asyncio.ensure_future(self._give_back(back)))

    async def _still_ours(self, batches: list[Batch], due: Due, back: list[Delivery]) -> int:
        """The last look before sending what waited prepared: another instance's re-plan
        may have moved or cancelled some of it in the store since the claim (this
        process's own takes its prepared batches back first). A batch with a row no
        longer held is not sent: its other rows go into `back`, to be claimed and rendered
        anew. Returns how many rows were dropped. A batch counts as waiting until queued,
        so the pass does not end meanwhile."""
        keys = [row.key for batch in batches for row in batch.rows]
        try:
            held: set[str] | None = await asyncio.to_thread(
                self.store.still_claimed, keys, self.leases.owner)
        except Exception as exc:  # cannot tell: send as claimed, as before this look
            log.warning("could not look whether %d prepared delivery(ies) are still ours: "
                        "%s; sending them as claimed", len(keys), exc)
            held = None
        dropped = 0
        for batch in batches:
            if not self._forget(batch):
                continue  # taken back meanwhile (a re-plan here, a stop, a newer claim)
            if held is None or all(row.key in held for row in batch.rows):
                due(batch)
                continue
            self.leases.drop(batch)
            kept = [row for row in batch.rows if row.key in held]
            dropped += len(batch.rows) - len(kept)
            back.extend(kept)
        self.wake()
        return dropped

    async def _give_back(self, rows: list[Delivery]) -> None:
        try:
            await self.leases.release(rows)
        except Exception as exc:  # their leases run out instead, and they are claimed again
            log.warning("could not give back %d prepared delivery(ies): %s", len(rows), exc)

    def superseded(self, keys: set[str]) -> list[Delivery]:
        """A claim just took `keys` again that batches prepared earlier hold: a re-plan
        elsewhere moved them (and they fell due within the horizon again). The earlier
        batches are forgotten, never sent (their payload or time is the old one); their
        other rows are returned, still claimed, to be given back."""
        others: list[Delivery] = []
        for key in keys:
            batch = self._by_key.get(key)
            if batch is not None and self._forget(batch):
                self.leases.drop(batch)
                others.extend(row for row in batch.rows if row.key not in keys)
        return others

    def _forget(self, batch: Batch) -> bool:
        """Out of the prepared batches; False if it was not (any more) among them."""
        if self.batches.pop(batch.number, None) is not batch:
            return False
        for row in batch.rows:
            if self._by_key.get(row.key) is batch:
                del self._by_key[row.key]
        self.waiting -= len(batch.rows)
        return True


def freeze_young() -> None:
    """Move every object tracked now, the prepared batches among them, to the collector's
    permanent generation (O(1)).

    Thousands of prepared messages are promoted to the oldest generation while they wait,
    and its full collections then walked them again and again during the burst that sends
    them: 3 collections, 22 us of CPU per delivery with 10,000 due at once. They are not
    cyclic, so reference counting frees each once sent, frozen or not; anything cyclic
    frozen with them is collected at the next load, which unfreezes (daemon._settle_heap)."""
    gc.freeze()
