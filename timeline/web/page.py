"""The pages: the home page, a story's page, a tag's page, each with its search.

This module gathers what a page shows (as plain text and the views of `items.py`) and hands
it to its template (`templates/`, autoescaped); it builds no markup itself. Every list is
bounded, so a page stays small however many events the file holds: the home page shows what
a visitor needs first and an index of the stories; a story's or tag's page shows its items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import segno
from markupsafe import Markup

from timeline.formatting import Lang, format_when
from timeline.loader import LoadedTimeline
from timeline.model import Deadline, Happening, Recurring, Story, Window
from timeline.occurrences import AnyEvent
from timeline.source import Snapshot
from timeline.web.agenda import next_recurring, upcoming
from timeline.web.catalog import Catalog
from timeline.web.items import ItemView, as_day, item_view, line_view, next_line, title, when
from timeline.web.links import FeedLinks, Links
from timeline.web.search import MAX_QUERY, Query, search
from timeline.web.style import CSS
from timeline.web.svg import ROWS_MAX, Chart, chart_svg
from timeline.web.templating import render
from timeline.web.text import HTML_LANG, kind_label, t

__all__ = ["render_home", "render_story", "render_tag"]

HOME_LIST = 20  # lines in each of the home page's lists (coming up, open, this week, past)
WEEK = timedelta(days=7)
ITEMS_MAX = 200  # items in full on a story's or tag's page, current and past each
# A story's or tag's chart: its rows nearest today. The list below has every item, so more
# rows would repeat it (200 rows are 70 KB of SVG and 5,000 pixels tall; 30 are 10 KB).
CHART_ROWS = 30
API_PATHS = ("/api/events", "/api/upcoming", "/openapi.json")


def _common(snap: Snapshot, today: date, links: Links, path: str, query: Query | None,
            page_title: str, feed: FeedLinks, feed_title: str) -> dict[str, Any]:
    lang = links.lang

    def words(key: str, **values: object) -> str:
        return t(key, lang, **values)

    return {
        "lang": lang, "html_lang": HTML_LANG[lang], "other_html_lang": HTML_LANG[links.other_lang],
        "t": words, "links": links, "path": path, "query": query, "max_query": MAX_QUERY,
        "css": Markup(CSS), "page_title": page_title, "feed": feed, "feed_title": feed_title,
        "today": today.isoformat(), "version": snap.version, "api_paths": API_PATHS,
    }


def _legend(lang: Lang) -> list[tuple[str, str]]:
    return [("window", kind_label("window", lang)), ("phase", kind_label("deadline", lang)),
            ("span", kind_label("happening", lang)), ("recurring", kind_label("recurring", lang)),
            ("approx", t("legend_approx", lang)), ("today", t("today", lang))]


def _placed(chart: Chart) -> Chart:
    # The SVG is built in code from escaped parts (svg.py); the template places it as is.
    return chart._replace(svg=Markup(chart.svg))


def _qr(feed: FeedLinks, lang: Lang) -> Markup:
    return Markup(segno.make(feed.webcal, error="m").svg_inline(
        scale=4, border=2, dark="#1a202c", title=t("qr", lang), svgclass="qrcode"))


@dataclass(frozen=True)
class Hit:
    """A search result: the matches marked in its title and in snippets of its text."""

    id: str
    story: str
    story_title: str
    kind: str
    kind_label: str
    title: Markup
    when: str
    past: bool
    snippets: tuple[Markup, ...]


def _found(snap: Snapshot, catalog: Catalog, query: Query, scope: list[int] | None,
           today: date, lang: Lang) -> dict[str, Any]:
    results = search(catalog, query, scope)
    other: Lang = "en" if lang == "zh" else "zh"
    hits = []
    for event in results.events:
        story = snap.loaded.timeline.story(event.story)
        own_title = title(event, lang)
        snippets = []
        # The words may have matched the other language's text: show where they did.
        for text in (event.in_lang("description", lang), event.source,
                     event.in_lang("description", other), title(event, other)):
            if text and text != own_title:
                piece = query.snippet(text)
                if piece and piece not in snippets:
                    snippets.append(piece)
        hits.append(Hit(event.id, event.story, title(story, lang), event.kind,
                        kind_label(event.kind, lang), query.highlight(own_title),
                        when(event, snap, lang), catalog.is_past(event, today),
                        tuple(snippets[:2])))
    return {"query": query, "hits": hits, "total": results.total}


def _next_single(event: AnyEvent, today: date) -> date | None:
    """The next day on which something happens to a dated item: its due day, a window's
    opening (or, when open, its closing) day, a happening's day."""
    if isinstance(event, Deadline):
        due = as_day(event.due)
        return due if due >= today else None
    if isinstance(event, Window):
        start = as_day(event.start) if event.start is not None else None
        if start is not None and start >= today:
            return start
        end = as_day(event.end)
        return end if end >= today else None
    assert isinstance(event, Happening)
    day = as_day(event.date)
    return day if day >= today else None


