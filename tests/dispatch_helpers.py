"""A dispatcher on a fresh in-memory store, built as the daemon builds one, for the tests
that drive `Dispatcher.run_due` in process against the local receiver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from timeline.config import Settings, parse_settings
from timeline.daemon import build_notifiers
from timeline.delivery import Dispatcher
from timeline.loader import LoadedTimeline
from timeline.source import TimelineSource
from timeline.store import Store


def webhook_settings(url: str, *, hook: str = "", top: str = "") -> Settings:
    """One webhook notifier, `hook`, posting to `url`, with everything routed to it. `hook`
    adds keys to its entry (`group: false`), `top` adds sections (`reminders: {...}`)."""
    return parse_settings(f"""{top}
notifiers:
  hook: {{type: webhook, url: "{url}"{", " + hook if hook else ""}}}
routes:
  - {{notify: [hook]}}
""", "test-config.yaml")


def in_memory_dispatcher(settings: Settings, client: httpx.AsyncClient,
                         loaded: LoadedTimeline, started_at: datetime | None = None,
                         **timings: Any) -> tuple[Dispatcher, Store]:
    """The dispatcher (claim owner "test") and its store; the caller closes the store.
    `timings`: Dispatcher's lease, prepare_ahead, group_commit_window."""
    store = Store.open("sqlite://")
    dispatcher = Dispatcher(settings, store, build_notifiers(settings, client),
                            TimelineSource(loaded), "test", started_at=started_at, **timings)
    return dispatcher, store
