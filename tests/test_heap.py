"""The daemon freezes its heap after each load (so the collector stops re-walking the loaded
timeline during a burst of sends) and frees what a reload replaced."""

from __future__ import annotations

import asyncio
import gc
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.daemon_helpers import deadline, write_config, write_events
from timeline.config import load_settings
from timeline.daemon import Daemon, _settle_heap


class Node:
    """A cycle: only the collector frees it, never reference counting."""

    def __init__(self) -> None:
        self.me = self


def test_settling_frees_what_the_next_load_replaced() -> None:
    node = Node()
    ref = weakref.ref(node)
    try:
        _settle_heap()
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert ref() is not None  # frozen: collections leave it alone
        _settle_heap()  # the next load unfreezes before it collects
        assert ref() is None
    finally:
        gc.unfreeze()


async def test_a_running_daemon_has_its_heap_frozen_and_unfreezes_on_exit(
        tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", "http://127.0.0.1:9/hook")
    write_events(tmp_path / "events.yaml",
                 [deadline("later", datetime.now(UTC) + timedelta(days=30))])
    daemon = Daemon(load_settings(config), serve=False)
    running = asyncio.ensure_future(daemon.run())
    try:
        for _ in range(200):
            if daemon._started:
                break
            await asyncio.sleep(0.05)
        assert daemon._started
        assert gc.get_freeze_count() > 0
    finally:
        daemon.stop()
        assert await asyncio.wait_for(running, 10) == 0
    assert gc.get_freeze_count() == 0
