"""What a digest says (issue #12), as pure functions under frozen time: it speaks for its
days (first_day..last_day), lists first what falls due on them by the items' own dates, then
under its own heading what lies further ahead and is announced now by a lead time, and its
title names those days and both counts.

The clock is frozen (freezegun) at the moment the digest goes out and at other moments: a
digest is a function of its slot, never of when it is rendered (late, or ahead of time).
2026 dates: 1 December 2026 is a Tuesday; chinese-calendar covers 2026.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from notifiers.base import Message
from timeline.config import Settings, parse_settings
from timeline.loader import LoadedTimeline, parse_timeline
from timeline.messages import planned_digest
from timeline.plan import DigestSlot, digest_items, digest_slot, digest_slots, plan_reminders
from timeline.preview import preview_messages

SH = ZoneInfo("Asia/Shanghai")


def events(body: str) -> LoadedTimeline:
    return parse_timeline(dedent("""\
        stories:
          - {id: s, title: 报道, title_en: Story, source: {newspaper: 报纸}, published: 2026-11-01}
        events:
        """) + (dedent(body) if body.strip() else "  []\n"))


def item(event_id: str, kind: str, title: str, **fields: str) -> str:
    """One event as a YAML flow mapping line of the list `events` takes."""
    extra = "".join(f", {key}: {value}" for key, value in fields.items())
    return f"- {{id: {event_id}, story: s, kind: {kind}, title: {title}, source: 原文{extra}}}\n"


def config(digest: str = "daily 09:00", *, lang: str = "zh", top: str = "") -> Settings:
    return parse_settings(f"""
lang: {lang}
{top}
notifiers:
  group: {{type: console, reminders: false, digest: {digest}}}
routes:
  - {{notify: [group]}}
""", "digest-config.yaml")


def local(day: date, at: time = time(9)) -> datetime:
    return datetime.combine(day, at, tzinfo=SH).astimezone(UTC)


def slot(settings: Settings, first_day: date) -> DigestSlot:
    return digest_slot(settings, settings.notifiers["group"], first_day)


def contents(loaded: LoadedTimeline, settings: Settings, first_day: date
             ) -> tuple[list[tuple[str, str, date]], list[tuple[str, str, date]]]:
    """(event, anchor, day) of the digest's due and ahead parts."""
    found = digest_items(loaded, settings, "group", slot(settings, first_day))
    return ([(i.event_id, i.anchor, i.day) for i in found.due],
            [(i.event_id, i.anchor, i.day) for i in found.ahead])


def digest(loaded: LoadedTimeline, settings: Settings, first_day: date, *,
           late: bool = False) -> Message:
    return planned_digest(f"digest/{first_day}/daily/group", loaded, settings, "group",
                          first_day, lang=settings.lang, late=late)


# The case: three deadlines on Wednesday 2 December, each reminded one day ahead.
TOMORROWS = events("".join(
    item(e, "deadline", f"表{e.upper()}", title_en=f"Form {e.upper()}", due="2026-12-02",
         reminders="[1d]") for e in "abc"))


@pytest.mark.parametrize("now", [
    "2026-12-01 01:00:00",  # 09:00 in Shanghai: on time
    "2026-11-30 16:00:00",  # the night before (rendered ahead)
    "2026-12-01 15:00:00",  # 23:00: sent late after downtime
])
def test_todays_digest_announces_tomorrows_deadlines_and_tomorrows_lists_them_due(
        now: str) -> None:
    with freeze_time(now):
        today = digest(TOMORROWS, config(), date(2026, 12, 1))
        tomorrow = digest(TOMORROWS, config(), date(2026, 12, 2))
        english = digest(TOMORROWS, config(lang="en"), date(2026, 12, 1))
    assert today.title == "【政策摘要】2026-12-01 没有到期事项，3项提前提醒"
    assert "本期没有到期事项" in today.text and "提前提醒（3项）" in today.text
    assert "明天截止：表A\n截止：2026-12-02（周三），还有1天" in today.text
    assert [(i.event, i.extra["section"], i.days_left) for i in today.items] == [
        ("a", "ahead", 1), ("b", "ahead", 1), ("c", "ahead", 1)]
    assert [i.key for i in today.items] == [f"{e}/2026-12-02/1d/group" for e in "abc"]
    assert english.title == "Policy digest 2026-12-01: nothing due, 3 further ahead"
    assert "Deadline tomorrow: Form A\nDeadline: 2026-12-02 (Wed), 1 day left" in english.text
    assert tomorrow.title == "【政策摘要】2026-12-02：3项到期"
    assert "本期到期（3项）" in tomorrow.text and "提前提醒" not in tomorrow.text
    assert [(i.event, i.extra["section"], i.days_left, i.key) for i in tomorrow.items] == [
        (e, "due", 0, f"{e}/2026-12-02") for e in "abc"]
    assert "截止：2026-12-02（周三），就是今天" in tomorrow.text


