"""The timeline page: one server-rendered HTML document, no script, no external resource.

Every value that comes from the events file or the request (titles, quotes, the Host header
inside URLs) passes through `html.escape` exactly once, at the point it enters markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from urllib.parse import quote

import segno

from timeline.formatting import Lang, format_when, precision_label
from timeline.model import Deadline, Happening, Precision, Recurring, Story, Window
from timeline.occurrences import AnyEvent, Occurrence
from timeline.source import Snapshot
from timeline.web.agenda import Upcoming, next_recurring, upcoming
from timeline.web.style import CSS
from timeline.web.svg import chart_svg
from timeline.web.text import HTML_LANG, WEEKDAYS, kind_label, t

__all__ = ["FeedLinks", "render_page"]

_EVERY = re.compile(r"^\s*(?:every\s+)?(\d+)?\s*(day|week|month|year)s?\s*$", re.IGNORECASE)
_UNITS = {"day": ("天", "day"), "week": ("周", "week"), "month": ("个月", "month"),
          "year": ("年", "year")}
_WORDS = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year",
          "annually": "year"}


@dataclass(frozen=True)
class FeedLinks:
    """The ways to reach one feed: plain URL, webcal, and Google Calendar's add-by-URL."""

    https: str

    @property
    def webcal(self) -> str:
        # webcal:// tells the calendar app to subscribe rather than import once.
        return "webcal://" + self.https.split("://", 1)[-1]

    @property
    def google(self) -> str:
        return "https://calendar.google.com/calendar/r?cid=" + quote(self.webcal, safe="")


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _title(item: AnyEvent | Story, lang: Lang) -> str:
    title: str = item.in_lang("title", lang)  # a required text field
    return title


def _weekday(day: date, lang: Lang) -> str:
    names = list(WEEKDAYS.values())[day.weekday()]
    return f"（{names[0]}）" if lang == "zh" else f" ({names[1]})"


def _when(event: AnyEvent, snap: Snapshot, lang: Lang) -> str:
    """The item's dates as words, each at the precision the source gives."""
    p = event.precision
    if isinstance(event, Deadline):
        return format_when(event.due, p, lang)
    if isinstance(event, Window):
        start = format_when(event.start, p, lang) if event.start is not None else (
            event.in_lang("start_label", lang) or t("open_start", lang))
        return f"{start} – {format_when(event.end, p, lang)}"
    if isinstance(event, Happening):
        end = f" – {format_when(event.end, p, lang)}" if event.end is not None else ""
        return format_when(event.date, p, lang) + end
    rule = snap.loaded.rules[event.id]
    start = format_when(rule.dtstart, p, lang)
    if rule.last_day is None:
        return f"{start}起" if lang == "zh" else f"from {start}"
    return f"{start} – {format_when(rule.last_day, p, lang)}"


def _rhythm(event: Recurring, lang: Lang) -> str:
    zh = lang == "zh"
    every = ""
    if event.every:
        word = event.every.strip().lower()
        match = _EVERY.match(_WORDS.get(word, word))
        if match:
            count, unit = int(match.group(1) or 1), _UNITS[match.group(2).lower()]
            every = (f"每{count if count > 1 else ''}{unit[0]}" if zh
                     else f"every {count} {unit[1]}s" if count > 1 else f"every {unit[1]}")
        else:
            every = event.every
    if event.weekdays:
        names = [WEEKDAYS[d][0 if zh else 1] for d in event.weekdays]
        days = "、".join(names) if zh else ", ".join(names)
        if zh:  # 每周二、周五; 每2周的周一、周五
            text = f"每{days}" if every in ("", "每周") else f"{every}的{days}"
        else:
            text = f"{every or 'every'} {days}"
    elif every:
        text = every
    else:
        text = f"RRULE {event.rrule}"
    if event.excludes_cn_holidays:
        text += ("，" if zh else ", ") + t("holidays_excluded", lang)
    return text


def _left(item: Upcoming, lang: Lang) -> tuple[str, str]:
    """The "days left" words and their CSS class (urgent red, calm green, later grey)."""
    n = item.days_left
    if item.opens_in is not None:
        return t("opens_in", lang, n=item.opens_in), "later"
    if isinstance(item.occurrence.event, Window):
        text = t("closes_today", lang) if n == 0 else t("closes_in", lang, n=n)
    elif n == 0:
        text = t("due_today", lang)
    else:
        text = t("days_left_approx" if item.approximate else "days_left", lang, n=n)
    return text, "" if n <= 30 else "calm"


