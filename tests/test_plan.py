"""The reminder plan: due times, working-day shifts, keys, routing and digests.

The plan is a pure function, so every test passes explicit datetimes. Expected working days
come from the State Council's 2024 holiday arrangements (see tests/test_workdays.py):
劳动节 5月1日至5日放假，4月28日（星期日）、5月11日（星期六）上班；
国庆节 10月1日至7日放假，9月29日（星期日）、10月12日（星期六）上班。
Expected UTC moments are computed here with zoneinfo, not by the code under test.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from timeline.config import DigestSpec, NotifierEntry, ReminderSettings, Route, RouteMatch, Settings
from timeline.loader import LoadedTimeline, parse_timeline
from timeline.occurrences import AnyEvent
from timeline.plan import (
    PlannedReminder,
    digest_slot,
    digest_slots,
    notifiers_for,
    plan_reminders,
)
from timeline.workdays import is_workday

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
# Wide enough for every test timeline below.
FIRST = datetime(2023, 1, 1, tzinfo=UTC)
LAST = datetime(2031, 12, 31, tzinfo=UTC)


def timeline(events: str, tz: str = "Asia/Shanghai") -> LoadedTimeline:
    """A timeline with two stories and the given events (a YAML list, dedented)."""
    head = textwrap.dedent(f"""\
        timezone: {tz}
        stories:
          - {{id: s1, title: Story one, source: {{newspaper: Paper}}, published: 2024-04-10}}
          - {{id: s2, title: Story two, source: {{newspaper: Paper}}, published: 2024-04-10}}
        events:
        """)
    body = textwrap.indent(textwrap.dedent(events), "  ") if events.strip() else "  []\n"
    return parse_timeline(head + body, "t.yaml")


def settings(*, notifiers: dict[str, dict[str, object]] | None = None,
             routes: list[Route] | None = None, **reminders: object) -> Settings:
    entries = {name: NotifierEntry(name=name, type="console", **options)
               for name, options in (notifiers or {"a": {}}).items()}
    return Settings(
        notifiers=entries,
        routes=routes if routes is not None else [Route(notify=list(entries))],
        reminders=ReminderSettings(**reminders),
        timezone="Asia/Shanghai",
    )


def local(day: date, at: time = time(9), tz: ZoneInfo = SH) -> datetime:
    """`at` on `day` in `tz`, as the aware UTC moment the plan uses."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def deadline(due: str, reminders: str = "[1d]", event_id: str = "d", tags: str = "[]",
             story: str = "s1") -> str:
    return (f"- {{id: {event_id}, story: {story}, kind: deadline, title: T, source: Q, "
            f"due: {due}, reminders: {reminders}, tags: {tags}}}\n")


def plan(loaded: LoadedTimeline, config: Settings | None = None,
         first: datetime = FIRST, last: datetime = LAST) -> list[PlannedReminder]:
    return plan_reminders(loaded, config or settings(), first, last)


def by_lead(planned: list[PlannedReminder]) -> dict[timedelta, PlannedReminder]:
    return {r.lead: r for r in planned}


# ── lead times and send_at ─────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("working_days_only", [True, False])
def test_default_deadline_leads_ring_at_send_at_that_many_days_before(
        working_days_only: bool) -> None:
    # Due Thursday 2024-07-11; 90/30/7/1 days before are all ordinary working days.
    loaded = timeline("- {id: d, story: s1, kind: deadline, title: T, source: Q, "
                      "due: 2024-07-11}\n")
    planned = plan(loaded, settings(working_days_only=working_days_only))
    assert [(r.lead, r.due_at) for r in planned] == [
        (timedelta(days=90), local(date(2024, 4, 12))),
        (timedelta(days=30), local(date(2024, 6, 11))),
        (timedelta(days=7), local(date(2024, 7, 4))),
        (timedelta(days=1), local(date(2024, 7, 10))),
    ]
    for r in planned:
        assert r.due_at.tzinfo is UTC
        assert r.due_at.astimezone(SH).time() == time(9)
        assert (r.anchor, r.occurrence, r.event_id) == ("due", date(2024, 7, 11), "d")
        assert not r.shifted and not r.estimated
        assert r.payload_json()["all_day"] is True


