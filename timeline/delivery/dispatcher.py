"""The loop that sends what is due: claim, triage, prepare ahead or queue, send through the
workers, record. The parts it ties together are its neighbours in this package: batching
(which rows go together), render (the message), prepared (what waits for its time), leases
(claims and their renewal) and outcomes (the record, the back-off); rate limits are
`notifiers.pacing`.

The store is the record; nothing here is state a crash could lose. A delivery is claimed
(leased) before it is sent, so two daemons on one database never send the same key, and
every message carries its key so a receiver can drop the one repeat a crash mid-send can
cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from notifiers.base import Message, Notifier, SendResult
from notifiers.pacing import RateLimiter
from timeline.config import Settings
from timeline.delivery import batching
from timeline.delivery.batching import Batch
from timeline.delivery.kinds import MissedPayload, missed_key
from timeline.delivery.leases import LEASE, Leases
from timeline.delivery.metrics import Metrics
from timeline.delivery.outbox import Outbox
from timeline.delivery.outcomes import GROUP_COMMIT_WINDOW, OutcomeWriter, outcomes_for
from timeline.delivery.prepared import (
    FREEZE_PREPARED,
    PREPARE_AHEAD,
    PREPARE_MAX,
    Prepared,
    freeze_young,
)
from timeline.delivery.render import Renderer
from timeline.source import TimelineSource
from timeline.store import Delivery, PlannedDelivery

__all__ = ["RELEASE_GRACE", "Dispatcher"]

log = logging.getLogger("timeline.delivery")
# Seconds before an outcome the store refused is offered again (while the claim holds).
RECORD_RETRY = 1.0
RECORD_WARN_EVERY = 5.0
# On shutdown, how long giving claimed rows back may wait for the store: a locked or
# stalled store must not keep a stopping process alive (the next start takes them back).
RELEASE_GRACE = 2.0
# The name each outcome has in /metrics (timeline_send_outcomes_total) and /healthz.
_COUNTED_AS = {"sent": "delivered", "retrying": "retry", "dead": "dead"}


class Dispatcher:
    """Sends what is due from `store` through `notifiers`, rendering from `source`.

    `lease`, `prepare_ahead` and `group_commit_window` default to what the daemon uses
    (30 s, 2 s, 150 ms); tests shorten them."""

    def __init__(self, settings: Settings, store: Outbox, notifiers: Mapping[str, Notifier],
                 source: TimelineSource, owner: str, started_at: datetime | None = None, *,
                 lease: timedelta = LEASE, prepare_ahead: timedelta = PREPARE_AHEAD,
                 group_commit_window: float = GROUP_COMMIT_WINDOW) -> None:
        self.settings = settings
        self.store = store
        self.notifiers = notifiers
        self.source = source
        self.owner = owner
        self.started_at = started_at or datetime.now(UTC)
        self.tz = ZoneInfo(settings.timezone)
        self.metrics = Metrics()
        self.limiters = {name: RateLimiter.per_minute(n.rate_per_minute)
                         for name, n in notifiers.items()}
        self.renderer = Renderer(settings, notifiers, source)
        self.leases = Leases(store, owner, lease)
        self.outcomes = OutcomeWriter(store, owner, group_commit_window)
        self._prepare_ahead = prepare_ahead
        self._tasks: set[asyncio.Task[None]] = set()  # workers and outcome writes under way
        self._stopping = False
        # Outcomes of the current dispatch pass by (notifier, sent/retrying/dead): one log
        # line a pass.
        self.tally: Counter[tuple[str, str]] = Counter()
        # "Look again", for the claim loop of a pass under way: something may have fallen
        # due (see poke), the workers want more, a prepared batch was queued, or a stop.
        self._wake = asyncio.Event()
        self.prepared = Prepared(store, self.leases, self._wake.set, self._track)
        self._replanning = 0  # re-plans under way: claim nothing ahead meanwhile
        self._claim_lock = asyncio.Lock()
        self.lapsed = 0  # deliveries not sent because their claim may have run out
        self._record_warned = -RECORD_WARN_EVERY
        self._record_failures = 0
        # Called when a claimed delivery names an event this process has not loaded: the
        # file changed and another instance reloaded first. The daemon reloads.
        self.on_stale: Callable[[], None] | None = None

    @property
    def in_flight(self) -> dict[int, list[Delivery]]:
        """Claimed and not yet recorded, by batch number: what the heartbeat keeps leased."""
        return self.leases.in_flight

    @property
    def stopping(self) -> bool:
        return self._stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self._stopping = value
        if value:
            self._wake.set()

    def _track(self, task: asyncio.Task[None]) -> None:
        """Work under way that run_due and drain wait for."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def replanning(self) -> AsyncIterator[None]:
        """Around a re-plan (a reload): what waits prepared for its time goes back to the
        store first, and nothing is claimed ahead until the re-plan is done, so a prepared
        reminder of a moved deadline does not go out at the old time, nor one of a removed
        event at all. (What another process prepared, the re-plan moves in the store, and
        that process's last look drops it: see prepared.py.)"""
        self._replanning += 1
        try:
            # A claim under way may be taking rows ahead right now: let it finish and
            # register them, so that they are given back too.
            async with self._claim_lock:
                batches = self.prepared.take_back()
            if batches:
                await self.leases.release([row for batch in batches for row in batch.rows])
            yield
        finally:
            self._replanning -= 1
            self.poke()

    @property
    def prepare_ahead(self) -> timedelta:
        """How far ahead of a due time to wake this dispatcher: not at all while a re-plan
        runs (it claims nothing ahead then, so an early wake-up would find nothing, re-arm
        and wake again at once, over and over until the re-plan ends)."""
        return timedelta(0) if self._replanning else self._prepare_ahead

    def poke(self) -> None:
        """Something may be due now (a reload's change notice, the timer): a pass under way
        looks again instead of only when it ends."""
        self._wake.set()

    def render(self, batch: Batch) -> Message | None:
        return self.renderer.render(batch)

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
        queue: asyncio.Queue[Batch | None] = asyncio.Queue()
        low_water = max(4 * concurrency, 16)  # batches waiting before we claim more
        given_back: list[Delivery] = []  # not started before a stop: released at the end
        wake = self._wake
        prepared = self.prepared
        leases = self.leases

        async def worker() -> None:
            while (batch := await queue.get()) is not None:
                if queue.qsize() <= low_water:
                    wake.set()
                if self.stopping:
                    # Not started, so not sent after SIGTERM: give it back (all together
                    # at the end: a burst prepared ahead may be thousands of batches).
                    leases.drop(batch)
                    given_back.extend(batch.rows)
                    continue
                if leases.lapsed(batch):
                    # Not sent, not recorded: once the lease is over it is claimed again,
                    # here or elsewhere, and sent once.
                    leases.drop(batch)
                    self.lapsed += len(batch.rows)
                    continue
                result = await self._attempt(batch)
                self._finish(batch, result)

        workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        for task in workers:  # drain waits for them, also if this pass ends in an error
            self._track(task)
        heartbeat = asyncio.ensure_future(leases.heartbeat())
        frozen = False
        try:
            while not self.stopping:
                if queue.qsize() > low_water or prepared.waiting >= PREPARE_MAX:
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
                                leases.seconds, horizon=now + self.prepare_ahead))
                    taken = bool(rows) and not self.stopping
                    if taken and prepared.waiting:
                        # Claimed again while an older batch waits with it: moved by a
                        # re-plan elsewhere. Only the new claim is sent.
                        others = prepared.superseded({row.key for row in rows})
                        if others:
                            await leases.release(others)
                    if taken:
                        handled += len(rows)
                        for batch in await self.triage(rows, now):
                            batch.claimed = claimed
                            leases.hold(batch)
                            if batch.send_at > now:
                                self._prepare(batch)
                                prepared.hold(batch, queue.put_nowait)
                            else:
                                queue.put_nowait(batch)
                if not rows:
                    if not prepared.waiting:
                        break
                    if prepared.waiting >= FREEZE_PREPARED and not frozen:
                        freeze_young()
                        frozen = True
                    # Batches wait prepared for their time: until they are all queued,
                    # claim again whenever something may have fallen due meanwhile.
                    await wake.wait()
                    continue
                if self.stopping:
                    if not taken:  # SIGTERM came while claiming: give them back, send nothing
                        await leases.release(rows)
                    break  # what was taken is given back below and by the workers
            if self.stopping:
                given_back.extend(row for batch in prepared.take_back() for row in batch.rows)
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers, return_exceptions=True)
            self.outcomes.flush()  # every send is done: record them without waiting
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if given_back:
                await leases.release(given_back)
        finally:
            heartbeat.cancel()
            if any(not task.done() for task in workers):
                # Ended by an error (or cancelled): give back what waits prepared, and let
                # the workers finish what is queued, due already, and end.
                leftover = [row for batch in prepared.take_back() for row in batch.rows]
                for _ in workers:
                    queue.put_nowait(None)
                if leftover:
                    try:
                        await leases.release(leftover)
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

    def _record_failed(self, failure: BaseException) -> None:
        """One warning every few seconds while the store refuses outcomes, not one a send."""
        now = time.monotonic()
        self._record_failures += 1
        if now - self._record_warned >= RECORD_WARN_EVERY:
            log.warning("could not record %d outcome(s), trying again while the claims "
                        "hold: %s", self._record_failures, failure)
            self._record_warned, self._record_failures = now, 0

    def _prepare(self, batch: Batch) -> None:
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

    async def triage(self, rows: list[Delivery], now: datetime) -> list[Batch]:
        """Split claimed rows into send batches (batching.triage); record as missed what is
        no longer useful, with a summary to send instead."""
        result = batching.triage(rows, self.settings, started_at=self.started_at, now=now,
                                 tz=self.tz)
        if result.missed:
            await self._record_missed(result.missed, now)
        return result.batches

    async def _record_missed(self, missed: dict[str, list[Delivery]], now: datetime) -> None:
        keys = [row.key for rows in missed.values() for row in rows]
        # They are claimed by now: mark them as their owner, or they stay `sending` until
        # the lease runs out and are claimed (and judged missed) over and over.
        await asyncio.to_thread(partial(self.store.mark_missed, keys, now, owner=self.owner))
        self.metrics.outcomes["missed"] += len(keys)
        summaries = []
        for notifier, rows in missed.items():
            summary = MissedPayload(tuple(r.key for r in rows))
            summaries.append(PlannedDelivery(
                key=missed_key(summary.keys, notifier), event_id="", notifier=notifier,
                due_at=now, payload=summary.to_json(), kind=summary.kind))
        await asyncio.to_thread(self.store.add_planned, summaries)
        log.warning("%d reminder(s) fell due while stopped and are past: recorded as missed",
                    len(keys))

    # ── sending and recording ────────────────────────────────────────────────────────
    async def _attempt(self, batch: Batch) -> SendResult:
        """Render and send one batch; the outcome is recorded by the caller."""
        keys = [r.key for r in batch.rows]
        notifier = self.notifiers.get(batch.notifier)
        now = datetime.now(UTC)
        if notifier is None:
            return SendResult.fail(f"notifier {batch.notifier!r} is not configured any more")
        if batch.kind == "unreadable":
            row = batch.rows[0]
            return SendResult.fail(f"its payload cannot be read as a {row.kind!r} delivery "
                                   "(edited by hand, or written by another release)")
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

    def _finish(self, batch: Batch, result: SendResult) -> None:
        """Queue the batch's outcome for the next group commit. The batch stays held
        (leased, renewed, released on shutdown) until the outcome is stored."""
        now = datetime.now(UTC)
        outcomes = outcomes_for(batch.rows, result, self.settings.reminders, late=batch.late,
                                now=now)
        state = outcomes[0].state
        self.metrics.outcomes[_COUNTED_AS[state]] += len(batch.rows)
        if state == "dead":
            log.error("dead letter %s via %s: %s", ", ".join(r.key for r in batch.rows),
                      batch.notifier, outcomes[0].error)

        def stored(failure: BaseException | None) -> None:
            if failure is not None and not self.leases.lapsed(batch):
                # The claim is still ours: try again in a second. A store blip shorter than
                # the lease then repeats no send.
                self._record_failed(failure)
                asyncio.get_running_loop().call_later(RECORD_RETRY, record)
                return
            # Forget the batch only now: until its outcome is committed, the heartbeat keeps
            # its claim and a shutdown releases it.
            self.leases.drop(batch)
            if failure is not None:
                # Left `sending`: the lease runs out and it is sent again, same webhook-id.
                log.error("could not record the outcome of %s: %s",
                          ", ".join(r.key for r in batch.rows), failure)
                return
            self.metrics.last = {"notifier": batch.notifier, "status": result.status,
                                 "detail": result.detail, "at": now.isoformat(),
                                 "keys": len(batch.rows)}
            self.tally[batch.notifier, state] += len(batch.rows)
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
                self._track(writer)

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
        unfinished = self.leases.unfinished()
        if unfinished:
            try:
                async with asyncio.timeout(RELEASE_GRACE):
                    await self.leases.release(unfinished)
            except TimeoutError:  # a locked or stalled store; the next start takes them back
                log.warning("could not release %d unfinished send(s) on shutdown: the store "
                            "did not answer within %.0f s", len(unfinished), RELEASE_GRACE)
            else:
                log.warning("released %d unfinished send(s) on shutdown", len(unfinished))