def _next_of(events: list[AnyEvent], snap: Snapshot, catalog: Catalog,
             today: date) -> tuple[date, AnyEvent] | None:
    """The story's next date and the item it belongs to. Rules are expanded last, and
    only up to the best date found so far: a story of 200 weekly items asks few."""
    best: tuple[date, AnyEvent] | None = None
    rules: list[Recurring] = []
    for event in events:
        if isinstance(event, Recurring):
            rules.append(event)
        elif (day := _next_single(event, today)) is not None and (
                best is None or day < best[0]):
            best = (day, event)
    for event in rules:
        if catalog.is_past(event, today):
            continue
        low = max(today, catalog.first[event.id])
        limit = low + timedelta(days=400) if best is None else best[0] - timedelta(days=1)
        # A week first, then the rest: a daily rule is not expanded for a year to find
        # tomorrow.
        for high in (min(limit, low + timedelta(days=7)), limit):
            days = snap.loaded.rules[event.id].between(low, high) if low <= high else []
            if days:
                best = (as_day(days[0]), event)
                break
    return best


@dataclass(frozen=True)
class StoryView:
    id: str
    title: str
    newspaper: str
    page: str
    published: str
    published_note: str
    summary: str
    count: int
    next: str


def _story_view(story: Story, snap: Snapshot, catalog: Catalog, today: date,
                lang: Lang) -> StoryView:
    events = catalog.by_story.get(story.id, [])
    nearest = _next_of(events, snap, catalog, today)
    next_words = "—" if nearest is None else format_when(nearest[0], nearest[1].precision,
                                                         lang)
    # The source's file is where the editors keep the scan, not something a reader can use.
    return StoryView(story.id, title(story, lang), story.source.newspaper,
                     story.source.page or "",
                     format_when(story.published, story.published_precision, lang),
                     story.published_note, story.in_lang("summary", lang), len(events),
                     next_words)


def _active_rules(snap: Snapshot, catalog: Catalog, first: date,
                  last: date) -> LoadedTimeline:
    """The timeline with only the rules that run between first and last: expanding the
    others would find nothing (1,000 of them cost most of a cold home page)."""
    rules = [e for e in snap.loaded.timeline.events if isinstance(e, Recurring)
             and catalog.first[e.id] <= last and not catalog.is_past(e, first)]
    timeline = snap.loaded.timeline.model_copy(update={"events": rules})
    return LoadedTimeline(timeline, snap.loaded.rules, snap.loaded.source)


def render_home(snap: Snapshot, *, today: date, lang: Lang, base_url: str,
                default_lang: Lang = "zh", catalog: Catalog | None = None,
                query: Query | None = None) -> str:
    """The home page, or with `query` the search across every story."""
    catalog = catalog or Catalog.build(snap)
    links = Links(base_url.rstrip("/"), lang, default_lang, "/")
    timeline = snap.loaded.timeline
    feed = links.calendar()
    page_title = t("title", lang)
    if query is not None:
        page_title = f"{t('search', lang)}：{query.text} · {page_title}" if lang == "zh" else \
            f"{t('search', lang)}: {query.text} · {page_title}"
    context = _common(snap, today, links, "/", query, page_title, feed, t("title", lang))
    if query is not None:
        context["found"] = _found(snap, catalog, query, None, today, lang)
        return render("home.html", **context)
    items = upcoming(snap.loaded, today, limit=len(timeline.events))
    # "Open" in the agenda is anything spanning today (a deadline due today too); the
    # open-now list is of windows taking applications.
    open_now = [u for u in items if u.open and isinstance(u.occurrence.event, Window)]
    coming = [u for u in items if not (u.open and isinstance(u.occurrence.event, Window))]
    week = next_recurring(_active_rules(snap, catalog, today, today + WEEK), today,
                          WEEK - timedelta(days=1))
    _, past = catalog.split(catalog.ordered, today)
    listed = [*coming[:HOME_LIST], *open_now[:HOME_LIST]]
    if len(timeline.events) <= ROWS_MAX:
        chart = chart_svg(snap.loaded, today, lang, by_story=catalog.by_story)
    else:  # only what the lists show; a story's page has its whole chart
        only = {u.occurrence.event.id for u in listed} | {
            o.event.id for o in week[:HOME_LIST]}
        chart = chart_svg(snap.loaded, today, lang, only=only, by_story=catalog.by_story,
                          note_more=t("chart_home", lang))
    context.update(
        found=None,
        coming=[line_view(u.occurrence.event, snap, lang, u) for u in coming[:HOME_LIST]],
        coming_more=max(0, len(coming) - HOME_LIST),
        open_now=[line_view(u.occurrence.event, snap, lang, u) for u in open_now[:HOME_LIST]],
        open_more=max(0, len(open_now) - HOME_LIST),
        week=[next_line(o, lang) for o in week[:HOME_LIST]],
        week_more=max(0, len(week) - HOME_LIST),
        the_chart=_placed(chart), legend=_legend(lang),
        past=[line_view(e, snap, lang) for e in past[:HOME_LIST]],
        past_total=len(past),
        stories=[_story_view(s, snap, catalog, today, lang) for s in timeline.stories],
        tags=[(tag, len(catalog.by_tag.get(tag, ()))) for tag in timeline.tags],
        qr=_qr(feed, lang))
    return render("home.html", **context)