def test_send_at_is_the_local_time_of_an_all_day_reminder() -> None:
    loaded = timeline(deadline("2024-07-11", "[7d]"))
    (r,) = plan(loaded, settings(send_at=time(8, 30)))
    assert r.due_at == local(date(2024, 7, 4), time(8, 30))
    assert r.due_at == datetime(2024, 7, 4, 0, 30, tzinfo=UTC)


# ── working-day shifts ─────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize(
    ("lands_on", "expected", "shifted"),
    [
        *[(date(2024, 5, d), date(2024, 4, 30), True) for d in range(1, 6)],  # Labour Day
        (date(2024, 4, 30), date(2024, 4, 30), False),
        (date(2024, 4, 28), date(2024, 4, 28), False),  # Sunday, worked (调休)
        (date(2024, 5, 11), date(2024, 5, 11), False),  # Saturday, worked (调休)
        (date(2024, 5, 12), date(2024, 5, 11), True),  # Sunday after the worked Saturday
        (date(2024, 4, 27), date(2024, 4, 26), True),  # an ordinary Saturday
        *[(date(2024, 10, d), date(2024, 9, 30), True) for d in range(1, 8)],  # National Day
        (date(2024, 9, 29), date(2024, 9, 29), False),  # Sunday, worked
        (date(2024, 10, 12), date(2024, 10, 12), False),  # Saturday, worked
        (date(2024, 10, 13), date(2024, 10, 12), True),
        (date(2024, 10, 8), date(2024, 10, 8), False),
    ],
)
def test_all_day_reminder_moves_back_to_the_previous_working_day(
        lands_on: date, expected: date, shifted: bool) -> None:
    due = lands_on + timedelta(days=1)
    (r,) = plan(timeline(deadline(due.isoformat(), "[1d]")))
    assert r.due_at == local(expected)
    assert r.shifted is shifted
    assert not r.estimated  # 2024 is published
    assert r.occurrence == due  # the reminder is still about the same day
    assert r.payload_json()["shifted"] is shifted


def test_long_lead_landing_in_the_holiday_shifts_too() -> None:
    (r,) = plan(timeline(deadline("2024-05-10", "[7d]")))  # 7d before is 2024-05-03
    assert (r.due_at, r.shifted) == (local(date(2024, 4, 30)), True)


def test_shift_in_an_estimated_year_is_marked_estimated() -> None:
    # 2028 is not published: National Day is estimated as 1-4 October, 30 Sep is a Saturday.
    (r,) = plan(timeline(deadline("2028-10-04", "[1d]")))
    assert r.due_at == local(date(2028, 9, 29))
    assert r.shifted and r.estimated
    assert r.payload_json()["estimated"] is True


def test_unshifted_reminder_in_an_estimated_year_still_rests_on_the_estimate() -> None:
    (r,) = plan(timeline(deadline("2028-03-16", "[1d]")))  # Wednesday 15 March
    assert r.due_at == local(date(2028, 3, 15))
    assert not r.shifted
    assert r.estimated  # "it is a working day" is itself the estimate's answer


def test_working_days_only_false_never_shifts() -> None:
    loaded = timeline(deadline("2024-05-04", "[1d]") + deadline("2028-10-04", "[1d]", "e"))
    planned = plan(loaded, settings(working_days_only=False))
    assert [(r.due_at, r.shifted, r.estimated) for r in planned] == [
        (local(date(2024, 5, 3)), False, False),
        (local(date(2028, 10, 3)), False, False),
    ]


# ── timed items ────────────────────────────────────────────────────────────────────────────

def test_timed_item_reminds_at_exact_moments() -> None:
    loaded = timeline(deadline("2024-06-04T15:00:00+08:00", "[2h, 0m]"))
    planned = plan(loaded)
    moment = datetime(2024, 6, 4, 15, tzinfo=SH)
    assert [(r.lead, r.due_at) for r in planned] == [
        (timedelta(hours=2), moment - timedelta(hours=2)),
        (timedelta(0), moment),
    ]
    assert [r.key for r in planned] == ["d/2024-06-04T1500+0800/2h/a",
                                        "d/2024-06-04T1500+0800/0d/a"]  # 0 is written 0d
    assert all(r.payload_json()["all_day"] is False for r in planned)


