"""The daemon's event loop as a process: one whose stop never waits on a stuck thread.

`asyncio.run` ends by joining the default executor's threads, and the interpreter joins
them again at exit, both without a time limit. A store call in such a thread can block for
long (SQLite waits 30 s for another process's write lock; a PostgreSQL server that stops
answering holds a read until TCP gives up), and SIGTERM then did not end the process at
all. Here the loop's threads get EXIT_GRACE seconds once the daemon has stopped; a thread
still busy after that is left behind with a warning and the process ends without it, as it
would after a crash: a transaction it has open is rolled back by the database, and the
deliveries it held are taken back by the next start (or by their lease, elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["EXIT_GRACE", "new_loop", "run_until_stopped"]

log = logging.getLogger("timeline.daemon")
EXIT_GRACE = 2.0  # seconds the loop's threads get to finish once the daemon has stopped
_PREFIX = "timeline-io"


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (uvicorn[standard] brings it), asyncio's
    otherwise: the embedded HTTP server answers a feed's 304 several times faster on it,
    as `timeline serve` does through uvicorn's loop="auto"."""
    try:
        import uvloop
    except ImportError:  # a platform without a uvloop wheel (Windows)
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_until_stopped(main: Coroutine[Any, Any, int]) -> int:
    """Run `main` in a new event loop and return its exit code; exits the process at once
    (`os._exit`) when a worker thread is still busy EXIT_GRACE seconds after `main` ended."""
    loop = new_loop()
    executor = ThreadPoolExecutor(thread_name_prefix=_PREFIX)
    loop.set_default_executor(executor)
    try:
        asyncio.set_event_loop(loop)
        code = loop.run_until_complete(main)
    finally:
        try:
            _cancel_the_rest(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            # Idle workers end at once; queued calls are dropped (nobody awaits them now).
            executor.shutdown(wait=False, cancel_futures=True)
    busy = _join(_PREFIX, EXIT_GRACE)
    if busy:
        log.warning("exiting without %d worker thread(s) still busy after %.0f s (a store "
                    "call or a send that does not return); the database rolls back what "
                    "they had open, and the next start takes back what they held", busy,
                    EXIT_GRACE)
        logging.shutdown()  # flush the log: os._exit skips every handler
        os._exit(code)
    return code


def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    """What `asyncio.run` does to tasks left running: cancel them and let them unwind."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _join(prefix: str, seconds: float) -> int:
    """Wait up to `seconds` in all for the threads named `prefix…`; how many still run."""
    end = time.monotonic() + seconds
    left = 0
    for thread in threading.enumerate():
        if thread.name.startswith(prefix) and thread is not threading.current_thread():
            thread.join(max(0.0, end - time.monotonic()))
            left += thread.is_alive()
    return left
