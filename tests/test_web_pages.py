"""The pages in-process (httpx.ASGITransport): home, story and tag pages, search, the past
fold, escaping everywhere, the cache, and the home page at 10,000 events."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from timeline.loader import LoadedTimeline, parse_timeline
from timeline.source import TimelineSource
from timeline.web import create_app
from timeline.web.search import LIMIT, MAX_QUERY, MAX_TERMS

from .web_helpers import edited_timeline, synthetic_timeline

TODAY = date(2024, 5, 20)
REPO = Path(__file__).resolve().parent.parent


async def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")


@pytest.fixture
def source(loaded: LoadedTimeline) -> TimelineSource:
    return TimelineSource(loaded)


@pytest.fixture
async def client(source: TimelineSource) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(create_app(source, today=lambda: TODAY)) as c:
        yield c


@pytest.fixture(scope="module")
def big() -> LoadedTimeline:
    return synthetic_timeline(10_000)


@pytest.fixture
async def big_client(big: LoadedTimeline) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(create_app(TimelineSource(big), today=lambda: TODAY)) as c:
        yield c


def _ids(html: str, section: str) -> list[str]:
    """The data-event ids inside the element with id=`section`, in order."""
    part = html.split(f'id="{section}"', 1)[1]
    end = re.search(r"</(ul|ol|section)>", part)
    assert end is not None
    return re.findall(r'data-event="([^"]+)"', part[:end.start()])


# ── every page ─────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize(("path", "title", "feed"), [
    ("/", "<title>政策时间表</title>", "http://test/calendar.ics"),
    ("/stories/diesel-subsidy", "<title>2024年老旧柴油货车第一批鼓励淘汰补贴 · 政策时间表</title>",
     "http://test/feeds/story/diesel-subsidy.ics"),
    ("/tags/office-hours", "<title>标签：office-hours · 政策时间表</title>",
     "http://test/feeds/tag/office-hours.ics"),
])
async def test_every_page_has_a_title_its_feed_and_english(
        client: httpx.AsyncClient, path: str, title: str, feed: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert title in r.text
    assert '<link rel="alternate" type="text/calendar" title="' in r.text
    link = re.search(r'<link rel="alternate" type="text/calendar" [^>]*href="([^"]+)"', r.text)
    assert link is not None and link.group(1) == feed
    assert f'<code id="feed-url" class="url">{feed}</code>' in r.text
    assert 'class="qrcode"' in r.text
    en = await client.get(f"{path}?lang=en")
    assert en.status_code == 200 and '<html lang="en">' in en.text
    link = re.search(r'<link rel="alternate" type="text/calendar" [^>]*href="([^"]+)"', en.text)
    assert link is not None and link.group(1) == f"{feed}?lang=en"
    # links between pages keep the language
    assert re.search(r'href="[./]*(stories|tags)/[a-z0-9-]+\?lang=en', en.text)
    assert f'href="http://test{path}?lang=zh"' in en.text  # and the switch back


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/stories/nope", 404, "unknown story 'nope'"),
    ("/stories/Not%20A%20Slug", 404, "unknown story 'Not A Slug'"),
    ("/tags/nope", 404, "unknown tag 'nope'"),
    ("/tags/a.b", 404, "unknown tag 'a.b'"),
    ("/stories/diesel-subsidy?lang=fr", 400, "bad lang 'fr'"),
    ("/tags/phase?lang=en&lang=zh", 400, "give lang only once"),
])
async def test_unknown_pages_and_bad_values(client: httpx.AsyncClient, path: str, status: int,
                                            message: str) -> None:
    r = await client.get(path)
    assert r.status_code == status
    assert message in r.text


# ── the home page ──────────────────────────────────────────────────────────────────────

async def test_home_lists_what_comes_first_and_an_index_of_stories(
        client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    html = (await client.get("/")).text
    order = [html.index(f'id="{part}"') for part in
             ("coming", "open-now", "this-week", "chart-section", "past", "stories",
              "subscribe")]
    assert order == sorted(order)
    assert _ids(html, "open-now") == ["diesel-window-1"]
    assert _ids(html, "coming")[0] == "diesel-window-2"  # opens in 15 days
    assert _ids(html, "this-week") == ["diesel-office-hours-window-1"]
    # The index: one line a story, with its source, date, count and next date.
    index = html.split('id="stories"')[1].split("</section>")[0]
    assert index.count("<li ") == len(loaded.timeline.stories)
    assert ('<a href="./stories/diesel-subsidy">2024年老旧柴油货车第一批鼓励淘汰补贴</a>'
            '<span class="meta">西宁本地报纸（版面未印报名） · 约2024年4月 · 事项 6 · '
            '下一个日期 2024-05-21</span>') in index
    # Items are on their stories' pages, not here in full.
    assert "<blockquote>" not in html
    assert 'href="./stories/diesel-subsidy#ev-diesel-window-1"' in html
    # Tags: each to its page and its feed.
    assert ('<a href="./tags/office-hours">office-hours</a> (2) · '
            '<a href="webcal://test/feeds/tag/office-hours.ics">订阅</a>') in html


async def test_open_now_is_windows_and_a_deadline_due_today_is_coming() -> None:
    loaded = parse_timeline("""
