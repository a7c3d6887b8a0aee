"""Page benchmarks: sizes, cold renders, warm requests and searches at 10,000 events.

    python bench/page.py                   # 10,000 events; 200 requests per case
    python bench/page.py --events 20000 --requests 500
    python bench/page.py --http            # also through uvicorn on 127.0.0.1 (a subprocess)

Two synthetic timelines, made as bench/feed.py makes them (the four kinds mixed, two tags
an item): 10,000 events in 500 stories of 20 (the home page, the search), and 10,000 in 50
stories of 200 (a story's page of 200 items; a tag's page of 200). Requests go through the
app in-process (httpx.ASGITransport: the app's own time, Starlette and the client included)
and, with --http, through the real server (a process of its own, its heap not frozen). A
warm request is one the page cache answers; a search is rendered for each request. The
loaded timelines are frozen out of the collector's sight, as the daemon does after each load
(--no-freeze leaves them, as `timeline serve` does). Results go in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed import _EVENT, _raw_event  # the same synthetic events as the feed bench

from timeline.loader import LoadedTimeline
from timeline.model import Recurring, Story, Timeline, Window
from timeline.recurrence import build_rule
from timeline.source import TimelineSource
from timeline.web import create_app

TODAY = date(2024, 5, 20)  # inside the synthetic items' 2024-2028 spread
TARGETS = {"home_bytes": 200_000, "home_warm_ms": 50, "story_bytes": 100_000,
           "search_ms": 100}
SEARCHES = [  # (what it is, the query): zh and en, all-matching and rare, several words
    ("zh, every item", "补贴"),
    ("zh, every item, two words", "补贴 北门"),
    ("en, one item", "item 4321"),
    ("zh + en, every item", "受理地点 synthetic"),
    ("no match", "不存在"),
]


def timeline(n: int, stories: int) -> LoadedTimeline:
    """n events across `stories` stories (n / stories each)."""
    story_list = [Story.model_validate({"id": f"s{i}", "title": f"合成报道 {i}",
                                        "source": {"newspaper": "基准报"},
                                        "published": "2024-01-01"}) for i in range(stories)]
    events = [_EVENT.validate_python(_raw_event(i, stories)) for i in range(n)]
    model = Timeline(stories=story_list, events=events)
    windows = {e.id: e for e in events if isinstance(e, Window)}
    rules = {e.id: build_rule(e, windows.get, model.tz) for e in events
             if isinstance(e, Recurring)}
    return LoadedTimeline(model, rules, "synthetic")


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"median_ms": statistics.median(values) * 1000,
            "p95_ms": values[int(0.95 * (len(values) - 1))] * 1000,
            "max_ms": values[-1] * 1000}


async def _requests(app: Any, path: str, count: int,
                    headers: dict[str, str] | None = None) -> tuple[list[float], httpx.Response]:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        first = await c.get(path, headers=headers)  # cold: renders (and fills the cache)
        assert first.status_code == 200, (path, first.status_code, first.text[:200])
        times = []
        for _ in range(count):
            start = time.perf_counter()
            r = await c.get(path, headers=headers)
            times.append(time.perf_counter() - start)
            assert r.status_code == 200
        return times, first


async def _cold(app_for: Callable[[], Any], path: str) -> float:
    """The first request of a fresh app: the catalog, the render and the cache fill."""
    app = app_for()
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        gc.collect()
        start = time.perf_counter()
        r = await c.get(path, headers={"Accept-Encoding": "identity"})
        elapsed = time.perf_counter() - start
        assert r.status_code == 200
        return elapsed


def page_case(name: str, app_for: Callable[[], Any], path: str,
              count: int) -> dict[str, Any]:
    cold = asyncio.run(_cold(app_for, path))
    app = app_for()
    identity, first = asyncio.run(_requests(app, path, count, {"Accept-Encoding": "identity"}))
    zipped, _ = asyncio.run(_requests(app, path, count, {"Accept-Encoding": "gzip"}))
    body = first.content
    row = {"case": name, "path": path, "bytes": len(body),
           "gzip_bytes": len(gzip.compress(body, 6)), "cold_ms": cold * 1000,
           **{f"warm_{k}": v for k, v in _ms(identity).items()},
           **{f"warm_gzip_{k}": v for k, v in _ms(zipped).items()}}
    print(f"  {name}: {row['bytes'] / 1000:.1f} KB ({row['gzip_bytes'] / 1000:.1f} KB gzip), "
          f"cold {row['cold_ms']:.0f} ms, warm median {row['warm_median_ms']:.2f} ms "
          f"(p95 {row['warm_p95_ms']:.2f}), with gzip {row['warm_gzip_median_ms']:.2f} ms",
          file=sys.stderr)
    return row


def search_case(app: Any, base: str, what: str, query: str, count: int) -> dict[str, Any]:
    path = str(httpx.URL(base, params={"q": query}))
    times, first = asyncio.run(_requests(app, path, count, {"Accept-Encoding": "identity"}))
    results = first.text.split("的搜索结果：", 1)[1].split(" 项", 1)[0]
    row = {"case": what, "query": query, "path": base, "results": int(results),
           "bytes": len(first.content), **_ms(times)}
    print(f"  search {query!r} on {base} ({what}): {row['results']:,} results, "
          f"median {row['median_ms']:.1f} ms, p95 {row['p95_ms']:.1f}, "
          f"max {row['max_ms']:.1f}", file=sys.stderr)
    return row


def http_rows(events: int, count: int) -> list[dict[str, Any]]:
    """Warm home page and a search through uvicorn in a subprocess, one client in a loop."""
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"from page import timeline; from datetime import date; "
            "from timeline.source import TimelineSource; from timeline.web import serve; "
            f"serve(TimelineSource(timeline({events}, {events // 20})), '127.0.0.1', {port}, "
            "log_level='warning', access_log=False, today=lambda: date(2024, 5, 20))")
    server = subprocess.Popen([sys.executable, "-c", code])
    rows = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not come up") from None
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=60) as client:
            for name, path in (("home, warm", "/"), ("search 补贴 北门", "/?q=补贴+北门")):
                client.get(path)
                times = []
                for _ in range(count):
                    start = time.perf_counter()
                    assert client.get(path, headers={"Accept-Encoding": "gzip"}
                                      ).status_code == 200
                    times.append(time.perf_counter() - start)
                row = {"case": name, **_ms(times)}
                rows.append(row)
                print(f"  HTTP {name}: median {row['median_ms']:.1f} ms, "
                      f"p95 {row['p95_ms']:.1f}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per case")
    parser.add_argument("--http", action="store_true", help="also through uvicorn")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the loaded timelines to the collector (`timeline serve`)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    n = args.events
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {n:,} events, heap "
          f"{'not ' if args.no_freeze else ''}frozen after load", file=sys.stderr)
    wide = timeline(n, n // 20)  # 500 stories of 20
    deep = timeline(n, 50)  # 50 stories of 200
    if not args.no_freeze:
        # As `timeline run` does after each load (daemon._settle_heap): the loaded timelines
        # out of the collector's sight. Without it a full collection now and then walks
        # both 10,000-event timelines during a request (seen: 0.1-0.3 s maxima).
        gc.collect()
        gc.freeze()

    def app_of(loaded: LoadedTimeline) -> Callable[[], Any]:
        return lambda: create_app(TimelineSource(loaded), today=lambda: TODAY)

    print("pages:", file=sys.stderr)
    pages = [
        page_case(f"home, {n:,} events in {n // 20:,} stories", app_of(wide), "/",
                  args.requests),
        page_case(f"home, {n:,} events in 50 stories", app_of(deep), "/", args.requests),
        page_case(f"story page of {n // 50:,} items", app_of(deep), "/stories/s1",
                  args.requests),
        page_case(f"tag page of {n // 50:,} items (across 50 stories)", app_of(deep),
                  "/tags/t1", args.requests),
        page_case("story page of 20 items", app_of(wide), "/stories/s1", args.requests),
    ]
    print("search:", file=sys.stderr)
    app = app_of(wide)()
    searches = [search_case(app, "/", what, q, args.requests) for what, q in SEARCHES]
    deep_app = app_of(deep)()
    searches.append(search_case(deep_app, "/stories/s1", "in a story of 200", "补贴",
                                args.requests))
    searches.append(search_case(deep_app, "/tags/bench", "in a tag of every item", "北门",
                                args.requests))
    http = http_rows(n, args.requests) if args.http else []
    home, story = pages[0], pages[2]
    checks = {
        "home_bytes": home["bytes"] < TARGETS["home_bytes"],
        "home_warm_ms": home["warm_p95_ms"] < TARGETS["home_warm_ms"],
        "story_bytes": story["bytes"] < TARGETS["story_bytes"],
        "search_ms": all(s["p95_ms"] < TARGETS["search_ms"] for s in searches),
    }
    if args.json:
        print(json.dumps({"pages": pages, "search": searches, "http": http,
                          "targets_met": checks}, indent=2, ensure_ascii=False))
        return
    print("\n| page | size (gzip) | cold | warm median (p95) | warm, gzip |\n"
          "|---|---:|---:|---:|---:|")
    for r in pages:
        print(f"| {r['case']} | {r['bytes'] / 1000:.0f} KB ({r['gzip_bytes'] / 1000:.0f}) "
              f"| {r['cold_ms']:.0f} ms | {r['warm_median_ms']:.2f} ms "
              f"({r['warm_p95_ms']:.2f}) | {r['warm_gzip_median_ms']:.2f} ms |")
    print("\n| search | results | median | p95 | max |\n|---|---:|---:|---:|---:|")
    for s in searches:
        print(f"| `{s['query']}` on `{s['path']}` ({s['case']}) | {s['results']:,} "
              f"| {s['median_ms']:.1f} ms | {s['p95_ms']:.1f} ms | {s['max_ms']:.1f} ms |")
    if http:
        print("\n| HTTP (uvicorn, one client) | median | p95 |\n|---|---:|---:|")
        for h in http:
            print(f"| {h['case']} | {h['median_ms']:.1f} ms | {h['p95_ms']:.1f} ms |")
    print("\ntargets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}"
                                     for k, v in checks.items()))


if __name__ == "__main__":
    main()