def _upcoming(snap: Snapshot, today: date, lang: Lang) -> str:
    items = upcoming(snap.loaded, today)
    rows = []
    for item in items:
        event = item.occurrence.event
        text, css = _left(item, lang)
        rows.append(
            f'<li class="kind-{event.kind}{" open" if item.open else ""}" '
            f'data-event="{escape(event.id)}" data-days-left="{item.days_left}">'
            f'<span class="badge {event.kind}">{escape(kind_label(event.kind, lang))}</span>'
            f'<a href="#ev-{escape(event.id)}">{escape(_title(event, lang))}</a>'
            f'<span class="when">{escape(_when(event, snap, lang))}</span>'
            f'<span class="left {css}">{escape(text)}</span></li>')
    body = (f'<ul class="plain up">{"".join(rows)}</ul>' if rows
            else f"<p>{escape(t('nothing_upcoming', lang))}</p>")
    recurring = [_next_line(o, lang) for o in next_recurring(snap.loaded, today)]
    if recurring:
        body += (f"<h3>{escape(t('recurring_next', lang))}</h3>"
                 f'<ul class="plain up">{"".join(recurring)}</ul>')
    return (f'<section id="upcoming"><h2>{escape(t("upcoming", lang))} '
            f'<small class="meta">{escape(t("as_of", lang, day=today.isoformat()))}</small>'
            f"</h2>{body}</section>")


def _next_line(occ: Occurrence, lang: Lang) -> str:
    event = occ.event
    day = occ.key_date
    when = format_when(occ.start, event.precision, lang)
    if event.precision is Precision.DAY:
        when += _weekday(day, lang)
    return (f'<li data-event="{escape(event.id)}"><span class="badge recurring">'
            f'{escape(kind_label("recurring", lang))}</span>'
            f'<a href="#ev-{escape(event.id)}">{escape(_title(event, lang))}</a>'
            f'<span class="left later">{escape(when)}</span></li>')


def _chart(snap: Snapshot, today: date, lang: Lang) -> str:
    chart = chart_svg(snap.loaded, today, lang)
    legend = "".join(
        f'<span><span class="sw {css}"></span>{escape(label)}</span>' for css, label in (
            ("window", kind_label("window", lang)),
            ("phase", kind_label("deadline", lang)),
            ("span", kind_label("happening", lang)),
            ("recurring", kind_label("recurring", lang)),
            ("approx", t("legend_approx", lang)),
            ("today", t("today", lang))))
    note = f'<p class="meta">{escape(chart.note)}</p>' if chart.note else ""
    return (f'<section id="chart-section"><h2>{escape(t("chart", lang))}</h2>'
            f'<div class="chart">{chart.svg}</div><div class="legend">{legend}</div>{note}'
            "</section>")


def _sort_key(event: AnyEvent, snap: Snapshot) -> date:
    if isinstance(event, Deadline):
        return _day(event.due)
    if isinstance(event, Window):
        return _day(event.start if event.start is not None else event.end)
    if isinstance(event, Happening):
        return _day(event.date)
    return _day(snap.loaded.rules[event.id].dtstart)


def _item(event: AnyEvent, snap: Snapshot, today: date, lang: Lang, base: str,
          suffix: str) -> str:
    body = event.in_lang("description", lang)
    parts = [f"<p>{escape(body)}</p>"] if body else []
    if isinstance(event, Recurring):
        rule = snap.loaded.rules[event.id]
        parts.append(f"<p>{escape(t('rule', lang))}: {escape(_rhythm(event, lang))}</p>")
        upcoming_days = rule.between(today, today + timedelta(days=3 * 366))[:3]
        if upcoming_days:
            days = [format_when(d, event.precision, lang) for d in upcoming_days]
            parts.append(f"<p>{escape(t('next_dates', lang))}: {escape(' · '.join(days))}</p>")
    parts.append(f"<blockquote>{escape(t('source', lang))}: 「{escape(event.source)}」"
                 "</blockquote>")
    note = f" — {escape(event.note)}" if event.note else ""
    parts.append(f'<p class="precision">{escape(t("precision", lang))}: '
                 f"{escape(precision_label(event.precision, lang))}{note}</p>")
    if event.tags:
        links = ", ".join(f'<a href="{escape(f"{base}/feeds/tag/{tag}.ics{suffix}")}">'
                          f"{escape(tag)}</a>" for tag in event.tags)
        parts.append(f"<p>{escape(t('tags', lang))}: {links}</p>")
    if event.audience:
        sep = "、" if lang == "zh" else ", "
        parts.append(f"<p>{escape(t('audience', lang))}: {escape(sep.join(event.audience))}</p>")
    if event.url:
        # Only web links become links: a `javascript:` URL in the file stays inert text.
        link = event.url.lower().startswith(("https://", "http://"))
        parts.append(f'<p><a href="{escape(event.url)}" rel="nofollow noopener">'
                     f"{escape(event.url)}</a></p>" if link else f"<p>{escape(event.url)}</p>")
    return (f'<li id="ev-{escape(event.id)}" class="kind-{event.kind}"><details><summary>'
            f'<span class="when">{escape(_when(event, snap, lang))}</span>'
            f'<span class="badge {event.kind}">{escape(kind_label(event.kind, lang))}</span> '
            f"{escape(_title(event, lang))}</summary>"
            f'<div class="body">{"".join(parts)}</div></details></li>')


