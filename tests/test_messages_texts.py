"""The texts people read (timeline/messages.py): reminders, change notices and the missed
summary, in Chinese and English, with each precision's words and the readers' zone.

Direct calls on a small timeline written here: no store, no daemon. Expected strings are
written out by hand from the event's facts (calendar days, weekdays, offsets), not taken
from the code under test. Digest texts are covered elsewhere (test_dispatch_digest.py).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from timeline.loader import LoadedTimeline, parse_timeline
from timeline.messages import (
    ReminderLine,
    change_message,
    message_key,
    missed_message,
    reminder_message,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
FEED = "https://example.org/calendar.ics"

EVENTS = """\
timezone: Asia/Shanghai
stories:
  - id: park
    title: 零碳园区
    title_en: Zero-carbon park
    source: {newspaper: 西宁晚报, page: A2}
    published: 2024-04-01
events:
  - id: phase-one
    story: park
    kind: deadline
    title: 一期建成
    title_en: Phase one built
    description: 提交验收材料
    description_en: Hand in the acceptance papers
    source: 6月4日前完成一期
    due: 2024-06-04
  - id: phase-two
    story: park
    kind: deadline
    title: 二期建成
    source: 年底前完成二期
    precision: year-end
    note: 原文只说年底前
    due: 2025-12-31
  - id: survey
    story: park
    kind: deadline
    title: 摸底调查
    title_en: Survey
    source: 6月完成摸底
    precision: month
    note: 只给到月份
    due: 2024-06-30
  - id: hearing
    story: park
    kind: happening
    title: 听证会
    title_en: Hearing
    source: 6月5日5时举行
    date: 2024-06-05T05:00:00
    url: https://example.org/hearing
