"""Helpers for the web tests: a real uvicorn server on 127.0.0.1, and edited timelines."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from timeline.loader import LoadedTimeline, parse_timeline
from timeline.source import TimelineSource
from timeline.web import make_server

__all__ = ["edited_timeline", "free_port", "running_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(source: TimelineSource, **options: Any) -> Iterator[str]:
    """Serve `source` with the real uvicorn server in a thread; yields the base URL.

    The socket is bound here and handed to uvicorn, so there is no race for the port.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(source, "127.0.0.1", port, log_level="warning", access_log=False,
                         **options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def edited_timeline(events_path: Path, old: str, new: str) -> LoadedTimeline:
    """The real events file with one piece of text replaced (it must occur exactly once)."""
    text = events_path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return parse_timeline(text.replace(old, new), str(events_path))


def get(app: Any, path: str) -> Any:
    """One GET through the app in-process (httpx.ASGITransport), from synchronous code."""
    import asyncio

    import httpx

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(fetch())
