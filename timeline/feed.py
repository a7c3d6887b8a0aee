"""The RFC 5545 iCalendar feed: what each VEVENT holds, and the feed assembled from them.

`event_props` says what an event's VEVENT holds; `write_event` writes it directly
(`timeline.vevent`), byte for byte what icalendar writes, and `render_event` has icalendar
write it (the reference the tests hold the direct writer to). A VEVENT's bytes depend only
on the event, its revision and the language, so `FeedRenderer` keeps them
(`timeline.blocks`: in memory, and in the store when given one) and assembles a feed from
cached blocks: a change to one event re-renders one block, not the whole calendar, and a
restart renders none that did not change. Output is fully deterministic: DTSTAMP is the
revision's time, not the render's, so an unchanged timeline gives the same bytes and the
same ETag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from icalendar import Calendar, vRecur

from timeline import __version__
from timeline.blocks import BlockCache, BlockStore
from timeline.formatting import Lang, format_when, precision_label, precision_suffix
from timeline.loader import LoadedTimeline
from timeline.model import (
    DEFAULT_TIMED_LENGTH,
    Deadline,
    Happening,
    Recurring,
    Story,
    Window,
    localize,
)
from timeline.occurrences import AnyEvent, matches
from timeline.recurrence import Rule, default_duration, horizon_end
from timeline.store import Revision
from timeline.vevent import Props, to_icalendar, write
from timeline.vtimezone import vtimezone
from timeline.workdays import is_estimated

__all__ = ["FeedRenderer", "default_revision", "render_event", "render_feed", "write_event"]

PRODID = f"-//policy-timeline//policy-timeline {__version__}//ZH"
REFRESH = timedelta(hours=6)
UID_DOMAIN = "policy-timeline"
# All-day reminders ring at this local time, matching the chat reminders' default send_at.
ALL_DAY_ALARM_AT = timedelta(hours=9)


@dataclass(frozen=True)
class FeedFilter:
    tags: tuple[str, ...] = ()
    stories: tuple[str, ...] = ()


_TEXT = {
    "zh": {
        "name": "政策时间表", "desc": "从政策新闻中整理的截止日期、受理期和定期事项",
        "source": "原文", "precision": "日期精度", "note": "日期说明", "story": "报道",
        "opens": "开始", "remind": "提醒", "deadline": "截止", "estimated":
        "注：{year}年及以后的节假日尚未公布，排除的节假日为估算。",
        "tag": "标签", "story_filter": "报道",
    },
    "en": {
        "name": "Policy timeline", "desc": "Deadlines, application windows and recurring items "
        "from policy news", "source": "Source", "precision": "Date precision",
        "note": "How the date was read", "story": "Story", "opens": "Opens",
        "remind": "Reminder", "deadline": "Deadline", "estimated":
        "Note: holidays from {year} on are not published yet; excluded holidays are estimated.",
        "tag": "tag", "story_filter": "story",
    },
}


def default_revision(story: Story) -> Revision:
    """An event the store has no history of: revision 0, as of its story's publication."""
    published = story.published
    day = published.date() if isinstance(published, datetime) else published
    return Revision(0, datetime.combine(day, time(), tzinfo=UTC))


def _summary(event: AnyEvent, lang: Lang) -> str:
    title: str = event.in_lang("title", lang)
    return title + precision_suffix(event.precision, lang)


def _description(event: AnyEvent, story: Story, rule: Rule | None, lang: Lang,
                 this_year: int | None = None) -> str:
    text = _TEXT[lang]
    body = event.in_lang("description", lang)
    parts = [body] if body else []
    if isinstance(event, Window) and event.start is None and event.start_label:
        parts.append(f"{text['opens']}: {event.in_lang('start_label', lang)}")
    parts.append(f"{text['source']}: 「{event.source}」")
    key = event.due if isinstance(event, Deadline) else event.end if isinstance(
        event, Window) else event.date if isinstance(event, Happening) else None
    when = f" ({format_when(key, event.precision, lang)})" if key is not None else ""
    parts.append(f"{text['precision']}: {precision_label(event.precision, lang)}{when}")
    if event.note:
        parts.append(f"{text['note']}: {event.note}")
    story_title = story.in_lang("title", lang)
    parts.append(f"{text['story']}: {story_title} — {story.source.newspaper}, "
                 f"{format_when(story.published, story.published_precision, lang)}")
    if rule is not None and rule.skip_cn_holidays:
        first_estimated = _first_estimated_year(rule, this_year)
        if first_estimated is not None:
            parts.append(text["estimated"].format(year=first_estimated))
    return "\n".join(parts)


def _first_estimated_year(rule: Rule, this_year: int | None = None) -> int | None:
    start = rule.dtstart.date() if isinstance(rule.dtstart, datetime) else rule.dtstart
    last_year = (rule.last_day or horizon_end(start, this_year)).year
    for year in range(start.year, last_year + 1):
        if is_estimated(date(year, 1, 1)):
            return year
    return None


