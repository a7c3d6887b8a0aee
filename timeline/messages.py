"""Rendering what people read in chat and email: reminders, digests, change notices.

zh-CN by default, English by setting. Every message gives the title, the date with its real
precision, the days left, what to do, the source and the feed link; the structured items
carry the same facts for machine receivers (the generic webhook).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

from notifiers.base import Message, MessageItem, MessageKind
from timeline.config import Settings
from timeline.delivery.kinds import keys_digest
from timeline.durations import format_lead
from timeline.formatting import Lang, format_when
from timeline.loader import LoadedTimeline
from timeline.model import Story, Timeline
from timeline.occurrences import AnyEvent
from timeline.plan import (
    DigestItem,
    DigestSlot,
    PlannedReminder,
    digest_item_key,
    digest_items,
    digest_slot,
)

__all__ = ["ReminderLine", "change_message", "digest_message", "digest_title", "message_key",
           "missed_message", "planned_line", "reminder_message", "test_message"]

_WEEKDAYS = {"zh": "一二三四五六日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
_ANCHOR = {
    "zh": {"due": "截止", "closes": "受理截止", "opens": "开始受理", "date": "日期",
           "occurs": "日期", "digest": "摘要"},
    "en": {"due": "deadline", "closes": "closes", "opens": "opens", "date": "date",
           "occurs": "on", "digest": "digest"},
}


@dataclass(frozen=True)
class ReminderLine:
    """One reminder to render: the delivery key, the event and what the plan said."""

    key: str
    event: AnyEvent
    story: Story
    anchor: str
    occurrence: date | datetime
    lead: str
    due: datetime
    estimated: bool = False
    # The readers' zone (the deployment's): a timed item of another zone is shown and its
    # days counted in it, so "today" means the readers' today.
    tz: ZoneInfo | None = None

    @property
    def when(self) -> date | datetime:
        """The occurrence as the readers' clock shows it."""
        occurrence = self.occurrence
        if isinstance(occurrence, datetime) and self.tz is not None:
            return occurrence.astimezone(self.tz)
        return occurrence

    @property
    def day(self) -> date:
        """The day it falls on, on the readers' clock: what days left count to."""
        return _day(self.when)

    @property
    def elsewhere(self) -> bool:
        """A timed item whose own zone is not the readers'."""
        occurrence = self.occurrence
        return (isinstance(occurrence, datetime) and self.tz is not None
                and occurrence.utcoffset() != occurrence.astimezone(self.tz).utcoffset())


def message_key(keys: Sequence[str]) -> str:
    """The key a message goes out under (the webhook-id receivers drop repeats by): a lone
    reminder's own key; for a group, one derived from its members, so a retry of the same
    group repeats it. The dispatcher and `timeline preview` both name messages by it."""
    return keys[0] if len(keys) == 1 else "group-" + keys_digest(keys)[:24]


def planned_line(item: PlannedReminder, timeline: Timeline,
                 tz: ZoneInfo | None = None) -> ReminderLine:
    """The line for a reminder straight from the plan (preview, digests)."""
    event = timeline.event(item.event_id)
    return ReminderLine(key=item.key, event=event, story=timeline.story(event.story),
                        anchor=item.anchor, occurrence=item.occurrence,
                        lead=format_lead(item.lead), due=item.due_at, estimated=item.estimated,
                        tz=tz)


def _title(event: AnyEvent, lang: Lang) -> str:
    title: str = event.in_lang("title", lang)  # a required text field
    return title


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def days_left_text(days: int, lang: Lang) -> str:
    if lang == "zh":
        return "就是今天" if days == 0 else f"还有{days}天" if days > 0 else f"已过{-days}天"
    if days == 0:
        return "today"
    if days > 0:
        return f"{days} day{'s' if days != 1 else ''} left"
    return f"{-days} day{'s' if days != -1 else ''} ago"


def _when(line: ReminderLine, lang: Lang) -> str:
    when = line.when
    text = format_when(when, line.event.precision, lang)
    if line.event.precision.value == "day":
        weekday = _WEEKDAYS[lang][line.day.weekday()]
        if line.elsewhere:  # and its own wall clock, as the source gives it
            own = cast(datetime, line.occurrence)  # elsewhere: only a timed occurrence is
            zone = str(own.tzinfo)  # a ZoneInfo: its name
            local = format_when(own, line.event.precision, lang)
            text += (f"（周{weekday}；{zone} 当地时间 {local}）" if lang == "zh"
                     else f" ({weekday}; {local} {zone} time)")
        else:
            text += f"（周{weekday}）" if lang == "zh" else f" ({weekday})"
    return text