stories:
  - {id: s, title: 报道, source: {newspaper: 报, page: A2}, published: 2024-05-01}
events:
  - {id: due-today, story: s, kind: deadline, title: 今天截止的事, source: 原文, due: 2024-05-20}
  - {id: open, story: s, kind: window, title: 受理中, source: 原文, start: 2024-05-01,
     end: 2024-06-01}
  - {id: later, story: s, kind: window, title: 以后受理, source: 原文, start: 2024-06-01,
     end: 2024-07-01}
""")
    app = create_app(TimelineSource(loaded), today=lambda: TODAY)
    async with await _client(app) as c:
        html = (await c.get("/")).text
        story = (await c.get("/stories/s")).text
    assert _ids(html, "open-now") == ["open"]
    assert _ids(html, "coming") == ["due-today", "later"]
    assert "今天截止" in html
    assert "来源: 报 · 版面 A2 · " in story


async def test_the_past_is_folded_newest_first(client: httpx.AsyncClient,
                                               loaded: LoadedTimeline) -> None:
    home = (await client.get("/")).text
    fold = home.split('<details class="past" id="past">')[1].split("</details>")[0]
    assert fold.startswith("<summary>已过去的事项（9）</summary>")
    past = re.findall(r'data-event="([^"]+)"', fold)
    # Newest first: the 1964-1980 era is the oldest, the guidance of about January 2022 next.
    assert past[-2:] == ["marriage-guidance-issued", "third-front-era-1964-1980"]
    assert "diesel-window-1" not in past  # open until 2024-05-31
    story = (await client.get("/stories/marriage-registration")).text
    current, folded = story.split('<details class="past" id="past">')
    assert 'id="ev-marriage-' not in current.split('id="items"')[1]  # both are past
    assert re.findall(r'<li id="ev-([^"]+)">', folded) == [
        "marriage-legacy-cases-resolved", "marriage-guidance-issued"]
    assert "「自《指导意见》出台两年多以来" in folded  # past items keep their quote


# ── story and tag pages ────────────────────────────────────────────────────────────────

async def test_story_page_has_every_item_with_sources_and_notes(
        client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    html = (await client.get("/stories/nanchuan-zero-carbon")).text
    events = [e for e in loaded.timeline.events if e.story == "nanchuan-zero-carbon"]
    assert sorted(re.findall(r'<li id="ev-([^"]+)">', html)) == sorted(e.id for e in events)
    for event in events:
        item = html.split(f'<li id="ev-{event.id}">')[1].split("</li>")[0]
        assert event.source.replace('"', "&#34;") in item
        if event.note:
            assert event.note.replace('"', "&#34;") in item
    assert "<h2>南川工业园区零碳园区建设全面启动</h2>" in html
    assert "来源: 西宁本地报纸（版面未印报名）" in html
    assert 'href="webcal://test/feeds/story/nanchuan-zero-carbon.ics"' in html
    assert '<a href="../tags/phase">phase</a>' in html
    assert '<a href="../">← 全部报道</a>' in html
    # its own chart: only this story's rows
    chart = html.split("<svg", 1)[1].split("</svg>")[0]
    rows = set(re.findall(r'<g data-event="([^"]+)">', chart))
    assert rows and rows <= {e.id for e in events}


async def test_tag_page_has_the_items_of_a_tag_across_stories() -> None:
    small = synthetic_timeline(200)  # tag t3: every 50th item, of four stories
    async with await _client(create_app(TimelineSource(small), today=lambda: TODAY)) as c:
        html = (await c.get("/tags/t3")).text
    tagged = {e.id: e.story for e in small.timeline.events if "t3" in e.tags}
    assert len(set(tagged.values())) == 4
    assert set(re.findall(r'<li id="ev-([^"]+)">', html)) == set(tagged)
    for event_id, story in tagged.items():
        item = html.split(f'<li id="ev-{event_id}">')[1].split("</li>")[0]
        assert f'href="../stories/{story}"' in item  # each item names its story
    assert '<h2 class="page-title">标签：t3</h2>' in html
    assert 'href="webcal://test/feeds/tag/t3.ics"' in html


# ── search ─────────────────────────────────────────────────────────────────────────────

async def test_search_in_chinese_and_english(client: httpx.AsyncClient) -> None:
    zh = (await client.get("/", params={"q": "第二受理期"})).text
    assert "“第二受理期”的搜索结果：2 项" in zh
    # both hold it in their title, in date order
    assert _ids(zh, "results") == ["diesel-office-hours-window-2", "diesel-window-2"]
    assert "<mark>第二受理期</mark>" in zh
    assert 'id="stories"' not in zh  # the results instead of the home page's lists
    # English words find items by their English text, on a Chinese page too.
    en = (await client.get("/", params={"q": "Application window"})).text
    assert _ids(en, "results") == ["diesel-window-1", "diesel-window-2"]
    assert "<mark>Application</mark> <mark>window</mark> 1" in en  # the English title shown
    both = (await client.get("/", params={"q": "OFFICE 车管所", "lang": "en"})).text
    assert set(_ids(both, "results")) == {"diesel-office-hours-window-1",
                                          "diesel-office-hours-window-2"}
    assert "<mark>office</mark>" in both.lower()
    # a quote is searched too, and the match shown in a snippet
    quote = (await client.get("/", params={"q": "朝阳西路"})).text
    assert _ids(quote, "results") == ["third-front-base-opening"]
    assert '<span class="snippet">' in quote and "<mark>朝阳西路</mark>" in quote
    none = (await client.get("/", params={"q": "不存在的词"})).text
    assert "“不存在的词”的搜索结果：0 项" in none and "没有找到。" in none
    assert "<title>Search: OFFICE 车管所 · Policy timeline</title>" in both
    assert '<form class="search" role="search" method="get" action="./">' in both
    # the box keeps what was searched, and the language
    assert 'name="q" maxlength="100" value="OFFICE 车管所"' in both
    assert '<input type="hidden" name="lang" value="en">' in both


async def test_search_on_story_and_tag_pages_stays_inside_them(
        client: httpx.AsyncClient) -> None:
    story = (await client.get("/stories/nanchuan-zero-carbon", params={"q": "阶段"})).text
    found = _ids(story, "results")
    assert found == ["nanchuan-phase-1-green-power-park", "nanchuan-phase-2-near-zero-park",
                     "nanchuan-phase-3-zero-carbon-park"]
    # the results in place of the story's list; a link back to it
    assert 'id="items"' not in story
    assert '<a href="../stories/nanchuan-zero-carbon">清除搜索</a>' in story
    assert 'action="../stories/nanchuan-zero-carbon">' in story  # the form stays on its page
    elsewhere = (await client.get("/stories/diesel-subsidy", params={"q": "阶段"})).text
    assert "搜索结果：0 项" in elsewhere
    tag = (await client.get("/tags/application-window", params={"q": "第二"})).text
    assert _ids(tag, "results") == ["diesel-window-2"]


@pytest.mark.parametrize(("q", "message"), [
    ("x" * (MAX_QUERY + 1), f"at most {MAX_QUERY}"),
    (" ".join(f"w{i}" for i in range(MAX_TERMS + 1)), f"at most {MAX_TERMS}"),
    ("a\x00b", "control"),
    ("a\u200bb", "control"),  # a zero-width space (format character)
])
async def test_bad_searches_are_400(client: httpx.AsyncClient, q: str, message: str) -> None:
    for path in ("/", "/stories/diesel-subsidy", "/tags/phase"):
        r = await client.get(path, params={"q": q})
        assert r.status_code == 400, path
        assert message in r.text


async def test_search_edge_values(client: httpx.AsyncClient) -> None:
    twice = await client.get("/?q=a&q=b")
    assert twice.status_code == 400 and "give q only once" in twice.text
    blank = await client.get("/", params={"q": "  \u3000 "})
    assert blank.status_code == 200 and 'id="stories"' in blank.text  # no search
    # regular-expression characters are words like any other
    for q in (".*", "(.+", "[a-", "\\", "<>", "^$"):
        r = await client.get("/", params={"q": q})
        assert r.status_code == 200 and "搜索结果：0 项" in r.text, q


async def test_a_search_is_not_cached_and_warm_pages_are(source: TimelineSource,
                                                         events_path: Path) -> None:
    app = create_app(source, today=lambda: TODAY)
    cache = app.state.page_cache
    async with await _client(app) as c:
        for _ in range(3):
            await c.get("/")
            await c.get("/stories/diesel-subsidy")
        assert cache.renders == 2
        for q in ("a", "b", "c"):
            await c.get("/", params={"q": q})
        assert cache.renders == 2 and len(cache) == 2
        await c.get("/?lang=en")
        assert cache.renders == 3
        source.update(edited_timeline(events_path, "title: 第二受理期：",
                                      "title: 第二受理期（延长）："))
        html = (await c.get("/stories/diesel-subsidy")).text
    assert "第二受理期（延长）：" in html
    assert len(cache) == 1  # the old version's pages went


# ── escaping ───────────────────────────────────────────────────────────────────────────

HOSTILE = """
stories:
  - id: s
    title: "<b>Story</b> & co"
    summary: "<iframe src=x>"
    source: {newspaper: "<i>paper</i>", page: "<u>A1</u>"}
    published: 2024-01-01