def test_timed_item_is_never_shifted_even_on_a_holiday() -> None:
    loaded = timeline(deadline("2024-05-02T10:00:00+08:00", "[1d, 2h]"))
    planned = plan(loaded)
    assert [r.due_at for r in planned] == [datetime(2024, 5, 1, 10, tzinfo=SH),
                                           datetime(2024, 5, 2, 8, tzinfo=SH)]
    assert not any(r.shifted or r.estimated for r in planned)


def test_timed_lead_across_a_dst_change_is_elapsed_time() -> None:
    # 04:00 EDT on the spring-forward day; 2h and 3h before lie on either side of the gap.
    loaded = timeline(deadline("2025-03-09T04:00:00", "[3h, 2h, 1d]"), tz="America/New_York")
    planned = plan(loaded)
    moment = datetime(2025, 3, 9, 4, tzinfo=NY).astimezone(UTC)
    assert moment == datetime(2025, 3, 9, 8, tzinfo=UTC)
    assert {r.lead: r.due_at for r in planned} == {
        timedelta(hours=3): moment - timedelta(hours=3),  # 00:00 EST
        timedelta(hours=2): moment - timedelta(hours=2),  # 01:00 EST, not the missing 02:00
        timedelta(days=1): moment - timedelta(days=1),
    }


# ── DST in a non-Chinese zone ─────────────────────────────────────────────────────────────

def test_all_day_reminders_keep_local_send_at_across_dst() -> None:
    loaded = timeline(deadline("2025-03-11", "[5d, 2d, 1d, 0d]"), tz="America/New_York")
    config = settings().model_copy(update={"timezone": "America/New_York"})
    planned = by_lead(plan(loaded, config))

    def nine(day: date) -> datetime:
        return datetime.combine(day, time(9), tzinfo=NY).astimezone(UTC)

    assert planned[timedelta(days=5)].due_at == nine(date(2025, 3, 6))  # EST
    assert planned[timedelta(days=2)].due_at == nine(date(2025, 3, 7))  # Sunday → Friday, EST
    assert planned[timedelta(days=2)].shifted
    assert planned[timedelta(days=1)].due_at == nine(date(2025, 3, 10))  # EDT
    assert planned[timedelta(days=0)].due_at == nine(date(2025, 3, 11))
    # The same wall-clock 09:00 is a different UTC hour on either side of the change.
    assert nine(date(2025, 3, 7)).hour == 14
    assert nine(date(2025, 3, 10)).hour == 13


def test_all_day_reminders_across_the_autumn_change() -> None:
    loaded = timeline(deadline("2025-11-04", "[4d, 1d]"), tz="America/New_York")
    config = settings().model_copy(update={"timezone": "America/New_York"})
    planned = by_lead(plan(loaded, config))
    assert planned[timedelta(days=4)].due_at == datetime(2025, 10, 31, 13, tzinfo=UTC)  # EDT
    assert planned[timedelta(days=1)].due_at == datetime(2025, 11, 3, 14, tzinfo=UTC)  # EST


# ── recurring items ────────────────────────────────────────────────────────────────────────

def test_recurring_reminds_per_occurrence_and_skips_excluded_holidays() -> None:
    loaded = timeline("""\
        - id: office
          story: s1
          kind: recurring
          title: Office hours
          source: Q
          weekdays: [tue, fri]
          start: 2024-04-23
          end: 2024-05-17
          except: [cn-holidays, 2024-05-14]
          reminders: [1d]
        """)
    planned = plan(loaded)
    # Tue/Fri from 23 April to 17 May, minus Friday 3 May (Labour Day) and 14 May (listed).
    occurrences = [date(2024, 4, 23), date(2024, 4, 26), date(2024, 4, 30), date(2024, 5, 7),
                   date(2024, 5, 10), date(2024, 5, 17)]
    assert [r.occurrence for r in planned] == occurrences
    assert all(r.anchor == "occurs" for r in planned)
    assert [r.due_at for r in planned] == [local(d - timedelta(days=1)) for d in occurrences]
    assert [r.key for r in planned][:2] == ["office/2024-04-23/1d/a", "office/2024-04-26/1d/a"]