def _item(line: ReminderLine, today: date, base_url: str | None, lang: Lang) -> MessageItem:
    return MessageItem(
        key=line.key, event=line.event.id, story=line.event.story,
        title=_title(line.event, lang),
        occurrence=line.occurrence, lead=line.lead, due=line.due,
        days_left=(line.day - today).days,
        url=line.event.url or (f"{base_url}/#{line.event.id}" if base_url else None),
        extra={"anchor": line.anchor, "precision": line.event.precision.value,
               "estimated": line.estimated})


def _block(line: ReminderLine, today: date, lang: Lang, markdown: bool) -> list[str]:
    event, zh = line.event, lang == "zh"
    days = (line.day - today).days
    anchor = _ANCHOR[lang].get(line.anchor, "")
    title = _title(event, lang)
    head = f"**{title}**" if markdown else title
    lines = [head, f"{anchor}：{_when(line, lang)}，{days_left_text(days, lang)}" if zh
             else f"{anchor.capitalize()}: {_when(line, lang)}, {days_left_text(days, lang)}"]
    what = event.in_lang("description", lang)
    if what:
        lines.append(("要做：" if zh else "What: ") + what)
    lines.append(("原文：" if zh else "Source: ") + f"「{event.source}」")
    if event.precision.value != "day" and event.note:
        lines.append(("日期说明：" if zh else "Date note: ") + event.note)
    if line.estimated:
        lines.append("（节假日安排未公布，工作日按估算）" if zh
                     else "(holidays not yet published; working days estimated)")
    story = line.story.in_lang("title", lang)
    lines.append(("来源：" if zh else "Story: ") + f"{story} — {line.story.source.newspaper}")
    return lines


def _join(blocks: list[list[str]], markdown: bool) -> str:
    return "\n\n".join("\n".join(f"> {b}" if markdown and i else b for i, b in enumerate(block))
                    for block in blocks)


def reminder_message(key: str, lines: Sequence[ReminderLine], *, today: date, lang: Lang,
                     feed_url: str | None, base_url: str | None = None, late: bool = False,
                     ics: bytes | None = None, kind: MessageKind = "reminder") -> Message:
    """One message for one or more reminders due at the same minute for one notifier."""
    zh = lang == "zh"
    first = lines[0]
    if len(lines) == 1:
        days = (first.day - today).days
        headline = (f"【政策提醒】{_title(first.event, lang)}（{days_left_text(days, lang)}）"
                    if zh else f"Policy reminder: {_title(first.event, lang)} "
                               f"({days_left_text(days, lang)})")
    else:
        headline = (f"【政策提醒】{len(lines)}项事项临近" if zh
                    else f"Policy reminder: {len(lines)} items coming up")
    if late:
        headline += "（补发）" if zh else " (sent late)"
    # The markdown block differs from the text one only in its bold title: build each once.
    text_blocks = [_block(line, today, lang, False) for line in lines]
    md_blocks = [[f"**{_title(line.event, lang)}**", *block[1:]]
                 for line, block in zip(lines, text_blocks, strict=True)]
    links: list[tuple[str, str]] = []
    if feed_url:
        links.append(("订阅日历" if zh else "Subscribe to the calendar", feed_url))
    footer = [f"{label}: {url}" for label, url in links]
    text = "\n\n".join([headline, _join(text_blocks, False), *footer])
    markdown = "\n\n".join([f"### {headline}", _join(md_blocks, True),
                            *[f"[{label}]({url})" for label, url in links]])
    return Message(key=key, kind=kind, title=headline, text=text, markdown=markdown, lang=lang,
                   items=tuple(_item(line, today, base_url, lang) for line in lines),
                   links=tuple(links), ics=ics, late=late)


# How a line announced ahead names what is coming: "30天后截止：" / "Deadline in 30 days: ".
_AHEAD = {
    "zh": {"due": "截止", "closes": "受理截止", "opens": "开始受理", "date": "", "occurs": ""},
    "en": {"due": "deadline", "closes": "closes", "opens": "opens", "date": "", "occurs": ""},
}