events:
  - id: e
    story: s
    kind: deadline
    title: "<script>alert(1)</script> 补贴"
    description: "<img src=x onerror=alert(1)> 描述"
    source: 'quote "with" <tags> 原文'
    note: "<img src=y onerror=alert(2)>"
    due: 2024-06-01
    precision: month
    tags: [x]
    audience: ["<em>all</em>"]
    url: 'javascript:alert("x")'
  - id: past
    story: s
    kind: happening
    title: "<svg onload=alert(3)>old"
    source: "<a href='javascript:alert(4)'>link</a>"
    date: 2023-01-01
    tags: [x]
    url: "https://example.org/?a=<b>&c=\\"d\\""
"""


async def test_markup_in_the_events_file_is_text_everywhere() -> None:
    loaded = parse_timeline(HOSTILE)
    app = create_app(TimelineSource(loaded), today=lambda: TODAY)
    async with await _client(app) as c:
        pages = {path: (await c.get(path)).text for path in (
            "/", "/stories/s", "/tags/x", "/?q=补贴", "/?q=script", "/?q=javascript",
            "/stories/s?q=原文", "/tags/x?q=old", "/?lang=en")}
    for path, html in pages.items():
        assert "<script" not in html, path
        assert "<img" not in html and "<iframe" not in html and "<svg onload" not in html, path
        assert "<b>Story" not in html and "<i>paper" not in html and "<em>all" not in html
        assert 'href="javascript' not in html, path
        assert "<a href='javascript" not in html, path
    story = pages["/stories/s"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 补贴" in story
    assert "&lt;img src=x onerror=alert(1)&gt; 描述" in story
    assert "quote &#34;with&#34; &lt;tags&gt; 原文" in story
    assert "&lt;u&gt;A1&lt;/u&gt;" in story and "&lt;iframe src=x&gt;" in story
    # the javascript: URL is shown as inert text; a web URL is a link, escaped
    assert "<p>javascript:alert(&#34;x&#34;)</p>" in story
    assert 'href="https://example.org/?a=&lt;b&gt;&amp;c=&#34;d&#34;"' in story
    # the chart's labels and tooltips (SVG built in code) are escaped too
    svg = story.split("<svg", 1)[1].split("</svg>")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 补贴" in svg
    assert "&lt;svg onload=alert(3)&gt;old" in svg
    # search results: highlighted inside the escaped text
    assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;" in pages[
        "/?q=script"]
    assert "&lt;a href=&#39;<mark>javascript</mark>:alert(4)&#39;&gt;" in pages[
        "/?q=javascript"]


async def test_a_hostile_query_is_escaped() -> None:
    loaded = parse_timeline(HOSTILE)
    app = create_app(TimelineSource(loaded), today=lambda: TODAY)
    q = '"><script>alert(5)</script>'
    async with await _client(app) as c:
        for path in ("/", "/stories/s", "/tags/x"):
            html = (await c.get(path, params={"q": q})).text
            assert "<script" not in html, path
            assert 'value="&#34;&gt;&lt;script&gt;alert(5)&lt;/script&gt;"' in html


# ── at scale ───────────────────────────────────────────────────────────────────────────

async def test_home_at_10000_events_shows_a_bounded_page(big: LoadedTimeline,
                                                         big_client: httpx.AsyncClient) -> None:
    r = await big_client.get("/", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    size = len(r.content)
    assert size < 200_000, size
    html = r.text
    # what comes first, bounded; not every item of every story
    for section in ("coming", "open-now", "this-week"):
        assert 0 < len(_ids(html, section)) <= 20, section
    assert "另有" in html and "项未列出" in html
    assert len(re.findall(r"data-event=", html)) < 200
    assert "<blockquote>" not in html
    # the index: every story, with its count of items
    index = html.split('id="stories"')[1].split("</section>")[0]
    assert index.count("<li ") == len(big.timeline.stories) == 500
    assert "事项 20 · " in index
    # the chart only draws what the lists show
    svg = html.split("<svg", 1)[1].split("</svg>")[0]
    assert len(re.findall(r"<g data-event=", svg)) <= 60
    assert "此处只画出上方列出的事项" in html


async def test_story_and_tag_pages_and_search_at_10000_events(
        big_client: httpx.AsyncClient) -> None:
    story = await big_client.get("/stories/s7", headers={"Accept-Encoding": "identity"})
    assert story.status_code == 200
    assert len(re.findall(r'<li id="ev-', story.text)) == 20
    # "bench" tags all 10,000: the page lists 200 current and 200 past, and says so
    tag = await big_client.get("/tags/bench", headers={"Accept-Encoding": "identity"})
    assert tag.status_code == 200
    assert len(re.findall(r'<li id="ev-', tag.text)) == 400
    assert "项未列出，可用搜索查找" in tag.text
    # a word every item holds: the first LIMIT are shown, the count is all of them
    everything = (await big_client.get("/", params={"q": "补贴 north"})).text
    assert "“补贴 north”的搜索结果：10000 项" in everything
    assert len(_ids(everything, "results")) == LIMIT
    one = (await big_client.get("/", params={"q": "item 4321:"})).text
    assert _ids(one, "results") == ["e4321"]


# ── packaging ──────────────────────────────────────────────────────────────────────────

def test_the_templates_are_package_data() -> None:
    """Every template is covered by pyproject's package-data, so a wheel carries it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["timeline.web"]
    folder = resources.files("timeline.web") / "templates"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".html"))
    assert {"base.html", "home.html", "story.html", "tag.html", "_item.html", "_story.html",
            "_subscribe.html"} <= set(names)
    covered = {p.name for g in globs for p in (REPO / "timeline" / "web").glob(g)}
    assert covered == set(names)