"""


@pytest.fixture(scope="module")
def loaded() -> LoadedTimeline:
    return parse_timeline(EVENTS)


def line(loaded: LoadedTimeline, event_id: str, occurrence: date | datetime, *,
         anchor: str = "due", tz: ZoneInfo | None = None, estimated: bool = False
         ) -> ReminderLine:
    event = loaded.timeline.event(event_id)
    return ReminderLine(key=f"{event_id}/{occurrence}/7d/chat", event=event,
                        story=loaded.timeline.story(event.story), anchor=anchor,
                        occurrence=occurrence, lead="7d",
                        due=datetime(2024, 5, 28, 1, 0, tzinfo=ZoneInfo("UTC")),
                        estimated=estimated, tz=tz)


# ── reminders ──────────────────────────────────────────────────────────────────────────

def test_zh_reminder_day_precision(loaded: LoadedTimeline) -> None:
    one = line(loaded, "phase-one", date(2024, 6, 4))
    message = reminder_message(one.key, [one], today=date(2024, 5, 28), lang="zh",
                               feed_url=FEED)
    # 28 May to 4 June is 7 days; 4 June 2024 is a Tuesday.
    assert message.title == "【政策提醒】一期建成（还有7天）"
    assert message.kind == "reminder" and message.lang == "zh" and not message.late
    assert message.text.split("\n\n") == [
        "【政策提醒】一期建成（还有7天）",
        "一期建成\n截止：2024-06-04（周二），还有7天\n要做：提交验收材料\n"
        "原文：「6月4日前完成一期」\n来源：零碳园区 — 西宁晚报",
        f"订阅日历: {FEED}",
    ]
    assert message.markdown.startswith(
        "### 【政策提醒】一期建成（还有7天）\n\n**一期建成**\n> 截止：")
    assert message.markdown.endswith(f"[订阅日历]({FEED})")
    assert message.links == (("订阅日历", FEED),)
    (item,) = message.items
    assert (item.key, item.event, item.story, item.days_left) == (one.key, "phase-one", "park", 7)
    assert item.extra == {"anchor": "due", "precision": "day", "estimated": False}


def test_en_reminder_uses_english_texts(loaded: LoadedTimeline) -> None:
    one = line(loaded, "phase-one", date(2024, 6, 4))
    message = reminder_message(one.key, [one], today=date(2024, 6, 3), lang="en",
                               feed_url=None, base_url="https://t.example")
    assert message.title == "Policy reminder: Phase one built (1 day left)"
    assert message.text.split("\n\n") == [
        "Policy reminder: Phase one built (1 day left)",
        "Phase one built\nDeadline: 2024-06-04 (Tue), 1 day left\n"
        "What: Hand in the acceptance papers\nSource: 「6月4日前完成一期」\n"
        "Story: Zero-carbon park — 西宁晚报",
    ]
    assert message.links == ()
    assert message.items[0].url == "https://t.example/#phase-one"  # no url of its own


def test_english_falls_back_to_the_chinese_text(loaded: LoadedTimeline) -> None:
    one = line(loaded, "phase-two", date(2025, 12, 31))
    message = reminder_message(one.key, [one], today=date(2025, 12, 1), lang="en",
                               feed_url=None)
    assert message.title == "Policy reminder: 二期建成 (30 days left)"
    assert "What:" not in message.text  # no description in either language


@pytest.mark.parametrize(("today", "zh", "en"), [
    (date(2024, 6, 4), "就是今天", "today"),
    (date(2024, 6, 3), "还有1天", "1 day left"),
    (date(2024, 5, 5), "还有30天", "30 days left"),
    (date(2024, 6, 5), "已过1天", "1 day ago"),
    (date(2024, 6, 7), "已过3天", "3 days ago"),
])
def test_days_left_words(loaded: LoadedTimeline, today: date, zh: str, en: str) -> None:
    one = line(loaded, "phase-one", date(2024, 6, 4))
    assert reminder_message("k", [one], today=today, lang="zh",
                            feed_url=None).title == f"【政策提醒】一期建成（{zh}）"
    assert reminder_message("k", [one], today=today, lang="en",
                            feed_url=None).title == f"Policy reminder: Phase one built ({en})"


@pytest.mark.parametrize(("event_id", "due", "zh", "en"), [
    ("phase-two", date(2025, 12, 31), "截止：2025年底前，", "Deadline: by the end of 2025, "),
    ("survey", date(2024, 6, 30), "截止：2024年6月，", "Deadline: June 2024, "),
])
def test_precision_words_and_no_weekday(loaded: LoadedTimeline, event_id: str, due: date,
                                        zh: str, en: str) -> None:
    one = line(loaded, event_id, due)
    zh_text = reminder_message("k", [one], today=date(2024, 6, 1), lang="zh",
                               feed_url=None).text
    en_text = reminder_message("k", [one], today=date(2024, 6, 1), lang="en",
                               feed_url=None).text
    assert zh in zh_text and en in en_text
    assert "（周" not in zh_text  # a weekday only for a day the source gives
    # The reader is told how the date was read, since it is not a day.
    note = loaded.timeline.event(event_id).note
    assert f"日期说明：{note}" in zh_text and f"Date note: {note}" in en_text
    assert reminder_message("k", [one], today=date(2024, 6, 1), lang="zh",
                            feed_url=None).items[0].extra["precision"] == \
        loaded.timeline.event(event_id).precision.value


def test_day_precision_has_no_date_note(loaded: LoadedTimeline) -> None:
    one = line(loaded, "phase-one", date(2024, 6, 4))
    assert "日期说明" not in reminder_message("k", [one], today=date(2024, 6, 1), lang="zh",
                                           feed_url=None).text


def test_late_and_estimated_are_said(loaded: LoadedTimeline) -> None:
    one = line(loaded, "phase-one", date(2024, 6, 4), estimated=True)
    zh = reminder_message("k", [one], today=date(2024, 6, 4), lang="zh", feed_url=None,
                          late=True)
    en = reminder_message("k", [one], today=date(2024, 6, 4), lang="en", feed_url=None,
                          late=True)
    assert zh.title == "【政策提醒】一期建成（就是今天）（补发）" and zh.late
    assert en.title == "Policy reminder: Phase one built (today) (sent late)" and en.late
    assert "（节假日安排未公布，工作日按估算）" in zh.text
    assert "(holidays not yet published; working days estimated)" in en.text
    assert zh.items[0].extra["estimated"] is True


def test_several_reminders_in_one_message(loaded: LoadedTimeline) -> None:
    lines = [line(loaded, "phase-one", date(2024, 6, 4)),
             line(loaded, "survey", date(2024, 6, 30))]
    zh = reminder_message(message_key([x.key for x in lines]), lines, today=date(2024, 6, 1),
                          lang="zh", feed_url=None)
    en = reminder_message("k", lines, today=date(2024, 6, 1), lang="en", feed_url=None)
    assert zh.title == "【政策提醒】2项事项临近"
    assert en.title == "Policy reminder: 2 items coming up"
    assert zh.key.startswith("group-") and zh.key != lines[0].key
    assert [i.event for i in zh.items] == ["phase-one", "survey"]
    assert [i.days_left for i in zh.items] == [3, 29]
    # Each item its own block, each with its bold title in markdown.
    assert zh.text.count("原文：") == 2
    assert "**一期建成**" in zh.markdown and "**摸底调查**" in zh.markdown


def test_lone_reminder_keeps_its_own_key() -> None:
    assert message_key(["a/2024-06-04/7d/chat"]) == "a/2024-06-04/7d/chat"
    assert message_key(["a", "b"]) == message_key(["b", "a"])  # whatever the order
    assert message_key(["a", "b"]) != message_key(["a", "c"])


# ── zones ──────────────────────────────────────────────────────────────────────────────

def test_timed_item_of_another_zone_is_shown_on_the_readers_clock(
        loaded: LoadedTimeline) -> None:
    # 5 June 05:00 in Shanghai (UTC+8) is 4 June 21:00 UTC, 23:00 in Berlin (CEST, UTC+2):
    # for Berlin readers it is Tuesday 4 June, and the days are counted to that day.
    own = datetime(2024, 6, 5, 5, 0, tzinfo=SHANGHAI)
    one = line(loaded, "hearing", own, anchor="date", tz=BERLIN)
    zh = reminder_message("k", [one], today=date(2024, 6, 3), lang="zh", feed_url=None)
    en = reminder_message("k", [one], today=date(2024, 6, 3), lang="en", feed_url=None)
    assert "日期：2024-06-04 23:00（周二；Asia/Shanghai 当地时间 2024-06-05 05:00），还有1天" \
        in zh.text
    assert "Date: 2024-06-04 23:00 (Tue; 2024-06-05 05:00 Asia/Shanghai time), 1 day left" \
        in en.text
    assert zh.items[0].days_left == 1
    assert zh.items[0].url == "https://example.org/hearing"  # its own url wins


def test_timed_item_in_the_readers_zone_shows_one_time(loaded: LoadedTimeline) -> None:
    own = datetime(2024, 6, 5, 5, 0, tzinfo=SHANGHAI)
    one = line(loaded, "hearing", own, anchor="date", tz=SHANGHAI)
    text = reminder_message("k", [one], today=date(2024, 6, 3), lang="zh", feed_url=None).text
    assert "日期：2024-06-05 05:00（周三），还有2天" in text
    assert "当地时间" not in text


# ── change notices ─────────────────────────────────────────────────────────────────────

def test_change_notice_zh_and_en(loaded: LoadedTimeline) -> None:
    event = loaded.timeline.event("phase-one")
    story = loaded.timeline.story("park")
    zh = change_message("phase-one/change/1", event, story, "2024-06-04", "2024-07-01",
                        lang="zh", feed_url=FEED)
    assert zh.kind == "change" and zh.key == "phase-one/change/1"
    assert zh.title == "【日期变更】一期建成"
    assert zh.text == ("【日期变更】一期建成\n\n原日期：2024-06-04\n新日期：2024-07-01\n\n"
                       f"原文：「6月4日前完成一期」\n\n订阅日历: {FEED}")
    # Markdown keeps the two dates on two lines (a hard break, not a paragraph).
    assert "原日期：2024-06-04  \n新日期：2024-07-01" in zh.markdown
    assert zh.markdown.startswith("### 【日期变更】一期建成")
    assert zh.markdown.endswith(f"[订阅日历]({FEED})")
    en = change_message("k", event, story, "2024-06-04", "2024-07-01", lang="en",
                        feed_url=None)
    assert en.title == "Date changed: Phase one built"
    assert en.text == ("Date changed: Phase one built\n\nWas: 2024-06-04\nNow: 2024-07-01"
                       "\n\nSource: 「6月4日前完成一期」")
    assert en.links == ()


# ── missed summary ─────────────────────────────────────────────────────────────────────

def test_missed_summary_lists_each_reminder_with_its_key() -> None:
    missed = [("phase-one/2024-06-04/7d/chat", "一期建成"),
              ("survey/2024-06-30/1d/chat", "摸底调查")]
    zh = missed_message("missed/chat/1", missed, lang="zh")
    assert zh.kind == "missed" and zh.key == "missed/chat/1"
    assert zh.title == "【错过的提醒】停机期间有2条提醒已过期，未再发送"
    assert zh.text.splitlines() == [
        "【错过的提醒】停机期间有2条提醒已过期，未再发送",
        "- 一期建成（phase-one/2024-06-04/7d/chat）",
        "- 摸底调查（survey/2024-06-30/1d/chat）",
    ]
    assert zh.markdown.splitlines()[0] == "### 【错过的提醒】停机期间有2条提醒已过期，未再发送"
    en = missed_message("k", missed[:1], lang="en")
    assert en.text.splitlines() == [
        "Missed reminders: 1 fell due while stopped and are now past",
        "- 一期建成 (phase-one/2024-06-04/7d/chat)",
    ]