def test_recurring_reminder_shifted_back_into_a_narrow_range_is_planned() -> None:
    # Monday 6 May 2024: 1d before is Sunday 5 May, inside the Labour Day break, so the
    # reminder is due Tuesday 30 April, a week before the occurrence.
    loaded = timeline("""\
        - {id: weekly, story: s1, kind: recurring, title: T, source: Q, weekdays: [mon],
           start: 2024-05-06, end: 2024-05-06, reminders: [1d]}
        """)
    day = (datetime(2024, 4, 30, tzinfo=SH), datetime(2024, 4, 30, 23, 59, tzinfo=SH))
    (r,) = plan(loaded, first=day[0], last=day[1])
    assert (r.occurrence, r.due_at, r.shifted) == (date(2024, 5, 6), local(date(2024, 4, 30)),
                                                  True)


def test_recurring_timed_occurrences() -> None:
    loaded = timeline("""\
        - {id: standup, story: s1, kind: recurring, title: T, source: Q, every: weekly,
           start: "2024-06-03T10:00:00", end: 2024-06-17, reminders: [30m]}
        """)
    planned = plan(loaded)
    assert [r.due_at for r in planned] == [datetime(2024, 6, d, 9, 30, tzinfo=SH)
                                           for d in (3, 10, 17)]
    assert planned[0].key == "standup/2024-06-03T1000+0800/30m/a"


# ── windows ────────────────────────────────────────────────────────────────────────────────

WINDOW = textwrap.dedent("""\
    - id: w
      story: s1
      kind: window
      title: Window
      source: Q
      start: 2024-06-04
      end: 2024-07-30
      reminders: [30d, 7d, 1d]
      start_reminders: [7d, 1d]
    """)


def test_window_reminds_before_it_closes_and_before_it_opens() -> None:
    planned = plan(timeline(WINDOW))
    assert [(r.anchor, r.lead.days, r.due_at, r.shifted) for r in planned] == [
        ("opens", 7, local(date(2024, 5, 28)), False),
        ("opens", 1, local(date(2024, 6, 3)), False),
        ("closes", 30, local(date(2024, 6, 28)), True),  # 30 June is a Sunday
        ("closes", 7, local(date(2024, 7, 23)), False),
        ("closes", 1, local(date(2024, 7, 29)), False),
    ]
    assert [r.key for r in planned] == [
        "w/opens-2024-06-04/7d/a", "w/opens-2024-06-04/1d/a",
        "w/2024-07-30/30d/a", "w/2024-07-30/7d/a", "w/2024-07-30/1d/a"]
    assert {r.occurrence for r in planned if r.anchor == "opens"} == {date(2024, 6, 4)}


def test_window_without_start_reminders_only_reminds_of_its_end() -> None:
    planned = plan(timeline(WINDOW.replace("  start_reminders: [7d, 1d]\n", "")))
    assert {r.anchor for r in planned} == {"closes"}


def test_window_start_reminders_with_the_same_leads_get_distinct_keys() -> None:
    planned = plan(timeline(WINDOW.replace("2024-07-30", "2024-06-04")
                            .replace("[30d, 7d, 1d]", "[7d, 1d]")))
    keys = [r.key for r in planned]
    assert len(keys) == 4 == len(set(keys))


# ── keys ───────────────────────────────────────────────────────────────────────────────────

def test_keys_are_unique_stable_and_dot_free(events_path: Path) -> None:
    text = events_path.read_text(encoding="utf-8")
    two = settings(notifiers={"ops": {}, "park-group_1": {}})
    first = plan(parse_timeline(text, "events.yaml"), two)
    again = plan(parse_timeline(text, "events.yaml"), two)
    keys = [r.key for r in first]
    assert keys == [r.key for r in again]
    assert first == again
    assert len(keys) == len(set(keys))
    for r in first:
        assert "." not in r.key
        event_id, token, lead, notifier = r.key.split("/")
        assert (event_id, notifier) == (r.event_id, r.notifier)
        assert lead == r.payload_json()["lead"]
        assert token.removeprefix("opens-").startswith(r.occurrence.isoformat()[:10])


