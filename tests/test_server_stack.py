"""The HTTP server runs on uvicorn[standard]'s parts, httptools and uvloop, both for
`timeline serve` and inside the daemon."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tests.web_helpers import running_server
from timeline.loader import LoadedTimeline
from timeline.process import new_loop
from timeline.source import TimelineSource
from timeline.web import make_server


def test_the_server_is_configured_for_httptools_and_uvloop(loaded: LoadedTimeline) -> None:
    config = make_server(TimelineSource(loaded)).config
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory() is uvloop.new_event_loop


def test_requests_are_answered_on_uvloop(loaded: LoadedTimeline) -> None:
    loops: list[Any] = []

    def health() -> dict[str, Any]:
        loops.append(type(asyncio.get_running_loop()))
        return {"ok": True}

    with running_server(TimelineSource(loaded), health=health) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        feed = httpx.get(f"{base}/calendar.ics")
        assert feed.status_code == 200
        again = httpx.get(f"{base}/calendar.ics", headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304
    assert loops == [uvloop.Loop]


def test_the_daemon_loop_is_uvloop() -> None:
    loop = new_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
