"""The web app in-process (httpx.ASGITransport, no socket): every route and error path."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from freezegun import freeze_time
from starlette.routing import Route

import timeline.feed
import timeline.web.app
from timeline.feed import render_feed
from timeline.loader import LoadedTimeline, parse_timeline
from timeline.source import TimelineSource
from timeline.store import Revision, Store
from timeline.web import create_app
from timeline.web.feeds import FeedCache, FeedKey
from timeline.web.openapi import openapi

from .web_helpers import edited_timeline

TODAY = date(2024, 5, 20)
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture
def source(loaded: LoadedTimeline) -> TimelineSource:
    return TimelineSource(loaded)


@pytest.fixture
def app(source: TimelineSource) -> Any:
    return create_app(source, today=lambda: TODAY)


async def _client(app: Any, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app, **kw), base_url="http://test")


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(app) as c:
        yield c


def _uids(body: bytes) -> set[str]:
    return {m.split("@")[0] for m in re.findall(r"UID:(\S+)", body.decode())}


# ── feeds ──────────────────────────────────────────────────────────────────────────────

async def test_whole_feed(client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    r = await client.get("/calendar.ics", headers=IDENTITY)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="policy-timeline.ics"'
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])
    # Default revisions date every event from its story: 2024-04-10, midnight UTC.
    assert r.headers["last-modified"] == "Wed, 10 Apr 2024 00:00:00 GMT"
    assert r.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in r.headers
    assert r.content == render_feed(loaded)
    assert len(_uids(r.content)) == len(loaded.timeline.events)


@pytest.mark.parametrize(("path", "expected"), [
    ("/calendar.ics?tag=office-hours",
     {"diesel-office-hours-window-1", "diesel-office-hours-window-2"}),
    ("/calendar.ics?tag=office-hours,goal",
     {"diesel-office-hours-window-1", "diesel-office-hours-window-2",
      "diesel-scrapping-goal-2025"}),
    ("/calendar.ics?tag=goal&tag=office-hours",
     {"diesel-office-hours-window-1", "diesel-office-hours-window-2",
      "diesel-scrapping-goal-2025"}),
    ("/feeds/tag/phase.ics", {"nanchuan-phase-1-green-power-park",
                              "nanchuan-phase-2-near-zero-park",
                              "nanchuan-phase-3-zero-carbon-park"}),
    ("/calendar.ics?story=marriage-registration",
     {"marriage-guidance-issued", "marriage-legacy-cases-resolved"}),
    ("/feeds/story/marriage-registration.ics",
     {"marriage-guidance-issued", "marriage-legacy-cases-resolved"}),
    ("/calendar.ics?tag=office-hours&story=marriage-registration", set()),
])
async def test_filters(client: httpx.AsyncClient, path: str, expected: set[str]) -> None:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    assert _uids(r.content) == expected


async def test_stable_path_equals_query(client: httpx.AsyncClient) -> None:
    by_path = await client.get("/feeds/tag/phase.ics", headers=IDENTITY)
    by_query = await client.get("/calendar.ics?tag=phase", headers=IDENTITY)
    assert by_path.content == by_query.content
    assert by_path.headers["etag"] == by_query.headers["etag"]
    assert by_path.headers["content-disposition"].endswith('"policy-timeline-phase.ics"')


async def test_english_feed(client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    r = await client.get("/feeds/story/diesel-subsidy.ics?lang=en", headers=IDENTITY)
    assert r.content == render_feed(loaded, stories=["diesel-subsidy"], lang="en")
    assert b"Application window 1" in r.content
    assert r.headers["content-disposition"].endswith('-diesel-subsidy-en.ics"')
    zh = await client.get("/feeds/story/diesel-subsidy.ics", headers=IDENTITY)
    assert zh.headers["etag"] != r.headers["etag"]


@pytest.mark.parametrize(("path", "message"), [
    ("/feeds/tag/nope.ics", "unknown tag 'nope'; known: application-window"),
    ("/feeds/story/nope.ics", "unknown story 'nope'; known: diesel-subsidy"),
    ("/calendar.ics?tag=phase,nope", "unknown tag 'nope'"),
    ("/calendar.ics?story=nope", "unknown story 'nope'"),
    ("/feeds/tag/Not%20A%20Slug.ics", "unknown tag 'Not A Slug'"),
])
async def test_unknown_filter_is_404(client: httpx.AsyncClient, path: str, message: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/plain")
    assert message in r.text


@pytest.mark.parametrize(("path", "message"), [
    ("/calendar.ics?tag=Phase", "bad tag value 'Phase'"),
    ("/calendar.ics?tag=", "bad tag value ''"),
    ("/calendar.ics?tag=phase,,goal", "bad tag value ''"),
    ("/calendar.ics?story=a.b", "bad story value 'a.b'"),
    ("/calendar.ics?lang=fr", "bad lang 'fr': use zh or en"),
    ("/calendar.ics?lang=en&lang=zh", "give lang only once"),
    ("/feeds/tag/phase.ics?tag=goal", "combine filters with /calendar.ics"),
    ("/?lang=de", "bad lang 'de'"),
])
async def test_bad_query_is_400(client: httpx.AsyncClient, path: str, message: str) -> None:
    r = await client.get(path)
    assert r.status_code == 400
    assert message in r.text


async def test_conditional_requests(client: httpx.AsyncClient) -> None:
    first = await client.get("/calendar.ics", headers=IDENTITY)
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    async def status(**headers: str) -> httpx.Response:
        return await client.get("/calendar.ics", headers={**IDENTITY, **headers})

    r = await status(**{"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag
    assert r.headers["last-modified"] == modified
    assert "content-length" not in r.headers or r.headers["content-length"] == "0"
    assert (await status(**{"If-None-Match": f'"other", W/{etag}'})).status_code == 304
    assert (await status(**{"If-None-Match": "*"})).status_code == 304
    assert (await status(**{"If-None-Match": '"other"'})).status_code == 200
    assert (await status(**{"If-Modified-Since": modified})).status_code == 304
    later = format_datetime(datetime(2030, 1, 1, tzinfo=UTC), usegmt=True)
    assert (await status(**{"If-Modified-Since": later})).status_code == 304
    earlier = format_datetime(datetime(2024, 4, 9, tzinfo=UTC), usegmt=True)
    assert (await status(**{"If-Modified-Since": earlier})).status_code == 200
    assert (await status(**{"If-Modified-Since": "yesterday-ish"})).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    r = await status(**{"If-None-Match": '"other"', "If-Modified-Since": later})
    assert r.status_code == 200


async def test_head(client: httpx.AsyncClient) -> None:
    get = await client.get("/feeds/tag/phase.ics", headers=IDENTITY)
    head = await client.head("/feeds/tag/phase.ics", headers=IDENTITY)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["etag"] == get.headers["etag"]
    assert (await client.head("/", headers=IDENTITY)).status_code == 200


async def test_gzip(client: httpx.AsyncClient) -> None:
    plain = await client.get("/calendar.ics", headers=IDENTITY)
    async with client.stream("GET", "/calendar.ics",
                             headers={"Accept-Encoding": "br, gzip;q=0.8"}) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-length"] == str(len(raw))
    assert len(raw) < len(plain.content) / 3
    assert gzip.decompress(raw) == plain.content
    assert r.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    # Either form of the tag revalidates.
    for tag in (r.headers["etag"], plain.headers["etag"]):
        again = await client.get("/calendar.ics", headers={"If-None-Match": tag})
        assert again.status_code == 304
    for refused in ("gzip;q=0", "identity", "gzip;q=0, *", "br"):
        r = await client.get("/calendar.ics", headers={"Accept-Encoding": refused})
        assert "content-encoding" not in r.headers, refused
        assert r.content == plain.content
    r = await client.get("/calendar.ics", headers={"Accept-Encoding": "*"})
    assert r.headers["content-encoding"] == "gzip"


async def test_feed_rendered_once_per_version(
        app: Any, source: TimelineSource, client: httpx.AsyncClient, events_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []
    original = timeline.feed.write_event  # what the feed renders each VEVENT with

    def counting(event: Any, *args: Any, **kwargs: Any) -> bytes:
        rendered.append(event.id)
        return original(event, *args, **kwargs)

    monkeypatch.setattr(timeline.feed, "write_event", counting)
    cache = app.state.feed_cache
    # Concurrent first requests still render once.
    responses = await asyncio.gather(*(client.get("/calendar.ics") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert cache.renders == 1
    assert len(rendered) == len(source.loaded.timeline.events)
    await client.get("/calendar.ics?lang=zh")
    await client.get("/feeds/tag/phase.ics")  # assembled from the cached blocks
    assert cache.renders == 2
    assert len(rendered) == len(source.loaded.timeline.events)
    old = (await client.get("/calendar.ics")).headers["etag"]

    rendered.clear()
    changed = edited_timeline(events_path, "第一阶段：建成绿电产业园区", "第一阶段：建成绿电园区")
    source.update(changed)
    r = await client.get("/calendar.ics", headers=IDENTITY)
    assert rendered == ["nanchuan-phase-1-green-power-park"]
    assert r.headers["etag"] != old
    assert "第一阶段：建成绿电园区".encode() in r.content

    # A new revision moves Last-Modified and SEQUENCE.
    rendered.clear()
    stamp = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
    source.update(source.loaded, {"diesel-window-1": Revision(3, stamp)})
    r = await client.get("/calendar.ics", headers=IDENTITY)
    assert rendered == ["diesel-window-1"]
    assert r.headers["last-modified"] == "Sat, 01 Jun 2024 08:30:00 GMT"
    assert b"SEQUENCE:3" in r.content


async def test_an_event_leaving_the_feed_moves_last_modified(
        source: TimelineSource, client: httpx.AsyncClient) -> None:
    # As the daemon publishes a reload: the store's revisions and its last change.
    store = Store.open("sqlite://")
    t1, t2 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC), datetime(2024, 6, 2, 8, 0, tzinfo=UTC)
    store.sync_events(source.loaded, t1)
    source.update(source.loaded, store.revisions(), store.last_change())
    first = await client.get("/calendar.ics", headers=IDENTITY)
    assert first.headers["last-modified"] == "Sat, 01 Jun 2024 08:00:00 GMT"

    loaded = source.loaded
    gone = "marriage-guidance-issued"
    fewer = LoadedTimeline(loaded.timeline.model_copy(update={"events": [
        e for e in loaded.timeline.events if e.id != gone]}), loaded.rules, loaded.source,
        loaded.fingerprints)
    store.sync_events(fewer, t2)
    source.update(fewer, store.revisions(), store.last_change())
    # Only an event left it; no event in it is newer than t1.
    again = await client.get("/calendar.ics", headers={
        **IDENTITY, "if-modified-since": first.headers["last-modified"]})
    assert again.status_code == 200
    assert again.headers["last-modified"] == "Sun, 02 Jun 2024 08:00:00 GMT"
    store.close()


def test_a_story_or_zone_edit_reaches_the_cached_feed(loaded: LoadedTimeline,
                                                      events_path: Path) -> None:
    source, cache = TimelineSource(loaded), FeedCache()
    before = cache.get_sync(source.snapshot(), FeedKey())
    # The story's title is in each of its events' descriptions.
    source.update(edited_timeline(events_path, "title: 南川工业园区零碳园区建设全面启动",
                                  "title: 南川零碳园区建设启动"))
    after = cache.get_sync(source.snapshot(), FeedKey())
    assert after.etag != before.etag
    assert "南川零碳园区建设启动".encode() in after.body
    assert "南川工业园区零碳园区建设全面启动".encode() not in after.body
    source.update(edited_timeline(events_path, "timezone: Asia/Shanghai",
                                  "timezone: Asia/Urumqi"))
    zoned = cache.get_sync(source.snapshot(), FeedKey())
    assert b"X-WR-TIMEZONE:Asia/Urumqi" in zoned.body
    assert zoned.body.count(b"Asia/Shanghai") == 0


def test_feed_cache_keeps_only_the_current_version(loaded: LoadedTimeline,
                                                   events_path: Path) -> None:
    source, cache = TimelineSource(loaded), FeedCache(max_entries=3)
    for key in (FeedKey(), FeedKey(tags=("phase",)), FeedKey(lang="en")):
        cache.get_sync(source.snapshot(), key)
    cache.get_sync(source.snapshot(), FeedKey(stories=("diesel-subsidy",)))
    assert len(cache) == 3  # least recently used went
    source.update(edited_timeline(events_path, "end: 2024-07-30", "end: 2024-08-30"))
    fresh = cache.get_sync(source.snapshot(), FeedKey())
    assert len(cache) == 1 and fresh.version == 2
    assert cache.cached(source.snapshot(), FeedKey(tags=("phase",))) is None


# ── the page ───────────────────────────────────────────────────────────────────────────

async def test_page_zh(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    html = r.text
    assert html.startswith('<!DOCTYPE html><html lang="zh-CN">')
    assert "<script" not in html and "http://cdn" not in html and "https://cdn" not in html
    assert 'data-event="diesel-window-1" data-days-left="11"' in html
    assert "受理中，还剩 11 天截止" in html
    assert "15 天后开始受理" in html  # window 2 opens 2024-06-04
    assert "约还剩 590 天" in html  # a year-end deadline: approximate days
    assert "2025年底前" in html
    assert "2024-05-21（周二）" in html  # the next office day
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="chart"' in html
    assert 'id="today-line"' in html and "今天 2024-05-20" in html
    assert 'href="webcal://test/calendar.ics"' in html
    assert ('href="https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2Ftest%2F'
            'calendar.ics"') in html
    assert '<code id="feed-url" class="url">http://test/calendar.ics</code>' in html
    assert 'class="qrcode"' in html
    assert 'href="webcal://test/feeds/tag/office-hours.ics"' in html
    # Each story is reached through its page, which has its feed (below).
    assert 'href="./stories/diesel-subsidy"' in html


async def test_story_page_zh(client: httpx.AsyncClient) -> None:
    # What the home page listed of every item before it had an index of stories.
    r = await client.get("/stories/diesel-subsidy")
    assert r.status_code == 200
    html = r.text
    assert html.startswith('<!DOCTYPE html><html lang="zh-CN">')
    assert "<script" not in html
    assert "每周二、周五，节假日除外" in html
    assert 'href="webcal://test/feeds/story/diesel-subsidy.ics"' in html
    # The source quote and the precision note are in each item (open on its story's page;
    # the past ones folded).
    window = html.split('<li id="ev-diesel-window-1">')[1].split("</li>")[0]
    assert "「自工作方案发布之日起至 2024 年 5 月 31 日" in window
    assert '<details class="past" id="past"><summary>已过去的事项（1）</summary>' in html
    assert "日期精度: 年底前 — “在2025年底前”只给到年底" in html
    items = html.split('id="items"')[1]
    assert "2025年底前" in items and "2025-12-31" not in items
    nanchuan = (await client.get("/stories/nanchuan-zero-carbon")).text
    assert "日期精度: 年底前 — “到2025年底前”只给到年底" in nanchuan


async def test_page_en(client: httpx.AsyncClient) -> None:
    html = (await client.get("/?lang=en")).text
    assert html.startswith('<!DOCTYPE html><html lang="en">')
    assert "open, closes in 11 days" in html
    # Jinja2's escaping writes the apostrophe as &#39;
    assert "From the work plan&#39;s release (about April 2024) – 2024-05-31" in html
    assert "by the end of 2025" in html
    assert "Today 2024-05-20" in html
    assert 'href="webcal://test/calendar.ics?lang=en"' in html
    assert 'href="webcal://test/feeds/tag/phase.ics?lang=en"' in html
    assert 'href="http://test/?lang=zh"' in html
    assert 'href="./stories/diesel-subsidy?lang=en"' in html
    story = (await client.get("/stories/diesel-subsidy?lang=en")).text
    assert "every Tue, Fri, except public holidays" in story
    assert 'href="webcal://test/feeds/story/diesel-subsidy.ics?lang=en"' in story
    assert 'href="http://test/stories/diesel-subsidy?lang=zh"' in story


async def test_page_base_url_and_default_lang(source: TimelineSource) -> None:
    app = create_app(source, base_url="https://cal.example.org/", today=lambda: TODAY,
                     lang="en")
    async with await _client(app) as c:
        html = (await c.get("/")).text
        feed = await c.get("/calendar.ics", headers=IDENTITY)
    assert '<html lang="en">' in html
    assert 'href="webcal://cal.example.org/calendar.ics"' in html
    assert 'href="https://cal.example.org/?lang=zh"' in html
    assert b"Application window 1" in feed.content


async def test_page_escapes_everything() -> None:
    loaded = parse_timeline("""