def test_a_late_digest_names_only_its_own_days_and_announces_the_rest() -> None:
    # The digest goes out at 09:30, reminders at 09:00: the one-day reminders of 2 December's
    # deadlines (1 December 09:00) fall in 30 November's slot, which goes out late at a
    # start on 1 December at 08:00. It names its own day, and the deadlines, two days off
    # from its day, only as announced; 1 December's digest has nothing to say of them.
    settings = config("daily 09:30")
    with freeze_time("2026-12-01 00:00:00"):
        late = digest(TOMORROWS, settings, date(2026, 11, 30), late=True)
        english = digest(TOMORROWS, config("daily 09:30", lang="en"), date(2026, 11, 30),
                         late=True)
        next_day = digest(TOMORROWS, settings, date(2026, 12, 1))
    assert late.title == "【政策摘要】2026-11-30 没有到期事项，3项提前提醒（补发）"
    assert "2天后截止：表A" in late.text
    assert english.title == "Policy digest 2026-11-30: nothing due, 3 further ahead (sent late)"
    assert "Deadline in 2 days: Form A" in english.text
    assert next_day.title == "【政策摘要】2026-12-01 没有到期事项"
    assert next_day.items == ()


NONE = "[]"
KINDS = events("".join([
    item("opens", "window", "申报开始", start="2026-12-01", end="2026-12-20", reminders=NONE),
    item("closes", "window", "申报结束", start="2026-11-01", end="2026-12-01", reminders=NONE),
    item("open-through", "window", "一直受理", start="2026-11-01", end="2026-12-31",
         reminders=NONE),
    item("fair", "happening", "展会", date="2026-12-01", end="2026-12-03", reminders=NONE),
    item("fair-before", "happening", "展会（已开始）", date="2026-11-30", end="2026-12-02"),
    item("office", "recurring", "接待日", weekdays="[tue, fri]", start="2026-11-01",
         reminders=NONE),
    item("early", "deadline", "早上截止", due='"2026-12-01T08:00:00"', reminders=NONE),
    item("next-early", "deadline", "次日早上截止", due='"2026-12-02T08:00:00"', reminders="[2h]"),
    item("ny", "happening", "纽约电话会", date='"2026-11-30T20:00:00"',
         timezone="America/New_York", reminders=NONE),
    item("ny-day", "deadline", "纽约截止", due="2026-11-30", timezone="America/New_York",
         reminders=NONE),
    item("later", "deadline", "下月截止", due="2026-12-31", reminders="[30d, 7d]"),
]))



def test_what_falls_due_in_a_day_by_kind_and_zone() -> None:
    due, ahead = contents(KINDS, config(), date(2026, 12, 1))
    d = date(2026, 12, 1)
    # A window on its opening and on its closing day, not while it is open; a happening on
    # its first day; each start of a recurring item; a timed item on the readers' day of
    # its moment (08:00, before the digest goes out, still today; 20:00 in New York on the
    # 30th is 09:00 here on the 1st); an all-day item on its written date, whatever its zone
    # (New York's 30 November is the 30th). Lead times do not matter for falling due.
    assert sorted(due) == sorted([
        ("opens", "opens", d), ("closes", "closes", d), ("fair", "date", d),
        ("office", "occurs", d), ("early", "due", d), ("ny", "date", d)])
    # Tomorrow 08:00's two-hour reminder (06:00) falls in today's slot, which runs to
    # tomorrow 09:00: announced today, due tomorrow. The 30-day reminder of the 31st's
    # deadline falls due today at 09:00: announced.
    assert ahead == [("next-early", "due", date(2026, 12, 2)),
                     ("later", "due", date(2026, 12, 31))]
    due_2, _ = contents(KINDS, config(), date(2026, 12, 2))
    assert ("next-early", "due", date(2026, 12, 2)) in due_2
    assert ("ny-day", "due", date(2026, 11, 30)) in contents(KINDS, config(),
                                                             date(2026, 11, 30))[0]


def test_the_due_part_is_in_date_then_time_order() -> None:
    due, _ = contents(KINDS, config("weekly mon 09:00"), date(2026, 11, 30))
    days = [day for _, _, day in due]
    assert days == sorted(days)
    message = digest(KINDS, config("weekly mon 09:00"), date(2026, 11, 30))
    assert message.title.startswith("【政策摘要】2026-11-30 至 2026-12-06：")