def _period(since: date, until: date, lang: Lang) -> str:
    """The days a digest speaks for, both ends included (one day is one date)."""
    if since == until:
        return since.isoformat()
    return f"{since.isoformat()} {'至' if lang == 'zh' else '–'} {until.isoformat()}"


def _digest_headline(period: str, due: int, ahead: int, lang: Lang) -> str:
    if lang == "zh":
        counts = (f"：{due}项到期" if due else " 没有到期事项") + \
            ((f"，另有{ahead}项提前提醒" if due else f"，{ahead}项提前提醒") if ahead else "")
        return f"【政策摘要】{period}{counts}"
    counts = (f"{due} item{'s' if due != 1 else ''} due" if due else "nothing due") + \
        (f", {ahead} further ahead" if ahead else "")
    return f"Policy digest {period}: {counts}"


def _ahead_head(line: ReminderLine, today: date, lang: Lang, markdown: bool) -> str:
    """The first line of an item announced ahead: how far off, what happens, its title."""
    days = (line.day - today).days
    what = _AHEAD[lang].get(line.anchor, "")
    title = _title(line.event, lang)
    title = f"**{title}**" if markdown else title
    if lang == "zh":
        return f"{'明天' if days == 1 else f'{days}天后'}{what}：{title}"
    when = "tomorrow" if days == 1 else f"in {days} days"
    head = f"{what} {when}" if what else when
    return f"{head[0].upper()}{head[1:]}: {title}"


def _digest_item(line: ReminderLine, section: str, today: date, base_url: str | None,
                 lang: Lang) -> MessageItem:
    item = _item(line, today, base_url, lang)
    return replace(item, extra={**item.extra, "section": section})


def _digest_section(heading: str, lines: Sequence[ReminderLine], today: date, lang: Lang,
                    ahead: bool) -> tuple[list[str], list[str]]:
    """One part of a digest, as text and as markdown: its heading, then its blocks (an item
    announced ahead headed by how far off it is)."""
    def head(line: ReminderLine, markdown: bool) -> str:
        if ahead:
            return _ahead_head(line, today, lang, markdown)
        return f"**{_title(line.event, lang)}**" if markdown else _title(line.event, lang)

    blocks = [_block(line, today, lang, False)[1:] for line in lines]
    text, markdown = [heading], [f"#### {heading}"]
    if blocks:
        text.append(_join([[head(line, False), *block]
                           for line, block in zip(lines, blocks, strict=True)], False))
        markdown.append(_join([[head(line, True), *block]
                               for line, block in zip(lines, blocks, strict=True)], True))
    return text, markdown


def digest_message(key: str, due: Sequence[ReminderLine], ahead: Sequence[ReminderLine], *,
                   today: date, since: date, until: date, lang: Lang, feed_url: str | None,
                   base_url: str | None = None, late: bool = False) -> Message:
    """A digest for the days `since`..`until` (inclusive): first what falls due in them
    (`due`), then under its own heading what lies further ahead and is announced now by a
    lead time (`ahead`); days counted from `today` (its send day). The title names the days
    and both counts; "nothing due" only when `due` is empty."""
    zh = lang == "zh"
    headline = _digest_headline(_period(since, until, lang), len(due), len(ahead), lang)
    if late:
        headline += "（补发）" if zh else " (sent late)"
    links = (("订阅日历" if zh else "Subscribe to the calendar", feed_url),) if feed_url else ()
    text, markdown = [headline], [f"### {headline}"]
    sections = []
    if due or ahead:
        sections.append(((f"本期到期（{len(due)}项）" if zh else f"Due in this period ({len(due)})")
                         if due else ("本期没有到期事项" if zh
                                      else "Nothing falls due in this period"), due, False))
    if ahead:
        sections.append((f"提前提醒（{len(ahead)}项）" if zh else f"Further ahead ({len(ahead)})",
                         ahead, True))
    for heading, lines, is_ahead in sections:
        part_text, part_markdown = _digest_section(heading, lines, today, lang, is_ahead)
        text += part_text
        markdown += part_markdown
    text += [f"{label}: {url}" for label, url in links]
    markdown += [f"[{label}]({url})" for label, url in links]
    # Machine receivers tell the two parts apart by `extra.section`.
    items = tuple(_digest_item(line, section, today, base_url, lang)
                  for section, lines in (("due", due), ("ahead", ahead)) for line in lines)
    return Message(key=key, kind="digest", title=headline, text="\n\n".join(text),
                   markdown="\n\n".join(markdown), lang=lang, items=items, links=links,
                   late=late)


