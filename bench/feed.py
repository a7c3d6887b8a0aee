"""Feed benchmarks: render time and memory by size, incremental re-render, the restart from
the store's blocks, HTTP throughput.

    python bench/feed.py                       # sizes 1,000 and 10,000; HTTP for 5 s each
    python bench/feed.py --sizes 1000,10000,100000 --duration 10
    python bench/feed.py --no-http             # rendering only

Synthetic events mix the four kinds like the real file (deadlines with several reminders,
windows, happenings, and Tue/Fri office hours excluding holidays). Each size is rendered cold
three ways in the same run: icalendar for every VEVENT (the code before the direct writer),
the direct writer (timeline/vevent.py), and the direct writer over a process pool. The
restart rows fill a store (SQLite in a temporary file; PostgreSQL too when --pg names one)
with a first render, then time what a new process does with the same file: a FeedCache on
a freshly opened store until the feed is ready (bytes, gzip, ETag). HTTP runs on 127.0.0.1
only, with `wrk` when installed (apt-get install wrk) and an httpx loop otherwise, against
the server as it runs (uvicorn[standard]: uvloop and httptools) and as it ran before (asyncio
and h11); the static reference is the same bytes served by `python -m http.server`. Results
go in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from feed_pool import cores, render_parallel
from icalendar import Calendar, Event
from pydantic import TypeAdapter

import timeline.feed
from timeline.feed import FeedRenderer, default_revision
from timeline.loader import LoadedTimeline
from timeline.model import Event as EventModel
from timeline.model import Recurring, Story, Timeline, Window
from timeline.recurrence import build_rule
from timeline.source import Snapshot
from timeline.store import Store
from timeline.web.feeds import FeedCache, FeedKey

REPO = Path(__file__).resolve().parent.parent
_EVENT: TypeAdapter[Any] = TypeAdapter(EventModel)


def _raw_event(i: int, stories: int) -> dict[str, Any]:
    base = date(2024, 1, 1) + timedelta(days=i % 1500)
    common = {"id": f"e{i}", "story": f"s{i % stories}", "title": f"合成事项 {i}：补贴申请",
              "title_en": f"Synthetic item {i}", "source": f"原文第{i}条：……",
              "description": "受理地点：车管所北门。" * 3, "tags": [f"t{i % 50}", "bench"]}
    kind = i % 10
    if kind < 4:
        return {**common, "kind": "deadline", "due": base.isoformat(),
                "precision": "year-end" if kind == 0 else "day"}
    if kind < 7:
        return {**common, "kind": "window", "start": base.isoformat(),
                "end": (base + timedelta(days=55)).isoformat(), "start_reminders": ["7d"]}
    if kind < 9:
        return {**common, "kind": "happening", "date": base.isoformat(), "reminders": []}
    return {**common, "kind": "recurring", "weekdays": ["tue", "fri"],
            "start": base.isoformat(), "end": (base + timedelta(days=60)).isoformat(),
            "except": ["cn-holidays"]}


def synthetic(n: int) -> LoadedTimeline:
    """n events across n/20 stories, built straight from dicts (the loader is not timed)."""
    count = max(1, n // 20)
    stories = [Story.model_validate({"id": f"s{i}", "title": f"合成报道 {i}",
                                     "source": {"newspaper": "基准报"},
                                     "published": "2024-01-01"}) for i in range(count)]
    raws = [_raw_event(i, count) for i in range(n)]
    events = [_EVENT.validate_python(raw) for raw in raws]
    timeline = Timeline(stories=stories, events=events)
    windows = {e.id: e for e in events if isinstance(e, Window)}
    rules = {e.id: build_rule(e, windows.get, timeline.tz) for e in events
             if isinstance(e, Recurring)}
    prints = {raw["id"]: hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16]
              for raw in raws}
    return LoadedTimeline(timeline, rules, "synthetic", prints)


def one_changed(loaded: LoadedTimeline, index: int) -> LoadedTimeline:
    """The same timeline with one event's title edited (and its fingerprint moved)."""
    events = list(loaded.timeline.events)
    old = events[index]
    events[index] = old.model_copy(update={"title": old.title + "（已更新）"})
    timeline = loaded.timeline.model_copy(update={"events": events})
    prints = {**loaded.fingerprints, old.id: "changed"}
    return LoadedTimeline(timeline, loaded.rules, loaded.source, prints)


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def peak_memory(func: Callable[[], Any]) -> tuple[int, int]:
    """(peak, retained) bytes allocated while running func, by tracemalloc; retained is
    what func's result still holds."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = func()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak - before, current - before


def icalendar_alone(loaded: LoadedTimeline) -> bytes:
    """A floor for comparison: one Calendar of bare VEVENTs (no alarms, no text assembly),
    serialised once by icalendar."""
    cal = Calendar()
    cal.add("prodid", "-//bench//")
    cal.add("version", "2.0")
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    for event in loaded.timeline.events:
        vevent = Event()
        vevent.add("uid", event.id)
        vevent.add("dtstamp", stamp)
        vevent.add("dtstart", date(2024, 1, 1))
        vevent.add("summary", event.title)
        vevent.add("description", event.description)
        cal.add_component(vevent)
    return cal.to_ical()


@contextmanager
def icalendar_only() -> Iterator[None]:
    """Render every VEVENT with icalendar, as the feed did before the direct writer."""
    saved = timeline.feed.write_event
    timeline.feed.write_event = timeline.feed.render_event
    try:
        yield
    finally:
        timeline.feed.write_event = saved


def parallel(loaded: LoadedTimeline) -> list[bytes]:
    """Every VEVENT by the process pool (forkserver workers, chunks of events)."""
    stories = {s.id: s for s in loaded.timeline.stories}
    items = [(e, default_revision(stories[e.story])) for e in loaded.timeline.events]
    return render_parallel(items, stories, loaded.rules, loaded.timeline.timezone, "zh",
                           datetime.now(UTC).year)


def measure(n: int, compare: bool = True) -> dict[str, Any]:
    loaded = synthetic(n)
    cold, body = timed(partial(FeedRenderer().render, loaded))
    before = pooled = float("nan")
    if compare:
        with icalendar_only():
            before, reference = timed(partial(FeedRenderer().render, loaded))
        assert body == reference, "the direct writer's feed differs from icalendar's"
        pooled, blocks = timed(partial(parallel, loaded))
        assert b"".join(blocks) in body, "the pool's blocks differ"

    def keep_renderer() -> tuple[FeedRenderer, bytes]:
        # The renderer and its blocks stay alive with the feed: what a server keeps.
        renderer = FeedRenderer()
        return renderer, renderer.render(loaded)

    peak, retained = peak_memory(keep_renderer)
    floor, _ = timed(partial(icalendar_alone, loaded))
    renderer, _ = keep_renderer()
    warm = min(timed(partial(renderer.render, loaded))[0] for _ in range(3))
    # Best of three, each a different event so that each really is a change.
    changes = [one_changed(loaded, n // 2 + k) for k in range(3)]
    incremental = min(timed(partial(renderer.render, c))[0] for c in changes)
    # What the web app does on a reload: the above plus gzip, ETag and Last-Modified.
    cache, key = FeedCache(), FeedKey()
    cache.get_sync(Snapshot(loaded, {}, 1), key)
    refresh, _ = timed(partial(cache.get_sync, Snapshot(one_changed(loaded, 0), {}, 2), key))
    zipped_time, zipped = timed(partial(gzip.compress, body, 6, mtime=0))
    return {"events": n, "bytes": len(body), "gzip_bytes": len(zipped), "cold_s": cold,
            "icalendar_s": before, "pool_s": pooled, "icalendar_floor_s": floor,
            "warm_s": warm, "one_changed_s": incremental,
            "cache_refresh_s": refresh, "gzip_s": zipped_time, "peak_mib": peak / 2**20,
            "retained_mib": retained / 2**20}


def render_rows(sizes: list[int], compare_up_to: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        r = measure(n, compare=n <= compare_up_to)
        rows.append(r)
        print(f"  {n:>7,} events: cold {r['cold_s']:.3f}s (all by icalendar "
              f"{r['icalendar_s']:.3f}s, pool of {cores()} {r['pool_s']:.3f}s, icalendar floor "
              f"{r['icalendar_floor_s']:.3f}s), warm {r['warm_s'] * 1000:.1f}ms, one changed "
              f"{r['one_changed_s'] * 1000:.1f}ms (web cache refresh "
              f"{r['cache_refresh_s'] * 1000:.0f}ms), peak {r['peak_mib']:.0f} MiB, kept "
              f"{r['retained_mib']:.0f} MiB, {r['bytes'] / 2**20:.1f} MiB "
              f"({r['gzip_bytes'] / 2**20:.2f} MiB gzip)", file=sys.stderr)
    return rows


# ── restart from the store's blocks ───────────────────────────────────────────────────

def restart_rows(sizes: list[int], pg: str | None) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        loaded = synthetic(n)
        folder = Path(tempfile.mkdtemp(prefix="bench-feed-store-"))
        urls = [("SQLite", f"sqlite:///{folder / 'timeline.db'}")]
        schema = f"bench_feed_{os.getpid()}"
        if pg:
            # A schema of its own, dropped afterwards: the database may hold others' data.
            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            urls.append(("PostgreSQL", f"{pg}?options=-csearch_path%3D{schema}"))
        try:
            for name, url in urls:
                rows.append(restart(name, url, loaded))
                r = rows[-1]
                print(f"  {n:>7,} events, {name}: first render with the store "
                      f"{r['first_s']:.3f}s; after a restart: ready in {r['ready_s']:.3f}s "
                      f"({r['rendered']} rendered), one changed {r['one_changed_s']:.3f}s "
                      f"({r['changed_rendered']} rendered)", file=sys.stderr)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            if pg:
                with psycopg.connect(pg, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return rows


def restart(name: str, url: str, loaded: LoadedTimeline) -> dict[str, Any]:
    now = datetime.now(UTC)
    with Store.open(url) as store:
        store.sync_events(loaded, now)
        snapshot = Snapshot(loaded, store.revisions(), 1, store.last_change())
        first_s, feed = timed(partial(FeedCache(store=store).get_sync, snapshot, FeedKey()))

    def ready(timeline: LoadedTimeline) -> tuple[FeedCache, Any]:
        # What a new process does once the file is loaded and synced: open the store, read
        # the revisions, serve the default feed (blocks from the store, gzip and ETag).
        with Store.open(url) as store:
            snapshot = Snapshot(timeline, store.revisions(), 1, store.last_change())
            cache = FeedCache(store=store)
            return cache, cache.get_sync(snapshot, FeedKey())

    ready_s, (cache, again) = timed(partial(ready, loaded))
    assert again.etag == feed.etag and cache.blocks_rendered == 0
    changed = one_changed(loaded, len(loaded.timeline.events) // 2)
    with Store.open(url) as store:
        store.sync_events(changed, now + timedelta(seconds=1))
    changed_s, (changed_cache, _) = timed(partial(ready, changed))
    return {"events": len(loaded.timeline.events), "store": name, "first_s": first_s,
            "ready_s": ready_s, "rendered": cache.blocks_rendered,
            "one_changed_s": changed_s, "changed_rendered": changed_cache.blocks_rendered}


# ── HTTP ───────────────────────────────────────────────────────────────────────────────

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _wrk(url: str, duration: int, headers: dict[str, str]) -> float:
    command = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} error responses for {url}")
    return float(match.group(1)) if match else 0.0


async def _httpx_loop(url: str, duration: int, headers: dict[str, str]) -> float:
    done = 0
    stop = time.monotonic() + duration

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < stop:
            r = await client.get(url, headers=headers)
            assert r.status_code in (200, 304)
            done += 1

    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(32)))
    return done / duration


def load(url: str, duration: int, headers: dict[str, str]) -> float:
    if shutil.which("wrk"):
        return _wrk(url, duration, headers)
    return asyncio.run(_httpx_loop(url, duration, headers))


STACKS = {"uvloop + httptools": ("auto", "auto"), "asyncio + h11": ("asyncio", "h11")}


def http_rows(duration: int, events: int) -> list[dict[str, Any]]:
    """Throughput for the events.yaml feed (events=0) or a synthetic one of that size, on
    each server stack in turn, then the static reference."""
    rows = []
    for stack, (loop, http) in STACKS.items():
        rows += _server_rows(duration, events, stack, loop, http)
    rows.append(_static_row(duration, rows[0]["feed"]))
    return rows


def _static_row(duration: int, feed: bytes) -> dict[str, Any]:
    static_port = _free_port()
    static_dir = Path(tempfile.mkdtemp(prefix="bench-static-"))
    (static_dir / "calendar.ics").write_bytes(feed)
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(static_port),
                               "--bind", "127.0.0.1"], cwd=static_dir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{static_port}/calendar.ics"
        _wait(url, static)
        rate = load(url, duration, {})
        print(f"  static file, python -m http.server: {rate:,.0f} req/s", file=sys.stderr)
        return {"case": "static file, python -m http.server", "stack": "",
                "requests_per_s": rate, "bytes": len(feed)}
    finally:
        static.terminate()
        static.wait(10)
        shutil.rmtree(static_dir, ignore_errors=True)


def _server_rows(duration: int, events: int, stack: str, loop: str, http: str
                 ) -> list[dict[str, Any]]:
    port = _free_port()
    if events:
        timeline = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                    f"from feed import synthetic; loaded = synthetic({events}); ")
    else:
        timeline = ("from timeline.loader import load_timeline; "
                    f"loaded = load_timeline({str(REPO / 'events.yaml')!r}); ")
    code = (f"{timeline}from timeline.source import TimelineSource; "
            "from timeline.web import make_server; "
            f"server = make_server(TimelineSource(loaded), '127.0.0.1', {port}, "
            "log_level='warning', access_log=False); "
            f"server.config.loop = {loop!r}; server.config.http = {http!r}; server.run()")
    server = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/healthz", server)
        # The first request renders (a 10,000-event feed takes seconds); the rest are cached.
        feed = httpx.get(f"{base}/calendar.ics", headers={"Accept-Encoding": "identity"},
                         timeout=600)
        cases = [
            ("feed 200 (identity)", f"{base}/calendar.ics", {"Accept-Encoding": "identity"}),
            ("feed 200 (gzip)", f"{base}/calendar.ics", {"Accept-Encoding": "gzip"}),
            ("feed 304 (If-None-Match)", f"{base}/calendar.ics",
             {"If-None-Match": feed.headers["etag"], "Accept-Encoding": "identity"}),
        ]
        rows = []
        for name, url, headers in cases:
            rate = load(url, duration, headers)
            rows.append({"case": name, "stack": stack, "requests_per_s": rate,
                         "bytes": len(feed.content), "feed": feed.content})
            print(f"  {stack}, {name}: {rate:,.0f} req/s", file=sys.stderr)
        return rows
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000",
                        help="comma-separated event counts (100000 takes a minute or two)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per HTTP case")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP throughput part")
    parser.add_argument("--http-events", type=int, default=0,
                        help="serve a synthetic feed of this many events over HTTP "
                             "(default: the real events.yaml)")
    parser.add_argument("--compare-up-to", type=int, default=20_000,
                        help="render with icalendar alone and with the pool too up to this "
                             "many events (above it they take minutes)")
    parser.add_argument("--restart-sizes", default="10000",
                        help="event counts for the restart-from-the-store rows ('' for none)")
    parser.add_argument("--pg", default=None,
                        help="a PostgreSQL server for the restart rows too (in a scratch "
                             "schema, dropped afterwards), e.g. "
                             "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load tool: {'wrk' if shutil.which('wrk') else 'httpx loop'}", file=sys.stderr)
    print("rendering:", file=sys.stderr)
    renders = render_rows(sizes, args.compare_up_to)
    restart_sizes = [int(s) for s in args.restart_sizes.replace("_", "").split(",") if s]
    print("restart from the store:", file=sys.stderr)
    restarts = restart_rows(restart_sizes, args.pg)
    http = []
    if not args.no_http:
        what = f"{args.http_events:,}-event" if args.http_events else "events.yaml"
        print(f"HTTP, {what} feed, {args.duration}s per case, 32 connections:",
              file=sys.stderr)
        http = http_rows(args.duration, args.http_events)
    if args.json:
        for h in http:
            h.pop("feed", None)
        print(json.dumps({"render": renders, "restart": restarts, "http": http}, indent=2))
        return
    print("\n| events | feed size (gzip) | cold render | all by icalendar | pool | icalendar floor "
          "| warm | one changed | web cache refresh | peak memory | kept (cache + feed) |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in renders:
        print(f"| {r['events']:,} | {r['bytes'] / 2**20:.1f} MiB ({r['gzip_bytes'] / 2**20:.2f}) "
              f"| {r['cold_s']:.2f} s | {r['icalendar_s']:.2f} s | {r['pool_s']:.2f} s "
              f"| {r['icalendar_floor_s']:.2f} s "
              f"| {r['warm_s'] * 1000:.0f} ms | {r['one_changed_s'] * 1000:.0f} ms "
              f"| {r['cache_refresh_s'] * 1000:.0f} ms "
              f"| {r['peak_mib']:.0f} MiB | {r['retained_mib']:.0f} MiB |")
    if restarts:
        print("\n| events | store | first render (into the store) | ready after a restart "
              "| one changed while down |\n|---:|---|---:|---:|---:|")
        for r in restarts:
            print(f"| {r['events']:,} | {r['store']} | {r['first_s']:.2f} s "
                  f"| {r['ready_s']:.2f} s ({r['rendered']} rendered) "
                  f"| {r['one_changed_s']:.2f} s ({r['changed_rendered']} rendered) |")
    if http:
        print(f"\n| HTTP case ({http[0]['bytes'] / 1024:,.0f} KiB feed) | stack | requests/s |"
              "\n|---|---|---:|")
        for h in http:
            print(f"| {h['case']} | {h['stack']} | {h['requests_per_s']:,.0f} |")


if __name__ == "__main__":
    main()