def test_plan_does_not_read_the_clock() -> None:
    loaded = timeline(WINDOW + deadline("2024-06-04T15:00:00+08:00", "[2h]"))
    with time_machine.travel(datetime(2020, 1, 1, tzinfo=UTC), tick=False):
        before = plan(loaded)
    with time_machine.travel(datetime(2030, 6, 1, tzinfo=UTC), tick=False):
        after = plan(loaded)
    assert before == after


# ── routing ────────────────────────────────────────────────────────────────────────────────

ROUTED = (deadline("2024-07-11", "[1d]", "tagged", tags="[diesel, subsidy]")
          + deadline("2024-07-11", "[1d]", "other-story", story="s2")
          + deadline("2024-07-11", "[1d]", "plain")
          + WINDOW)


def _events() -> dict[str, AnyEvent]:
    loaded = timeline(ROUTED)
    return {e.id: e for e in loaded.timeline.events}


def test_first_matching_route_wins() -> None:
    routes = [Route(match=RouteMatch(tags=["subsidy"]), notify=["x"]),
              Route(match=RouteMatch(stories=["s2"]), notify=["y"]),
              Route(match=RouteMatch(tags=["diesel"]), notify=["never"]),
              Route(notify=["z"])]
    events = _events()
    assert notifiers_for(events["tagged"], routes) == ["x"]
    assert notifiers_for(events["other-story"], routes) == ["y"]
    assert notifiers_for(events["plain"], routes) == ["z"]


def test_continue_keeps_matching_without_repeating_a_notifier() -> None:
    routes = [Route(match=RouteMatch(tags=["diesel"]), notify=["x"], continue_=True),
              Route(match=RouteMatch(kinds=["deadline"]), notify=["x", "y"], continue_=True),
              Route(match=RouteMatch(events=["plain"]), notify=["p"]),
              Route(notify=["z"]),
              Route(notify=["after-default"])]
    events = _events()
    assert notifiers_for(events["tagged"], routes) == ["x", "y", "z"]
    assert notifiers_for(events["plain"], routes) == ["x", "y", "p"]
    assert notifiers_for(events["w"], routes) == ["z"]


def test_route_criteria_all_apply_and_any_value_within_one_matches() -> None:
    both = Route(match=RouteMatch(tags=["diesel", "nothing"], kinds=["window"]), notify=["x"])
    by_event = Route(match=RouteMatch(events=["w", "plain"]), notify=["x"])
    events = _events()
    assert notifiers_for(events["tagged"], [both]) == []
    assert notifiers_for(events["w"], [both]) == []
    assert notifiers_for(events["w"], [by_event]) == ["x"]
    assert notifiers_for(events["tagged"], [by_event]) == []


def test_plan_sends_each_event_to_its_routed_notifiers_only() -> None:
    config = settings(
        notifiers={"diesel": {}, "ops": {}},
        routes=[Route(match=RouteMatch(tags=["diesel"]), notify=["diesel"], continue_=True),
                Route(match=RouteMatch(kinds=["deadline"]), notify=["ops"])])
    planned = plan(timeline(ROUTED), config)
    got = {(r.event_id, r.notifier) for r in planned}
    assert got == {("tagged", "diesel"), ("tagged", "ops"), ("other-story", "ops"),
                   ("plain", "ops")}  # the window matches no route: no reminders


def test_notifier_with_reminders_false_gets_no_event_reminders_but_its_digest() -> None:
    config = settings(notifiers={"ops": {}, "bureau": {"reminders": False,
                                                       "digest": "weekly mon 09:00"}})
    planned = plan(timeline(ROUTED), config, datetime(2024, 5, 1, tzinfo=SH),
                   datetime(2024, 8, 1, tzinfo=SH))
    bureau = [r for r in planned if r.notifier == "bureau"]
    assert bureau and all(r.anchor == "digest" and r.event_id == "" for r in bureau)
    assert any(r.notifier == "ops" and r.event_id == "tagged" for r in planned)


# ── digests ────────────────────────────────────────────────────────────────────────────────