def _digest_line(item: DigestItem, slot: DigestSlot, timeline: Timeline,
                 tz: ZoneInfo) -> ReminderLine:
    """A digest line: an announced item as its reminder says, one falling due as of the
    digest's own moment (no lead)."""
    if item.reminder is not None:
        return planned_line(item.reminder, timeline, tz)
    event = timeline.event(item.event_id)
    return ReminderLine(key=digest_item_key(item), event=event,
                        story=timeline.story(event.story), anchor=item.anchor,
                        occurrence=item.occurrence, lead="", due=slot.send_at,
                        estimated=item.estimated, tz=tz)


def planned_digest(key: str, loaded: LoadedTimeline, settings: Settings, notifier: str,
                   first_day: date, *, lang: Lang, late: bool = False) -> Message:
    """The digest the plan keyed by `first_day` for `notifier` (daemon and preview alike)."""
    entry = settings.notifiers.get(notifier)
    if entry is None or entry.digest is None:
        raise ValueError(f"notifier {notifier!r} has no digest configured any more")
    slot = digest_slot(settings, entry, first_day)
    tz = ZoneInfo(settings.timezone)
    contents = digest_items(loaded, settings, notifier, slot)
    timeline = loaded.timeline
    # It speaks of its own days and counts days from the day it was due to go out, also
    # when it goes out late after downtime (or early, before a holiday).
    return digest_message(key, [_digest_line(i, slot, timeline, tz) for i in contents.due],
                          [_digest_line(i, slot, timeline, tz) for i in contents.ahead],
                          today=slot.send_at.astimezone(tz).date(), since=slot.first_day,
                          until=slot.last_day, lang=lang, feed_url=settings.feed_url,
                          base_url=settings.server.base_url, late=late)


def change_message(key: str, event: AnyEvent, story: Story, old: str, new: str, *,
                   lang: Lang, feed_url: str | None) -> Message:
    """An event's date changed: tell its groups at once (calendars lag, chat does not)."""
    zh = lang == "zh"
    title = _title(event, lang)
    headline = f"【日期变更】{title}" if zh else f"Date changed: {title}"
    body = (f"原日期：{old}\n新日期：{new}" if zh else f"Was: {old}\nNow: {new}")
    source = ("原文：" if zh else "Source: ") + f"「{event.source}」"
    links = (("订阅日历" if zh else "Subscribe", feed_url),) if feed_url else ()
    footer = [f"{label}: {url}" for label, url in links]
    text = "\n\n".join([headline, body, source, *footer])
    markdown = "\n\n".join([f"### {headline}", body.replace("\n", "  \n"), source,
                            *[f"[{label}]({url})" for label, url in links]])
    return Message(key=key, kind="change", title=headline, text=text, markdown=markdown,
                   lang=lang, links=links)


def digest_title(first_day: date, lang: Lang) -> str:
    """A digest named in another message (a missed summary): by the day its period starts."""
    return f"{first_day.isoformat()} 起的政策摘要" if lang == "zh" else \
        f"Policy digest from {first_day.isoformat()}"


def missed_message(key: str, missed: Sequence[tuple[str, str]], *, lang: Lang) -> Message:
    """One summary of reminders that fell due while the daemon was down and are now moot."""
    zh = lang == "zh"
    headline = (f"【错过的提醒】停机期间有{len(missed)}条提醒已过期，未再发送" if zh
                else f"Missed reminders: {len(missed)} fell due while stopped and are now past")
    rows = [f"- {title}（{key_}）" if zh else f"- {title} ({key_})" for key_, title in missed]
    text = "\n".join([headline, *rows])
    return Message(key=key, kind="missed", title=headline, text=text,
                   markdown="\n".join([f"### {headline}", *rows]), lang=lang)


def test_message(key: str, notifier: str, *, lang: Lang, feed_url: str | None) -> Message:
    zh = lang == "zh"
    headline = (f"【测试】policy-timeline 通知渠道“{notifier}”工作正常" if zh
                else f"Test: policy-timeline notifier '{notifier}' works")
    links = (("订阅日历" if zh else "Subscribe", feed_url),) if feed_url else ()
    return Message(key=key, kind="test", title=headline, text=headline,
                   markdown=f"### {headline}", lang=lang, links=links)
