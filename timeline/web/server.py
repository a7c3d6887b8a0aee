"""Running the app under uvicorn: standalone (`run_server`) or inside the daemon's loop.

Standalone:  `run_server("events.yaml", "127.0.0.1", 8000, "zh")` (what `timeline serve` calls)
Embedded:    `server = make_server(source, host, port)`, then `await server.serve()` in the
             daemon's event loop and `server.should_exit = True` to stop it; the daemon calls
             `source.update(loaded, revisions)` after each reload.
Plain uvicorn works too, with an app factory of your own that returns `create_app(source)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client.metrics_core import Metric

from timeline.formatting import Lang
from timeline.loader import load_timeline
from timeline.source import TimelineSource
from timeline.web.app import create_app

__all__ = ["make_server", "run_server", "serve"]


def make_server(source: TimelineSource, host: str = "127.0.0.1", port: int = 8000, *,
                base_url: str | None = None, today: Callable[[], date] | None = None,
                health: Callable[[], dict[str, Any]] | None = None,
                metrics: Callable[[], Iterable[Metric]] | None = None, lang: Lang = "zh",
                log_level: str = "info", access_log: bool = True,
                allowed_hosts: list[str] | None = None) -> uvicorn.Server:
    """A configured uvicorn server (not started)."""
    app = create_app(source, base_url=base_url, today=today, health=health, metrics=metrics,
                     lang=lang, allowed_hosts=allowed_hosts)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log,
        lifespan="off",  # the app has no startup work; the daemon owns the lifecycle
        server_header=False,
        # "auto" picks uvloop and httptools (uvicorn[standard], a dependency) and falls
        # back to asyncio and h11 where they cannot be installed; said here so that a
        # change of uvicorn's defaults cannot quietly slow the feed down.
        loop="auto", http="auto",
        # uvicorn trusts X-Forwarded-Proto/For from 127.0.0.1 only (a local reverse proxy),
        # so links on the page say https:// behind nginx without trusting the world.
        proxy_headers=True,
    )
    return uvicorn.Server(config)


def serve(source: TimelineSource, host: str = "127.0.0.1", port: int = 8000,
          **options: Any) -> None:
    """Serve `source` until interrupted (Ctrl-C / SIGTERM); blocks."""
    make_server(source, host, port, **options).run()


def run_server(events_path: str | Path, host: str = "127.0.0.1", port: int = 8000,
               lang: Lang = "zh", *, base_url: str | None = None,
               log_level: str = "info", allowed_hosts: list[str] | None = None) -> None:
    """Load an events file and serve it; raises ValidationFailed (for the CLI to show)
    before binding the port when the file has problems."""
    source = TimelineSource(load_timeline(events_path))
    serve(source, host, port, lang=lang, base_url=base_url, log_level=log_level,
          allowed_hosts=allowed_hosts)
