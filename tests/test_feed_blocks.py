"""The feed's blocks kept in the store: a restart (or a second instance) renders only the
events that changed, and serves the same bytes under the same ETag. SQLite and PostgreSQL,
through the store fixtures of test_store."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, inspect, text

from tests import test_store
from tests.daemon_helpers import poll
from tests.feed_helpers import one_changed, synthetic
from tests.web_helpers import free_port
from timeline.blocks import well_formed
from timeline.feed import render_feed
from timeline.loader import LoadedTimeline
from timeline.source import Snapshot
from timeline.store import SCHEMA_VERSION, Revision, Store, StoredBlock
from timeline.web.feeds import FeedCache, FeedKey

# The store contract's fixtures: a fresh SQLite file, a fresh PostgreSQL schema.
pg_reachable, store_url, raw = test_store.pg_reachable, test_store.store_url, test_store.raw
T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 2, 1, 0, tzinfo=UTC)
MANY = 10_000


def _snapshot(store: Store, loaded: LoadedTimeline, now: datetime, version: int = 1
              ) -> Snapshot:
    """What the daemon publishes after a load: the store's revisions of the events."""
    store.sync_events(loaded, now)
    return Snapshot(loaded, store.revisions(), version, store.last_change())


@pytest.fixture(scope="module")
def many() -> LoadedTimeline:
    return synthetic(MANY)


