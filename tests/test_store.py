"""The store's contract, run unchanged against SQLite and PostgreSQL.

PostgreSQL tests use a throwaway schema in the `test` database (TIMELINE_TEST_PG overrides
the server URL); they are skipped only when that server cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import Engine, inspect, text

from timeline.config import load_settings
from timeline.delivery.kinds import read_payload
from timeline.errors import ConfigError
from timeline.loader import LoadedTimeline, load_timeline, parse_timeline
from timeline.reload import apply_timeline
from timeline.store import (
    SCHEMA_VERSION,
    STATES,
    Delivery,
    PlannedDelivery,
    Revision,
    Store,
    _schema,
)
from timeline.store._base import engine_url, make_engine

PG_SERVER = os.environ.get("TIMELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


# ── fixtures ─────────────────────────────────────────────────────────────────────────────
def _pg_conninfo() -> str:
    return PG_SERVER.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def pg_reachable() -> None:
    try:
        psycopg.connect(_pg_conninfo(), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG_SERVER} is unreachable: {exc}".strip())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty store: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'timeline.db'}"
        return
    request.getfixturevalue("pg_reachable")
    schema = f"store_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        # libpq `options`: every connection of the store works inside the scratch schema.
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


@pytest.fixture
def raw(store_url: str) -> Iterator[Engine]:
    """An engine on the same database, to look under (or tamper with) the store."""
    engine = make_engine(engine_url(store_url))
    yield engine
    engine.dispose()


def planned(key: str, due: datetime, event: str = "ev", notifier: str = "park",
            payload: dict[str, object] | None = None) -> PlannedDelivery:
    return PlannedDelivery(key, event, notifier, due, payload)


def many(count: int, due: datetime = T0) -> list[PlannedDelivery]:
    return [planned(f"ev{i % 10}/2024-05-31/7d/park-{i:05d}", due, f"ev{i % 10}")
            for i in range(count)]


def timeline(**dues: str) -> LoadedTimeline:
    """A small events file with one deadline per keyword (event id with '_' for '-')."""
    events = "".join(dedent(f"""
          - id: {name.replace("_", "-")}
            story: s
            kind: deadline
            title: 截止 {name}
            source: 原文
            due: {due}
        """) for name, due in dues.items())
    return parse_timeline(dedent("""
        stories:
          - id: s
            title: 报道
            source: {newspaper: 报纸}
            published: 2024-04-10
        events:
        """) + events)


# ── schema ───────────────────────────────────────────────────────────────────────────────
def test_schema_is_created_and_versioned(store: Store, raw: Engine) -> None:
    tables = set(inspect(raw).get_table_names())
    assert {"schema_version", "events", "deliveries"} <= tables
    with raw.connect() as conn:
        assert conn.execute(text("SELECT max(version) FROM schema_version")).scalar() == \
            SCHEMA_VERSION
    assert store.ping()
    assert store.backend in ("sqlite", "postgresql")


def test_delivery_fields_follow_the_table_columns() -> None:
    # to_delivery builds a Delivery from a row positionally.
    assert [c.name for c in _schema.deliveries.c] == [f.name for f in fields(Delivery)]


def test_reopen_keeps_data(store_url: str) -> None:
    with Store.open(store_url) as first:
        first.sync_events(timeline(a="2024-06-01"), T0)
        first.add_planned([planned("a/1", T0, "a")], now=T0)
    with Store.open(store_url) as second:
        assert second.revisions() == {"a": Revision(0, T0)}
        assert second.get("a/1") is not None


def test_a_newer_schema_is_refused(store: Store, store_url: str, raw: Engine) -> None:
    with raw.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version, applied_at) "
                          "VALUES (:v, :at)"), {"v": SCHEMA_VERSION + 1, "at": "2030-01-01"})
    with pytest.raises(ConfigError, match=rf"schema version {SCHEMA_VERSION + 1}, newer"):
        Store.open(store_url)


def test_an_older_schema_is_migrated_once(store_url: str, raw: Engine,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    Store.open(store_url).close()
    ran: list[int] = []
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(_schema.MIGRATIONS, SCHEMA_VERSION, lambda conn: ran.append(1))
    Store.open(store_url).close()
    Store.open(store_url).close()
    assert ran == [1]
    with raw.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
    assert sorted(versions) == [SCHEMA_VERSION, SCHEMA_VERSION + 1]


V1 = Path(__file__).parent / "data" / "store-v1"


def _restore_v1(store_url: str, raw: Engine) -> None:
    """Put the store written by the release before the kind column (tests/data/store-v1)
    where `store_url` points."""
    if raw.dialect.name == "sqlite":
        shutil.copyfile(V1 / "sqlite.db", str(raw.url.database))
        return
    schema = store_url.rsplit("%3D", 1)[1]
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute((V1 / "postgres.sql").read_text().replace("{schema}", schema))


def test_a_store_written_before_the_kind_column_is_migrated_and_replans_as_it_was(
        store_url: str, raw: Engine, repo_root: Path) -> None:
    _restore_v1(store_url, raw)
    with raw.begin() as conn:
        # What that release also read: a digest told by a "kind" of its own (an early form),
        # and a payload that is not JSON (edited by hand), which must not stop anything.
        for key, payload in (("digest/2020-01-06/daily/team", '{"kind":"digest"}'),
                             ("odd/2020-01-06/7d/ops", '{"anchor": ')):
            conn.execute(text(
                "INSERT INTO deliveries (key, event_id, notifier, due_at, state, attempts, late,"
                " payload, created_at, updated_at) VALUES (:key, 'odd', 'ops', :due, 'pending',"
                " 0, false, :payload, :due, :due)"),
                {"key": key, "payload": payload, "due": "2020-01-06 01:00:00.000000"})
    with raw.connect() as conn:
        before = {r.key: r for r in conn.execute(text(
            "SELECT key, state, due_at, payload, updated_at FROM deliveries"))}
    store = Store.open(store_url)
    try:
        with raw.connect() as conn:
            versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
            kinds = dict(conn.execute(text("SELECT key, kind FROM deliveries")).all())
        assert sorted(versions) == list(range(1, SCHEMA_VERSION + 1))
        assert set(kinds) == set(before) and len(before) == 295
        change = "nanchuan-phase-1-green-power-park/change-2/ops"
        missed = "missed/0123456789abcdef0123/ops"
        expected = {key: "digest" if key.startswith("digest/") else "reminder" for key in kinds}
        expected.update({change: "change", missed: "missed"})
        assert kinds == expected
        rows = store.deliveries(limit=1000)
        unreadable = {r.key for r in rows if read_payload(r.kind, r.payload) is None}
        assert unreadable == {"digest/2020-01-06/daily/team", "odd/2020-01-06/7d/ops"}
        assert store.counts()["pending"] == 292

        # The same plan again: every payload reads back as the plan writes it, so nothing
        # is moved, revived or cancelled, and the notice and the summary stay as they were.
        settings = load_settings(V1 / "settings.yaml", senders=False).model_copy(
            update={"events": str(repo_root / "events.yaml")})
        loaded = load_timeline(repo_root / "events.yaml")
        summary = apply_timeline(store, settings, loaded, datetime(2025, 3, 1, 1, 0, tzinfo=UTC),
                                 configured=True)
        assert (summary.planned, summary.cancelled) == (0, 0)
        with raw.connect() as conn:
            after = {r.key: r for r in conn.execute(text(
                "SELECT key, state, due_at, payload, updated_at FROM deliveries"))}
        assert after == before
    finally:
        store.close()


def test_foreign_tables_are_refused(store_url: str, raw: Engine) -> None:
    with raw.begin() as conn:
        conn.execute(text("CREATE TABLE events (id TEXT)"))
    with pytest.raises(ConfigError, match="not made by policy-timeline"):
        Store.open(store_url)


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://root@localhost/timeline", "unsupported store URL scheme 'mysql'"),
    ("not a url", "bad store URL"),
    ("postgresql://postgres@127.0.0.1:1/test", "cannot open the store"),
])
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Store.open(url)


def test_an_unopenable_sqlite_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the store"):
        Store.open(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")


# ── events and revisions ─────────────────────────────────────────────────────────────────
def test_sync_reports_added_changed_removed_and_nothing_twice(store: Store) -> None:
    first = store.sync_events(timeline(a="2024-06-01", b="2024-07-01"), T0)
    assert [(c.event_id, c.change, c.old) for c in first] == [("a", "added", None),
                                                              ("b", "added", None)]
    assert first[0].new is not None and first[0].new["due"] == "2024-06-01"
    assert store.revisions() == {"a": Revision(0, T0), "b": Revision(0, T0)}
    assert store.sync_events(timeline(a="2024-06-01", b="2024-07-01"), T0 + MIN) == []
    assert store.revisions() == {"a": Revision(0, T0), "b": Revision(0, T0)}

    t2 = T0 + 2 * MIN
    [change] = store.sync_events(timeline(a="2024-06-03", b="2024-07-01"), t2)
    assert change.event_id == "a" and change.change == "changed"
    assert change.old is not None and change.new is not None
    assert (change.old["due"], change.new["due"]) == ("2024-06-01", "2024-06-03")
    assert store.revisions() == {"a": Revision(1, t2), "b": Revision(0, T0)}

    t3 = T0 + 3 * MIN
    [gone] = store.sync_events(timeline(a="2024-06-03"), t3)
    assert (gone.event_id, gone.change, gone.new) == ("b", "removed", None)
    assert gone.old is not None and gone.old["due"] == "2024-07-01"
    assert store.revisions() == {"a": Revision(1, t2)}
    assert store.sync_events(timeline(a="2024-06-03"), t3 + MIN) == []

    t4 = T0 + 5 * MIN
    [back] = store.sync_events(timeline(a="2024-06-03", b="2024-07-01"), t4)
    assert (back.event_id, back.change) == ("b", "added")
    assert store.revisions()["b"] == Revision(1, t4)  # a new revision, not a reset to 0


def test_sync_the_curated_file(store: Store, loaded: LoadedTimeline) -> None:
    changes = store.sync_events(loaded, T0)
    assert len(changes) == len(loaded.timeline.events)
    assert {c.change for c in changes} == {"added"}
    assert store.sync_events(loaded, T0 + MIN) == []
    assert set(store.revisions()) == {e.id for e in loaded.timeline.events}


def test_stored_event_data_is_the_model_dump(store: Store, loaded: LoadedTimeline) -> None:
    store.sync_events(loaded, T0)
    changes = store.sync_events(timeline(a="2024-06-01"), T0 + MIN)
    removed = {c.event_id: c.old for c in changes if c.change == "removed"}
    assert removed == {e.id: e.model_dump(mode="json", by_alias=True)
                       for e in loaded.timeline.events}


# ── planning ─────────────────────────────────────────────────────────────────────────────
def test_add_planned_is_idempotent(store: Store) -> None:
    items = many(50)
    assert store.add_planned(items, now=T0) == 50
    assert store.add_planned(items, now=T0) == 0
    assert store.add_planned([*items, planned("new/1", T0)], now=T0) == 1
    assert store.counts()["pending"] == 51
    row = store.get("new/1")
    assert row is not None
    assert (row.state, row.attempts, row.late, row.created_at) == ("pending", 0, False, T0)


def test_add_planned_moves_waiting_deliveries_only(store: Store) -> None:
    store.add_planned([planned("wait", T0), planned("done", T0)], now=T0)
    [claimed] = store.claim_due(T0, "me", limit=1)
    assert claimed.key == "done"
    assert store.mark_sent("done", "me", T0)
    later = T0 + 60 * MIN
    store.add_planned([planned("wait", later, payload={"title": "新"}),
                       planned("done", later)], now=T0 + MIN)
    wait, done = store.get("wait"), store.get("done")
    assert wait is not None and done is not None
    assert (wait.due_at, wait.payload, wait.updated_at) == (later, {"title": "新"}, T0 + MIN)
    assert (done.due_at, done.state) == (T0, "sent")


def test_cancel_except(store: Store) -> None:
    store.add_planned([planned("a/1", T0, "a"), planned("a/2", T0, "a"),
                       planned("b/1", T0, "b"), planned("c/1", T0 - MIN, "c")], now=T0)
    [sent] = store.claim_due(T0, "me", limit=1)
    assert sent.key == "c/1" and store.mark_sent("c/1", "me", T0)
    assert store.cancel_except(["a"], {"a/1"}, T0) == 1
    assert store.keys(["cancelled"]) == {"a/2"}
    assert store.cancel_except([], set(), T0) == 0
    assert store.cancel_except(None, {"b/1"}, T0) == 1
    assert store.keys(["cancelled"]) == {"a/1", "a/2"}
    assert store.keys(["pending"]) == {"b/1"}
    assert store.keys(["sent"]) == {"c/1"}


def test_cancel_unplanned_keeps_notices_and_what_lies_outside_the_span(store: Store) -> None:
    reminder = {"anchor": "due", "occurrence": "2024-05-31", "lead": "7d"}
    store.add_planned([
        planned("a/2024-05-31/7d/old", T0, "a", "old", reminder),  # no longer routed
        planned("a/2024-05-31/7d/park", T0, "a", "park", reminder),  # still planned
        PlannedDelivery("a/change-1/old", "a", "old", T0, {"old": "x", "new": "y"}, "change"),
        PlannedDelivery("missed/abc/old", "", "old", T0, {"keys": []}, "missed"),
        planned("b/2024-04-01/7d/old", T0 - 10 * MIN, "b", "old", reminder),  # before it
    ], now=T0)
    keep = {"a/2024-05-31/7d/park"}
    assert store.cancel_unplanned(keep, T0 - MIN, T0 + MIN, T0) == 1
    assert store.keys(["cancelled"]) == {"a/2024-05-31/7d/old"}
    assert store.keys(["pending"]) == {"a/2024-05-31/7d/park", "a/change-1/old",
                                       "missed/abc/old", "b/2024-04-01/7d/old"}


def test_a_cancelled_delivery_planned_again_is_revived(store: Store) -> None:
    store.add_planned([planned("a/1", T0, "a")], now=T0)
    store.cancel_except(["a"], set(), T0)
    assert store.add_planned([planned("a/1", T0 + MIN, "a")], now=T0 + MIN) == 0
    row = store.get("a/1")
    assert row is not None and (row.state, row.due_at) == ("pending", T0 + MIN)


# ── claiming ─────────────────────────────────────────────────────────────────────────────
def test_claim_takes_due_deliveries_earliest_first_up_to_the_limit(store: Store) -> None:
    store.add_planned([planned(f"k{i}", T0 + i * MIN) for i in (5, 3, 1, 4, 2, 9)], now=T0)
    got = store.claim_due(T0 + 5 * MIN, "me", limit=3, lease=30)
    assert [d.key for d in got] == ["k1", "k2", "k3"]
    for d in got:
        assert (d.state, d.lease_owner, d.attempts) == ("sending", "me", 1)
        assert d.lease_until == T0 + 5 * MIN + timedelta(seconds=30)
    assert [d.key for d in store.claim_due(T0 + 5 * MIN, "me")] == ["k4", "k5"]
    assert store.claim_due(T0 + 5 * MIN, "me") == []  # k9 is not due yet
    assert store.claim_due(T0, "me", limit=0) == []


def test_a_claim_with_a_horizon_takes_what_falls_due_by_then_leased_from_now(
        store: Store) -> None:
    store.add_planned([planned(f"k{i}", T0 + i * timedelta(seconds=1)) for i in range(5)],
                      now=T0)
    got = store.claim_due(T0, "me", lease=30, horizon=T0 + timedelta(seconds=2))
    assert [d.key for d in got] == ["k0", "k1", "k2"]
    assert {d.lease_until for d in got} == {T0 + timedelta(seconds=30)}
    # A lease is taken over when it has run out by now, never by the horizon.
    store.add_planned([planned("stale", T0 - MIN)], now=T0 - MIN)
    store.claim_due(T0 - MIN, "crashed", lease=60)
    got = store.claim_due(T0 - timedelta(seconds=1), "me", lease=30, horizon=T0 + MIN)
    assert [d.key for d in got] == ["k3", "k4"]
    assert store.get("stale").lease_owner == "crashed"  # type: ignore[union-attr]


def test_next_due_ahead_moves_waiting_deliveries_not_leases(store: Store) -> None:
    ahead = timedelta(seconds=2)
    store.add_planned([planned("k", T0 + MIN)], now=T0)
    assert store.next_due(ahead=ahead) == T0 + MIN - ahead
    store.add_planned([planned("held", T0)], now=T0)
    store.claim_due(T0, "me", lease=30)
    # The claim's lease runs out at T0 + 30 s, before the waiting one's T0 + 58 s.
    assert store.next_due(ahead=ahead) == T0 + timedelta(seconds=30)
    assert store.next_due(ahead=timedelta(seconds=45)) == T0 + timedelta(seconds=15)


def test_release_many_gives_back_only_the_owners_claims(store: Store) -> None:
    store.add_planned([planned(f"k{i}", T0) for i in range(4)], now=T0)
    store.claim_due(T0, "me", limit=3)
    store.claim_due(T0, "other")
    assert store.release_many(["k0", "k1", "k3", "unknown"], "me", now=T0) == 2
    states = {d.key: (d.state, d.attempts, d.lease_owner) for d in store.deliveries()}
    assert states == {"k0": ("pending", 0, None), "k1": ("pending", 0, None),
                      "k2": ("sending", 1, "me"), "k3": ("sending", 1, "other")}


def test_two_threads_never_claim_the_same_key(store: Store) -> None:
    store.add_planned(many(500), now=T0)
    results: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def claimer(n: int) -> None:
        start.wait()
        while batch := store.claim_due(T0, f"thread-{n}", limit=7, lease=600):
            for d in batch:
                results[n].append(d.key)
                assert store.mark_sent(d.key, f"thread-{n}", T0)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    claimed = [key for keys in results for key in keys]
    assert len(claimed) == len(set(claimed)) == 500
    assert set(claimed) == {p.key for p in many(500)}
    assert store.counts()["sent"] == 500


WORKER = """
import json, sys
from datetime import datetime
from timeline.store import Store
url, owner, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
store = Store.open(url)
print("ready", flush=True)
sys.stdin.readline()
got = []
while batch := store.claim_due(now, owner, limit=7, lease=600):
    for d in batch:
        got.append(d.key)
        assert store.mark_sent(d.key, owner, now)