def _stories(snap: Snapshot, today: date, lang: Lang, base: str, suffix: str) -> str:
    timeline = snap.loaded.timeline
    out = []
    for story in timeline.stories:
        events = sorted((e for e in timeline.events if e.story == story.id),
                        key=lambda e: (_sort_key(e, snap), e.id))
        summary = story.in_lang("summary", lang)
        published = format_when(story.published, story.published_precision, lang)
        feed = FeedLinks(f"{base}/feeds/story/{story.id}.ics{suffix}")
        items = "".join(_item(e, snap, today, lang, base, suffix) for e in events)
        out.append(
            f'<article class="story" id="story-{escape(story.id)}">'
            f"<h3>{escape(_title(story, lang))}</h3>"
            f'<p class="meta">{escape(story.source.newspaper)} · {escape(t("published", lang))}'
            f' {escape(published)} · <a href="{escape(feed.webcal)}">'
            f'{escape(t("subscribe", lang))}</a></p>'
            f"<p>{escape(summary)}</p>"
            f'<ol class="plain items">{items}</ol></article>')
    return (f'<section id="stories"><h2>{escape(t("stories", lang))}</h2>{"".join(out)}'
            "</section>")


def _subscribe(snap: Snapshot, lang: Lang, base: str, suffix: str) -> str:
    timeline = snap.loaded.timeline
    feed = FeedLinks(f"{base}/calendar.ics{suffix}")
    qr = segno.make(feed.webcal, error="m").svg_inline(
        scale=4, border=2, dark="#1a202c", title=t("qr", lang), svgclass="qrcode")
    tags = "".join(
        f'<li><a href="{escape(FeedLinks(f"{base}/feeds/tag/{tag}.ics{suffix}").webcal)}">'
        f"{escape(tag)}</a></li>" for tag in timeline.tags)
    stories = "".join(
        f'<li><a href="{escape(FeedLinks(f"{base}/feeds/story/{s.id}.ics{suffix}").webcal)}">'
        f"{escape(_title(s, lang))}</a></li>" for s in timeline.stories)
    return (
        f'<section id="subscribe" class="subscribe"><h2>{escape(t("subscribe", lang))}</h2>'
        f'<p>{escape(t("subscribe_help", lang))}</p><div class="row"><div class="actions">'
        f'<a id="webcal-link" class="button" href="{escape(feed.webcal)}">'
        f'{escape(t("webcal", lang))}</a>'
        f'<a id="google-link" class="button alt" href="{escape(feed.google)}" '
        f'rel="noopener">{escape(t("google", lang))}</a>'
        f'<p>{escape(t("copy_url", lang))}<br><code id="feed-url" class="url">'
        f"{escape(feed.https)}</code></p></div>"
        f'<figure class="qr">{qr}<figcaption>{escape(t("qr", lang))}</figcaption></figure>'
        f'</div><h3>{escape(t("by_tag", lang))}</h3><ul class="feeds" id="tag-feeds">{tags}</ul>'
        f'<h3>{escape(t("by_story", lang))}</h3><ul class="feeds" id="story-feeds">{stories}'
        "</ul></section>")


def render_page(snap: Snapshot, *, today: date, lang: Lang, base_url: str,
                default_lang: Lang = "zh") -> str:
    """The whole page. `base_url` has no trailing slash; links keep the page's language."""
    base = base_url.rstrip("/")
    suffix = "" if lang == default_lang else f"?lang={lang}"
    other: Lang = "en" if lang == "zh" else "zh"
    nav = "".join(f'<a href="#{anchor}">{escape(t(key, lang))}</a>' for anchor, key in (
        ("upcoming", "upcoming"), ("chart-section", "chart"), ("stories", "stories"),
        ("subscribe", "subscribe")))
    api = " · ".join(f'<a href="{escape(base + path)}">{path}</a>'
                     for path in ("/api/events", "/api/upcoming", "/openapi.json"))
    return (
        f'<!DOCTYPE html><html lang="{HTML_LANG[lang]}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t('title', lang))}</title>"
        f'<link rel="alternate" type="text/calendar" title="{escape(t("title", lang))}" '
        f'href="{escape(base)}/calendar.ics{suffix}">'
        f"<style>{CSS}</style></head><body><main>"
        f'<header class="top"><h1>{escape(t("title", lang))}</h1>'
        f'<a class="lang" hreflang="{HTML_LANG[other]}" href="{escape(base)}/?lang={other}">'
        f'{escape(t("switch", lang))}</a></header>'
        f'<p class="tagline">{escape(t("tagline", lang))}</p><nav class="toc">{nav}</nav>'
        f"{_upcoming(snap, today, lang)}{_chart(snap, today, lang)}"
        f"{_stories(snap, today, lang, base, suffix)}{_subscribe(snap, lang, base, suffix)}"
        f'<footer>{escape(t("api", lang))}: {api}<br>{escape(t("version", lang))} '
        f"{snap.version} · {escape(t('as_of', lang, day=today.isoformat()))}</footer>"
        "</main></body></html>")
