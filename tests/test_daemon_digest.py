"""A digest through the running daemon (issue #12): `timeline run` as a subprocess on the
real clock, a real receiver on 127.0.0.1, SQLite. The digest says what falls due on its day
and, under its own heading, what a lead time announces beyond it; `timeline preview` shows
the same message.

The digest's minute is the current one, so it has just fallen due when the daemon starts:
the daemon sends it at once (marked late if it started more than a few seconds after that
minute), which keeps the test from waiting for a minute to come round.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from standardwebhooks import Webhook

from tests.daemon_helpers import (
    SH,
    WHSEC,
    DaemonProcess,
    HookReceiver,
    cli,
    deadline,
    deliveries,
    in_state,
    poll,
    write_config,
    write_events,
)


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


def test_the_daemon_sends_a_digest_of_what_falls_due_and_what_is_announced(
        tmp_path: Path, receiver: HookReceiver) -> None:
    minute = datetime.now(SH).replace(second=0, microsecond=0)
    day = minute.date()
    ahead = datetime.now(UTC) + timedelta(days=10)  # its 10-day reminder falls due now
    write_events(tmp_path / "events.yaml", [
        f"{{id: form, story: s1, kind: deadline, title: Form, source: Q, due: {day}, "
        "reminders: []}",
        f"{{id: fund, story: s1, kind: window, title: Fund, source: Q, start: {day}, "
        f"end: {day + timedelta(days=20)}, reminders: []}}",
        deadline("report", ahead, "[10d]", title="Report"),
        # Neither due today nor announced today: its only reminder is three days off.
        f"{{id: later, story: s1, kind: deadline, title: Later, source: Q, "
        f"due: {day + timedelta(days=3)}, reminders: [0d]}}",
        f"{{id: gone, story: s1, kind: deadline, title: Gone, source: Q, "
        f"due: {day - timedelta(days=1)}, reminders: []}}",
    ])
    config = write_config(tmp_path / "config.yaml", f"{receiver.url}/hook")
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["reminders"]["working_days_only"] = False  # today's digest goes out today
    settings["notifiers"]["hook"].update(reminders=False, digest=f"daily {minute:%H:%M}")
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    key = f"digest/{day}/daily/hook"

    daemon = DaemonProcess(config)
    try:
        daemon.start().ready()
        [hit] = poll(lambda: [h for h in receiver.snapshot() if h.id == key], 15, "the digest")
        body = Webhook(WHSEC).verify(hit.body, hit.headers)
        poll(lambda: key in in_state(config, "sent"), 5, "the digest marked sent")
        assert daemon.stop() == 0
        assert deliveries(config, "sent")[key]["kind"] == "digest"
    finally:
        daemon.cleanup()

    assert body["kind"] == "digest"
    headline = f"Policy digest {day}: 2 items due, 1 further ahead"
    assert body["title"] == headline + (" (sent late)" if body["late"] else "")
    ahead_day = ahead.astimezone(SH).date()
    assert [(i["event"], i["extra"]["section"], i["days_left"]) for i in body["items"]] == [
        ("form", "due", 0), ("fund", "due", 0),
        ("report", "ahead", (ahead_day - day).days)]
    assert body["items"][0]["key"] == f"form/{day}"
    assert body["items"][2]["key"].startswith("report/") and \
        body["items"][2]["key"].endswith("/10d/hook")
    text = body["text"]
    assert text.index("Due in this period (2)") < text.index("Further ahead (1)")
    assert f"Deadline in {(ahead_day - day).days} days: Report" in text
    assert "Later" not in text and "Gone" not in text
    assert [h.id for h in receiver.snapshot()] == [key]  # reminders: false, the digest only

    # `timeline preview` shows the same message under the same key.
    shown = json.loads(cli(config, "preview", "--from", str(day), "--to", str(day),
                           "--json").stdout)
    [preview] = [item for item in shown if item["key"] == key]
    assert preview["title"] == headline
    # Started with --no-server, the daemon links to no feed; preview names the configured one.
    shown_text = preview["text"].split("\n\nSubscribe to the calendar: ")[0]
    assert shown_text == text.replace(body["title"], headline, 1)
    assert preview["keys"] == [i["key"] for i in body["items"]]
