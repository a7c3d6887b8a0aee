"""The HTTP app: routes for the pages, the feeds, the JSON API, health and metrics.

Every request reads one `Snapshot` of the `TimelineSource`, so a reload by the daemon takes
effect on the next request and no response mixes two versions. Feeds come from `FeedCache`
(rendered once per version); each page is kept in `PageCache` per (version, language, day,
base URL, page), a search is rendered per request from the version's `Catalog`.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from timeline.blocks import BlockStore
from timeline.formatting import Lang
from timeline.occurrences import matches
from timeline.source import Snapshot, TimelineSource
from timeline.web import negotiate as neg
from timeline.web.agenda import upcoming_json
from timeline.web.catalog import CatalogCache
from timeline.web.feeds import FeedCache, FeedKey
from timeline.web.metrics import CONTENT_TYPE, exposition
from timeline.web.openapi import openapi
from timeline.web.page import render_home, render_story, render_tag
from timeline.web.pagecache import PageCache
from timeline.web.search import Query, QueryError, parse_query

__all__ = ["FEED_KINDS", "create_app"]

log = logging.getLogger("timeline.web")

FEED_KINDS = ("calendar", "tag", "story")
# Calendar apps poll every few hours anyway; a short max-age keeps a reload visible soon,
# and revalidation is a cheap 304.
FEED_CACHE_CONTROL = "public, max-age=900"
PAGE_HEADERS = {
    "Cache-Control": "public, max-age=300",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MAX_UPCOMING_DAYS = 3660
_DAYS = re.compile(r"[0-9]{1,4}")  # ASCII digits: "²".isdigit() is true, int("²") fails
# Feeds warmed after a reload besides the default one: the most recently asked for. The
# rest wait for their next request (each costs its assembly and gzip, ~0.2 s at 10,000).
WARM_MOST = 8
MAX_HOST = 255  # a DNS name's length; a 5,000-character Host overflowed the QR code


async def _call(func: Callable[[], Any]) -> Any:
    """Health and metrics callables may be plain or async (the daemon's store is async)."""
    result = func()
    return await result if inspect.isawaitable(result) else result


class _BoundedHost:
    """ASGI middleware: a Host longer than a DNS name is refused before any route sees it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
            if len(host) > MAX_HOST:
                await PlainTextResponse("Host header too long", status_code=400)(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


def allowed_host(host: str, allowed: list[str]) -> bool:
    """Whether `host` (the Host header, port and all) is one of `allowed` (names, with
    `*.example.org` for its subdomains and `*` for any)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    for pattern in allowed:
        pattern = pattern.strip("[]").lower()
        if pattern == "*" or name == pattern or (
                pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def create_app(source: TimelineSource, *, base_url: str | None = None,
               today: Callable[[], date] | None = None,
               health: Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]] | None = None,
               metrics: Callable[[], Iterable[Metric] | Awaitable[Iterable[Metric]]] | None = None,
               lang: Lang = "zh",
               feed_cache_size: int = 64, allowed_hosts: list[str] | None = None,
               feed_store: BlockStore | None = None, warm: bool = False) -> Starlette:
    """The web app serving `source`. `today` defaults to the date in the timeline's zone;
    `base_url` (e.g. https://cal.example.org) defaults to each request's own, from a Host
    in `allowed_hosts` only (None: any, for tests and embedding; the commands pass the
    deployment's); `lang` is the language when a request gives no `?lang=`. `feed_store`
    keeps the feed's rendered blocks across restarts (the daemon's store); `warm` renders
    (or loads) the default feed in a thread at once, so the first subscriber does not
    wait for it."""
    cache = FeedCache(feed_cache_size, feed_store)
    pages = PageCache()
    catalogs = CatalogCache()
    requests: Counter[str] = Counter()
    not_modified: Counter[str] = Counter()
    default_lang = lang

    def current_day(snap: Snapshot) -> date:
        if today is not None:
            return today()
        # The timeline's zone, not the machine's: "days left" is a Shanghai matter.
        return datetime.now(snap.loaded.timeline.tz).date()

    async def feed_response(request: Request, kind: str, tags: list[str],
                            stories: list[str]) -> Response:
        requests[kind] += 1
        lang = neg.language(request, default_lang)
        snap = source.snapshot()
        neg.check_known(snap, tags, stories)
        key = FeedKey.of(tags, stories, lang)
        feed = await cache.get(snap, key)
        gzipped = neg.accepts_gzip(request.headers.get("accept-encoding", ""))
        headers = {"ETag": feed.gzip_etag if gzipped else feed.etag,
                   "Cache-Control": FEED_CACHE_CONTROL, "Vary": "Accept-Encoding"}
        if feed.last_modified_http is not None:
            headers["Last-Modified"] = feed.last_modified_http
        if neg.not_modified(request, feed):
            not_modified[kind] += 1
            return Response(status_code=304, headers=headers)
        body = feed.gzipped if gzipped else feed.body
        headers["Content-Disposition"] = f'attachment; filename="{neg.filename(key)}"'
        headers["Content-Length"] = str(len(body))
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return Response(b"" if request.method == "HEAD" else body, headers=headers,
                        media_type="text/calendar; charset=utf-8")

    async def calendar(request: Request) -> Response:
        return await feed_response(request, "calendar", neg.slugs(request, "tag"),
                                   neg.slugs(request, "story"))

    def stable_only(request: Request) -> None:
        if "tag" in request.query_params or "story" in request.query_params:
            raise neg.bad_request("this feed's filter is in its path; combine filters with "
                       "/calendar.ics?tag=…&story=…")

    async def tag_feed(request: Request) -> Response:
        stable_only(request)
        return await feed_response(request, "tag", [neg.slug(request.path_params["tag"],
                                                             "tag")], [])

    async def story_feed(request: Request) -> Response:
        stable_only(request)
        return await feed_response(request, "story", [],
                                   [neg.slug(request.path_params["story"], "story")])

    def link_base(request: Request) -> str:
        """Where links point: the configured address, else this request's own host if it
        is an allowed one (a page built for `Host: evil.example` would carry its links)."""
        if base_url:
            return base_url.rstrip("/")
        host = request.headers.get("host", "")
        if allowed_hosts is not None and not allowed_host(host, allowed_hosts):
            raise HTTPException(400, f"unknown host {host[:60]!r}: set server.base_url, or add "
                                     "it to server.allowed_hosts")
        return str(request.base_url).rstrip("/")

    def query_of(request: Request) -> Query | None:
        try:
            return parse_query(request.query_params.getlist("q"))
        except QueryError as exc:
            raise neg.bad_request(str(exc)) from None

    async def html_response(request: Request, kind: str, ident: str,
                            render: Callable[..., str]) -> Response:
        """A page from the cache, or rendered and kept; a search is rendered each time."""
        lang = neg.language(request, default_lang)
        query = query_of(request)
        snap = source.snapshot()
        day = current_day(snap)
        base = link_base(request)
        key = (lang, day, base, kind, ident)
        html = pages.get(snap.version, key) if query is None else None
        if html is None:
            # In a thread: a cold page of 10,000 events takes a while, and the loop keeps
            # answering feeds and warm pages meanwhile.
            html = (await run_in_threadpool(
                render, snap, today=day, lang=lang, base_url=base, default_lang=default_lang,
                catalog=catalogs.get(snap), query=query)).encode()
            if query is None:
                pages.put(snap.version, key, html)
        # Built from the request's Host: a shared cache must keep one copy per host.
        headers = PAGE_HEADERS if base_url else {**PAGE_HEADERS, "Vary": "Host"}
        return HTMLResponse(html, headers=headers)

    async def home(request: Request) -> Response:
        return await html_response(request, "home", "", render_home)

    async def story_page(request: Request) -> Response:
        story = neg.slug(request.path_params["story"], "story")
        neg.check_known(source.snapshot(), [], [story])

        def one(snap: Snapshot, **kw: Any) -> str:
            # A reload between the check and the render may have taken the story away.
            neg.check_known(snap, [], [story])
            return render_story(snap, story, **kw)

        return await html_response(request, "story", story, one)

    async def tag_page(request: Request) -> Response:
        tag = neg.slug(request.path_params["tag"], "tag")
        neg.check_known(source.snapshot(), [tag], [])

        def one(snap: Snapshot, **kw: Any) -> str:
            neg.check_known(snap, [tag], [])
            return render_tag(snap, tag, **kw)

        return await html_response(request, "tag", tag, one)

    async def api_events(request: Request) -> Response:
        tags, stories = neg.slugs(request, "tag"), neg.slugs(request, "story")
        snap = source.snapshot()
        neg.check_known(snap, tags, stories)
        timeline = snap.loaded.timeline
        return JSONResponse({
            "version": snap.version,
            "timezone": timeline.timezone,
            "stories": [s.model_dump(mode="json") for s in timeline.stories
                        if not stories or s.id in stories],
            # by_alias: the JSON uses the events file's names (`except`, not `except_`).
            "events": [e.model_dump(mode="json", by_alias=True) for e in timeline.events
                       if matches(e, tags, stories)],
        })

    async def api_upcoming(request: Request) -> Response:
        tags, stories = neg.slugs(request, "tag"), neg.slugs(request, "story")
        raw = request.query_params.get("days", "30")
        if not _DAYS.fullmatch(raw) or not 1 <= int(raw) <= MAX_UPCOMING_DAYS:
            raise neg.bad_request(f"bad days {raw[:20]!r}: "
                                  f"a whole number from 1 to {MAX_UPCOMING_DAYS}")
        days = int(raw)
        snap = source.snapshot()
        neg.check_known(snap, tags, stories)
        day = current_day(snap)
        return JSONResponse({
            "version": snap.version, "today": day.isoformat(), "days": days,
            "occurrences": upcoming_json(snap.loaded, day, days, tags=tags, stories=stories),
        })

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi())

    async def healthz(request: Request) -> Response:
        version = source.version
        if health is None:
            return JSONResponse({"status": "ok", "timeline_version": version})
        try:
            data = dict(await _call(health))
        except Exception:
            log.exception("health check failed")
            data = {"ok": False, "error": "health check failed"}
        data.setdefault("timeline_version", version)
        status = 503 if data.get("ok") is False else 200
        # default=str: the daemon reports datetimes (next_due, last_delivery) as they are.
        body = json.dumps(data, ensure_ascii=False, default=str)
        return Response(body, status_code=status, media_type="application/json")

    async def metrics_text(request: Request) -> Response:
        feed_requests = CounterMetricFamily("timeline_feed_requests",
                                            "Feed requests, by kind of path.", labels=["kind"])
        unchanged = CounterMetricFamily("timeline_feed_not_modified",
                                        "Feed requests answered 304, by kind.", labels=["kind"])
        for kind in FEED_KINDS:
            feed_requests.add_metric([kind], requests[kind])
            unchanged.add_metric([kind], not_modified[kind])
        families: list[Metric] = [
            feed_requests, unchanged,
            CounterMetricFamily("timeline_feed_renders", "Feeds rendered (cache misses).",
                                value=cache.renders),
            CounterMetricFamily("timeline_feed_blocks_rendered",
                                "VEVENTs rendered (not found in memory or the store).",
                                value=cache.blocks_rendered),
            CounterMetricFamily("timeline_feed_blocks_from_store",
                                "VEVENTs taken from the store's earlier renders.",
                                value=cache.blocks_from_store),
            GaugeMetricFamily("timeline_version", "The version of the timeline being served.",
                              value=source.version)]
        if metrics is not None:
            try:
                families.extend(await _call(metrics))
            except Exception:
                log.exception("metrics callable failed")
        return Response(exposition(families), media_type=CONTENT_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        # The traceback goes to the log (Starlette re-raises to the server), never the client.
        return PlainTextResponse("Internal Server Error", status_code=500)

    routes = [
        Route("/", home),
        Route("/stories/{story}", story_page),
        Route("/tags/{tag}", tag_page),
        Route("/calendar.ics", calendar),
        Route("/feeds/tag/{tag}.ics", tag_feed),
        Route("/feeds/story/{story}.ics", story_feed),
        Route("/api/events", api_events),
        Route("/api/upcoming", api_upcoming),
        Route("/openapi.json", openapi_json),
        Route("/healthz", healthz),
        Route("/metrics", metrics_text),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_BoundedHost), Middleware(
            GZipMiddleware, minimum_size=1024, compresslevel=6,
            # Feeds carry their own precomputed gzip form; never compress them again.
            exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "text/calendar"))],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    # No redirect from `/x/` to `/x`: Starlette builds its Location from the request's Host
    # before any route could check it against allowed_hosts. A stray slash is a 404.
    app.router.redirect_slashes = False
    app.state.source = source
    app.state.feed_cache = cache
    app.state.page_cache = pages
    if warm:
        def rewarm(snapshot: Snapshot) -> None:
            # A thread of its own: the loop serves meanwhile, and a request for a feed being
            # warmed waits on the cache's lock for this same work instead of repeating it.
            threading.Thread(target=_warm, args=(cache, source, snapshot,
                                                 FeedKey(lang=default_lang)),
                             name="timeline-feed-warm", daemon=True).start()

        rewarm(source.snapshot())
        source.on_update(rewarm)  # after a reload, the feeds subscribers were polling
    return app


def _warm(cache: FeedCache, source: TimelineSource, snapshot: Snapshot,
          default: FeedKey) -> None:
    """Render (or load from the store) the default feed and the feeds most recently asked
    for at `snapshot`, until a newer one is published (whose own warm-up takes over)."""
    try:
        for key in dict.fromkeys([default, *reversed(cache.keys()[-WARM_MOST:])]):
            if source.snapshot() is not snapshot:
                return
            cache.get_sync(snapshot, key)
    except Exception:  # the next request tries again, and answers 500 if it must
        log.exception("warming the feed failed")
