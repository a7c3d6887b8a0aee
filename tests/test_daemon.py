"""The running daemon, end to end and in real time: `timeline run` as a subprocess, a real
local receiver, real signals, SQLite (and PostgreSQL for two instances).

The clock is never frozen here (a frozen clock stalls asyncio); deadlines are written a few
seconds ahead and the tests poll the receiver and the store instead of sleeping fixed times.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from standardwebhooks import Webhook

import timeline.daemon
from tests.daemon_helpers import (
    FIRST_EVENT_LINE,
    SH,
    WHSEC,
    DaemonProcess,
    HookReceiver,
    at,
    cli,
    deadline,
    deliveries,
    in_state,
    poll,
    states,
    write_config,
    write_events,
)
from tests.receiver import Reply
from timeline.config import Route, load_settings
from timeline.daemon import Daemon, build_notifiers
from timeline.delivery import PREPARE_AHEAD, Dispatcher
from timeline.delivery.kinds import occurrence_token
from timeline.loader import load_timeline
from timeline.reload import apply_timeline
from timeline.source import TimelineSource
from timeline.store import Store

PG_SERVER = os.environ.get("TIMELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def key(event_id: str, due: datetime, lead: str = "0d") -> str:
    """The delivery key (and webhook-id) of a timed deadline's reminder to `hook`."""
    return f"{event_id}/{occurrence_token(due.astimezone(SH))}/{lead}/hook"


@pytest.fixture(scope="module")
def hook_receiver() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def receiver(hook_receiver: HookReceiver) -> HookReceiver:
    hook_receiver.reset()
    return hook_receiver


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    """Make DaemonProcess objects; whatever is still running at the end is killed."""
    made: list[DaemonProcess] = []

    def make(config: Path, name: str = "daemon") -> DaemonProcess:
        daemon = DaemonProcess(config, name)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.cleanup()


@pytest.fixture
def setup(tmp_path: Path, receiver: HookReceiver) -> Callable[..., Path]:
    """Write config.yaml (webhook notifier → receiver) in tmp_path; returns its path."""

    def make(**options: object) -> Path:
        return write_config(tmp_path / "config.yaml", f"{receiver.url}/hook", **options)

    return make


def verify(hit_body: bytes, headers: dict[str, str]) -> dict[str, object]:
    return Webhook(WHSEC).verify(hit_body, headers)  # raises when the signature is wrong


# ── on time, retries, dead letters ──────────────────────────────────────────────────────