stories:
  - id: s
    title: "<b>Story</b> & co"
    source: {newspaper: "<i>paper</i>"}
    published: 2024-01-01
events:
  - id: e
    story: s
    kind: deadline
    title: "<script>alert(1)</script>"
    source: 'quote "with" <tags>'
    note: "<img src=x onerror=alert(1)>"
    due: 2024-06-01
    tags: [x]
    url: 'javascript:alert("x")'
""")
    app = create_app(TimelineSource(loaded), today=lambda: TODAY)
    async with await _client(app) as c:
        html = (await c.get("/", headers={"Host": 'evil"><script>x</script>'})).text
    assert "<script" not in html
    assert "<img" not in html and "<b>Story" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the quote is on the story page (Jinja2 escapes a double quote as &#34;)
    async with await _client(app) as c:
        story = (await c.get("/stories/s")).text
    assert "quote &#34;with&#34; &lt;tags&gt;" in story


async def test_page_follows_updates(source: TimelineSource, client: httpx.AsyncClient,
                                    events_path: Path) -> None:
    assert "数据版本 1" in (await client.get("/")).text
    changed = edited_timeline(events_path, "title: 第二受理期：", "title: 第二受理期（延长）：")
    source.update(changed)
    html = (await client.get("/")).text
    assert "数据版本 2" in html and "第二受理期（延长）：" in html


async def test_default_today_is_the_timelines(source: TimelineSource) -> None:
    # 20:00 UTC on 20 May is already 21 May in Shanghai (and still the 20th in New York,
    # the test session's local zone).
    app = create_app(source)
    # real_asyncio: the event loop keeps its own clock (only the app's date is frozen).
    with freeze_time(datetime(2024, 5, 20, 20, 0, tzinfo=UTC), real_asyncio=True):
        async with await _client(app) as c:
            html = (await c.get("/")).text
            upcoming = (await c.get("/api/upcoming?days=1")).json()
    assert "按 2024-05-21 计算" in html
    assert 'data-event="diesel-window-1" data-days-left="10"' in html
    assert upcoming["today"] == "2024-05-21"


# ── JSON API ───────────────────────────────────────────────────────────────────────────

async def test_api_events(client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    r = await client.get("/api/events")
    assert r.status_code == 200
    data = r.json()
    assert data["version"] == 1 and data["timezone"] == "Asia/Shanghai"
    assert len(data["events"]) == len(loaded.timeline.events)
    assert len(data["stories"]) == len(loaded.timeline.stories)
    office = next(e for e in data["events"] if e["id"] == "diesel-office-hours-window-1")
    assert office["except"] == ["cn-holidays"] and office["weekdays"] == ["tue", "fri"]
    phase = next(e for e in data["events"] if e["id"] == "nanchuan-phase-2-near-zero-park")
    assert phase["due"] == "2028-12-31" and phase["precision"] == "year-end"
    # Lead times as the file and the reminder keys write them: 365 days are not "a year".
    assert phase["reminders"] == ["365d", "180d", "90d", "30d", "7d"]
    assert "第二阶段" in r.text  # not \\u-escaped
    filtered = (await client.get("/api/events?story=marriage-registration")).json()
    assert [s["id"] for s in filtered["stories"]] == ["marriage-registration"]
    assert len(filtered["events"]) == 2


async def test_api_upcoming(client: httpx.AsyncClient) -> None:
    data = (await client.get("/api/upcoming?days=15")).json()
    assert data["today"] == "2024-05-20" and data["days"] == 15
    by_id: dict[str, list[dict[str, Any]]] = {}
    for item in data["occurrences"]:
        by_id.setdefault(item["event"], []).append(item)
    window = by_id["diesel-window-1"][0]
    assert window["days_left"] == 11 and window["open"] is True and window["start"] is None
    assert [o["start"] for o in by_id["diesel-office-hours-window-1"]] == [
        "2024-05-21", "2024-05-24", "2024-05-28", "2024-05-31"]
    second = by_id["diesel-window-2"][0]
    assert second["open"] is False and second["days_left"] == 71
    default = (await client.get("/api/upcoming")).json()
    assert default["days"] == 30
    only = (await client.get("/api/upcoming?days=60&tag=application-window")).json()
    assert {o["event"] for o in only["occurrences"]} == {"diesel-window-1", "diesel-window-2"}


@pytest.mark.parametrize("days", ["0", "-1", "abc", "3661", "1.5", ""])
async def test_api_upcoming_bad_days(client: httpx.AsyncClient, days: str) -> None:
    r = await client.get(f"/api/upcoming?days={days}")
    assert r.status_code == 400
    assert "a whole number from 1 to 3660" in r.json()["error"]


async def test_api_errors_are_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/events?tag=nope")
    assert r.status_code == 404 and "unknown tag 'nope'" in r.json()["error"]
    r = await client.get("/api/nothing-here")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}


async def test_openapi_describes_every_route(app: Any, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    routes = {r.path for r in app.routes if isinstance(r, Route)}
    assert set(spec["paths"]) == routes
    assert spec == openapi()


# ── health, metrics, errors ────────────────────────────────────────────────────────────

async def test_healthz_default(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "timeline_version": 1}


async def test_healthz_from_callable(source: TimelineSource) -> None:
    state: dict[str, Any] = {"ok": True, "store": "sqlite", "scheduler": "running",
                             "next_due": datetime(2024, 5, 21, 1, tzinfo=UTC),
                             "last_delivery": None}
    app = create_app(source, health=lambda: state)
    async with await _client(app) as c:
        r = await c.get("/healthz")
        assert r.status_code == 200
        assert r.json()["next_due"] == "2024-05-21 01:00:00+00:00"
        assert r.json()["timeline_version"] == 1
        state["ok"] = False
        assert (await c.get("/healthz")).status_code == 503


async def test_healthz_async_and_failing(source: TimelineSource) -> None:
    async def healthy() -> dict[str, Any]:
        return {"ok": True, "store": "postgresql"}

    def broken() -> dict[str, Any]:
        raise RuntimeError("database is down: password=secret")

    async with await _client(create_app(source, health=healthy)) as c:
        assert (await c.get("/healthz")).json()["store"] == "postgresql"
    async with await _client(create_app(source, health=broken)) as c:
        r = await c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["ok"] is False and "secret" not in r.text


async def test_metrics(source: TimelineSource) -> None:
    from timeline.delivery.metrics import Metrics, delivery_metrics

    sent = Metrics()
    sent.outcomes["delivered"] += 4
    for delay in (0.25, 0.5, 0.75, 5.0):  # exact in binary: the sum too
        sent.observe_delay(delay)
    app = create_app(source, metrics=lambda: delivery_metrics({"sent": 4, "dead": 1}, sent))
    async with await _client(app) as c:
        etag = (await c.get("/calendar.ics")).headers["etag"]
        await c.get("/calendar.ics", headers={"If-None-Match": etag})
        await c.get("/feeds/tag/phase.ics")
        await c.get("/feeds/story/nope.ics")  # a 404 still counts as a request
        r = await c.get("/metrics")
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = r.text.splitlines()
    # prometheus_client writes every value as a float
    assert 'timeline_feed_requests_total{kind="calendar"} 2.0' in lines
    assert 'timeline_feed_requests_total{kind="tag"} 1.0' in lines
    assert 'timeline_feed_requests_total{kind="story"} 1.0' in lines
    assert 'timeline_feed_not_modified_total{kind="calendar"} 1.0' in lines
    assert 'timeline_feed_not_modified_total{kind="tag"} 0.0' in lines
    assert "timeline_feed_renders_total 2.0" in lines
    assert "timeline_version 1.0" in lines
    assert "# TYPE timeline_feed_requests_total counter" in lines
    # the daemon's part, in the same exposition
    assert 'timeline_deliveries{state="dead"} 1.0' in lines
    assert 'timeline_deliveries{state="sent"} 4.0' in lines
    assert "# TYPE timeline_deliveries gauge" in lines
    assert 'timeline_send_outcomes_total{outcome="delivered"} 4.0' in lines
    assert "# TYPE timeline_reminder_delay_seconds summary" in lines
    assert 'timeline_reminder_delay_seconds{quantile="0.5"} 0.75' in lines  # of 4: the 3rd
    assert 'timeline_reminder_delay_seconds{quantile="0.99"} 5.0' in lines
    assert "timeline_reminder_delay_seconds_count 4.0" in lines
    assert "timeline_reminder_delay_seconds_sum 6.5" in lines
    for _ in range(10_000):  # the window of recent delays is cut; count and sum never fall
        sent.observe_delay(1.0)
    async with await _client(app) as c:
        again = (await c.get("/metrics")).text.splitlines()
    assert "timeline_reminder_delay_seconds_count 10004.0" in again
    assert "timeline_reminder_delay_seconds_sum 10006.5" in again


async def test_unknown_path_and_method(client: httpx.AsyncClient) -> None:
    r = await client.get("/wp-admin.php")
    assert r.status_code == 404 and r.text == "Not Found"
    r = await client.post("/calendar.ics")
    assert r.status_code == 405


async def test_500_leaks_no_traceback(source: TimelineSource,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("secret internals at /srv/app.py")

    monkeypatch.setattr(timeline.web.app, "render_home", explode)
    app = create_app(source, today=lambda: TODAY)
    async with await _client(app, raise_app_exceptions=False) as c:
        r = await c.get("/")
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    assert "secret" not in r.text and "Traceback" not in r.text


def test_one_day_is_singular_in_english() -> None:
    from timeline.web.text import t

    assert t("days_left", "en", n=1) == "1 day left"
    assert t("opens_in", "en", n=1) == "opens in 1 day"
    assert t("days_left", "en", n=2) == "2 days left"
    assert t("days_left", "zh", n=1) == "还剩 1 天"


@pytest.mark.parametrize("path", ["/stories/nanchuan-zero-carbon/", "/feeds/tag/preschool.ics/",
                                  "/calendar.ics/", "/tags/preschool/"])
async def test_a_trailing_slash_is_404_never_a_redirect_to_the_hosts_name(
        client: httpx.AsyncClient, path: str) -> None:
    """Starlette's slash redirect built its Location from any Host, before allowed_hosts
    could be checked (found by a hostile run: `Location: http://evil.com/stories/s1`)."""
    response = await client.get(path, headers={"Host": "evil.com"})
    assert response.status_code in (400, 404)
    assert "location" not in response.headers