store.close()
print(json.dumps(got), flush=True)
"""


def test_two_processes_never_claim_the_same_key(store: Store, store_url: str) -> None:
    store.add_planned(many(500), now=T0)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, store_url, f"proc-{n}",
                                 T0.isoformat()], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for n in range(3)]
    try:
        for w in workers:  # all started and connected, then released together
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = [w.communicate(timeout=60)[0] for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert [w.returncode for w in workers] == [0, 0, 0]
    claimed = [key for out in outputs for key in json.loads(out)]
    assert len(claimed) == len(set(claimed)) == 500
    assert store.counts()["sent"] == 500


def test_an_expired_lease_is_claimed_again_and_the_old_owner_is_locked_out(
        store: Store) -> None:
    store.add_planned([planned("k", T0)], now=T0)
    store.claim_due(T0, "crashed", lease=30)
    assert store.next_due() == T0 + timedelta(seconds=30)  # when the lease runs out
    assert store.claim_due(T0 + timedelta(seconds=29), "other") == []
    [again] = store.claim_due(T0 + timedelta(seconds=30), "other", lease=30)
    assert (again.key, again.lease_owner, again.attempts) == ("k", "other", 2)
    assert not store.mark_sent("k", "crashed", T0 + MIN)
    assert not store.mark_dead("k", "crashed", "late", T0 + MIN)
    assert store.mark_sent("k", "other", T0 + MIN, late=True)
    row = store.get("k")
    assert row is not None
    assert (row.state, row.sent_at, row.late, row.lease_owner) == ("sent", T0 + MIN, True,
                                                                   "other")


def test_outcomes_need_the_claim(store: Store) -> None:
    store.add_planned([planned("k", T0)], now=T0)
    assert not store.mark_sent("k", "me", T0)  # pending: nobody holds it
    store.claim_due(T0, "me")
    assert not store.mark_retry("k", "you", T0 + MIN, "boom")
    assert not store.mark_dead("k", "you", "boom", T0)
    assert not store.release("k", "you")
    assert not store.mark_sent("nope", "me", T0)
    assert store.mark_sent("k", "me", T0)
    assert not store.mark_sent("k", "me", T0)  # finished: no second outcome
    assert not store.release("k", "me")


def test_retry_then_dead_then_operator_retry(store: Store) -> None:
    store.add_planned([planned("k", T0)], now=T0)
    store.claim_due(T0, "me")
    assert store.mark_retry("k", "me", T0 + 5 * MIN, "HTTP 503", now=T0)
    row = store.get("k")
    assert row is not None
    assert (row.state, row.attempts, row.last_error, row.next_attempt_at, row.lease_until) == \
        ("retrying", 1, "HTTP 503", T0 + 5 * MIN, None)
    assert store.next_due() == T0 + 5 * MIN
    assert store.claim_due(T0 + MIN, "me") == []
    [again] = store.claim_due(T0 + 5 * MIN, "me")
    assert again.attempts == 2
    assert store.mark_dead("k", "me", "gave up", T0 + 6 * MIN)
    assert store.next_due() is None
    assert store.claim_due(T0 + 60 * MIN, "me") == []
    last = store.last_outcome()
    assert last is not None and (last.key, last.state, last.last_error) == ("k", "dead",
                                                                            "gave up")

    assert store.retry("k", T0 + 10 * MIN)
    row = store.get("k")
    assert row is not None
    assert (row.state, row.attempts, row.due_at, row.run_at) == \
        ("pending", 0, T0 + 10 * MIN, T0 + 10 * MIN)
    # A re-plan with the original due time does not pull the retried delivery back.
    store.add_planned([planned("k", T0)], now=T0 + 10 * MIN)
    assert store.next_due() == T0 + 10 * MIN
    [third] = store.claim_due(T0 + 10 * MIN, "me")
    assert third.attempts == 1
    assert not store.retry("k", T0)  # sending: nothing to retry
    assert not store.retry("unknown", T0)


def test_missed_and_retried(store: Store) -> None:
    store.add_planned([planned("a", T0), planned("b", T0), planned("c", T0 - MIN)], now=T0)
    [c] = store.claim_due(T0, "me", limit=1)
    assert c.key == "c"
    assert store.mark_missed(["a", "b", "c", "unknown"], T0) == 2  # c is claimed: its owner's
    assert store.keys(["missed"]) == {"a", "b"}
    assert store.keys(["missed", "sending"]) == {"a", "b", "c"}
    assert store.next_due() is not None  # c's lease
    assert store.retry("a", T0 + MIN)
    assert store.keys(["pending"]) == {"a"}


def test_release_gives_the_claim_back_uncounted(store: Store) -> None:
    store.add_planned([planned("k", T0)], now=T0)
    store.claim_due(T0, "me")
    assert store.release("k", "me", now=T0)
    row = store.get("k")
    assert row is not None
    assert (row.state, row.attempts, row.lease_owner, row.lease_until) == ("pending", 0,
                                                                          None, None)
    [again] = store.claim_due(T0, "other")
    assert again.attempts == 1


def test_counts_next_due_and_listing(store: Store) -> None:
    assert store.counts() == dict.fromkeys(STATES, 0)
    assert store.next_due() is None
    assert store.last_outcome() is None
    store.add_planned([planned(f"k{i}", T0 + i * MIN) for i in range(5)], now=T0)
    assert store.next_due() == T0
    [k0, k1] = store.claim_due(T0 + MIN, "me", lease=3600)
    store.mark_sent(k0.key, "me", T0 + MIN)
    store.mark_dead(k1.key, "me", "bad key", T0 + 2 * MIN)
    assert store.counts() == {**dict.fromkeys(STATES, 0), "pending": 3, "sent": 1, "dead": 1}
    assert store.next_due() == T0 + 2 * MIN
    assert [d.key for d in store.deliveries()] == ["k0", "k1", "k2", "k3", "k4"]
    assert [d.key for d in store.deliveries("pending", limit=2)] == ["k2", "k3"]
    assert [d.key for d in store.deliveries("dead")] == ["k1"]
    last = store.last_outcome()
    assert last is not None and last.key == "k1"
    with pytest.raises(ValueError, match="unknown delivery state"):
        store.deliveries("lost")


def test_times_and_payloads_round_trip(store: Store) -> None:
    shanghai = datetime(2024, 5, 31, 9, 0, 0, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    payload = {"kind": "reminder", "title": "补贴申请截止", "occurrence": "2024-05-31",
               "nested": [1, 2.5, None, True]}
    store.add_planned([planned("k", shanghai, payload=payload)], now=T0)
    row = store.get("k")
    assert isinstance(row, Delivery)
    assert row.due_at == shanghai and row.due_at.tzinfo is UTC
    assert row.due_at.hour == 1 and row.due_at.microsecond == 123456
    assert row.payload == payload
    assert all(t is None or t.tzinfo is UTC for t in (row.created_at, row.updated_at,
                                                      row.sent_at, row.next_attempt_at))
    with pytest.raises(ValueError, match="naive"):
        store.add_planned([planned("naive", datetime(2024, 5, 31, 9))])
    with pytest.raises(ValueError, match="naive"):
        store.claim_due(datetime(2024, 5, 31, 9), "me")


def test_the_owner_can_mark_its_claims_missed(store: Store) -> None:
    store.add_planned([planned("mine", T0), planned("theirs", T0 + MIN),
                       planned("waiting", T0 + 2 * MIN)], now=T0)
    store.claim_due(T0, "me", lease=3600)
    store.claim_due(T0 + MIN, "other", lease=3600)
    assert store.mark_missed(["mine", "theirs", "waiting"], T0 + 3 * MIN, owner="me") == 2
    assert store.keys(["missed"]) == {"mine", "waiting"}
    mine = store.get("mine")
    assert mine is not None and (mine.attempts, mine.lease_until) == (0, None)
    assert store.keys(["sending"]) == {"theirs"}


def test_a_heartbeat_keeps_the_claim(store: Store) -> None:
    store.add_planned([planned("a", T0), planned("b", T0)], now=T0)
    store.claim_due(T0, "me", lease=10)
    assert store.extend_lease(["a", "b", "unknown"], "me", T0 + timedelta(seconds=8),
                              lease=10) == 2
    assert store.extend_lease(["a"], "other", T0, lease=3600) == 0
    assert store.claim_due(T0 + timedelta(seconds=15), "other") == []
    assert store.next_due() == T0 + timedelta(seconds=18)
    assert {d.key for d in store.claim_due(T0 + timedelta(seconds=18), "other")} == {"a", "b"}
    assert store.extend_lease(["a", "b"], "me", T0 + timedelta(seconds=19)) == 0


def test_concurrent_first_opens_create_the_schema_once(store_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def open_and_close() -> None:
        start.wait()
        try:
            Store.open(store_url).close()  # each with its own engine, as separate processes
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with Store.open(store_url) as store:
        assert store.counts()["pending"] == 0


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_store_is_shared_by_threads(url: str) -> None:
    with Store.open(url) as store:
        store.add_planned(many(100), now=T0)
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(
            len(store.claim_due(T0, "t", limit=30)))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results) == [10, 30, 30, 30]


def _hold_write_lock(raw: Engine) -> tuple[object, Callable[[], None]]:
    """Another connection holding what a write needs: SQLite's database write lock, or on
    PostgreSQL the row k1; returns it and how to let go."""
    if raw.dialect.name == "sqlite":
        conn = sqlite3.connect(str(raw.url.database), isolation_level=None,
                               check_same_thread=False)  # let go from a timer thread
        conn.execute("BEGIN IMMEDIATE")

        def release() -> None:
            conn.rollback()
            conn.close()

        return conn, release
    other = raw.connect()
    other.begin()
    other.execute(text("SELECT key FROM deliveries WHERE key = 'k1' FOR UPDATE"))

    def release_pg() -> None:
        other.rollback()
        other.close()

    return other, release_pg


def test_a_write_that_must_not_wait_says_busy_at_once(store: Store, raw: Engine) -> None:
    """The dispatcher records outcomes in the event loop, which must never sit out another
    writer's lock (SQLite would wait 30 s): `wait=False` raises StoreBusy at once instead,
    writing nothing, and writes as usual once the lock is gone."""
    from timeline.store import Outcome, StoreBusy

    store.add_planned([planned("k1", T0)])
    [claimed] = store.claim_due(T0, "me", limit=1)
    _, release = _hold_write_lock(raw)
    began = time.monotonic()
    with pytest.raises(StoreBusy):
        store.record_outcomes([Outcome("k1", "sent")], "me", T0, wait=False)
    assert time.monotonic() - began < 1.0
    release()
    row = store.get("k1")
    assert row is not None and row.state == "sending"
    # The next write waits again as usual: a lock held for 0.5 s is waited for, not refused.
    _, release = _hold_write_lock(raw)
    timer = threading.Timer(0.5, release)
    timer.start()
    assert store.record_outcomes([Outcome(claimed.key, "sent")], "me", T0) == 1
    timer.join()
    row = store.get("k1")
    assert row is not None and row.state == "sent"


# ── a re-plan meets what another instance prepared ───────────────────────────────────────
def test_a_replan_moves_or_cancels_what_another_instance_only_prepared(store: Store) -> None:
    """Rows another instance claimed ahead of their time (prepared, not yet due) follow a
    re-plan like waiting rows: moved ones wait again at the new time, dropped ones are
    cancelled, their claims and attempts undone, so the holder's last look finds them no
    longer its own. Rows due now or within PREPARED_MARGIN may be on the wire: untouched."""
    from timeline.store._outbox import PREPARED_MARGIN

    now = T0
    soon = now + timedelta(seconds=1.5)  # claimed 2 s ahead, as the dispatcher does
    store.add_planned([planned("moves", soon), planned("goes", soon, "gone"),
                       planned("on-the-wire", now + PREPARED_MARGIN / 2),
                       planned("mine-stays", soon, "other")], now=now)
    claimed = store.claim_due(now, "holder", limit=10, horizon=now + timedelta(seconds=2))
    assert {row.key for row in claimed} == {"moves", "goes", "on-the-wire", "mine-stays"}
    assert store.still_claimed([row.key for row in claimed], "holder") == {
        "moves", "goes", "on-the-wire", "mine-stays"}

    later = soon + timedelta(seconds=3)
    store.add_planned([planned("moves", later), planned("on-the-wire", later)], now=now)
    assert store.cancel_except(["gone", "ev"], {"moves", "on-the-wire"}, now) == 1

    moved, gone, wire, stays = (store.get(k) for k in
                                ("moves", "goes", "on-the-wire", "mine-stays"))
    assert moved is not None and (moved.state, moved.due_at, moved.lease_owner,
                                  moved.attempts) == ("pending", later, None, 0)
    assert gone is not None and (gone.state, gone.lease_owner) == ("cancelled", None)
    assert wire is not None and (wire.state, wire.lease_owner) == ("sending", "holder")
    assert stays is not None and (stays.state, stays.lease_owner) == ("sending", "holder")
    assert store.still_claimed(["moves", "goes", "on-the-wire", "mine-stays"],
                               "holder") == {"on-the-wire", "mine-stays"}
    assert store.still_claimed(["on-the-wire"], "someone-else") == set()
