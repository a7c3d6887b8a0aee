"""The four kinds of delivery (timeline/delivery/kinds.py): keys, payloads written and read
back, and the JSON the store held before the kind column, read the same."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from timeline.delivery.kinds import (
    KINDS,
    ChangePayload,
    DigestPayload,
    MissedPayload,
    Payload,
    ReminderPayload,
    change_key,
    digest_key,
    digest_of_key,
    event_of_key,
    item_key,
    missed_key,
    occurrence_token,
    read_payload,
    reminder_json,
    reminder_key,
)
from timeline.store._schema import encode_json

V1 = Path(__file__).parent / "data" / "store-v1" / "sqlite.db"
SH = timezone(timedelta(hours=8))


@pytest.mark.parametrize("payload", [
    ReminderPayload("due", date(2025, 12, 31), "30d"),
    ReminderPayload("opens", date(2024, 6, 4), "7d", shifted=True, estimated=True),
    ReminderPayload("occurs", datetime(2024, 6, 4, 9, 30, tzinfo=SH), "1h"),
    DigestPayload(date(2024, 5, 20), shifted=True),
    ChangePayload("2025-12-31", "2026-06-30"),
    MissedPayload(("a/2024-05-31/7d/hook", "b/2024-05-31/1d/hook")),
])
def test_every_payload_reads_back_as_written(payload: Payload) -> None:
    stored = json.loads(encode_json(payload.to_json()))  # through the store's encoding
    assert read_payload(payload.kind, stored) == payload
    assert payload.kind in KINDS


def test_the_plans_shortcut_writes_what_the_payload_writes() -> None:
    for occurrence in (date(2025, 12, 31), datetime(2024, 6, 4, 9, 30, tzinfo=SH)):
        assert reminder_json("closes", occurrence, "7d", True, False) == \
            ReminderPayload("closes", occurrence, "7d", True, False).to_json()


def _v1_rows() -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(f"file:{V1}?mode=ro", uri=True) as conn:
        return [(key, json.loads(payload))
                for key, payload in conn.execute("SELECT key, payload FROM deliveries")]


def test_json_written_before_the_kind_column_reads_and_writes_back_the_same() -> None:
    rows = _v1_rows()
    assert len(rows) == 293
    for key, data in rows:
        kind = ("digest" if key.startswith("digest/") else "missed" if key.startswith("missed/")
                else "change" if "/change-" in key else "reminder")
        payload = read_payload(kind, data)
        assert payload is not None, key
        written = payload.to_json()
        # Change notices and summaries no longer repeat their kind inside the payload.
        assert written == {k: v for k, v in data.items() if k != "kind"}, key


def test_a_payload_is_read_as_its_kind_or_not_at_all() -> None:
    reminder = ReminderPayload("due", date(2025, 12, 31), "30d").to_json()
    assert read_payload("change", reminder) is None
    assert read_payload("digest", reminder) is None
    assert read_payload("missed", reminder) is None
    assert read_payload("change", {"old": "a", "new": None}) is None
    assert read_payload("reminder", None) is None
    assert read_payload("reminder", {**reminder, "anchor": "weekly"}) is None
    assert read_payload("reminder", {**reminder, "occurrence": 20251231}) is None
    assert read_payload("reminder", {**reminder, "all_day": "false"}) is None
    assert read_payload("anything", reminder) is None
    # Rows from before `all_day` was stored: the text's length tells.
    old = read_payload("reminder", {"anchor": "due", "occurrence": "2024-06-04T09:30:00+08:00"})
    assert isinstance(old, ReminderPayload) and old.occurrence == datetime(
        2024, 6, 4, 1, 30, tzinfo=UTC)


def test_keys() -> None:
    moment = datetime(2024, 6, 4, 9, 30, tzinfo=SH)
    assert occurrence_token(moment) == "2024-06-04T0930+0800"  # no '.', as webhook ids need
    assert reminder_key("diesel-window-2", "opens-2024-06-04", "7d", "hook") == \
        "diesel-window-2/opens-2024-06-04/7d/hook"
    assert digest_key(date(2024, 5, 20), "weekly", "team") == "digest/2024-05-20/weekly/team"
    assert change_key("diesel-window-2", 3, "hook") == "diesel-window-2/change-3/hook"
    assert event_of_key("diesel-window-2/change-3/hook") == "diesel-window-2"
    assert event_of_key("digest/2024-05-20/weekly/team") is None
    assert digest_of_key("digest/2024-05-20/weekly/team") == date(2024, 5, 20)
    assert digest_of_key("digest/someday/weekly/team") is None
    assert digest_of_key("diesel-window-2/change-3/hook") is None
    # Events may be called `digest` or `missed`: their keys are still theirs.
    assert event_of_key("digest/2024-05-20/7d/team") == "digest"
    assert digest_of_key("digest/2024-05-20/7d/team") is None
    assert event_of_key("missed/2024-05-20/7d/team") == "missed"
    assert event_of_key(missed_key(["a/1"], "team")) is None
    assert item_key("diesel-window-2", "opens", date(2024, 6, 4)) == \
        "diesel-window-2/opens-2024-06-04"
    assert item_key("diesel-window-2", "closes", date(2024, 7, 30)) == \
        "diesel-window-2/2024-07-30"
    summary = missed_key(["b/1", "a/1"], "hook")
    assert summary == missed_key(["a/1", "b/1"], "hook")  # the same keys, once
    assert summary.startswith("missed/") and summary.endswith("/hook")
    assert summary != missed_key(["a/1"], "hook")


def test_the_plan_loads_the_kinds_alone_and_delivery_loads_no_web_stack() -> None:
    """`timeline.delivery` loads its modules on first use: the plan imports `kinds` without
    the dispatcher (which imports the plan), and delivery never needs Starlette."""
    probe = (
        "import sys, timeline.plan, timeline.reload\n"
        "assert 'timeline.delivery.kinds' in sys.modules\n"
        "assert 'timeline.delivery.dispatcher' not in sys.modules\n"
        "import timeline.delivery as d\n"
        "assert d.Dispatcher.__module__ == 'timeline.delivery.dispatcher'\n"
        "assert d.batching.triage and d.LEASE.total_seconds() > 0\n"
        "assert not [m for m in sys.modules if m.startswith(('starlette', 'uvicorn'))]\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