def test_weekly_digest_every_monday_in_range() -> None:
    config = settings(notifiers={"ops": {"digest": "weekly mon 09:00"}}, routes=[])
    first = datetime(2024, 5, 6, 9, tzinfo=SH)  # exactly a digest moment: included
    last = datetime(2024, 6, 3, 9, tzinfo=SH)  # also one: included
    planned = plan(timeline(deadline("2024-05-20", "[1d]")), config, first, last)
    mondays = [date(2024, 5, 6), date(2024, 5, 13), date(2024, 5, 20), date(2024, 5, 27),
               date(2024, 6, 3)]
    assert [r.due_at for r in planned] == [local(d) for d in mondays]
    assert [r.key for r in planned] == [f"digest/{d.isoformat()}/weekly/ops" for d in mondays]
    for r in planned:
        assert (r.anchor, r.event_id, r.notifier, r.lead) == ("digest", "", "ops", timedelta(0))
        assert "." not in r.key
    inner = plan(timeline(""), config, first + timedelta(seconds=1), last - timedelta(seconds=1))
    assert [r.occurrence for r in inner] == mondays[1:-1]


def test_digest_times_daily_in_the_deployment_zone() -> None:
    config = settings(working_days_only=False).model_copy(
        update={"timezone": "America/New_York"})
    entry = NotifierEntry(name="n", type="console", digest=DigestSpec.parse("daily 08:00"))
    slots = digest_slots(config, entry, datetime(2025, 3, 7, tzinfo=UTC),
                         datetime(2025, 3, 11, tzinfo=UTC))
    times = [slot.send_at for slot in slots]
    assert times == [datetime.combine(date(2025, 3, d), time(8), tzinfo=NY).astimezone(UTC)
                     for d in (7, 8, 9, 10)]
    assert [t.hour for t in times] == [13, 13, 12, 12]  # the DST change on 9 March
    # Each covers the day to the next one's moment: 23 hours across the change.
    assert [s.end - s.start for s in slots[1:3]] == [timedelta(hours=23), timedelta(hours=24)]
    assert digest_slots(config, NotifierEntry(name="m", type="console"),
                        datetime(2025, 3, 7, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC)) == []


WEEKLY = NotifierEntry(name="ops", type="console", digest=DigestSpec.parse("weekly mon 09:00"))
DAILY = NotifierEntry(name="ops", type="console", digest=DigestSpec.parse("daily 09:00"))


def test_a_weekly_digest_due_on_a_holiday_goes_out_the_working_day_before() -> None:
    # Mid-Autumn 2024: Sunday 15 to Tuesday 17 September off, Saturday 14th worked (调休).
    slots = digest_slots(settings(), WEEKLY, local(date(2024, 9, 9)), local(date(2024, 9, 23)))
    assert [(s.first_day, s.send_at, s.shifted) for s in slots] == [
        (date(2024, 9, 9), local(date(2024, 9, 9)), False),
        (date(2024, 9, 16), local(date(2024, 9, 14)), True),
        (date(2024, 9, 23), local(date(2024, 9, 23)), False)]
    # Sent early, it still speaks for its own week, and the week before for its own.
    assert [(s.start, s.end) for s in slots[:2]] == [
        (local(date(2024, 9, 9)), local(date(2024, 9, 16))),
        (local(date(2024, 9, 16)), local(date(2024, 9, 23)))]
    assert digest_slot(settings(), WEEKLY, date(2024, 9, 16)) == slots[1]
    planned = plan(timeline(""), settings(notifiers={"ops": {"digest": "weekly mon 09:00"}},
                                          routes=[]),
                   local(date(2024, 9, 10)), local(date(2024, 9, 20)))
    assert [(r.key, r.due_at, r.shifted) for r in planned] == [
        ("digest/2024-09-16/weekly/ops", local(date(2024, 9, 14)), True)]


def test_a_weekly_digest_before_a_long_holiday_covers_two_weeks() -> None:
    # National Day 2024: 1 to 7 October off. Monday the 7th's digest would go out on Monday
    # 30 September, the day of the one before it: they are one digest of two weeks.
    slots = digest_slots(settings(), WEEKLY, local(date(2024, 9, 30)), local(date(2024, 10, 14)))
    assert [(s.first_day, s.send_at, s.start, s.end) for s in slots] == [
        (date(2024, 9, 30), local(date(2024, 9, 30)), local(date(2024, 9, 30)),
         local(date(2024, 10, 14))),
        (date(2024, 10, 14), local(date(2024, 10, 14)), local(date(2024, 10, 14)),
         local(date(2024, 10, 21)))]
    # Without working_days_only it is every Monday, holiday or not.
    plain = digest_slots(settings(working_days_only=False), WEEKLY, local(date(2024, 9, 30)),
                         local(date(2024, 10, 14)))
    assert [s.send_at for s in plain] == [local(date(2024, 9, 30)), local(date(2024, 10, 7)),
                                          local(date(2024, 10, 14))]