def _listing(snap: Snapshot, catalog: Catalog, events: list[AnyEvent], today: date,
             lang: Lang) -> dict[str, Any]:
    current, past = catalog.split(events, today)

    def views(chosen: list[AnyEvent]) -> list[ItemView]:
        return [item_view(e, snap, today, lang) for e in chosen]

    # The chart is given the items nearest today only (the current ones start soonest in
    # date order, the past newest first): a tag of 10,000 items must not expand every rule.
    near = {e.id for e in (*current[:CHART_ROWS], *past[:CHART_ROWS])}
    return {"current": views(current[:ITEMS_MAX]),
            "current_more": max(0, len(current) - ITEMS_MAX),
            "past": views(past[:ITEMS_MAX]), "past_total": len(past), "near": near}


def render_story(snap: Snapshot, story_id: str, *, today: date, lang: Lang, base_url: str,
                 default_lang: Lang = "zh", catalog: Catalog | None = None,
                 query: Query | None = None) -> str:
    """A story's page: all its items, sources and precision notes, its chart and feed; with
    `query`, the search inside the story in their place. `story_id` must be a story of the
    timeline."""
    catalog = catalog or Catalog.build(snap)
    links = Links(base_url.rstrip("/"), lang, default_lang, f"/stories/{story_id}")
    story = snap.loaded.timeline.story(story_id)
    feed = links.story_feed(story_id)
    name = title(story, lang)
    context = _common(snap, today, links, f"/stories/{story_id}", query,
                      f"{name} · {t('title', lang)}", feed, name)
    context["story"] = _story_view(story, snap, catalog, today, lang)
    if query is not None:
        context["found"] = _found(snap, catalog, query,
                                  catalog.story_positions.get(story_id, []), today, lang)
        return render("story.html", **context)
    listing = _listing(snap, catalog, catalog.by_story.get(story_id, []), today, lang)
    chart = chart_svg(snap.loaded, today, lang, stories={story_id}, only=listing.pop("near"),
                      by_story=catalog.by_story, rows_max=CHART_ROWS)
    context.update(found=None, the_chart=_placed(chart), legend=_legend(lang),
                   qr=_qr(feed, lang), **listing)
    return render("story.html", **context)


def render_tag(snap: Snapshot, tag: str, *, today: date, lang: Lang, base_url: str,
               default_lang: Lang = "zh", catalog: Catalog | None = None,
               query: Query | None = None) -> str:
    """A tag's page: its items across the stories; with `query`, the search inside the
    tag in their place. `tag` must be a tag of the timeline."""
    catalog = catalog or Catalog.build(snap)
    links = Links(base_url.rstrip("/"), lang, default_lang, f"/tags/{tag}")
    events = catalog.by_tag.get(tag, [])
    feed = links.tag_feed(tag)
    heading = t("tag_title", lang, tag=tag)
    context = _common(snap, today, links, f"/tags/{tag}", query,
                      f"{heading} · {t('title', lang)}", feed, heading)
    context.update(tag=tag, count=len(events))
    if query is not None:
        context["found"] = _found(snap, catalog, query, catalog.tag_positions.get(tag, []),
                                  today, lang)
        return render("tag.html", **context)
    listing = _listing(snap, catalog, events, today, lang)
    near = listing.pop("near")
    chart = chart_svg(snap.loaded, today, lang, stories={e.story for e in events
                                                         if e.id in near},
                      only=near, by_story=catalog.by_story, rows_max=CHART_ROWS)
    context.update(found=None, the_chart=_placed(chart), legend=_legend(lang),
                   qr=_qr(feed, lang), **listing)
    return render("tag.html", **context)
