"""A digest row in the outbox becomes one message listing what falls due in its period and
what a lead time announces beyond it, sent through the notifier like any reminder (in
process, real store and real receiver)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from tests.dispatch_helpers import in_memory_dispatcher, webhook_settings
from tests.receiver import Receiver
from timeline.delivery.kinds import DigestPayload
from timeline.loader import LoadedTimeline, parse_timeline
from timeline.plan import plan_reminders
from timeline.store import PlannedDelivery

# Monday 2024-05-20 09:00 in Shanghai: in the week 05-20..05-26 of the repo's timeline fall
# window 1's office days (Tuesday 05-21, Friday 05-24), and one reminder announces what lies
# beyond it: diesel window 1 closing on 05-31 (its 7-day reminder on Friday 05-24).
MONDAY_9AM = datetime(2024, 5, 20, 1, 0, tzinfo=UTC)


async def test_a_weekly_digest_lists_its_weeks_items_then_what_a_lead_time_announces(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    settings = webhook_settings(f"{receiver.url}/digest",
                                hook="reminders: false, digest: weekly mon 09:00")
    # Running since before it fell due: on time, as far as the dispatcher can tell.
    dispatcher, store = in_memory_dispatcher(settings, client, loaded, started_at=MONDAY_9AM)
    key = "digest/2024-05-20/weekly/hook"
    digest = DigestPayload(date(2024, 5, 20))
    store.add_planned([PlannedDelivery(key, "", "hook", MONDAY_9AM, digest.to_json(),
                                       digest.kind)], now=MONDAY_9AM)

    assert await dispatcher.run_due() == 1

    assert len(receiver.requests) == 1
    body = receiver.last.json()
    assert body["kind"] == "digest"
    assert receiver.last.headers["webhook-id"] == key
    assert [(item["event"], item["occurrence"], item["extra"]["section"])
            for item in body["items"]] == [
        ("diesel-office-hours-window-1", "2024-05-21", "due"),
        ("diesel-office-hours-window-1", "2024-05-24", "due"),
        ("diesel-window-1", "2024-05-31", "ahead")]
    assert [item["days_left"] for item in body["items"]] == [1, 4, 11]  # from its Monday
    assert body["title"] == "【政策摘要】2024-05-20 至 2024-05-26：2项到期，另有1项提前提醒"
    assert store.get(key).state == "sent"
    store.close()


HOLIDAY_WEEK = """
stories:
  - {id: s, title: 报道, source: {newspaper: 报}, published: 2024-09-01}
events:
  - {id: before, story: s, kind: deadline, title: 周五截止, source: 原文, due: 2024-09-13,
     reminders: [0d]}
  - {id: within, story: s, kind: deadline, title: 周五截止（节后）, source: 原文,
     due: 2024-09-20, reminders: [0d]}
"""


async def test_a_digest_sent_before_a_holiday_speaks_for_its_own_week(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    # Monday 16 September 2024 is Mid-Autumn: the digest for 16..23 goes out on Saturday
    # the 14th, a worked day; it lists only its own week and counts days from the 14th.
    settings = webhook_settings(f"{receiver.url}/digest",
                                hook="reminders: false, digest: weekly mon 09:00")
    loaded = parse_timeline(HOLIDAY_WEEK)
    [planned] = plan_reminders(loaded, settings, datetime(2024, 9, 14, tzinfo=UTC),
                               datetime(2024, 9, 15, tzinfo=UTC))
    assert planned.key == "digest/2024-09-16/weekly/hook"
    assert planned.due_at == datetime(2024, 9, 14, 1, 0, tzinfo=UTC)
    dispatcher, store = in_memory_dispatcher(settings, client, loaded,
                                             started_at=planned.due_at)
    store.add_planned([PlannedDelivery(planned.key, "", "hook", planned.due_at,
                                       planned.payload_json(), planned.kind)],  # as a reload
                      now=planned.due_at)

    assert await dispatcher.run_due() == 1

    body = receiver.last.json()
    assert [item["event"] for item in body["items"]] == ["within"]
    assert body["items"][0]["days_left"] == 6
    assert body["title"] == "【政策摘要】2024-09-16 至 2024-09-22：1项到期"
    store.close()


async def test_a_digest_late_after_downtime_is_marked_and_one_whose_week_is_over_missed(
        receiver: Receiver, client: httpx.AsyncClient, loaded: LoadedTimeline) -> None:
    settings = webhook_settings(f"{receiver.url}/digest",
                                hook="reminders: false, digest: daily 09:00")
    # Down from Monday morning to Tuesday noon: Monday's digest spoke of a day now over,
    # Tuesday's of one still going.
    monday, tuesday = MONDAY_9AM, MONDAY_9AM + timedelta(days=1)
    restarted = tuesday + timedelta(hours=3)
    dispatcher, store = in_memory_dispatcher(settings, client, loaded, started_at=restarted)
    for day, due in (("2024-05-20", monday), ("2024-05-21", tuesday)):
        digest = DigestPayload(date.fromisoformat(day))
        store.add_planned([PlannedDelivery(f"digest/{day}/daily/hook", "", "hook", due,
                                           digest.to_json(), digest.kind)], now=monday)
    rows = store.claim_due(restarted, "test")
    batches = await dispatcher.triage(rows, restarted)
    assert [(b.kind, b.late, [r.key for r in b.rows]) for b in batches] == [
        ("digest", True, ["digest/2024-05-21/daily/hook"])]
    assert store.get("digest/2024-05-20/daily/hook").state == "missed"
    message = dispatcher.render(batches[0])
    assert message is not None and message.title.endswith("（补发）")
    store.close()
