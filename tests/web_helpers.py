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

__all__ = ["edited_timeline", "free_port", "running_server", "synthetic_timeline"]


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


def synthetic_timeline(n: int, per_story: int = 20) -> LoadedTimeline:
    """n events, `per_story` to a story, mixing the four kinds over 2024-2028 (as
    bench/feed.py makes them), built from dicts: 10,000 take about a second, not the
    loader's YAML time. Titles and descriptions hold both a Chinese and an English word."""
    from datetime import date, timedelta

    from pydantic import TypeAdapter

    from timeline.model import Event, Recurring, Story, Timeline, Window
    from timeline.recurrence import build_rule

    adapter: TypeAdapter[Any] = TypeAdapter(Event)
    count = max(1, n // per_story)
    stories = [Story.model_validate({"id": f"s{i}", "title": f"合成报道 {i}",
                                     "source": {"newspaper": "基准报"},
                                     "published": "2024-01-01"}) for i in range(count)]
    events = []
    for i in range(n):
        base = date(2024, 1, 1) + timedelta(days=i % 1500)
        common: dict[str, Any] = {
            "id": f"e{i}", "story": f"s{i // per_story}", "title": f"合成事项 {i}：补贴申请",
            "title_en": f"Synthetic item {i}: subsidy application",
            "source": f"原文第{i}条：……", "description": "受理地点：车管所北门。",
            "description_en": "At the north gate.", "tags": [f"t{i % 50}", "bench"]}
        kind = i % 10
        if kind < 4:
            raw = {**common, "kind": "deadline", "due": base.isoformat(),
                   "precision": "year-end" if kind == 0 else "day"}
        elif kind < 7:
            raw = {**common, "kind": "window", "start": base.isoformat(),
                   "end": (base + timedelta(days=55)).isoformat()}
        elif kind < 9:
            raw = {**common, "kind": "happening", "date": base.isoformat()}
        else:
            raw = {**common, "kind": "recurring", "weekdays": ["tue", "fri"],
                   "start": base.isoformat(),
                   "end": (base + timedelta(days=60)).isoformat(), "except": ["cn-holidays"]}
        events.append(adapter.validate_python(raw))
    timeline = Timeline(stories=stories, events=events)
    windows = {e.id: e for e in events if isinstance(e, Window)}
    rules = {e.id: build_rule(e, windows.get, timeline.tz) for e in events
             if isinstance(e, Recurring)}
    return LoadedTimeline(timeline, rules, "synthetic")
