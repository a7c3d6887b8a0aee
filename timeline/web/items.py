"""One item as the pages show it: its dates in words, its rhythm, its "days left".

The words are worked out here, in code, and handed to the templates as plain text; the
templates escape them. Nothing in this module builds markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from timeline.formatting import Lang, format_when, precision_label
from timeline.model import Deadline, Happening, Precision, Recurring, Story, Window
from timeline.occurrences import AnyEvent, Occurrence
from timeline.recurrence import Rule
from timeline.source import Snapshot
from timeline.web.agenda import Upcoming
from timeline.web.text import WEEKDAYS, kind_label, t

__all__ = ["ItemView", "LineView", "item_view", "left_words", "line_view", "next_line",
           "rhythm", "title", "when"]

_EVERY = re.compile(r"^\s*(?:every\s+)?(\d+)?\s*(day|week|month|year)s?\s*$", re.IGNORECASE)
_UNITS = {"day": ("天", "day"), "week": ("周", "week"), "month": ("个月", "month"),
          "year": ("年", "year")}
_WORDS = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year",
          "annually": "year"}
# A recurring item's next dates, looked for this far ahead.
NEXT_DATES_HORIZON = timedelta(days=3 * 366)


def title(item: AnyEvent | Story, lang: Lang) -> str:
    text: str = item.in_lang("title", lang)  # a required text field
    return text


def weekday(day: date, lang: Lang) -> str:
    names = list(WEEKDAYS.values())[day.weekday()]
    return f"（{names[0]}）" if lang == "zh" else f" ({names[1]})"


def when(event: AnyEvent, snap: Snapshot, lang: Lang) -> str:
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


def rhythm(event: Recurring, lang: Lang) -> str:
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


def left_words(item: Upcoming, lang: Lang) -> tuple[str, str]:
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


@dataclass(frozen=True)
class LineView:
    """One line of a short list (coming up, open now, this week, past, search results)."""

    id: str
    story: str
    kind: str
    kind_label: str
    title: str
    when: str
    left: str = ""  # "还剩 11 天" and the like
    left_css: str = ""
    days_left: int | None = None
    open: bool = False


def line_view(event: AnyEvent, snap: Snapshot, lang: Lang,
              upcoming: Upcoming | None = None) -> LineView:
    if upcoming is None:
        return LineView(event.id, event.story, event.kind, kind_label(event.kind, lang),
                        title(event, lang), when(event, snap, lang))
    left, css = left_words(upcoming, lang)
    return LineView(event.id, event.story, event.kind, kind_label(event.kind, lang),
                    title(event, lang), when(event, snap, lang), left, css,
                    upcoming.days_left, upcoming.open)


def next_line(occ: Occurrence, lang: Lang) -> LineView:
    """A recurring item's next occurrence, its weekday named when the day is exact."""
    event = occ.event
    day_words = format_when(occ.start, event.precision, lang)
    if event.precision is Precision.DAY:
        day_words += weekday(occ.key_date, lang)
    return LineView(event.id, event.story, "recurring", kind_label("recurring", lang),
                    title(event, lang), "", day_words, "later")


@dataclass(frozen=True)
class ItemView:
    """Everything a story or tag page shows of one item, as text."""

    id: str
    story: str
    story_title: str
    kind: str
    kind_label: str
    title: str
    when: str
    description: str
    rule: str  # a recurring item's rhythm, else ""
    next_dates: str  # a recurring item's next three dates, else ""
    source: str
    precision: str  # "" for an exact day without a note: nothing to say
    note: str
    tags: tuple[str, ...]
    audience: str
    url: str
    url_is_web: bool  # only http(s) URLs become links: `javascript:` stays inert text


def _next_three(rule: Rule, today: date) -> list[date | datetime]:
    """A rule's next three dates, looked for in a month, then a year, then three: a daily
    rule is not expanded over three years to find tomorrow."""
    days: list[date | datetime] = []
    for ahead in (timedelta(days=31), timedelta(days=366), NEXT_DATES_HORIZON):
        days = rule.between(today, today + ahead)
        if len(days) >= 3:
            break
    return days[:3]


def item_view(event: AnyEvent, snap: Snapshot, today: date, lang: Lang) -> ItemView:
    rule_text = next_dates = ""
    if isinstance(event, Recurring):
        rule_text = rhythm(event, lang)
        days = _next_three(snap.loaded.rules[event.id], today)
        next_dates = " · ".join(format_when(d, event.precision, lang) for d in days)
    url = event.url or ""
    story = snap.loaded.timeline.story(event.story)
    return ItemView(
        id=event.id, story=event.story, story_title=title(story, lang), kind=event.kind,
        kind_label=kind_label(event.kind, lang), title=title(event, lang),
        when=when(event, snap, lang), description=event.in_lang("description", lang),
        rule=rule_text, next_dates=next_dates, source=event.source,
        precision="" if event.precision is Precision.DAY and not event.note
        else precision_label(event.precision, lang), note=event.note,
        tags=tuple(event.tags), audience=("、" if lang == "zh" else ", ").join(event.audience),
        url=url, url_is_web=url.lower().startswith(("https://", "http://")))


def as_day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value
