"""Runs hostile input files through every stage, in a process with a memory cap.

    python -m tests.hostile_runner ROWS.json   # one JSON line out per row

Each row is an events file or a settings file. An events file goes through `timeline
check`; when accepted, through the listing, the feed, the preview, the page and a real
daemon start (load, plan into an SQLite store, stop). A settings file goes through loading;
when accepted, through a daemon start with it. Each row has a time limit (SIGALRM); the whole
process has an address-space cap (RLIMIT_AS), so a row that balloons kills the process and
the test sees it. Kept apart from the test so the cap applies to this process only.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from datetime import date
from pathlib import Path
from typing import Any

MEMORY_CAP = 1536 * 1024 * 1024
_EVENTS = ("stories:\n  - {id: s, title: S, source: {newspaper: P}, published: 2024-04-10}\n"
           "events:\n  - {id: e, story: s, kind: deadline, title: T, source: Q, "
           "due: 2030-01-01}\n")
ROW_SECONDS = 20


class RowTimeout(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise RowTimeout


def _daemon_start(settings: Any) -> None:
    """A real daemon start: load, take over, plan into the store, then stop."""
    from timeline.daemon import Daemon

    daemon = Daemon(settings, serve=False)

    async def main() -> int:
        async def stop_once_started() -> None:
            while not daemon._started:  # the daemon's own flag: the first apply is done
                await asyncio.sleep(0.01)
            daemon.stop()

        stopper = asyncio.ensure_future(stop_once_started())
        try:
            return await daemon.run()
        finally:
            stopper.cancel()

    assert asyncio.run(main()) == 0


def _events_row(path: Path, work: Path) -> dict[str, Any]:
    from timeline.config import Settings
    from timeline.errors import ValidationFailed
    from timeline.feed import render_feed
    from timeline.loader import load_timeline
    from timeline.occurrences import iter_occurrences
    from timeline.preview import preview_messages
    from timeline.source import TimelineSource
    from timeline.web.app import create_app

    try:
        loaded = load_timeline(path)
    except ValidationFailed as exc:
        return {"accepted": False, "problems": [str(p) for p in exc.problems]}
    for first, last in ((1900, 1909), (2020, 2029), (2191, 2200)):  # as `list` allows
        iter_occurrences(loaded, date(first, 1, 1), date(last, 12, 31))
    render_feed(loaded)
    render_feed(loaded, lang="en")
    settings = Settings(events=path, store=f"sqlite:///{work / 'row.db'}")
    preview_messages(loaded, settings, date(2024, 1, 1), date(2026, 12, 31))
    _page(create_app(TimelineSource(loaded)), loaded)
    _daemon_start(settings)
    return {"accepted": True}


def _page(app: Any, loaded: Any) -> None:
    import httpx

    timeline = loaded.timeline
    pages = ["/", "/?lang=en", "/?q=a", "/calendar.ics", "/api/events", "/api/upcoming"]
    pages += [f"/stories/{s.id}" for s in timeline.stories[:2]]
    pages += [f"/tags/{t}?lang=en" for t in timeline.tags[:2]]

    async def fetch() -> None:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in pages:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.status_code)

    asyncio.run(fetch())


def _config_row(path: Path, work: Path) -> dict[str, Any]:
    from timeline.config import load_settings
    from timeline.errors import TimelineError, ValidationFailed

    try:
        settings = load_settings(path)
    except ValidationFailed as exc:
        return {"accepted": False, "problems": [str(p) for p in exc.problems]}
    try:
        _daemon_start(settings.model_copy(update={
            "server": settings.server.model_copy(update={"enabled": False})}))
    except TimelineError as exc:  # e.g. a store that cannot be opened: one line, no crash
        return {"accepted": True, "refused_at_start": str(exc)}
    return {"accepted": True}


def main(rows_file: str) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    signal.signal(signal.SIGALRM, _alarm)
    rows = json.loads(Path(rows_file).read_text(encoding="utf-8"))
    for row in rows:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            path = work / row["file"]
            path.write_bytes(row["text"].encode("utf-8", "surrogatepass"))
            if row["kind"] == "config":  # the events its daemon start loads
                (work / "events.yaml").write_text(_EVENTS, encoding="utf-8")
            for name, value in row.get("env", {}).items():
                os.environ[name] = value
            started = time.perf_counter()
            signal.alarm(ROW_SECONDS)
            try:
                run = _events_row if row["kind"] == "events" else _config_row
                result = run(path, work)
            except RowTimeout:
                result = {"crashed": f"over {ROW_SECONDS} s"}
            except BaseException:  # anything but a clean refusal is what the test looks for
                result = {"crashed": traceback.format_exc()}
            finally:
                signal.alarm(0)
                for name in row.get("env", {}):
                    os.environ.pop(name, None)
            result.update(name=row["name"], seconds=round(time.perf_counter() - started, 2))
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