def test_a_restart_renders_only_what_changed(store_url: str, many: LoadedTimeline) -> None:
    with Store.open(store_url) as store:
        first = FeedCache(store=store)
        cold = first.get_sync(_snapshot(store, many, T0), FeedKey())
        assert first.blocks_rendered == MANY and first.blocks_from_store == 0

    # A restart: a new process with nothing in memory, the same file, the same store.
    with Store.open(store_url) as store:
        again = FeedCache(store=store)
        warm = again.get_sync(_snapshot(store, many, T1), FeedKey())
        assert again.blocks_rendered == 0 and again.blocks_from_store == MANY
        assert warm.etag == cold.etag and warm.gzip_etag == cold.gzip_etag
        assert warm.body == cold.body
        assert warm.last_modified == cold.last_modified
        # A filtered feed is assembled from the same blocks.
        tagged = again.get_sync(_snapshot(store, many, T1), FeedKey(tags=("t7",)))
        assert again.blocks_rendered == 0
        assert tagged.body.count(b"BEGIN:VEVENT") == MANY // 50

    # One event edited while it was down: that one is rendered, and the feed is the one a
    # render from scratch gives (the stored blocks and the new one fit together).
    changed = one_changed(many, MANY // 2)
    with Store.open(store_url) as store:
        third = FeedCache(store=store)
        snapshot = _snapshot(store, changed, T1)
        feed = third.get_sync(snapshot, FeedKey())
        assert third.blocks_rendered == 1 and third.blocks_from_store == MANY - 1
        assert feed.body == render_feed(changed, revisions=snapshot.revisions)
        assert feed.etag != cold.etag
        assert b"SEQUENCE:1\r\n" in feed.body


def test_languages_and_revisions_are_kept_apart(store_url: str) -> None:
    loaded = synthetic(40)
    with Store.open(store_url) as store:
        cache = FeedCache(store=store)
        zh = cache.get_sync(_snapshot(store, loaded, T0), FeedKey())
        en = cache.get_sync(_snapshot(store, loaded, T0), FeedKey(lang="en"))
        assert cache.blocks_rendered == 80 and zh.body != en.body
    with Store.open(store_url) as store:
        cache = FeedCache(store=store)
        snapshot = _snapshot(store, loaded, T1)
        assert cache.get_sync(snapshot, FeedKey(lang="en")).body == en.body
        assert cache.blocks_rendered == 0
        # Only the revision moved (another instance re-synced, say): SEQUENCE and DTSTAMP
        # are in the bytes, so the stored block is not the one to serve.
        bumped = Snapshot(loaded, {**snapshot.revisions, "e3": Revision(5, T1)}, 2)
        feed = cache.get_sync(bumped, FeedKey())
        assert cache.blocks_rendered == 1
        assert feed.body == render_feed(loaded, revisions=bumped.revisions)


def test_removed_events_leave_the_store(store_url: str) -> None:
    loaded = synthetic(30)
    with Store.open(store_url) as store:
        cache = FeedCache(store=store)
        cache.get_sync(_snapshot(store, loaded, T0), FeedKey())
        cache.get_sync(_snapshot(store, loaded, T0), FeedKey(lang="en"))
        fewer = LoadedTimeline(loaded.timeline.model_copy(update={
            "events": loaded.timeline.events[:20]}), loaded.rules, loaded.source,
            loaded.fingerprints)
        cache.get_sync(_snapshot(store, fewer, T1, version=2), FeedKey())

        def kept() -> set[str]:
            return {b.event_id for lang in ("zh", "en") for b in store.feed_blocks(lang)}

        # The store is pruned in a thread of its own: no feed waits for it.
        deadline = time.monotonic() + 10
        while kept() != {f"e{i}" for i in range(20)} and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kept() == {f"e{i}" for i in range(20)}


def test_a_second_instance_shares_the_blocks(store_url: str) -> None:
    loaded = synthetic(50)
    with Store.open(store_url) as one, Store.open(store_url) as two:
        first, second = FeedCache(store=one), FeedCache(store=two)
        a = first.get_sync(_snapshot(one, loaded, T0), FeedKey())
        b = second.get_sync(Snapshot(loaded, two.revisions(), 1, two.last_change()),
                            FeedKey())
        assert (first.blocks_rendered, second.blocks_rendered) == (50, 0)
        assert a.etag == b.etag


def test_a_stored_block_that_is_not_one_vevent_is_rendered_again(
        store_url: str, raw: Engine) -> None:
    """Rows edited by hand (found by a hostile run: an unknown zone or text where bytes
    belong gave every feed a 500, changed framing was served as it was): not served,
    rendered again, and the feed is what a render from scratch gives."""
    loaded = synthetic(50)
    with Store.open(store_url) as store:
        FeedCache(store=store).get_sync(_snapshot(store, loaded, T0), FeedKey())
    with raw.begin() as conn:
        ids = conn.execute(text("SELECT event_id FROM feed_blocks WHERE lang = 'zh' "
                                "ORDER BY event_id LIMIT 3")).scalars().all()
        conn.execute(text("UPDATE feed_blocks SET tzid = 'Not/AZone' WHERE event_id = :e"),
                     {"e": ids[0]})
        conn.execute(text("UPDATE feed_blocks SET block = :b WHERE event_id = :e"),
                     {"e": ids[1], "b": b"BEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
                                        b"END:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\n"})
        if raw.dialect.name == "sqlite":  # bytes only on PostgreSQL's bytea
            conn.execute(text("UPDATE feed_blocks SET block = CAST(block AS TEXT) "
                              "WHERE event_id = :e"), {"e": ids[2]})
        else:
            conn.execute(text("UPDATE feed_blocks SET block = 'BEGIN:VEVENT'::bytea "
                              "WHERE event_id = :e"), {"e": ids[2]})
    with Store.open(store_url) as store:
        again = FeedCache(store=store)
        snapshot = _snapshot(store, loaded, T1)
        feed = again.get_sync(snapshot, FeedKey())
        assert (again.blocks_rendered, again.blocks_from_store) == (3, 47)
        assert feed.body == render_feed(loaded, revisions=snapshot.revisions)


class _Broken:
    """A store that fails every call, as a database gone away does."""

    def __init__(self) -> None:
        self.calls = 0

    def feed_blocks(self, lang: str, event_ids: Collection[str] | None = None
                    ) -> Iterator[StoredBlock]:
        self.calls += 1
        raise OSError("database gone")

    def save_feed_blocks(self, lang: str, blocks: Sequence[StoredBlock]) -> None:
        self.calls += 1
        raise OSError("database gone")

    def prune_feed_blocks(self, keep: Collection[str]) -> int:
        self.calls += 1
        raise OSError("database gone")


def test_store_trouble_means_rendering_not_failing(caplog: pytest.LogCaptureFixture) -> None:
    loaded = synthetic(20)
    broken = _Broken()
    cache = FeedCache(store=broken)
    with caplog.at_level(logging.INFO, logger="timeline.feed"):
        feed = cache.get_sync(Snapshot(loaded, {}, 1), FeedKey())
        cache.get_sync(Snapshot(loaded, {}, 1), FeedKey(lang="en"))
    assert feed.body == render_feed(loaded)
    assert broken.calls >= 3  # it was asked, and nothing stopped at the first failure
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "database gone" in warnings[0].getMessage()


def test_a_version_2_store_is_migrated(store_url: str, raw: Engine) -> None:
    """A database from before the feed's table (version 2) opens, gains it, and keeps
    what it held."""
    loaded = synthetic(10)
    with Store.open(store_url) as store:
        store.sync_events(loaded, T0)
    with raw.begin() as conn:
        conn.execute(text("DROP TABLE feed_blocks"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 2"))
    assert "feed_blocks" not in inspect(raw).get_table_names()
    with Store.open(store_url) as store:
        assert set(store.revisions()) == {e.id for e in loaded.timeline.events}
        cache = FeedCache(store=store)
        cache.get_sync(_snapshot(store, loaded, T0), FeedKey())
        assert cache.blocks_rendered == 10
    with raw.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
    assert max(versions) == SCHEMA_VERSION == 3
    with Store.open(store_url) as store:
        assert len(list(store.feed_blocks("zh"))) == 10


def test_a_store_of_the_first_release_is_migrated_and_keeps_blocks(
        store_url: str, raw: Engine, loaded: LoadedTimeline) -> None:
    """tests/data/store-v1: a database written before the kind column and the blocks
    (version 1) walks to version 3, and the feed keeps its blocks in it from then on."""
    test_store._restore_v1(store_url, raw)
    with Store.open(store_url) as store:
        first = FeedCache(store=store)
        feed = first.get_sync(_snapshot(store, loaded, T1), FeedKey())
        assert first.blocks_rendered == len(loaded.timeline.events)
    with raw.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
    assert sorted(versions) == [1, 2, 3]
    with Store.open(store_url) as store:
        again = FeedCache(store=store)
        assert again.get_sync(_snapshot(store, loaded, T1), FeedKey()).etag == feed.etag
        assert again.blocks_rendered == 0


# ── the daemon: `timeline run` keeps its feed's blocks in its store ─────────────────────
def _metric(text_: str, name: str) -> float:
    for line in text_.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_a_restarted_daemon_serves_its_feed_from_the_store(
        tmp_path: Path, events_path: Path, loaded: LoadedTimeline) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"events: {events_path}\nstore: sqlite:///{tmp_path / 't.db'}\n"
                      f"server: {{host: 127.0.0.1, port: {port}}}\n", encoding="utf-8")
    base = f"http://127.0.0.1:{port}"
    count = len(loaded.timeline.events)

    def run() -> tuple[str, float, float]:
        """Start `timeline run`, wait for its warmed feed, return (ETag, VEVENTs rendered,
        VEVENTs taken from the store), stop it."""
        log = (tmp_path / "daemon.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "timeline.cli", "run", "--config",
                                 str(config)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=tmp_path)
        try:
            def warmed() -> str:
                try:
                    metrics = httpx.get(f"{base}/metrics", timeout=2).text
                except httpx.TransportError:
                    return ""
                done = (_metric(metrics, "timeline_feed_blocks_rendered_total")
                        + _metric(metrics, "timeline_feed_blocks_from_store_total"))
                return metrics if done >= count else ""

            metrics = poll(warmed, 30, "the daemon's warmed feed")
            etag = httpx.get(f"{base}/calendar.ics", timeout=5).headers["etag"]
            return (etag, _metric(metrics, "timeline_feed_blocks_rendered_total"),
                    _metric(metrics, "timeline_feed_blocks_from_store_total"))
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, (tmp_path / "daemon.log").read_text()
            log.close()

    first_etag, rendered, taken = run()
    assert (rendered, taken) == (count, 0)
    again_etag, rendered, taken = run()
    assert (rendered, taken) == (0, count)
    assert again_etag == first_etag


# ── warming: the feeds are ready before the request that would have waited ─────────────
async def test_after_a_reload_the_feeds_asked_for_are_rendered_before_they_are_asked(
        events_path: Path, loaded: LoadedTimeline) -> None:
    from tests.web_helpers import edited_timeline
    from timeline.source import TimelineSource
    from timeline.web.app import create_app

    source = TimelineSource(loaded)
    app = create_app(source, warm=True)
    cache: FeedCache = app.state.feed_cache
    wanted = (FeedKey(), FeedKey(tags=("office-hours",)), FeedKey(lang="en"))

    def ready(snapshot: Snapshot) -> bool:
        return all(cache.cached(snapshot, key) is not None for key in wanted)

    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/calendar.ics", "/feeds/tag/office-hours.ics", "/calendar.ics?lang=en"):
            assert (await client.get(path)).status_code == 200
    renders = cache.renders
    source.update(edited_timeline(events_path, "end: 2024-07-30", "end: 2024-08-30"))
    poll(lambda: ready(source.snapshot()), 10, "the feeds warmed for the new version")
    assert cache.renders == renders + 3  # each once, by the warm-up; no request came
    warmed = cache.cached(source.snapshot(), FeedKey())
    assert warmed is not None and b"DTEND;VALUE=DATE:20240831" in warmed.body


def test_an_items_words_never_make_its_block_look_malformed() -> None:
    words = "BEGIN:VEVENT END:VEVENT BEGIN:VCALENDAR END:VCALENDAR"
    block = (b"BEGIN:VEVENT\r\nSUMMARY:" + words.encode() + b"\r\nDESCRIPTION:a\r\n "
             b"END:VCALENDAR\r\nBEGIN:VALARM\r\nEND:VALARM\r\nEND:VEVENT\r\n")
    assert well_formed(StoredBlock("e", "d", block, "Asia/Shanghai"))
    assert not well_formed(StoredBlock("e", "d", block, "Asia/Nowhere"))
    assert not well_formed(StoredBlock("e", "d", block + block, None))
    assert not well_formed(StoredBlock("e", "d", block.decode(), None))  # type: ignore[arg-type]
