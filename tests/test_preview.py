"""`timeline preview` shows each message as the dispatcher will send it: same grouping,
same key (the webhook-id a receiver sees)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from textwrap import dedent

import httpx

from tests.dispatch_helpers import in_memory_dispatcher
from tests.receiver import Receiver
from timeline.config import parse_settings
from timeline.loader import parse_timeline
from timeline.preview import preview_messages
from timeline.reload import apply_timeline

# Two deadlines on one day with the same lead fall due at the same minute: one message.
EVENTS = dedent("""
    stories:
      - id: s
        title: 报道
        source: {newspaper: 报纸}
        published: 2024-04-10
    events:
      - {id: form-a, story: s, kind: deadline, title: 表A截止, source: 原文, due: 2024-06-20,
         reminders: [7d]}
      - {id: form-b, story: s, kind: deadline, title: 表B截止, source: 原文, due: 2024-06-20,
         reminders: [7d]}
""")
BEFORE = datetime(2024, 6, 1, tzinfo=UTC)


async def test_preview_names_a_group_as_the_dispatcher_sends_it(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    loaded = parse_timeline(EVENTS)
    settings = parse_settings(f"""
notifiers:
  hook: {{type: webhook, url: "{receiver.url}/hook"}}
routes:
  - {{notify: [hook]}}
""", "preview-config.yaml")

    [shown] = preview_messages(loaded, settings, date(2024, 6, 1), date(2024, 6, 30))
    assert sorted(item.event for item in shown.message.items) == ["form-a", "form-b"]

    dispatcher, store = in_memory_dispatcher(settings, client, loaded, started_at=BEFORE)
    apply_timeline(store, settings, loaded, BEFORE)
    assert await dispatcher.run_due() == 2

    assert len(receiver.requests) == 1
    sent = receiver.last
    assert sent.headers["webhook-id"] == shown.message.key
    assert sorted(i["key"] for i in sent.json()["items"]) == \
        sorted(item.key for item in shown.message.items)
    store.close()


async def test_preview_shows_digests_as_the_dispatcher_sends_them(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    # Monday 10 June 2024 is the Dragon Boat Festival: that week's digest goes out on
    # Friday the 7th. Nothing falls due in its week (10 to 16 June); it announces the forms
    # due on the 20th, whose 7-day reminders fall due in it (Thursday the 13th), in English.
    loaded = parse_timeline(EVENTS)
    settings = parse_settings(f"""
reminders: {{horizon: 14d}}
notifiers:
  hook: {{type: webhook, url: "{receiver.url}/hook", reminders: false,
          digest: weekly mon 09:00, lang: en}}
routes:
  - {{notify: [hook]}}
""", "preview-config.yaml")

    shown = preview_messages(loaded, settings, date(2024, 6, 1), date(2024, 6, 14))
    assert [(s.message.key, s.due_local.date()) for s in shown] == [
        ("digest/2024-06-03/weekly/hook", date(2024, 6, 3)),
        ("digest/2024-06-10/weekly/hook", date(2024, 6, 7))]
    empty, forms = (s.message for s in shown)
    assert empty.title == "Policy digest 2024-06-03 – 2024-06-09: nothing due"
    assert forms.title == "Policy digest 2024-06-10 – 2024-06-16: nothing due, 2 further ahead"
    assert "Further ahead (2)" in forms.text and "Deadline in 13 days: 表A截止" in forms.text
    assert [item.extra["section"] for item in forms.items] == ["ahead", "ahead"]
    assert sorted(item.event for item in forms.items) == ["form-a", "form-b"]
    assert "13 days left" in forms.text  # counted from Friday the 7th

    dispatcher, store = in_memory_dispatcher(settings, client, loaded, started_at=BEFORE)
    apply_timeline(store, settings, loaded, BEFORE)
    assert await dispatcher.run_due() == 2

    sent = {r.headers["webhook-id"]: r.json() for r in receiver.requests}
    assert {key: body["title"] for key, body in sent.items()} == {
        s.message.key: s.message.title for s in shown}
    store.close()


def test_a_reminder_about_another_zones_moment_speaks_of_the_readers_day() -> None:
    # 20:00 in New York on Monday 30 November is 09:00 on Tuesday 1 December in Shanghai:
    # the group reads the reminder sent at that moment as "today", not "a day ago".
    loaded = parse_timeline(dedent("""
        stories:
          - {id: s, title: 报道, source: {newspaper: 报纸}, published: 2026-11-01}
        events:
          - {id: ny-call, story: s, kind: happening, title: 纽约电话会, title_en: New York call,
             source: 原文, date: "2026-11-30T20:00:00", timezone: America/New_York,
             reminders: [0m]}
    """))
    settings = parse_settings("""
notifiers:
  zh: {type: console}
  en: {type: console, lang: en}
routes:
  - {notify: [zh, en]}
""", "preview-config.yaml")
    en, zh = (item.message for item in preview_messages(  # by notifier name
        loaded, settings, date(2026, 11, 29), date(2026, 12, 3)))
    assert zh.title == "【政策提醒】纽约电话会（就是今天）"
    assert "日期：2026-12-01 09:00（周二；America/New_York 当地时间 2026-11-30 20:00），就是今天" \
        in zh.text
    assert en.title == "Policy reminder: New York call (today)"
    assert "2026-12-01 09:00 (Tue; 2026-11-30 20:00 America/New_York time), today" in en.text
    assert [item.days_left for item in zh.items] == [0]
    assert [item.title for item in en.items] == ["New York call"]


def test_preview_refuses_a_range_that_ends_before_it_starts() -> None:
    from click.testing import CliRunner

    from timeline.cli import cli

    result = CliRunner().invoke(cli, ["preview", "--from", "2024-06-10", "--to", "2024-06-01"])
    assert result.exit_code == 2
    assert "--to 2024-06-01 is before --from 2024-06-10" in result.output


async def test_the_daemon_names_another_zone_as_the_preview_does(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    # The store keeps the occurrence as an offset ("-04:00"); the message names the zone.
    loaded = parse_timeline(dedent("""
        stories:
          - {id: s, title: 报道, source: {newspaper: 报纸}, published: 2024-05-01}
        events:
          - {id: ny-call, story: s, kind: happening, title: 纽约电话会, source: 原文,
             date: "2024-06-03T20:00:00", timezone: America/New_York, reminders: [0m]}
    """))
    settings = parse_settings(f"""
notifiers:
  hook: {{type: webhook, url: "{receiver.url}/hook"}}
routes:
  - {{notify: [hook]}}
""", "preview-config.yaml")
    [shown] = preview_messages(loaded, settings, date(2024, 6, 1), date(2024, 6, 30))
    dispatcher, store = in_memory_dispatcher(settings, client, loaded, started_at=BEFORE)
    apply_timeline(store, settings, loaded, BEFORE)
    assert await dispatcher.run_due() == 1
    sent = receiver.last.json()
    when = "日期：2024-06-04 08:00（周二；America/New_York 当地时间 2024-06-03 20:00）"
    assert when in shown.message.text and when in sent["text"]  # days left: sent years later
    store.close()
