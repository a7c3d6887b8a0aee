"""Triage and grouping of claimed rows as pure functions (timeline/delivery/batching.py): no
store, no daemon, no clock but the one handed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.dispatch_helpers import webhook_settings
from timeline.config import Settings
from timeline.delivery.batching import (
    LATE_TOLERANCE,
    Batch,
    digest_over,
    kind_of,
    reminder_past,
    triage,
)
from timeline.delivery.kinds import DigestPayload, ReminderPayload, read_payload
from timeline.store import Delivery

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 5, 20, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def row(key: str, due: datetime = NOW, *, notifier: str = "hook", attempts: int = 1,
        payload: dict[str, Any] | None = None, next_attempt: datetime | None = None,
        kind: str = "reminder") -> Delivery:
    return Delivery(key=key, event_id=key.split("/", 1)[0], notifier=notifier, due_at=due,
                    state="sending", attempts=attempts, last_error=None,
                    next_attempt_at=next_attempt, sent_at=None, lease_owner="me",
                    lease_until=None, late=False,
                    payload={"anchor": "due", "occurrence": "2024-05-31", "all_day": True,
                             "lead": "7d"} if payload is None else payload,
                    created_at=NOW, updated_at=NOW, kind=kind)


def settings(hook: str = "") -> Settings:
    return webhook_settings("http://127.0.0.1:9/hook", hook=hook)


def test_a_rows_kind_comes_from_its_kind_column() -> None:
    assert kind_of(row("a/1")) == "reminder"
    assert kind_of(row("digest/2024-05-20/daily/hook", kind="digest",
                       payload={"anchor": "digest", "occurrence": "2024-05-20"})) == "digest"
    assert kind_of(row("a/change-1/hook", kind="change", payload={"old": "a", "new": "b"})) \
        == "change"
    assert kind_of(row("missed/x/hook", kind="missed", payload={"keys": []})) == "missed"


@pytest.mark.parametrize(("kind", "payload"), [
    ("reminder", {}),  # no occurrence
    ("reminder", {"anchor": "digest", "occurrence": "2024-05-20"}),  # not a reminder's anchor
    ("reminder", {"occurrence": "2024-05-20T09:00", "all_day": False}),  # no zone
    ("digest", {"occurrence": "not a day"}),
    ("missed", {"keys": "a/1"}),
    ("newsletter", {"occurrence": "2024-05-20"}),  # a kind this release does not know
])
def test_a_row_that_cannot_be_read_as_its_kind_goes_alone_as_unreadable(
        kind: str, payload: dict[str, Any]) -> None:
    bad = row("b/1", payload=payload, kind=kind)
    assert kind_of(bad) == "unreadable"
    good = row("a/2024-05-31/7d/hook")
    result = triage([bad, good], settings(), started_at=NOW, now=NOW, tz=SH)
    assert sorted((b.kind, [r.key for r in b.rows]) for b in result.batches) == [
        ("reminder", ["a/2024-05-31/7d/hook"]), ("unreadable", ["b/1"])]


def test_reminders_of_one_minute_go_together_up_to_group_max() -> None:
    rows = [row(f"e{i}/2024-05-31/7d/hook", NOW + timedelta(seconds=i)) for i in range(5)]
    rows.append(row("late/2024-05-31/7d/hook", NOW + timedelta(minutes=1)))
    result = triage(rows, settings("group_max: 3"), started_at=NOW - timedelta(hours=1),
                    now=NOW, tz=SH)
    assert [[r.key for r in b.rows] for b in result.batches] == [
        ["e0/2024-05-31/7d/hook", "e1/2024-05-31/7d/hook", "e2/2024-05-31/7d/hook"],
        ["e3/2024-05-31/7d/hook", "e4/2024-05-31/7d/hook"],
        ["late/2024-05-31/7d/hook"]]
    assert result.missed == {}
    assert all(b.kind == "reminder" and not b.late for b in result.batches)
    # Each batch carries its rows' payloads as triage read them, in the rows' order.
    first = result.batches[0]
    assert first.payloads == tuple(read_payload("reminder", r.payload) for r in first.rows)
    assert first.payload_of(2) == ReminderPayload("due", date(2024, 5, 31), "7d")


def test_without_grouping_and_for_other_kinds_each_row_goes_alone() -> None:
    rows = [row("e0/2024-05-31/7d/hook"), row("e1/2024-05-31/7d/hook")]
    alone = triage(rows, settings("group: false"), started_at=NOW, now=NOW, tz=SH)
    assert [len(b.rows) for b in alone.batches] == [1, 1]
    notices = [row(f"e{i}/change-1/hook", kind="change", payload={"old": "a", "new": "b"})
               for i in range(2)]
    grouped = triage(notices, settings(), started_at=NOW, now=NOW, tz=SH)
    assert [(b.kind, len(b.rows)) for b in grouped.batches] == [("change", 1), ("change", 1)]


def test_what_fell_due_while_down_is_late_or_missed() -> None:
    started = NOW
    down = NOW - LATE_TOLERANCE - timedelta(minutes=10)
    ahead = row("ahead/2024-05-31/7d/hook", down)  # its day is still to come: late
    past = row("past/2024-05-10/7d/hook", down,
               payload={"anchor": "due", "occurrence": "2024-05-10", "all_day": True})
    retried = row("retried/2024-05-10/7d/hook", down, attempts=2,
                  payload={"anchor": "due", "occurrence": "2024-05-10", "all_day": True})
    result = triage([ahead, past, retried], settings(), started_at=started, now=NOW, tz=SH)
    assert result.missed == {"hook": [past]}
    assert sorted((b.rows[0].key, b.late) for b in result.batches) == [
        ("ahead/2024-05-31/7d/hook", True), ("retried/2024-05-10/7d/hook", False)]


@pytest.mark.parametrize(("occurrence", "all_day", "past"), [
    ("2024-05-19", True, False),  # ended at midnight in Shanghai: 9 h ago, within 12 h
    ("2024-05-18", True, True),  # 33 h ago
    ("2024-05-20T07:00:00+08:00", False, False),  # 2 h ago
    ("2024-05-19T07:00:00+08:00", False, True),  # 26 h ago
])
def test_a_reminder_is_past_once_its_item_ended_more_than_catch_up_ago(
        occurrence: str, all_day: bool, past: bool) -> None:
    payload = read_payload("reminder", {"occurrence": occurrence, "all_day": all_day})
    assert isinstance(payload, ReminderPayload)
    assert reminder_past(payload, NOW, timedelta(hours=12), SH) is past


def test_a_digest_is_over_once_the_next_one_would_say_it() -> None:
    daily = settings("reminders: false, digest: daily 09:00")
    monday = read_payload("digest", {"anchor": "digest", "occurrence": "2024-05-20"})
    assert isinstance(monday, DigestPayload)
    assert monday.first_day.isoformat() == "2024-05-20"
    assert not digest_over("hook", monday, daily, NOW + timedelta(hours=23), SH)
    assert digest_over("hook", monday, daily, NOW + timedelta(hours=24), SH)
    # No digest configured for it (any more): not judged here; sending it fails and says so.
    assert not digest_over("hook", monday, settings(), NOW + timedelta(days=9), SH)


def test_a_batch_is_sent_when_its_last_row_is_due() -> None:
    rows = [row("a/1", NOW), row("b/1", NOW + timedelta(seconds=30)),
            row("c/1", NOW - timedelta(hours=1), next_attempt=NOW + timedelta(minutes=1))]
    batch = Batch("hook", rows, late=False, kind="reminder")
    assert batch.send_at == NOW + timedelta(minutes=1)  # a retry waits for its back-off
    assert Batch("hook", rows[:1], late=False, kind="reminder").number != batch.number