def _alarm(event: AnyEvent, summary: str, trigger: timedelta, related_end: bool,
           lang: Lang) -> Props:
    alarm = Props("VALARM")
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"{_TEXT[lang]['remind']}: {summary}")
    params = {"RELATED": "END"} if related_end else {}
    alarm.add("trigger", trigger, parameters=params)
    return alarm


def _all_day_trigger(lead: timedelta, days_after_anchor: int = 0) -> timedelta:
    """Ring at 09:00 local, `lead` before the anchor day (anchor = START, or END - 1 day)."""
    return -lead - timedelta(days=days_after_anchor) + ALL_DAY_ALARM_AT


def _add_times(vevent: Props, event: AnyEvent, rule: Rule | None, tz_name: str,
               this_year: int | None = None) -> bool:
    """DTSTART/DTEND (and RRULE/EXDATE); returns whether the item is all-day."""
    tz = event.zone(tz_name)
    if rule is not None:
        assert isinstance(event, Recurring)
        start = rule.first()
        vevent.add("dtstart", start)
        length = default_duration(rule, event)
        vevent.add("dtend", start + length)
        vevent.add("rrule", vRecur.from_ical(rule.rrule))
        exdates = rule.exdates(this_year)
        if exdates:
            vevent.add("exdate", exdates)
        return rule.all_day

    def moment(value: date | datetime) -> date | datetime:
        return localize(value, tz) if isinstance(value, datetime) else value

    if isinstance(event, Deadline):
        due = moment(event.due)
        vevent.add("dtstart", due)
        if not isinstance(due, datetime):
            vevent.add("dtend", due + timedelta(days=1))
        return not isinstance(due, datetime)
    if isinstance(event, Window):
        end = moment(event.end)
        opens = moment(event.start) if event.start is not None else None
        if isinstance(end, datetime):
            vevent.add("dtstart", opens if opens is not None else end)
            vevent.add("dtend", end)
            return False
        vevent.add("dtstart", opens if opens is not None else end)
        vevent.add("dtend", end + timedelta(days=1))  # DTEND is exclusive for dates
        return True
    assert isinstance(event, Happening)
    start = moment(event.date)
    vevent.add("dtstart", start)
    if event.end is not None:
        end = moment(event.end)
        vevent.add("dtend", end + timedelta(days=1) if not isinstance(end, datetime) else end)
    elif isinstance(start, datetime):
        # Without DTEND a timed VEVENT lasts no time at all (RFC 5545 3.6.1); the listing
        # and the page show it for an hour, and so does the calendar.
        vevent.add("dtend", start + DEFAULT_TIMED_LENGTH)
    else:
        vevent.add("dtend", start + timedelta(days=1))
    return not isinstance(start, datetime)


def render_event(event: AnyEvent, story: Story, rule: Rule | None, revision: Revision,
                 tz_name: str, lang: Lang = "zh", this_year: int | None = None) -> bytes:
    """One VEVENT, as bytes, written by icalendar: the reference `write_event` matches."""
    return to_icalendar(event_props(event, story, rule, revision, tz_name, lang, this_year))


def write_event(event: AnyEvent, story: Story, rule: Rule | None, revision: Revision,
                tz_name: str, lang: Lang = "zh", this_year: int | None = None) -> bytes:
    """The same bytes as `render_event`, written directly (timeline.vevent): what the feed
    uses. icalendar writes what the direct writer does not handle."""
    props = event_props(event, story, rule, revision, tz_name, lang, this_year)
    block = write(props)
    return block if block is not None else to_icalendar(props)


def event_props(event: AnyEvent, story: Story, rule: Rule | None, revision: Revision,
                tz_name: str, lang: Lang = "zh", this_year: int | None = None) -> Props:
    """What one VEVENT holds; deterministic for the same inputs. `this_year` moves the
    holidays an open-ended recurring item skips along (see Rule.exdates)."""
    vevent = Props("VEVENT")
    vevent.add("uid", f"{event.id}@{UID_DOMAIN}")
    vevent.add("dtstamp", revision.modified)
    vevent.add("last-modified", revision.modified)
    vevent.add("sequence", revision.sequence)
    summary = _summary(event, lang)
    vevent.add("summary", summary)
    vevent.add("description", _description(event, story, rule, lang, this_year))
    if event.tags:
        vevent.add("categories", list(event.tags))
    if event.url:
        vevent.add("url", event.url)
    all_day = _add_times(vevent, event, rule, tz_name, this_year)
    vevent.add("transp", "TRANSPARENT")
    vevent.add("x-timeline-precision", event.precision.value)
    vevent.add("x-timeline-kind", event.kind)
    for lead in event.lead_times:
        if isinstance(event, Window):
            # Lead times count back from the window's last day: DTEND is the day after it.
            trigger = _all_day_trigger(lead, 1) if all_day else -lead
            vevent.add_component(_alarm(event, summary, trigger, True, lang))
        else:
            trigger = _all_day_trigger(lead) if all_day else -lead
            vevent.add_component(_alarm(event, summary, trigger, False, lang))
    if isinstance(event, Window) and event.start is not None:
        opens = f"{_TEXT[lang]['opens']}: {summary}"
        for lead in event.start_reminders or []:
            trigger = _all_day_trigger(lead) if all_day else -lead
            alarm = _alarm(event, opens, trigger, False, lang)
            alarm["description"] = f"{_TEXT[lang]['remind']}: {opens}"
            vevent.add_component(alarm)
    return vevent


