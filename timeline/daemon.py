"""`timeline run`: the long-running process.

Start-up: load and validate the events, sync them to the store, plan reminders into the
outbox, then let APScheduler wake the dispatcher PREPARE_AHEAD (2 s) before the earliest due
time, so that it sends on time what it claimed and rendered ahead. APScheduler is only the
timer: one `wake` job re-armed at the store's next due time (plus an hourly re-plan
and, with --watch, a file poll), so 100,000 future reminders cost rows, not jobs, and a
restart rebuilds everything from the store and the file.

Signals: SIGHUP reloads events.yaml (a file that fails validation is refused and the running
timeline kept); SIGTERM/SIGINT stop taking work, let in-flight sends finish or release them
within a few seconds, and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client.metrics_core import Metric

from notifiers.base import Notifier
from notifiers.registry import build as build_notifier
from timeline.config import Settings
from timeline.delivery import RELEASE_GRACE, Dispatcher
from timeline.delivery.leases import release_claims, take_over_orphans
from timeline.delivery.metrics import delivery_metrics
from timeline.errors import ValidationFailed
from timeline.heap import collector_paused
from timeline.loader import LoadedTimeline, load_timeline, part_files
from timeline.process import run_until_stopped
from timeline.reload import apply_timeline
from timeline.source import TimelineSource
from timeline.store import Store

if TYPE_CHECKING:
    import uvicorn

__all__ = ["Daemon", "build_notifiers", "run_daemon"]

T = TypeVar("T")
log = logging.getLogger("timeline.daemon")
SHUTDOWN_GRACE = 5.0  # seconds in-flight sends get on SIGTERM before they are released
RETRY_AFTER_ERROR = 5.0  # seconds the worker waits after a store error before trying again
# After a pass that found nothing to claim although the store said something was due (rows
# another instance holds locked while it plans, say), wait this long before looking again
# rather than re-arming into an immediate wake-up, over and over.
EMPTY_PASS_PAUSE = 0.2


def build_notifiers(settings: Settings, client: httpx.AsyncClient) -> dict[str, Notifier]:
    notifiers = {}
    for name, entry in settings.notifiers.items():
        notifiers[name] = build_notifier(name, {"type": entry.type, **entry.options}, client)
    return notifiers


class Daemon:
    def __init__(self, settings: Settings, *, watch: bool = False, serve: bool | None = None
                 ) -> None:
        self.settings = settings
        self.watch = watch
        self.serve = settings.server.enabled if serve is None else serve
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopped = asyncio.Event()
        self.wake = asyncio.Event()
        self.events_mtime: tuple[tuple[str, int, int], ...] | None = None
        self._started = False  # the first load is applied: reloads may run
        self._reload_requested = False
        self._background: set[asyncio.Future[bool]] = set()
        self._stale_reload: asyncio.Future[bool] | None = None
        self._arms = 0  # looks at the store's next due time begun, for `arm`

    # ── start-up ────────────────────────────────────────────────────────────────────
    async def run(self) -> int:
        # Handlers first: the default action of SIGHUP (and SIGTERM) kills the process, so a
        # `systemctl reload` right after a start must not find them missing.
        with self._signals(asyncio.get_running_loop()):
            return await self._run()

    async def _interruptible(self, func: Callable[..., T], *args: Any) -> T:
        """Run a long step (loading, planning) in a thread of its own, so that a stop signal
        meanwhile is answered at once (StopRequested): the process may then end without
        waiting for the thread, which is a daemon thread; a store transaction it has open
        is rolled back by the database, as after a crash."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: T) -> None:
            if not future.done():
                future.set_result(result)

        def fail(error: BaseException) -> None:
            if not future.done():
                future.set_exception(error)

        def work() -> None:
            try:
                result = func(*args)
            except BaseException as exc:  # handed to the waiting coroutine
                loop.call_soon_threadsafe(fail, exc)
            else:
                loop.call_soon_threadsafe(settle, result)

        threading.Thread(target=work, name="timeline-load", daemon=True).start()
        stop = asyncio.ensure_future(self.stopped.wait())
        try:
            waiting: set[asyncio.Future[Any]] = {future, stop}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if future in done:
            return future.result()
        raise StopRequested

    async def _run(self) -> int:
        settings = self.settings
        log.info("loading %s", settings.events)  # a big file takes seconds: say what goes on
        try:
            # refuse to start on a bad file
            loaded = await self._interruptible(_load_paused, settings.events)
        except StopRequested:
            log.info("stopped while loading %s", settings.events)
            return 0
        self.store = await asyncio.to_thread(Store.open, settings.store)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=10.0),
                                        limits=httpx.Limits(max_connections=32))
        try:
            self.notifiers = build_notifiers(settings, self.client)
            self.source = TimelineSource(loaded)
            self.dispatcher = Dispatcher(settings, self.store, self.notifiers, self.source,
                                         self.owner)
            self.dispatcher.stopping = self.stopped.is_set()
            self.dispatcher.on_stale = self._catch_up_with_the_file
            await take_over_orphans(self.store, self.owner)
            try:
                await self._apply(loaded, first_start=True)
            except StopRequested:
                log.info("stopped while planning; the store keeps what it had")
                return 0
            self.events_mtime = _mtime(settings.events)
            self._started = True
            if self._reload_requested:  # SIGHUP while starting: the file may have changed
                self.request_reload()
            try:
                return await self._main_loop()
            finally:
                gc.unfreeze()  # for whoever runs next in this process (the tests)
        finally:
            await self.client.aclose()
            await asyncio.to_thread(self.store.close)

    async def _apply(self, loaded: LoadedTimeline, first_start: bool = False,
                     changed_only: bool = False) -> None:
        previous = self.source.loaded if changed_only else None
        async with self.dispatcher.replanning():
            summary = await self._interruptible(partial(
                _paused, apply_timeline, self.store, self.settings, loaded, datetime.now(UTC),
                configured=first_start, previous=previous))
            revisions = await asyncio.to_thread(self.store.revisions)
            changed_at = await asyncio.to_thread(self.store.last_change)
            self.source.update(loaded, revisions, changed_at)
        _settle_heap()
        log.info("%s %s: %d events, %d new reminder(s) planned, %d change notice(s), "
                 "%d cancelled", "loaded" if first_start else "reloaded", loaded.source,
                 len(loaded.timeline.events), summary.planned, summary.notices,
                 summary.cancelled)
        await self.arm()

    async def _main_loop(self) -> int:
        loop = asyncio.get_running_loop()
        self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        self.scheduler.add_job(self.replan, IntervalTrigger(hours=1), id="replan",
                               coalesce=True, max_instances=1)
        # The wake-up follows the store, which others change too: `timeline retry`, another
        # instance's reload. A cheap look every 30 s picks that up without a signal.
        self.scheduler.add_job(self._rearm, IntervalTrigger(seconds=30), id="rearm",
                               coalesce=True, max_instances=1)
        if self.watch:
            self.scheduler.add_job(self.poll_file, IntervalTrigger(seconds=1), id="watch",
                                   coalesce=True, max_instances=1)
        self.scheduler.start()
        server_task = asyncio.ensure_future(self._serve_http()) if self.serve else None
        worker = asyncio.ensure_future(self._worker())
        await self.arm()
        await self.stopped.wait()
        log.info("stopping: finishing in-flight sends (up to %.0f s)", SHUTDOWN_GRACE)
        stop_by = loop.time() + SHUTDOWN_GRACE
        await self.dispatcher.drain(SHUTDOWN_GRACE)
        # The worker ends at its next look at `stopping`. Wait for it rather than cancel it
        # at once: it may be inside a claim (a thread, which would still commit), and the
        # rows it gets it gives back itself. Within the same grace (a claim takes
        # milliseconds), so that a store that does not answer cannot double the wait.
        try:
            await asyncio.wait_for(asyncio.shield(worker), max(stop_by - loop.time(), 1.0))
        except TimeoutError:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        # Anything still claimed by this run goes back now, not when its lease runs out.
        try:
            async with asyncio.timeout(RELEASE_GRACE):
                released = await release_claims(self.store,
                                                lambda owner: owner == self.owner)
        except TimeoutError:  # a locked or stalled store: the next start takes them back
            log.warning("the store did not answer within %.0f s; this run's claims are "
                        "left to the next start or their lease", RELEASE_GRACE)
        except Exception:  # the store is down: the leases run out instead; still exit 0
            log.exception("could not release this run's claims; their leases will run out")
        else:
            if released:
                log.warning("released %d claimed delivery(ies) on shutdown", released)
        if server_task is not None:
            self.http_server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(server_task, 5)
        self.scheduler.shutdown(wait=False)
        log.info("stopped")
        return 0

    @contextlib.contextmanager
    def _signals(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        handled = []
        for sig, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop),
                             (signal.SIGHUP, self.request_reload)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                handled.append(sig)
        try:
            yield
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    # ── the timer ───────────────────────────────────────────────────────────────────
    async def arm(self) -> None:
        """(Re)schedule the single wake-up, PREPARE_AHEAD before the store's earliest due
        time (or when a lease runs out)."""
        if not hasattr(self, "scheduler") or self.stopped.is_set():
            return
        # The store asked in a thread (a locked store must not hold the loop, which then
        # answers no signal); of two looks under way, the one begun last sets the timer.
        self._arms += 1
        mine = self._arms
        due = await asyncio.to_thread(self.store.next_due, ahead=self.dispatcher.prepare_ahead)
        if mine != self._arms or self.stopped.is_set():
            return
        if due is None:
            with contextlib.suppress(Exception):
                self.scheduler.remove_job("wake")
            return
        if due <= datetime.now(UTC):
            self._wake_up()
            return
        self.scheduler.add_job(self._ring, DateTrigger(run_date=due), id="wake",
                               replace_existing=True, misfire_grace_time=None)

    async def _ring(self) -> None:
        # A coroutine, so APScheduler runs it in the loop: it would run a plain function in
        # a worker thread, and asyncio.Event is not thread-safe.
        self._wake_up()

    def _wake_up(self) -> None:
        self.wake.set()  # the next pass
        self.dispatcher.poke()  # or the pass under way, if it waits to send what it prepared

    async def _rearm(self) -> None:
        await self.arm()

    async def _worker(self) -> None:
        trouble: str | None = None  # what went wrong last, said once until it changes
        while not self.stopped.is_set():
            await self.wake.wait()
            self.wake.clear()
            try:
                worked = await self.dispatcher.run_due()
                if trouble is not None:
                    log.info("store usable again: dispatching resumes")
                    trouble = None
                if not worked and not self.stopped.is_set():
                    await asyncio.sleep(EMPTY_PASS_PAUSE)
                # Inside the try: re-arming asks the store too, and an error escaping here
                # ended the worker for good while the process ran on, sending nothing.
                await self.arm()
            except Exception as exc:  # the store may blip; never let the worker die silently
                state = store_trouble(exc)
                if state != trouble:
                    # One line per change of state (a full disk would otherwise log a
                    # traceback every few seconds); the traceback at DEBUG.
                    log.error("%s; retrying every %.0f s", state, RETRY_AFTER_ERROR)
                    log.debug("the error in full", exc_info=True)
                    trouble = state
                await asyncio.sleep(RETRY_AFTER_ERROR)
                self.wake.set()

    async def replan(self) -> None:
        """Hourly: extend the planning horizon. It re-reads the file rather than re-applying
        what this process loaded, so that with two instances one that missed a reload does
        not put the other's change back."""
        await self.reload(full=True)

    # ── reloads ─────────────────────────────────────────────────────────────────────
    def _catch_up_with_the_file(self) -> None:
        """The store holds an event this process has not loaded: reload once (not once per
        delivery that finds out)."""
        if self._stale_reload is None or self._stale_reload.done():
            log.info("the store names events this process has not loaded: reloading %s",
                     self.settings.events)
            self._stale_reload = asyncio.ensure_future(self.reload())

    def request_reload(self) -> None:
        if not self._started:
            self._reload_requested = True  # still starting: reload once started
            return
        task = asyncio.ensure_future(self.reload())
        self._background.add(task)  # keep a reference until it is done
        task.add_done_callback(self._background.discard)

    async def reload(self, *, full: bool = False) -> bool:
        """Load the events again and apply them; `full`: plan every event again (the
        hourly re-plan, which moves the horizon), else only those that changed."""
        try:
            loaded = await self._interruptible(load_timeline, self.settings.events)
        except ValidationFailed as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            log.error("keeping the running timeline (%d events)",
                      len(self.source.loaded.timeline.events))
            return False
        try:
            await self._apply(loaded, changed_only=not full)
        except Exception as exc:  # the store's transaction rolled back: nothing changed
            log.error("reload refused: %s: %s", type(exc).__name__, str(exc)[:300])
            log.error("keeping the running timeline (%d events)",
                      len(self.source.loaded.timeline.events))
            return False
        return True

    async def poll_file(self) -> None:
        mtime = _mtime(self.settings.events)
        if mtime is not None and mtime != self.events_mtime:
            self.events_mtime = mtime
            log.info("%s changed on disk: reloading", self.settings.events)
            await self.reload()

    def stop(self) -> None:
        self.stopped.set()
        if hasattr(self, "dispatcher"):  # a signal during start-up comes before it exists
            self.dispatcher.stopping = True
        self.wake.set()

    # ── HTTP ────────────────────────────────────────────────────────────────────────
    async def _serve_http(self) -> None:
        import uvicorn

        from timeline.web.app import create_app

        # The store keeps the feed's blocks: a restart serves what it rendered before.
        app = create_app(self.source, base_url=self.settings.server.base_url,
                         health=self.health, metrics=self.metrics, lang=self.settings.lang,
                         allowed_hosts=self.settings.server.hosts(), feed_store=self.store,
                         warm=True)
        # http="auto": httptools (uvicorn[standard]); the loop is the daemon's own, uvloop's
        # where installed (timeline.process.new_loop).
        config = uvicorn.Config(app, host=self.settings.server.host,
                                port=self.settings.server.port, log_level="warning",
                                lifespan="off", http="auto")
        self.http_server = _EmbeddedServer(config)
        try:
            await self.http_server.serve()
        except SystemExit:  # uvicorn exits when it cannot bind; keep reminding anyway
            log.error("HTTP server could not start on %s:%s; reminders continue",
                      self.settings.server.host, self.settings.server.port)

    async def health(self) -> dict[str, object]:
        # In threads: a locked or stalled store must not hold the loop (and every request).
        store_ok = await asyncio.to_thread(self.store.ping)
        next_due = await asyncio.to_thread(self.store.next_due) if store_ok else None
        running = bool(getattr(self, "scheduler", None) and self.scheduler.running)
        return {"ok": store_ok and running, "store": "ok" if store_ok else "unreachable",
                "scheduler": "running" if running else "stopped",
                "next_due": next_due.isoformat() if next_due else None,
                "last_delivery": self.dispatcher.metrics.last}

    async def metrics(self) -> list[Metric]:
        """The daemon's part of /metrics: the store's deliveries by state, this run's send
        outcomes and its recent delays from due time to send."""
        return delivery_metrics(await asyncio.to_thread(self.store.counts),
                                self.dispatcher.metrics)