def test_a_daily_digest_on_friday_covers_the_weekend() -> None:
    slots = digest_slots(settings(), DAILY, local(date(2024, 5, 23)), local(date(2024, 5, 28)))
    assert [(s.first_day, s.send_at, s.end) for s in slots] == [
        (date(2024, 5, 23), local(date(2024, 5, 23)), local(date(2024, 5, 24))),
        (date(2024, 5, 24), local(date(2024, 5, 24)), local(date(2024, 5, 27))),
        (date(2024, 5, 27), local(date(2024, 5, 27)), local(date(2024, 5, 28))),
        (date(2024, 5, 28), local(date(2024, 5, 28)), local(date(2024, 5, 29)))]
    assert not any(s.shifted for s in slots)
    # A range starting on the Saturday finds nothing until Monday: the weekend went out
    # with Friday's.
    later = digest_slots(settings(), DAILY, local(date(2024, 5, 25), time(0)),
                         local(date(2024, 5, 27)))
    assert [s.first_day for s in later] == [date(2024, 5, 27)]


# ── the range filter and the order ─────────────────────────────────────────────────────────

def test_range_is_inclusive_at_both_ends_and_ordered_by_due_time() -> None:
    loaded = timeline(WINDOW + deadline("2024-06-04T15:00:00+08:00", "[2h, 0m]"))
    everything = plan(loaded)
    assert everything == sorted(everything, key=lambda r: (r.due_at, r.key))
    assert [r.due_at for r in everything] == sorted(r.due_at for r in everything)
    lo, hi = everything[1].due_at, everything[-2].due_at
    assert plan(loaded, first=lo, last=hi) == everything[1:-1]
    tick = timedelta(microseconds=1)
    assert plan(loaded, first=lo + tick, last=hi - tick) == everything[2:-2]


def test_a_narrow_range_is_a_slice_of_a_wide_one(loaded: LoadedTimeline) -> None:
    config = Settings()
    wide = plan_reminders(loaded, config, datetime(2024, 4, 1, tzinfo=SH),
                          datetime(2025, 1, 1, tzinfo=SH))
    assert wide
    for first in (date(2024, 4, 29), date(2024, 5, 27), date(2024, 7, 1), date(2024, 9, 23)):
        lo = datetime.combine(first, time(0), tzinfo=SH)
        hi = lo + timedelta(days=7)
        narrow = plan_reminders(loaded, config, lo, hi)
        assert narrow == [r for r in wide if lo <= r.due_at <= hi], first


# ── the repo's events.yaml ─────────────────────────────────────────────────────────────────

def test_the_curated_timeline_plans_sensibly(loaded: LoadedTimeline) -> None:
    config = Settings()
    planned = plan_reminders(loaded, config, datetime(2024, 4, 1, tzinfo=SH),
                             datetime(2031, 1, 1, tzinfo=SH))
    keys = [r.key for r in planned]
    assert len(keys) == len(set(keys))
    assert {r.notifier for r in planned} == {"console"}
    # The three phase deadlines and the diesel windows are all there.
    assert {"nanchuan-phase-1-green-power-park", "nanchuan-phase-3-zero-carbon-park",
            "diesel-window-2", "preschool-staff-exchange"} <= {r.event_id for r in planned}
    for r in planned:
        if isinstance(r.occurrence, datetime):
            assert r.due_at <= r.occurrence
            continue
        due_day = r.due_at.astimezone(SH).date()
        assert due_day <= r.occurrence, r.key
        assert r.due_at.astimezone(SH).time() == time(9), r.key
        assert is_workday(due_day), r.key  # working_days_only is the default
        if due_day.year >= 2027:  # chinese-calendar publishes up to 2026
            assert r.estimated, r.key
        if due_day.year <= 2025:
            assert not r.estimated, r.key
    assert any(r.shifted for r in planned)