class FeedRenderer:
    """Assembles feeds from per-event VEVENT bytes, re-rendering only changed events;
    with a `store`, blocks outlive the process and are shared with other instances."""

    def __init__(self, store: BlockStore | None = None) -> None:
        self._blocks = BlockCache(store)

    @property
    def rendered(self) -> int:
        """VEVENTs this renderer has rendered (not taken from memory or the store)."""
        return self._blocks.rendered

    @property
    def from_store(self) -> int:
        """VEVENTs this renderer has taken from the store instead of rendering them."""
        return self._blocks.from_store

    def forget(self, keep: Iterable[str]) -> None:
        """Drop cached blocks of events that no longer exist."""
        self._blocks.forget(keep)

    def render(self, loaded: LoadedTimeline, *, tags: Iterable[str] = (),
               stories: Iterable[str] = (), revisions: Mapping[str, Revision] | None = None,
               lang: Lang = "zh", event_ids: Iterable[str] | None = None,
               this_year: int | None = None) -> bytes:
        timeline = loaded.timeline
        year = this_year or datetime.now(UTC).year
        tags, stories = tuple(tags), tuple(stories)
        revisions = revisions or {}
        wanted = set(event_ids) if event_ids is not None else None
        events = timeline.events
        if tags or stories or wanted is not None:
            events = [e for e in events if matches(e, tags, stories)
                      and (wanted is None or e.id in wanted)]
        # Per render, not per event: a warm 10,000-event render is a loop of dict lookups.
        story_of = {s.id: s for s in timeline.stories}
        default_of = {s.id: default_revision(s) for s in timeline.stories}
        items = [(event, revisions.get(event.id) or default_of[event.story])
                 for event in events]

        def render(missing: Sequence[tuple[AnyEvent, Revision]]
                   ) -> list[tuple[bytes, str | None]]:
            return render_blocks(loaded, missing, lang, year, story_of)

        blocks = self._blocks.blocks(loaded, items, lang, year, render)
        tzids = {b.tzid for b in blocks if b.tzid is not None}
        header = _header(timeline.timezone, tags, stories, lang)
        zones = [vtimezone(tzid) for tzid in sorted(tzids)]
        return b"".join([header, *zones, *(b.block for b in blocks), b"END:VCALENDAR\r\n"])


def render_blocks(loaded: LoadedTimeline, items: Sequence[tuple[AnyEvent, Revision]],
                  lang: Lang, this_year: int, story_of: Mapping[str, Story] | None = None
                  ) -> list[tuple[bytes, str | None]]:
    """Each (event, revision)'s VEVENT bytes and the TZID they refer to (None: all-day)."""
    timeline = loaded.timeline
    story_of = story_of or {s.id: s for s in timeline.stories}
    out = []
    for event, revision in items:
        block = write_event(event, story_of[event.story], loaded.rules.get(event.id),
                             revision, timeline.timezone, lang, this_year)
        tzid = (event.timezone or timeline.timezone) if _is_timed(event, loaded) else None
        out.append((block, tzid))
    return out


def _is_timed(event: AnyEvent, loaded: LoadedTimeline) -> bool:
    rule = loaded.rules.get(event.id)
    if rule is not None:
        return not rule.all_day
    values = [getattr(event, name, None) for name in ("due", "start", "end", "date")]
    return any(isinstance(v, datetime) for v in values)


def _header(tz_name: str, tags: tuple[str, ...], stories: tuple[str, ...], lang: Lang) -> bytes:
    text = _TEXT[lang]
    name = text["name"]
    if tags:
        name += f" · {text['tag']}: {', '.join(tags)}"
    if stories:
        name += f" · {text['story_filter']}: {', '.join(stories)}"
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-caldesc", text["desc"])
    cal.add("x-wr-timezone", tz_name)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT6H")
    head: bytes = cal.to_ical()
    return head.removesuffix(b"END:VCALENDAR\r\n")


def render_feed(loaded: LoadedTimeline, *, tags: Iterable[str] = (),
                stories: Iterable[str] = (), revisions: Mapping[str, Revision] | None = None,
                lang: Lang = "zh", event_ids: Iterable[str] | None = None,
                this_year: int | None = None) -> bytes:
    """A whole feed in one go (no cache kept): for the CLI, attachments and tests."""
    return FeedRenderer().render(loaded, tags=tags, stories=stories, revisions=revisions,
                                 lang=lang, event_ids=event_ids, this_year=this_year)
