"""Sending what is due: claim from the store, group, render, send, record the outcome.

The store is the record; this module owns no state that a crash could lose. A delivery is
claimed (leased) before it is sent, so two daemons on one database never send the same key,
and every message carries its key so a receiver can drop the one repeat a crash mid-send can
cause. Retryable failures back off exponentially with jitter (or as long as the receiver
asked); permanent ones and exhausted retries become dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from notifiers.base import RETRY_AFTER_MAX, Message, Notifier, SendResult
from timeline.config import Settings
from timeline.feed import render_feed
from timeline.loader import LoadedTimeline
from timeline.messages import (
    ReminderLine,
    change_message,
    keys_digest,
    message_key,
    missed_message,
    planned_digest,
    reminder_message,
)
from timeline.plan import digest_slot
from timeline.source import TimelineSource
from timeline.store import Delivery, Outcome, PlannedDelivery, Revision, Store, StoreBusy

__all__ = ["PREPARE_AHEAD", "Dispatcher", "RateLimiter"]

log = logging.getLogger("timeline.dispatch")
# A delivery due this long before the daemon started fell due while it was down.
LATE_TOLERANCE = timedelta(seconds=5)
_BATCH_NUMBERS = itertools.count()
# Seconds outcomes wait to share one store transaction. Each commit has a fixed cost (an
# fsync and its bookkeeping, ~0.5 ms of CPU on SQLite); 55 outcomes a commit cost 19 us of
# CPU each, 200 cost 8 us. A crash loses at most this window's records: those few are sent
# again under the same key, which receivers drop.
GROUP_COMMIT_WINDOW = 0.15
# How long a claim lasts unless renewed (run_due renews its claims while it sends): how
# soon another instance takes over the deliveries of one that died mid-send.
LEASE = timedelta(seconds=30)
# How long before its due time a delivery is claimed and rendered, so that when it falls due
# only its send is left: 10,000 reminders due at 09:00 start going out at 09:00, not after
# being claimed and rendered one batch after another while the first ones are sent.
PREPARE_AHEAD = timedelta(seconds=2)
# At most this many deliveries wait prepared for their due time (a rendered message is a
# few KB); the rest of a bigger burst is claimed and rendered while the first are sent.
PREPARE_MAX = 20_000
# With this many prepared, they are moved out of the collector's sight (see _freeze_young).
FREEZE_PREPARED = 1_000
# Seconds before an outcome the store refused is offered again (while the claim holds).
RECORD_RETRY = 1.0
RECORD_WARN_EVERY = 5.0
# On shutdown, how long giving claimed rows back may wait for the store: a locked or
# stalled store must not keep a stopping process alive (the next start takes them back).
RELEASE_GRACE = 2.0


class RateLimiter:
    """A token bucket: at most `per_minute` sends a minute, short bursts allowed."""

    def __init__(self, per_minute: float | None, burst: int = 1) -> None:
        self.rate = per_minute / 60.0 if per_minute else None
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate is None:
            return
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class Metrics:
    outcomes: Counter[str] = field(default_factory=Counter)  # delivered/retry/dead/missed
    delays: list[float] = field(default_factory=list)  # seconds from due to sent (recent)
    last: dict[str, Any] | None = None

    def observe_delay(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) > 10_000:
            del self.delays[:5_000]


@dataclass
class _Batch:
    notifier: str
    rows: list[Delivery]
    late: bool
    kind: str
    number: int = field(default_factory=lambda: next(_BATCH_NUMBERS))
    # Claimed before its due time, rendered then (and from which loaded timeline: a reload
    # since then means rendering it again), queued for the workers by a timer at its time.
    message: Message | None = None
    rendered_from: object = None
    # When its claim was taken (monotonic): with the last renewal, how long it is ours.
    claimed: float = field(default_factory=time.monotonic)

    @property
    def send_at(self) -> datetime:
        """Not before every row in it is due."""
        return max(row.run_at for row in self.rows)


def _close(window: asyncio.Future[None]) -> None:
    if not window.done():
        window.set_result(None)


class OutcomeWriter:
    """Group commit for send outcomes: outcomes that arrive while a write is pending go
    together in the next transaction. One commit per delivery (an fsync each) capped
    throughput far below the network's.

    `submit` is synchronous and takes a callback run once the outcomes are stored (or the
    store failed): no task or future per send, which cost measurable CPU per delivery."""

    def __init__(self, store: Store, owner: str) -> None:
        self.store = store
        self.owner = owner
        self.pending: list[Outcome] = []
        self.callbacks: list[Callable[[BaseException | None], None]] = []
        self.writer: asyncio.Task[None] | None = None
        self._window: asyncio.Future[None] | None = None  # the open gather window

    def flush(self) -> None:
        """Commit what is pending now instead of at the end of the window: nothing more is
        coming (a burst is over, or a single reminder went out), so waiting only delays
        the record, and the dispatcher's next pass, which waits for it."""
        if self._window is not None and not self._window.done():
            self._window.set_result(None)

    def submit(self, outcomes: list[Outcome],
               done: Callable[[BaseException | None], None]) -> asyncio.Task[None]:
        """Queue `outcomes`; `done(None)` runs after they are committed, `done(exc)` if the
        store failed. Returns the writer task that will commit them (await it to wait)."""
        self.pending.extend(outcomes)
        self.callbacks.append(done)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._write())
        return self.writer

    async def record(self, outcomes: list[Outcome]) -> None:
        """Store `outcomes` (in the next group) and wait until they are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(exc: BaseException | None) -> None:
            if done.done():
                return
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

        self.submit(outcomes, settle)
        await done

    async def _write(self) -> None:
        # A gather window: under load, sends finish a few ms apart, and each commit costs
        # more CPU than the wait costs (the send is done; only its record waits).
        loop = asyncio.get_running_loop()
        self._window = window = loop.create_future()
        timer = loop.call_later(GROUP_COMMIT_WINDOW, _close, window)
        try:
            await window
        finally:
            timer.cancel()
        while self.pending:
            batch, callbacks = self.pending, self.callbacks
            self.pending, self.callbacks = [], []
            failure: BaseException | None = None
            try:
                # In the loop, not in a thread: one short transaction (~1 ms for a group on
                # SQLite) per window blocks the loop less than a worker thread competing
                # for the GIL slows it. Measured with 4,000 due at once: 1,018 vs 786
                # deliveries/s, 0.96 vs 1.34 ms of CPU per delivery. But never waiting for
                # another writer's lock there (SQLite waits up to 30 s): a blocked loop
                # answers no signal and no request, so a busy store is waited for in a
                # thread.
                try:
                    self.store.record_outcomes(batch, self.owner, datetime.now(UTC),
                                               wait=False)
                except StoreBusy:
                    await asyncio.to_thread(self.store.record_outcomes, batch, self.owner,
                                            datetime.now(UTC))
            except Exception as exc:  # each waiting send sees the store's failure
                failure = exc
            for callback in callbacks:
                try:
                    callback(failure)
                except Exception:  # one bad callback must not strand the others
                    log.exception("outcome callback failed")


def _freeze_young() -> None:
    """Move every object tracked now, the prepared batches among them, to the collector's
    permanent generation (O(1)).

    Thousands of prepared messages are promoted to the oldest generation while they wait,
    and its full collections then walked them again and again during the burst that sends
    them: 3 collections, 22 us of CPU per delivery with 10,000 due at once. They are not
    cyclic, so reference counting frees each once sent, frozen or not; anything cyclic
    frozen with them is collected at the next load, which unfreezes (daemon._settle_heap)."""
    gc.freeze()


class Dispatcher:
    def __init__(self, settings: Settings, store: Store, notifiers: dict[str, Notifier],
                 source: TimelineSource, owner: str,
                 started_at: datetime | None = None) -> None:
        self.settings = settings
        self.store = store
        self.notifiers = notifiers
        self.source = source
        self.owner = owner
        self.started_at = started_at or datetime.now(UTC)
        self.tz = ZoneInfo(settings.timezone)
        self.metrics = Metrics()
        self.limiters = {name: RateLimiter(n.rate_per_minute) for name, n in notifiers.items()}
        # Claimed and not yet recorded, by batch number: what the heartbeat keeps leased.
        self.in_flight: dict[int, list[Delivery]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # workers and outcome writes under way
        self._stopping = False
        self.outcomes = OutcomeWriter(store, owner)
        # Outcomes of the current dispatch pass by (notifier, sent/retrying/dead): one log
        # line a pass.
        self.tally: Counter[tuple[str, str]] = Counter()
        # "Look again", for the claim loop of a pass under way: something may have fallen
        # due (see poke), the workers want more, a prepared batch was queued, or a stop.
        self._wake = asyncio.Event()
        # Claimed and rendered ahead of their time, not yet queued, by number; and how many
        # deliveries they hold.
        self._prepared: dict[int, _Batch] = {}
        self._waiting = 0
        # One timer per moment that prepared batches fall due, with those batches: 10,000
        # due at 09:00 are one callback, not 10,000 run before the first send can start.
        self._timers: dict[datetime, tuple[asyncio.TimerHandle, list[_Batch]]] = {}
        self._replanning = 0  # re-plans under way: claim nothing ahead meanwhile
        self._claim_lock = asyncio.Lock()
        # When the last renewal of every claim held began (monotonic): see _lapsed.
        self._renewed = 0.0
        self.lapsed = 0  # deliveries not sent because their claim may have run out
        self._record_warned = -RECORD_WARN_EVERY
        self._record_failures = 0
        # Called when a claimed delivery names an event this process has not loaded: the
        # file changed and another instance reloaded first. The daemon reloads.
        self.on_stale: Callable[[], None] | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self._stopping = value
        if value:
            self._wake.set()

    @contextlib.asynccontextmanager
    async def replanning(self) -> AsyncIterator[None]:
        """Around a re-plan (a reload): what waits prepared for its time goes back to the
        store first, and nothing is claimed ahead until the re-plan is done. A re-plan
        moves or cancels only waiting rows, not claimed ones, so a prepared reminder of a
        moved deadline would otherwise go out at the old time, or one of a removed event
        at all."""
        self._replanning += 1
        try:
            # A claim under way may be taking rows ahead right now: let it finish and
            # register them, so that they are given back too.
            async with self._claim_lock:
                batches = self._unprepare()
            if batches:
                await self._release([row for batch in batches for row in batch.rows])
            yield
        finally:
            self._replanning -= 1
            self.poke()

    @property
    def prepare_ahead(self) -> timedelta:
        """How far ahead of a due time to wake this dispatcher: not at all while a re-plan
        runs (it claims nothing ahead then, so an early wake-up would find nothing, re-arm
        and wake again at once, over and over until the re-plan ends)."""
        return timedelta(0) if self._replanning else PREPARE_AHEAD

    def _unprepare(self) -> list[_Batch]:
        """Take every prepared batch off its timer and out of the claims held."""
        batches = list(self._prepared.values())
        self._prepared.clear()
        self._waiting = 0
        for timer, _ in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for batch in batches:
            self.in_flight.pop(batch.number, None)
        self._wake.set()
        return batches

    def poke(self) -> None:
        """Something may be due now (a reload's change notice, the timer): a pass under way
        looks again instead of only when it ends."""
        self._wake.set()

    # ── the loop body ────────────────────────────────────────────────────────────────
    async def run_due(self, batch_size: int = 200) -> int:
        """Send everything due now, and what falls due within PREPARE_AHEAD at its due time;
        returns how many deliveries were handled.

        `concurrency` workers take batches from a queue that the claim loop refills when
        it runs low, so claiming overlaps sending; outcomes are recorded off the workers'
        path (group commit). One task per batch behind a semaphore measured a third slower
        than this with thousands due at once (see bench/dispatch.py). A batch claimed before
        its due time is rendered at once and queued by a timer at that time, so what falls
        due meanwhile (a change notice) does not wait behind it."""
        handled = 0
        started = time.monotonic()
        lapsed_before = self.lapsed
        self.tally.clear()
        concurrency = self.settings.reminders.concurrency
        queue: asyncio.Queue[_Batch | None] = asyncio.Queue()
        low_water = max(4 * concurrency, 16)  # batches waiting before we claim more
        given_back: list[Delivery] = []  # not started before a stop: released at the end
        loop = asyncio.get_running_loop()
        wake = self._wake

        def at_its_time(when: datetime) -> None:
            """Timer callback: the batches prepared for `when` join the queue."""
            delay = (when - datetime.now(UTC)).total_seconds()
            if delay > 0:  # the loop's timer may fire a little early; never send early
                self._timers[when] = (loop.call_later(delay, at_its_time, when),
                                      self._timers[when][1])
                return
            _, batches = self._timers.pop(when)
            task = asyncio.ensure_future(still_ours(batches))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        async def still_ours(batches: list[_Batch]) -> None:
            """The last look before sending what waited prepared: another instance's re-plan
            may have moved or cancelled some of it in the store since the claim (this
            process's own gives its prepared batches back first). A batch with a row no
            longer held is not sent: its other rows go back to be claimed and rendered anew
            at once. Still counted as waiting until queued, so the pass does not end."""
            keys = [row.key for batch in batches for row in batch.rows]
            try:
                held: set[str] | None = await asyncio.to_thread(
                    self.store.still_claimed, keys, self.owner)
            except Exception as exc:  # cannot tell: send as claimed, as before this look
                log.warning("could not look whether %d prepared delivery(ies) are still "
                            "ours: %s; sending them as claimed", len(keys), exc)
                held = None
            dropped = 0
            back: list[Delivery] = []
            for batch in batches:
                if self._prepared.pop(batch.number, None) is not batch:
                    continue  # taken back meanwhile (a re-plan here, a stop)
                self._waiting -= len(batch.rows)
                if held is None or all(row.key in held for row in batch.rows):
                    queue.put_nowait(batch)
                    continue
                self.in_flight.pop(batch.number, None)
                kept = [row for row in batch.rows if row.key in held]
                dropped += len(batch.rows) - len(kept)
                back.extend(kept)
            if dropped:
                log.info("%d prepared delivery(ies) not sent: moved or cancelled by a "
                         "re-plan since they were claimed", dropped)
            if back:
                await self._release(back)
            wake.set()

        def schedule(batch: _Batch) -> None:
            when = batch.send_at
            if when in self._timers:
                self._timers[when][1].append(batch)
            else:
                # From the time now, not the claim's: the claim and the renders took a while.
                delay = (when - datetime.now(UTC)).total_seconds()
                self._timers[when] = (loop.call_later(delay, at_its_time, when), [batch])

        async def worker() -> None:
            while (batch := await queue.get()) is not None:
                if queue.qsize() <= low_water:
                    wake.set()
                if self.stopping:
                    # Not started, so not sent after SIGTERM: give it back (all together
                    # at the end: a burst prepared ahead may be thousands of batches).
                    self.in_flight.pop(batch.number, None)
                    given_back.extend(batch.rows)
                    continue
                if self._lapsed(batch):
                    # Not sent, not recorded: once the lease is over it is claimed again,
                    # here or elsewhere, and sent once.
                    self.in_flight.pop(batch.number, None)
                    self.lapsed += len(batch.rows)
                    continue
                result = await self._attempt(batch)
                self._finish(batch, result)

        workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        for task in workers:  # drain waits for them, also if this pass ends in an error
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        heartbeat = asyncio.ensure_future(self._heartbeat())
        frozen = False
        try:
            while not self.stopping:
                if queue.qsize() > low_water or self._waiting >= PREPARE_MAX:
                    # Enough queued for the workers, or prepared ahead: wait for room.
                    await wake.wait()
                    wake.clear()
                    continue
                # Under the claim lock from the claim until what it took ahead is prepared:
                # a re-plan takes the lock to give all of it back before re-planning.
                async with self._claim_lock:
                    now = datetime.now(UTC)
                    claimed = time.monotonic()  # the lease counts from before the claim
                    wake.clear()  # before claiming: whatever happens from now on claims again
                    rows = await asyncio.to_thread(
                        partial(self.store.claim_due, now, self.owner, batch_size,
                                self._lease_seconds(), horizon=now + self.prepare_ahead))
                    taken = bool(rows) and not self.stopping
                    if taken:
                        handled += len(rows)
                        for batch in await self._triage(rows, now):
                            batch.claimed = claimed
                            self.in_flight[batch.number] = batch.rows
                            if batch.send_at > now:
                                self._prepare(batch)
                                self._prepared[batch.number] = batch
                                self._waiting += len(batch.rows)
                                schedule(batch)
                            else:
                                queue.put_nowait(batch)
                if not rows:
                    if not self._waiting:
                        break
                    if self._waiting >= FREEZE_PREPARED and not frozen:
                        _freeze_young()
                        frozen = True
                    # Batches wait prepared for their time: until they are all queued,
                    # claim again whenever something may have fallen due meanwhile.
                    await wake.wait()
                    continue
                if self.stopping:
                    if not taken:  # SIGTERM came while claiming: give them back, send nothing
                        await self._release(rows)
                    break  # what was taken is given back below and by the workers
            if self.stopping:
                given_back.extend(row for batch in self._unprepare() for row in batch.rows)
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers, return_exceptions=True)
            self.outcomes.flush()  # every send is done: record them without waiting
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if given_back:
                await self._release(given_back)
        finally:
            heartbeat.cancel()
            if any(not task.done() for task in workers):
                # Ended by an error (or cancelled): give back what waits prepared, and let
                # the workers finish what is queued, due already, and end.
                leftover = [row for batch in self._unprepare() for row in batch.rows]
                for _ in workers:
                    queue.put_nowait(None)
                if leftover:
                    try:
                        await self._release(leftover)
                    except Exception:  # their leases run out instead
                        log.warning("could not give back %d prepared send(s)", len(leftover),
                                    exc_info=True)
            if self.lapsed > lapsed_before:
                log.warning("%d claimed delivery(ies) not sent: their claims could not be "
                            "renewed; they go out once claimed again",
                            self.lapsed - lapsed_before)
            if self.tally:
                log.info("dispatched in %.1f s: %s", time.monotonic() - started, ", ".join(
                    f"{count} {status} via {notifier}"
                    for (notifier, status), count in sorted(self.tally.items())))
        return handled

    def _lease_seconds(self) -> float:
        return LEASE.total_seconds()

    async def _heartbeat(self) -> None:
        """Renew the claims of everything claimed and not yet finished, three times a lease.

        A batch may take longer than one lease (a slow receiver, sends queued behind the
        concurrency limit); a claim that ran out would be taken over and sent a second time
        by another instance while this one still sends it."""
        lease = self._lease_seconds()
        failing = False  # said once while it lasts (a full disk fails every beat)
        while True:
            await asyncio.sleep(lease / 3)
            keys = [row.key for rows in self.in_flight.values() for row in rows]
            if not keys:
                continue
            started = time.monotonic()
            try:
                await asyncio.to_thread(self.store.extend_lease, keys, self.owner,
                                        datetime.now(UTC), lease)
            except Exception as exc:  # the store may blip; the next beat tries again
                if not failing:
                    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
                    log.warning("could not renew %d claim(s): %s: %s", len(keys),
                                type(exc).__name__, reason)
                    log.debug("the error in full", exc_info=True)
                failing = True
            else:
                if failing:
                    log.info("claims renewed again")
                failing = False
                self._renewed = started

    def _record_failed(self, failure: BaseException) -> None:
        """One warning every few seconds while the store refuses outcomes, not one a send."""
        now = time.monotonic()
        self._record_failures += 1
        if now - self._record_warned >= RECORD_WARN_EVERY:
            log.warning("could not record %d outcome(s), trying again while the claims "
                        "hold: %s", self._record_failures, failure)
            self._record_warned, self._record_failures = now, 0

    def _lapsed(self, batch: _Batch) -> bool:
        """Whether the batch's claim may be running out without this process knowing it
        was renewed (the store unreachable): another instance may take it over, so it must
        not be sent from here any more. A third of a lease is left for a send under way."""
        lease = self._lease_seconds()
        return time.monotonic() > max(batch.claimed, self._renewed) + lease * 2 / 3

    async def _release(self, rows: Sequence[Delivery]) -> None:
        await asyncio.to_thread(self.store.release_many, [row.key for row in rows], self.owner)

    def _prepare(self, batch: _Batch) -> None:
        """Render a batch ahead of its time. A failure is left to the send, which renders
        again and reports it."""
        try:
            batch.rendered_from = self.source.snapshot()
            batch.message = message = self.render(batch)
            plugin = self.notifiers.get(batch.notifier)
            if message is not None and plugin is not None:
                plugin.prepare(message)
        except Exception:
            batch.message = None

    async def _triage(self, rows: list[Delivery], now: datetime) -> list[_Batch]:
        """Split claimed rows into send batches; record as missed what is no longer useful."""
        catch_up = self.settings.reminders.catch_up
        missed: dict[str, list[Delivery]] = defaultdict(list)
        groups: dict[tuple[str, str, bool, str], list[Delivery]] = defaultdict(list)
        for row in rows:
            payload = row.payload or {}
            # The plan's rows say what they are by their anchor; change notices and missed
            # summaries by their kind.
            kind = payload.get("kind") or (
                "digest" if payload.get("anchor") == "digest" else "reminder")
            late = row.due_at < self.started_at - LATE_TOLERANCE and row.attempts <= 1
            if late and ((kind == "reminder" and self._past(payload, now, catch_up))
                         or (kind == "digest" and self._digest_over(row, now))):
                missed[row.notifier].append(row)
                continue
            entry = self.settings.notifiers.get(row.notifier)
            grouped = kind == "reminder" and entry is not None and entry.group
            minute = row.due_at.strftime("%Y%m%d%H%M") if grouped else row.key
            groups[(row.notifier, minute, late, kind)].append(row)
        batches = []
        for (notifier, _, late, kind), members in groups.items():
            limit = self.settings.notifiers[notifier].group_max \
                if notifier in self.settings.notifiers else 1
            for i in range(0, len(members), limit):
                batches.append(_Batch(notifier, members[i:i + limit], late, kind))
        if missed:
            await self._record_missed(missed, now)
        return batches

    def _past(self, payload: dict[str, Any], now: datetime, catch_up: timedelta) -> bool:
        """The event this reminder is about has passed by more than `catch_up`."""
        text = payload.get("occurrence")
        if not text:
            return False
        if payload.get("all_day", len(text) == 10):
            day = date.fromisoformat(text[:10])
            # An all-day item lasts until the end of its (local) day.
            ends = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=self.tz)
        else:
            ends = datetime.fromisoformat(text)
        return ends + catch_up < now

    def _digest_over(self, row: Delivery, now: datetime) -> bool:
        """The period a digest speaks for has ended: the next one says what it would."""
        entry = self.settings.notifiers.get(row.notifier)
        if entry is None or entry.digest is None:
            return False  # sending it fails and says why
        return digest_slot(self.settings, entry, self._digest_day(row)).end <= now

    def _digest_day(self, row: Delivery) -> date:
        """The first day a digest row speaks for (its key's day, in the plan's payload)."""
        first_day = (row.payload or {}).get("occurrence")
        return date.fromisoformat(first_day) if first_day else \
            row.due_at.astimezone(self.tz).date()

    async def _record_missed(self, missed: dict[str, list[Delivery]], now: datetime) -> None:
        keys = [row.key for rows in missed.values() for row in rows]
        # They are claimed by now: mark them as their owner, or they stay `sending` until
        # the lease runs out and are claimed (and judged missed) over and over.
        await asyncio.to_thread(partial(self.store.mark_missed, keys, now, owner=self.owner))
        self.metrics.outcomes["missed"] += len(keys)
        summaries = []
        for notifier, rows in missed.items():
            digest = keys_digest(r.key for r in rows)
            summaries.append(PlannedDelivery(
                key=f"missed/{digest[:20]}/{notifier}", event_id="", notifier=notifier,
                due_at=now, payload={"kind": "missed", "keys": [r.key for r in rows]}))
        await asyncio.to_thread(self.store.add_planned, summaries)
        log.warning("%d reminder(s) fell due while stopped and are past: recorded as missed",
                    len(keys))

    # ── rendering ────────────────────────────────────────────────────────────────────
    def _line(self, row: Delivery, loaded: LoadedTimeline) -> ReminderLine | None:
        payload = row.payload or {}
        try:
            event = loaded.timeline.event(row.event_id)
        except KeyError:
            return None
        text = payload["occurrence"]
        occurrence: date | datetime = date.fromisoformat(text) if len(text) == 10 else \
            datetime.fromisoformat(text).astimezone(event.zone(loaded.timeline.timezone))
        # ^ back in its event's named zone, as the plan gave it: the message names the zone
        return ReminderLine(key=row.key, event=event, story=loaded.timeline.story(event.story),
                            anchor=payload.get("anchor", "due"), occurrence=occurrence,
                            lead=payload.get("lead", ""), due=row.due_at,
                            estimated=bool(payload.get("estimated")), tz=self.tz)

    def render(self, batch: _Batch) -> Message | None:
        snapshot = self.source.snapshot()
        loaded = snapshot.loaded
        lang = self.settings.lang_of(batch.notifier)
        feed_url = self.settings.feed_url
        base_url = self.settings.server.base_url
        # The day it goes out, which for a batch rendered ahead may be tomorrow.
        today = max(datetime.now(UTC), batch.send_at).astimezone(self.tz).date()
        first = batch.rows[0]
        payload = first.payload or {}
        key = message_key([r.key for r in batch.rows])
        if batch.kind == "digest":
            return self._digest(first, loaded, lang, batch.late)
        if batch.kind == "change":
            try:
                event = loaded.timeline.event(first.event_id)
            except KeyError:
                return None
            return change_message(first.key, event, loaded.timeline.story(event.story),
                                  payload.get("old", ""), payload.get("new", ""), lang=lang,
                                  feed_url=feed_url)
        if batch.kind == "missed":
            titles = []
            for missed_key in payload.get("keys", []):
                event_id = missed_key.split("/", 1)[0]
                try:
                    titles.append((missed_key,
                                   loaded.timeline.event(event_id).in_lang("title", lang)))
                except KeyError:
                    titles.append((missed_key, event_id))
            return missed_message(first.key, titles, lang=lang)
        lines = [line for row in batch.rows if (line := self._line(row, loaded)) is not None]
        if not lines:
            return None
        plugin = self.notifiers.get(batch.notifier)
        attach = plugin is not None and plugin.attaches_ics
        ics = self._ics(lines, loaded, snapshot.revisions, lang) if attach else None
        return reminder_message(key, lines, today=today, lang=lang, feed_url=feed_url,
                                base_url=base_url, late=batch.late, ics=ics)

    def _ics(self, lines: Sequence[ReminderLine], loaded: LoadedTimeline,
             revisions: Mapping[str, Revision], lang: Any) -> bytes:
        """The reminded events as a small calendar, for notifiers that attach files."""
        ids = list(dict.fromkeys(line.event.id for line in lines))
        return render_feed(loaded, revisions=revisions, lang=lang, event_ids=ids)

    def _digest(self, row: Delivery, loaded: LoadedTimeline, lang: Any,
                late: bool) -> Message:
        return planned_digest(row.key, loaded, self.settings, row.notifier,
                              self._digest_day(row), lang=lang, late=late)

    # ── sending and recording ────────────────────────────────────────────────────────
    async def _attempt(self, batch: _Batch) -> SendResult:
        """Render and send one batch; the outcome is recorded by the caller."""
        keys = [r.key for r in batch.rows]
        notifier = self.notifiers.get(batch.notifier)
        now = datetime.now(UTC)
        if notifier is None:
            return SendResult.fail(f"notifier {batch.notifier!r} is not configured any more")
        try:
            message = batch.message
            if message is None or batch.rendered_from is not self.source.snapshot():
                message = self.render(batch)  # not rendered ahead, or reloaded since
        except Exception as exc:  # a rendering bug must not stall the outbox
            log.exception("cannot render %s", keys)
            return SendResult.fail(f"render failed: {exc}")
        if message is None:
            if batch.kind in ("reminder", "change") and self.on_stale is not None:
                # Claimable rows of an event this process does not know: the file gained it
                # and another instance reloaded first (a removed event's rows are cancelled).
                self.on_stale()
                return SendResult.retry("event not in this process's timeline yet; reloading")
            return SendResult.fail("event no longer in the events file")
        await self.limiters[batch.notifier].acquire()
        try:
            result = await notifier.send(message)
        except Exception as exc:  # plugins should classify; a crash is treated as transient
            log.exception("notifier %s raised", batch.notifier)
            result = SendResult.retry(f"{type(exc).__name__}: {exc}")
        if result.delivered:
            for row in batch.rows:
                self.metrics.observe_delay((now - row.due_at).total_seconds())
        return result

    def backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        reminders = self.settings.reminders
        base = reminders.retry_base.total_seconds() * (2 ** max(attempts - 1, 0))
        most = reminders.retry_max.total_seconds()
        # Capped after the jitter too: retry_max is the longest wait (it was up to 1.5×).
        delay = min(min(base, most) * random.uniform(0.5, 1.5), most)
        if retry_after is not None:  # a plugin's own hint, bounded as the HTTP ones are
            delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
        return timedelta(seconds=delay)

    def _finish(self, batch: _Batch, result: SendResult) -> None:
        """Queue the batch's outcome for the next group commit. The batch stays in
        `in_flight` (leased, renewed, released on shutdown) until the outcome is stored."""
        now = datetime.now(UTC)
        rows = batch.rows
        if result.status == "delivered":
            # `late` is the store's record of what the message said (sent after downtime).
            outcomes = [Outcome(row.key, "sent", late=batch.late) for row in rows]
            self.metrics.outcomes["delivered"] += len(rows)
        else:
            attempts = max(r.attempts for r in rows)
            if result.status == "retryable" and attempts < self.settings.reminders.max_attempts:
                # One back-off for the whole batch: with a jitter each, a grouped message's
                # rows came due apart and went out one by one, each under a new webhook-id.
                when = now + self.backoff(attempts, result.retry_after)
                outcomes = [Outcome(row.key, "retrying", result.detail, next_attempt_at=when)
                            for row in rows]
                self.metrics.outcomes["retry"] += len(rows)
            else:
                detail = result.detail if result.status == "permanent" else \
                    f"gave up after {attempts} attempts: {result.detail}"
                outcomes = [Outcome(row.key, "dead", detail) for row in rows]
                self.metrics.outcomes["dead"] += len(rows)
                log.error("dead letter %s via %s: %s", ", ".join(r.key for r in rows),
                          batch.notifier, detail)

        def stored(failure: BaseException | None) -> None:
            if failure is not None and not self._lapsed(batch):
                # The claim is still ours: try again in a second. A store blip shorter than
                # the lease then repeats no send.
                self._record_failed(failure)
                asyncio.get_running_loop().call_later(RECORD_RETRY, record)
                return
            # Forget the batch only now: until its outcome is committed, the heartbeat keeps
            # its claim and a shutdown releases it.
            self.in_flight.pop(batch.number, None)
            if failure is not None:
                # Left `sending`: the lease runs out and it is sent again, same webhook-id.
                log.error("could not record the outcome of %s: %s",
                          ", ".join(r.key for r in batch.rows), failure)
                return
            self.metrics.last = {"notifier": batch.notifier, "status": result.status,
                                 "detail": result.detail, "at": now.isoformat(),
                                 "keys": len(batch.rows)}
            self.tally[batch.notifier, outcomes[0].state] += len(batch.rows)
            # A line per message only for failures: a burst of 10,000 sends wrote 10,000
            # lines (~10 us of CPU each, more than recording the outcome); each dispatch pass
            # now logs one summary.
            if result.delivered:
                log.debug("delivered %d via %s", len(batch.rows), batch.notifier)
            else:
                log.info("%s %d via %s: %s", result.status, len(batch.rows), batch.notifier,
                         result.detail)

        def record() -> None:
            writer = self.outcomes.submit(outcomes, stored)
            if writer not in self._tasks:  # run_due and drain wait for it, as for workers
                self._tasks.add(writer)
                writer.add_done_callback(self._tasks.discard)

        record()

    async def drain(self, timeout: float) -> None:
        """Stop taking work; let in-flight sends finish, release what does not in time."""
        self.stopping = True
        self.outcomes.flush()
        deadline = time.monotonic() + timeout
        # Again until none is left: a worker finishing its send starts an outcome write
        # that the first look did not see, and releasing its rows before that write lands
        # would make the write a no-op (the send repeated later).
        while tasks := [task for task in self._tasks if not task.done()]:
            _done, pending = await asyncio.wait(tasks,
                                                timeout=max(deadline - time.monotonic(), 0))
            if pending:
                for task in pending:
                    task.cancel()
                break
        unfinished = [row for rows in list(self.in_flight.values()) for row in rows]
        if unfinished:
            self.in_flight.clear()
            try:
                async with asyncio.timeout(RELEASE_GRACE):
                    await self._release(unfinished)
            except TimeoutError:  # a locked or stalled store; the next start takes them back
                log.warning("could not release %d unfinished send(s) on shutdown: the store "
                            "did not answer within %.0f s", len(unfinished), RELEASE_GRACE)
            else:
                log.warning("released %d unfinished send(s) on shutdown", len(unfinished))