def test_reminder_fires_within_a_second_of_its_due_time_signed(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup()
    due = at(2.0)
    write_events(tmp_path / "events.yaml", [deadline("ontime", due)])
    daemons(config).start().ready()

    hit = poll(lambda: receiver.about("ontime"), 10, "the reminder")[0]
    latency = hit.at - due.timestamp()
    print(f"due → received: {latency * 1000:.0f} ms")
    assert -0.05 <= latency < 1.0, latency
    payload = verify(hit.body, hit.headers)
    assert hit.id == key("ontime", due)
    assert payload["kind"] == "reminder" and payload["event"] == "ontime"
    assert payload["late"] is False
    # Started with --no-server: no link to a feed nothing serves.
    assert payload["links"] == []

    poll(lambda: hit.id in in_state(config, "sent"), 5, "the delivery marked sent")
    row = deliveries(config, "sent")[hit.id]
    assert row["attempts"] == 1 and row["late"] is False
    assert len(receiver.about("ontime")) == 1


def test_retryable_answers_are_retried_with_the_same_id_until_delivered_once(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup()
    due = at(2.0)
    receiver.script("flaky", Reply(500, body="upstream down"))
    receiver.script("limited", Reply(429, body="slow down", headers={"Retry-After": "1"}))
    write_events(tmp_path / "events.yaml", [deadline("flaky", due), deadline("limited", due)])
    daemons(config).start().ready()

    poll(lambda: len(in_state(config, "sent")) == 2, 15, "both delivered after a retry")
    sent = deliveries(config, "sent")
    assert set(sent) == {key("flaky", due), key("limited", due)}
    for event in ("flaky", "limited"):
        hits = receiver.about(event)
        assert [h.id for h in hits] == [key(event, due)] * 2  # one retry, then delivered
        for hit in hits:
            verify(hit.body, hit.headers)
        assert sent[key(event, due)]["attempts"] == 2
    # Retry-After: 1 is honoured; the 500 backs off retry_base (1 s) with ±50 % jitter.
    limited = receiver.about("limited")
    assert limited[1].at - limited[0].at >= 0.95
    flaky = receiver.about("flaky")
    assert flaky[1].at - flaky[0].at >= 0.45
    time.sleep(0.5)  # nothing more arrives once delivered
    assert len(receiver.snapshot()) == 4


def test_a_grouped_message_is_retried_whole_under_the_same_id(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup(group=True)
    due = at(2.0)
    ids = [f"team-{i}" for i in range(5)]
    receiver.default = Reply(500, body="upstream down")
    write_events(tmp_path / "events.yaml", [deadline(i, due) for i in ids])
    daemons(config).start().ready()

    first = poll(receiver.snapshot, 10, "the grouped reminder")[0]
    receiver.default = Reply(json={"ok": True})
    poll(lambda: len(in_state(config, "sent")) == len(ids), 10, "the group delivered")
    time.sleep(0.3)
    hits = receiver.snapshot()
    # One message for the five, and its retry: the same five under the same webhook-id.
    assert [h.id for h in hits] == [first.id] * 2, [h.id for h in hits]
    assert first.id.startswith("group-")
    assert len(verify(hits[1].body, hits[1].headers)["items"]) == len(ids)


def test_permanent_failure_is_a_dead_letter_until_retried(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup()
    due = at(2.0)
    receiver.script("refused", Reply(400, body="bad request"))
    write_events(tmp_path / "events.yaml", [deadline("refused", due)])
    daemon = daemons(config).start().ready()
    dead_key = key("refused", due)

    poll(lambda: in_state(config, "dead"), 10, "a dead letter")
    dead = deliveries(config, "dead")
    assert list(dead) == [dead_key]
    assert dead[dead_key]["attempts"] == 1 and "400" in dead[dead_key]["last_error"]
    assert len(receiver.about("refused")) == 1  # a 4xx is not retried

    cli(config, "retry", dead_key)
    assert states(config)[dead_key] == "pending"
    daemon.signal(signal.SIGHUP)  # wakes it now rather than at its next wake-up
    poll(lambda: dead_key in in_state(config, "sent"), 10, "the retried delivery sent")
    hits = receiver.about("refused")
    assert [h.id for h in hits] == [dead_key, dead_key]
    assert verify(hits[1].body, hits[1].headers)["late"] is False  # sent on request, not late
    assert deliveries(config, "sent")[dead_key]["attempts"] == 1
    assert daemon.running()


# ── crashes, restarts, downtime ─────────────────────────────────────────────────────────

def test_kill_9_mid_burst_then_restart_delivers_every_key_once_per_webhook_id(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    concurrency = 3
    config = setup(concurrency=concurrency)
    due = at(2.0)
    ids = [f"burst-{i:02d}" for i in range(40)]
    receiver.default = Reply(json={"ok": True}, delay=0.2)
    write_events(tmp_path / "events.yaml", [deadline(i, due) for i in ids])
    daemon = daemons(config).start().ready()

    poll(lambda: len(receiver.snapshot()) >= 10, 10, "the burst under way")
    daemon.kill()
    before = receiver.snapshot()
    assert len(before) < len(ids), "the burst finished before the kill"

    daemon.start().ready()
    poll(lambda: set(receiver.ids()) >= {key(i, due) for i in ids}, 20,
         "every key after the restart")
    poll(lambda: len(in_state(config, "sent")) == len(ids), 10, "every key marked sent")
    assert len(deliveries(config, "sent")) == len(ids)

    counts = receiver.ids()
    assert set(counts) == {key(i, due) for i in ids}  # a receiver deduplicating by id
    repeated = {k for k, n in counts.items() if n > 1}
    # Only what was in flight at the kill goes out again, with its webhook-id, once more.
    assert repeated <= {h.id for h in before}
    assert all(counts[k] == 2 for k in repeated)
    # At most the sends under way plus those whose outcome awaited its (group) commit.
    assert len(repeated) <= 2 * concurrency, repeated
    print(f"kill -9 with {len(before)} received: {len(repeated)} repeated")
    for hit in receiver.snapshot():
        verify(hit.body, hit.headers)


def test_restart_after_downtime_sends_late_and_reports_missed_once(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup(catch_up="2s")
    now = datetime.now(UTC)
    ahead_due = now + timedelta(seconds=30)  # its reminder fell due 8 s ago; still useful
    gone_due = now - timedelta(seconds=5)  # passed beyond catch_up: too late to remind
    write_events(tmp_path / "events.yaml", [deadline("ahead", ahead_due, "[38s]"),
                                            deadline("gone", gone_due, "[3s]")])
    # The previous run: a daemon that started 20 s ago planned both, then went down.
    settings = load_settings(config)
    with Store.open(settings.store) as store:
        apply_timeline(store, settings, load_timeline(settings.events),
                       now - timedelta(seconds=20))
        assert store.counts()["pending"] == 2
    ahead_key, gone_key = key("ahead", ahead_due, "38s"), key("gone", gone_due, "3s")

    daemon = daemons(config).start().ready()
    late = poll(lambda: receiver.about("ahead"), 10, "the late reminder")
    summary = poll(lambda: [h for h in receiver.snapshot() if h.id.startswith("missed/")],
                   10, "the missed summary")
    assert len(late) == 1 and late[0].id == ahead_key
    body = verify(late[0].body, late[0].headers)
    assert body["late"] is True and body["kind"] == "reminder"
    assert len(summary) == 1
    report = verify(summary[0].body, summary[0].headers)
    assert report["kind"] == "missed"
    assert gone_key in report["text"] or "gone" in report["text"]
    assert not receiver.about("gone")

    poll(lambda: in_state(config, "missed") and ahead_key in in_state(config, "sent"), 5,
         "the missed delivery recorded, the late one marked sent")
    assert list(deliveries(config, "missed")) == [gone_key]
    assert deliveries(config, "sent")[ahead_key]["late"] is True
    assert daemon.stop() == 0

    # A second restart reports nothing again.
    hits = len(receiver.snapshot())
    daemon.start().ready()
    time.sleep(1.0)
    assert len(receiver.snapshot()) == hits, [h.id for h in receiver.snapshot()[hits:]]
    assert in_state(config, "missed") == {gone_key}

    # An operator who still wants it sends it on purpose: not judged missed again.
    cli(config, "retry", gone_key)
    daemon.signal(signal.SIGHUP)
    again = poll(lambda: receiver.about("gone"), 10, "the retried missed reminder")
    assert again[0].id == gone_key
    poll(lambda: gone_key in in_state(config, "sent"), 5, "the retried one marked sent")
    assert daemon.stop() == 0


def test_a_start_cancels_what_the_changed_configuration_no_longer_plans(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup()
    due = datetime.now(UTC) + timedelta(seconds=3)
    write_events(tmp_path / "events.yaml", [deadline("route", due)])
    # The previous run also routed it to a second notifier, since taken out of the config.
    settings = load_settings(config)
    before = settings.model_copy(update={
        "notifiers": {**settings.notifiers,
                      "gone": settings.notifiers["hook"].model_copy(update={"name": "gone"})},
        "routes": [Route(notify=["hook", "gone"])]})
    with Store.open(settings.store) as store:
        apply_timeline(store, before, load_timeline(settings.events), datetime.now(UTC))
    kept, dropped = key("route", due), key("route", due).replace("/hook", "/gone")
    assert states(config) == {kept: "pending", dropped: "pending"}

    daemon = daemons(config).start().ready()
    poll(lambda: kept in in_state(config, "sent"), 10, "the reminder still routed, sent")
    assert daemon.stop() == 0
    assert states(config) == {kept: "sent", dropped: "cancelled"}  # not sent, not dead


# ── signals ─────────────────────────────────────────────────────────────────────────────

def test_sigterm_mid_burst_exits_0_starts_nothing_new_and_loses_nothing(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup(concurrency=2)
    due = at(2.0)
    # Claimed in key order: "a-slow" takes one slot and hangs far past the grace period,
    # the other slot works through the queue.
    ids = ["a-slow"] + [f"queued-{i}" for i in range(8)]
    receiver.default = Reply(json={"ok": True}, delay=0.3)
    receiver.script("a-slow", Reply(json={"ok": True}, delay=7))
    write_events(tmp_path / "events.yaml", [deadline(i, due) for i in ids])
    daemon = daemons(config).start().ready()

    poll(lambda: len(receiver.snapshot()) >= 3, 10, "the burst under way")
    signalled = time.time()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    took = time.time() - signalled
    assert took < 8, took  # the 5 s grace for the hanging send, then exit
    assert "released 1 unfinished send(s) on shutdown" in daemon.log()
    received = receiver.snapshot()
    started_late = [h.id for h in received if h.at > signalled + 0.1]
    assert started_late == [], "sends started after SIGTERM"

    # Released or sent, never lost and never left claimed; released ones not counted tried.
    rows = {k.split("/")[0]: r for k, r in deliveries(config).items()}
    assert {r["state"] for r in rows.values()} <= {"sent", "pending"}, rows
    assert rows["a-slow"]["state"] == "pending" and rows["a-slow"]["attempts"] == 0
    answered = {h.event for h in received} - {"a-slow"}
    assert {e for e, r in rows.items() if r["state"] == "sent"} == answered
    assert all(r["attempts"] == 0 for r in rows.values() if r["state"] == "pending")

    # The next run sends the rest; only the hanging one repeats its webhook-id.
    daemon.start().ready()
    poll(lambda: len(in_state(config, "sent")) == len(ids), 10, "the rest delivered")
    counts = receiver.ids()
    assert set(counts) == {key(i, due) for i in ids}
    assert {k for k, n in counts.items() if n > 1} == {key("a-slow", due)}
    assert daemon.stop() == 0


def test_sighup_refuses_a_broken_file_and_applies_a_moved_deadline(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        daemons: Callable[..., DaemonProcess]) -> None:
    config = setup()
    events = tmp_path / "events.yaml"
    kept_due, old_due, new_due = at(2.5), at(4.5), at(6.0)
    write_events(events, [deadline("kept", kept_due), deadline("moved", old_due)])
    daemon = daemons(config).start().ready()

    # A broken file (the only event's date is not a date, on line 5): refused, file:line
    # named, the running timeline kept.
    write_events(events, [deadline("kept", kept_due).replace(
        kept_due.isoformat(timespec="milliseconds"), "someday")])
    daemon.signal(signal.SIGHUP)
    daemon.wait_log(rf"ERROR timeline\.daemon: reload refused: .*events\.yaml:"
                    rf"{FIRST_EVENT_LINE}: kept\.due: ", 5)
    daemon.wait_log(r"keeping the running timeline \(2 events\)", 5)
    assert daemon.running()
    hit = poll(lambda: receiver.about("kept"), 10, "the old timeline's reminder")[0]
    assert hit.id == key("kept", kept_due)
    assert -0.05 <= hit.at - kept_due.timestamp() < 1.0

    # A valid change that moves a deadline: a change notice at once, the reminder at the new
    # time and not the old.
    assert time.time() < old_due.timestamp() - 1, "too slow to test the move"
    write_events(events, [deadline("kept", kept_due), deadline("moved", new_due)])
    reloaded_at = time.time()
    daemon.signal(signal.SIGHUP)
    notice = poll(lambda: [h for h in receiver.about("moved") if "/change-" in h.id], 5,
                  "the change notice")[0]
    assert notice.at - reloaded_at < 1.0
    body = verify(notice.body, notice.headers)
    assert body["kind"] == "change"
    # Local (the timeline's zone) date and time, to the second when the second is not 0.
    lines = dict(line.split(": ", 1) for line in body["text"].splitlines() if ": " in line)
    assert lines["Was"].startswith(old_due.strftime("%Y-%m-%d %H:%M")), body["text"]
    assert lines["Now"].startswith(new_due.strftime("%Y-%m-%d %H:%M")), body["text"]
    assert lines["Was"] != lines["Now"]

    reminder = poll(lambda: [h for h in receiver.about("moved") if "/change-" not in h.id],
                    10, "the moved reminder")[0]
    assert reminder.id == key("moved", new_due)
    assert -0.05 <= reminder.at - new_due.timestamp() < 1.0
    time.sleep(0.3)
    assert len(receiver.about("moved")) == 2  # the notice and one reminder, at the new time
    assert daemon.running()
    assert daemon.stop() == 0


# ── two instances on PostgreSQL ─────────────────────────────────────────────────────────

@pytest.fixture
def pg_database() -> Iterator[str]:
    """A scratch PostgreSQL database, dropped afterwards; skips when the server is down."""
    try:
        admin = psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG_SERVER} is unreachable: {exc}".strip())
    name = f"timeline_daemon_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_SERVER.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_daemons_on_one_postgresql_send_each_key_once(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path], pg_database: str,
        daemons: Callable[..., DaemonProcess]) -> None:
    # pg_database before daemons: torn down after them, so no daemon outlives its database.
    config = setup(store=pg_database, concurrency=4)
    due = at(3.0)
    ids = [f"ha-{i:02d}" for i in range(30)]
    receiver.default = Reply(json={"ok": True}, delay=0.05)
    write_events(tmp_path / "events.yaml", [deadline(i, due) for i in ids])
    first = daemons(config, "first").start()
    second = daemons(config, "second").start()
    first.ready(15)
    second.ready(15)

    poll(lambda: len(in_state(config, "sent")) == len(ids), 15, "every key sent")
    time.sleep(0.3)
    counts = receiver.ids()
    assert set(counts) == {key(i, due) for i in ids}
    assert [k for k, n in counts.items() if n != 1] == []
    assert first.stop() == 0 and second.stop() == 0


def test_dates_moved_just_before_their_time_go_out_at_the_new_time_from_either_daemon(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path], pg_database: str,
        daemons: Callable[..., DaemonProcess]) -> None:
    """Two daemons on one PostgreSQL; 300 reminders fall due together, each daemon claims
    some of them ahead (2 s before) and waits to send them. 1 s before that time the dates
    move and the first daemon reloads, the second only after the old time: a reload gives
    back only what its own process prepared, so what the other holds is moved in the store
    and dropped by its holder at its last look. None goes out at the old time; each goes
    out once at the new one."""
    config = setup(store=pg_database, concurrency=4)
    ids = [f"mv-{i:03d}" for i in range(300)]
    old = at(9.0)
    new = old + timedelta(seconds=3)
    events = tmp_path / "events.yaml"
    write_events(events, [deadline(i, old) for i in ids])
    first = daemons(config, "first").start()
    second = daemons(config, "second").start()
    first.ready(15)
    second.ready(15)
    time.sleep(max(0.0, (old - datetime.now(SH)).total_seconds() - 1.2))
    # both hold prepared rows by now (claimed 2 s ahead); nothing is sent yet
    assert in_state(config, "sending") and not receiver.snapshot()
    write_events(events, [deadline(i, new) for i in ids])
    # One after the other, as an operator's loop over the hosts does, the second only once
    # the old time has passed: until then it holds what it prepared for the old time.
    first.signal(signal.SIGHUP)
    first.wait_log(r"reloaded ", 5)
    assert datetime.now(SH) < old, "the reload ended after the old time: too slow a machine"
    time.sleep(max(0.0, (old - datetime.now(SH)).total_seconds() + 0.3))
    second.signal(signal.SIGHUP)
    second.wait_log(r"reloaded ", 5)

    # Keys name the minute: within one minute the rows are moved (same key), across one
    # the old keys are cancelled and new ones planned; either way, judged by the clock.
    moved = {key(i, new) for i in ids}
    poll(lambda: moved <= in_state(config, "sent"), 15, "every moved reminder sent")
    time.sleep(0.5)
    # the reload's change notices ("…/change-1/hook") go out at once; the reminders:
    reminders = [h for h in receiver.snapshot() if "/change-" not in h.id]
    counts = Counter(h.id for h in reminders)
    assert set(counts) == moved
    assert [k for k, n in counts.items() if n != 1] == []
    early = [(h.id, round(new.timestamp() - h.at, 3)) for h in reminders
             if h.at < new.timestamp() - 0.01]  # the file holds milliseconds
    assert early == []  # none at the old time, nor anywhere before the new one
    assert first.stop() == 0 and second.stop() == 0


async def test_a_batch_outlasting_its_lease_keeps_its_claims(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path]) -> None:
    """Two dispatchers (two instances) on one store, in process: one claims a batch that takes
    longer than a lease to send (one at a time, slow receiver); the other, looking for work
    all along, must not take those claims over and send them again."""
    settings = load_settings(setup(concurrency=1))
    ids = [f"long-{i}" for i in range(5)]
    due = at(-1.0)
    write_events(settings.events, [deadline(i, due) for i in ids])
    loaded = load_timeline(settings.events)
    receiver.default = Reply(json={"ok": True}, delay=0.3)  # 1.5 s for the batch
    with Store.open(settings.store) as first_store, Store.open(settings.store) as other_store:
        apply_timeline(first_store, settings, loaded, datetime.now(UTC))
        async with httpx.AsyncClient() as client:
            def dispatcher(store: Store, owner: str) -> Dispatcher:
                return Dispatcher(settings, store, build_notifiers(settings, client),
                                  TimelineSource(loaded), owner, lease=timedelta(seconds=0.6))

            first = dispatcher(first_store, "host:1:first")
            other = dispatcher(other_store, "host:2:other")
            sending = asyncio.ensure_future(first.run_due())
            await asyncio.sleep(0.1)
            while not sending.done():
                await other.run_due()
                await asyncio.sleep(0.05)
            await sending
        assert first_store.keys(["sent"]) == {key(i, due) for i in ids}
    counts = receiver.ids()
    assert set(counts) == {key(i, due) for i in ids}
    assert [k for k, n in counts.items() if n != 1] == []


async def test_a_store_error_while_rearming_does_not_stop_the_worker(
        tmp_path: Path, receiver: HookReceiver, setup: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon in process (real clock, real store and receiver): the store fails once when
    the worker asks for the next due time after a send; the next reminder still goes out."""
    settings = load_settings(setup())
    # Further apart than the dispatcher prepares ahead: the second is not yet claimed when
    # the first has gone out and the worker re-arms.
    first_due = at(1.0)
    second_due = first_due + PREPARE_AHEAD + timedelta(seconds=1.5)
    write_events(settings.events, [deadline("first", first_due),
                                   deadline("second", second_due)])
    failed: list[bool] = []
    next_due = Store.next_due

    def flaky_next_due(store: Store, **kwargs: Any) -> datetime | None:
        if receiver.about("first") and not failed:
            failed.append(True)
            raise ConnectionError("the database went away for a moment")
        return next_due(store, **kwargs)

    monkeypatch.setattr(Store, "next_due", flaky_next_due)
    monkeypatch.setattr(timeline.daemon, "RETRY_AFTER_ERROR", 0.2)
    daemon = Daemon(settings, serve=False)
    running = asyncio.ensure_future(daemon.run())
    try:
        deadline_at = time.monotonic() + 9
        while not receiver.about("second") and time.monotonic() < deadline_at:
            assert not running.done(), running
            await asyncio.sleep(0.05)
        assert failed, "the store error was not provoked"
        hits = receiver.about("second")
        assert hits, "the reminder after the store error was never sent"
        assert hits[0].at - second_due.timestamp() < 1.0
    finally:
        daemon.stop()
        assert await asyncio.wait_for(running, 10) == 0
