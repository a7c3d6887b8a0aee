"""A real HTTP receiver on 127.0.0.1 for notifier tests: records every request and answers
with scripted replies (status, body, headers, delay).

One uvicorn server runs in a background thread for the whole test process (starting one
costs more than the tests it serves); tests call `reset()` and script their replies.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifiers.base import Message, MessageItem

__all__ = ["Receiver", "Recorded", "Reply", "refused_url", "sample_message", "shared_receiver"]


@dataclass(frozen=True)
class Reply:
    """What the receiver answers to one request."""

    status: int = 200
    json: Any = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (longer than a client timeout)

    def render(self) -> Response:
        if self.json is not None:
            content = json.dumps(self.json, ensure_ascii=False).encode()
            media_type = "application/json"
        else:
            content, media_type = self.body.encode(), "text/plain"
        return Response(content, self.status, headers=self.headers, media_type=media_type)


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived, down to the raw query string and body bytes."""

    method: str
    path: str
    query: str  # raw, still percent-encoded: what the client really sent
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (Unix seconds)

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.default = Reply(json={"errcode": 0, "errmsg": "ok"})
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self, *replies: Reply) -> None:
        """Forget earlier requests and answer the next ones with `replies`, then `default`."""
        with self._lock:
            self.requests.clear()
            self._script = deque(replies)

    @property
    def last(self) -> Recorded:
        with self._lock:
            return self.requests[-1]

    async def _handle(self, request: Request) -> Response:
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            query=request.scope["query_string"].decode("latin-1"),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        with self._lock:
            self.requests.append(recorded)
            reply = self._script.popleft() if self._script else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply.render()

    def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="test-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
            self._server = None


_shared: Receiver | None = None


def shared_receiver() -> Receiver:
    """The process-wide receiver, started on first use and stopped at exit."""
    global _shared
    if _shared is None:
        _shared = Receiver()
        _shared.start()
        atexit.register(_shared.stop)
    return _shared


def refused_url(path: str = "/") -> str:
    """A URL on a local port where nothing listens: the connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def sample_message(**changes: Any) -> Message:
    """A reminder shaped like the daemon's: title repeated as the text's first line, the
    feed link as a "label: url" footer, one structured item and an .ics attachment."""
    item = MessageItem(
        key="subsidy-2025/2025-06-30/7d/ops", event="subsidy-2025", story="story-1",
        title="设备更新补贴申报截止", occurrence=date(2025, 6, 30), lead="7d",
        due=datetime(2025, 6, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")), days_left=7,
        url="https://example.org/policy/1", extra={"anchor": "closes"})
    title = "【政策提醒】设备更新补贴申报截止（还剩7天）"
    values: dict[str, Any] = {
        "key": item.key, "kind": "reminder", "title": title,
        "text": f"{title}\n\n设备更新补贴申报截止\n受理截止：2025-06-30（周一），还剩7天\n\n"
                "订阅日历: https://example.org/calendar.ics",
        "markdown": f"### {title}\n\n**设备更新补贴申报截止**\n> 受理截止：2025-06-30（周一），"
                    "还剩7天\n\n[订阅日历](https://example.org/calendar.ics)",
        "items": (item,), "links": (("订阅日历", "https://example.org/calendar.ics"),),
        "ics": b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
    }
    values.update(changes)
    return Message(**values)
