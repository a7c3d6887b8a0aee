"""Helpers for testing the running daemon: `timeline run` as a real subprocess against a real
local receiver, on the real clock.

- `HookReceiver`: the tests' receiver (tests/receiver.py) with replies scripted per event
  (the first part of the `webhook-id`, which is the delivery key) instead of one queue, so
  reminders sent concurrently each get their own script; every request is kept with its
  arrival time.
- `write_events` / `write_config`: a temporary events.yaml (one event a line, so a test
  knows the line numbers) and settings file.
- `DaemonProcess`: start, signal, kill and wait for the daemon; its log goes to a file that
  tests poll for lines.
- `cli`: the other `timeline` commands, also as subprocesses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from starlette.requests import Request
from starlette.responses import Response

from tests.receiver import Receiver, Reply

__all__ = ["FIRST_EVENT_LINE", "SH", "WHSEC", "DaemonProcess", "Hit", "HookReceiver", "at",
           "cli", "deadline", "deliveries", "in_state", "poll", "states", "write_config",
           "write_events"]

T = TypeVar("T")
SH = ZoneInfo("Asia/Shanghai")
WHSEC = "whsec_" + base64.b64encode(b"policy-timeline-daemon-tests!").decode()
ROOT = Path(__file__).resolve().parent.parent


# ── the receiver ────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Hit:
    """One request as it arrived: wall-clock arrival time, webhook-id, headers, body."""

    at: float
    id: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return self.id.split("/", 1)[0]


class HookReceiver(Receiver):
    def __init__(self) -> None:
        super().__init__()
        self.default = Reply(json={"ok": True})
        self.hits: list[Hit] = []
        self._scripts: dict[str, deque[Reply]] = {}

    def reset(self, *replies: Reply) -> None:
        super().reset(*replies)
        with self._lock:
            self.hits.clear()
            self._scripts.clear()
            self.default = Reply(json={"ok": True})

    def script(self, event: str, *replies: Reply) -> None:
        """Answer the next requests about `event` with `replies`, then with `default`."""
        with self._lock:
            self._scripts[event] = deque(replies)

    async def _handle(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        hit = Hit(at=time.time(), id=headers.get("webhook-id", ""), path=request.url.path,
                  headers=headers, body=await request.body())
        with self._lock:
            self.hits.append(hit)
            queue = self._scripts.get(hit.event)
            reply = queue.popleft() if queue else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply.render()

    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def about(self, event: str) -> list[Hit]:
        return [h for h in self.snapshot() if h.event == event]

    def ids(self) -> Counter[str]:
        """How often each webhook-id arrived."""
        return Counter(h.id for h in self.snapshot())


def poll(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Call `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(every)


# ── files ───────────────────────────────────────────────────────────────────────────────

EVENTS_HEAD = """\
timezone: Asia/Shanghai
stories:
  - {id: s1, title: Daemon story, source: {newspaper: Paper}, published: 2024-04-10}
events:
"""
FIRST_EVENT_LINE = 5  # events.yaml line of the first event written by write_events


def deadline(event_id: str, due: datetime, reminders: str = "[0m]", title: str = "") -> str:
    """One timed deadline as a one-line YAML flow mapping."""
    return (f"{{id: {event_id}, story: s1, kind: deadline, title: {title or event_id}, "
            f"source: Q, due: \"{due.astimezone(SH).isoformat(timespec='milliseconds')}\", "
            f"reminders: {reminders}}}")


def write_events(path: Path, events: Iterable[str]) -> Path:
    """events.yaml with these one-line events; event i is on line FIRST_EVENT_LINE + i.
    Written to a temporary file and renamed, so a daemon never reads half a file."""
    lines = [f"  - {event}\n" for event in events]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(EVENTS_HEAD + ("".join(lines) or "  []\n"), encoding="utf-8")
    tmp.replace(path)
    return path


def write_config(path: Path, url: str, *, store: str | None = None, group: bool = False,
                 concurrency: int = 4, catch_up: str = "1h", max_attempts: int = 3,
                 events: str = "events.yaml") -> Path:
    settings = {
        "events": events,
        "store": store or f"sqlite:///{path.parent / 'timeline.db'}",
        "timezone": "Asia/Shanghai",
        "lang": "en",
        "reminders": {"catch_up": catch_up, "retry_base": "1s", "retry_max": "2s",
                      "max_attempts": max_attempts, "concurrency": concurrency},
        "notifiers": {"hook": {"type": "webhook", "url": url, "secret": WHSEC,
                               "group": group, "timeout": 10}},
    }
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


# ── processes ───────────────────────────────────────────────────────────────────────────

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DaemonProcess:
    """`timeline run --config FILE --no-server` in a subprocess, its log in a file."""

    def __init__(self, config: Path, name: str = "daemon") -> None:
        self.config = config
        self.log_path = config.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0  # where the current run's log starts

    def start(self, *args: str) -> DaemonProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self._offset = log.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "timeline.cli", "run", "--config", str(self.config),
                 "--no-server", *args],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent, env=_env())
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        """This run's log so far."""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> str:
        """Wait until this run's log has `count` lines matching the regex `pattern`."""
        regex = re.compile(pattern)

        def found() -> str:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) before logging "
                                     f"{pattern!r}:\n{self.log()}")
            lines = [line for line in self.log().splitlines() if regex.search(line)]
            return lines[count - 1] if len(lines) >= count else ""

        try:
            return poll(found, timeout, f"{pattern!r} in the daemon's log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- log ---\n{self.log()}") from None

    def ready(self, timeout: float = 10.0) -> DaemonProcess:
        """Wait until the daemon has loaded the timeline (its signal handlers are in place)."""
        self.wait_log(r"INFO timeline\.daemon: loaded ", timeout)
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is cleaned up."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running after {timeout} s:\n{self.log()}") \
                from None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self) -> None:
        if self.running():
            self.kill()


def cli(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `timeline ARGS --config FILE` and return the finished process."""
    done = subprocess.run([sys.executable, "-m", "timeline.cli", *args, "--config", str(config)],
                          capture_output=True, text=True, cwd=config.parent, env=_env(),
                          timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"timeline {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stdout}{done.stderr}")
    return done


def deliveries(config: Path, state: str | None = None) -> dict[str, dict[str, Any]]:
    """`timeline deliveries --json` (optionally --state S), by key."""
    args = ["deliveries", "--json", "--limit", "1000"]
    if state:
        args += ["--state", state]
    return {row["key"]: row for row in json.loads(cli(config, *args).stdout)}


def states(config: Path) -> dict[str, str]:
    """Every delivery's state, read from the store in process: cheaper than `timeline
    deliveries` for polling (the tests check the command's output once things settle)."""
    from timeline.config import load_settings
    from timeline.store import Store

    with Store.open(load_settings(config).store) as store:
        return {row.key: row.state for row in store.deliveries(limit=100_000)}


def in_state(config: Path, state: str) -> set[str]:
    return {k for k, s in states(config).items() if s == state}


def at(seconds: float) -> datetime:
    """The moment `seconds` from now, in Shanghai (what the events file says)."""
    return datetime.now(SH) + timedelta(seconds=seconds)