def test_every_occurrence_falls_due_in_exactly_one_digest() -> None:
    # Daily digests over two months with working days only: weekends and holidays go out
    # with the working day before; every item's day is in exactly one digest's days.
    settings = config()
    entry = settings.notifiers["group"]
    slots = digest_slots(settings, entry, local(date(2026, 11, 1), time(0)),
                         local(date(2026, 12, 31), time(23)))
    assert all(b.first_day == a.last_day + timedelta(days=1) for a, b in pairwise(slots))
    seen: list[tuple[str, str, date]] = []
    for s in slots:
        found = digest_items(KINDS, settings, "group", s)
        assert all(s.first_day <= i.day <= s.last_day for i in found.due)
        assert all(i.day > s.last_day for i in found.ahead)
        seen.extend((i.event_id, i.anchor, i.day) for i in found.due)
    assert len(seen) == len(set(seen))
    assert ("later", "due", date(2026, 12, 31)) in seen
    # Tuesdays and Fridays from 2 November (1 November, a Sunday, went out on 30 October)
    # to 3 January: New Year's Day 2027 and its weekend go out with Thursday 31 December.
    assert sum(1 for e, _, _ in seen if e == "office") == 9 + 8 + 1
    assert slots[-1].last_day == date(2027, 1, 3)


def test_a_friday_digest_speaks_for_the_weekend() -> None:
    loaded = events(item("sat", "deadline", "周六截止", title_en='"Saturday form"',
                         due="2026-12-05", reminders=NONE))
    zh = digest(loaded, config(), date(2026, 12, 4))
    en = digest(loaded, config(lang="en"), date(2026, 12, 4))
    assert zh.title == "【政策摘要】2026-12-04 至 2026-12-06：1项到期"
    assert en.title == "Policy digest 2026-12-04 – 2026-12-06: 1 item due"
    assert "Deadline: 2026-12-05 (Sat), 1 day left" in en.text
    assert contents(loaded, config(), date(2026, 12, 7)) == ([], [])


def test_one_line_per_announced_occurrence_however_many_leads_fall_in_the_slot() -> None:
    loaded = events(item("form", "deadline", "表", title_en="Form", due="2026-12-18",
                         reminders="[14d, 10d, 7d]"))
    settings = config("weekly mon 09:00", lang="en")
    message = digest(loaded, settings, date(2026, 11, 30))
    # 14d falls on 4 December, in the week of 30 November; 10d (8 December) and 7d
    # (11 December) both in the next: one line there, as the earliest says.
    assert [(i.key, i.extra["section"]) for i in message.items] == [
        ("form/2026-12-18/14d/group", "ahead")]
    message = digest(loaded, settings, date(2026, 12, 7))
    assert [(i.key, i.days_left) for i in message.items] == [("form/2026-12-18/10d/group", 11)]
    assert message.title == "Policy digest 2026-12-07 – 2026-12-13: nothing due, 1 further ahead"
    assert "Deadline in 11 days: Form" in message.text


def test_nothing_due_only_when_nothing_is() -> None:
    message = digest(events(""), config(lang="en"), date(2026, 12, 1))
    assert message.title == "Policy digest 2026-12-01: nothing due"
    assert message.items == ()
    one = digest(events(item("x", "deadline", "表", title_en="Form", due="2026-12-01",
                             reminders=NONE)), config(lang="en"), date(2026, 12, 1))
    assert one.title == "Policy digest 2026-12-01: 1 item due"
    assert "Due in this period (1)" in one.text and "Further ahead" not in one.text
    assert "#### Due in this period (1)" in one.markdown and "**Form**" in one.markdown


@freeze_time("2026-11-20 12:00:00")
def test_preview_shows_the_digest_the_plan_keys_and_the_dispatcher_renders() -> None:
    settings = config()
    shown = [item for item in preview_messages(TOMORROWS, settings, date(2026, 12, 1),
                                               date(2026, 12, 2))]
    assert [(s.message.key, s.message.title) for s in shown] == [
        ("digest/2026-12-01/daily/group", "【政策摘要】2026-12-01 没有到期事项，3项提前提醒"),
        ("digest/2026-12-02/daily/group", "【政策摘要】2026-12-02：3项到期")]
    # The store's keys are as before: digest/{first_day}/{frequency}/{notifier}.
    planned = plan_reminders(TOMORROWS, settings, local(date(2026, 12, 1)),
                             local(date(2026, 12, 2)))
    assert [p.key for p in planned] == [s.message.key for s in shown]