class _EmbeddedServer:
    """uvicorn inside our loop: it must not install its own signal handlers."""

    def __init__(self, config: uvicorn.Config) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = Server(config)

    @property
    def should_exit(self) -> bool:
        return self._server.should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._server.should_exit = value

    async def serve(self) -> None:
        await self._server.serve()


def store_trouble(exc: BaseException) -> str:
    """What a dispatch failure says, in one line: the disk's state when that is the cause."""
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"store read-only: {text}"
    if "disk is full" in lowered or "no space" in lowered:
        return f"disk full: {text}"
    return f"dispatch failed: {type(exc).__name__}: {text}"


class StopRequested(Exception):
    """A stop signal came while a long step was under way."""


def _paused(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`func` with the collector paused: a load or a plan allocates a great deal that lives
    on, and collections during it only walk what is still being built."""
    with collector_paused():
        return func(*args, **kwargs)


def _load_paused(path: Path) -> LoadedTimeline:
    return _paused(load_timeline, path)


def _mtime(path: Path) -> tuple[tuple[str, int, int], ...] | None:
    """What `--watch` compares: the file's, or every part's of a folder, name, time and
    size (a part added, removed or edited changes it)."""
    try:
        files = part_files(path) if path.is_dir() else [path]
        return tuple((f.name, (st := f.stat()).st_mtime_ns, st.st_size) for f in files)
    except OSError:
        return None


def _settle_heap() -> None:
    """Once a timeline is loaded and applied: collect, then freeze what is left.

    The loaded timeline, the app and the libraries are alive until the next reload; frozen,
    the collector's older-generation passes stop walking them again and again during a burst
    of sends (measured: 5 points of throughput against the bare httpx loop). Unfrozen
    first, so that the timeline a reload replaced is collected, not kept. The collection
    holds the loop for ~0.25 s with 100,000 planned reminders, once per load: at start, on
    a reload and at the hourly re-plan; a collection that would otherwise come anyway."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def run_daemon(settings: Settings, *, watch: bool = False, serve: bool | None = None) -> int:
    return run_until_stopped(Daemon(settings, watch=watch, serve=serve).run())
