"""A timeline of many files: `events:` (and `--events`, and `check`'s argument) may name a
folder whose every *.yaml is one part of one timeline. Ids and stories are unique across the
parts, errors name the part and line, and a running daemon reloads one changed part,
planning only what changed."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.daemon_helpers import DaemonProcess, HookReceiver, at, poll, write_config
from timeline import reload as reload_module
from timeline.cli import cli
from timeline.config import Settings
from timeline.errors import ValidationFailed
from timeline.loader import load_timeline
from timeline.reload import apply_timeline
from timeline.store import Store

STORY = """stories:
  - id: park
    title: 园区
    source: {newspaper: 报}
    published: 2024-04-10
"""


def event(ident: str, due: str, story: str = "park") -> str:
    return (f"  - id: {ident}\n    story: {story}\n    kind: deadline\n    title: {ident}\n"
            f"    due: {due}\n    source: 原文\n")


def folder(tmp_path: Path, parts: dict[str, str]) -> Path:
    root = tmp_path / "events.d"
    root.mkdir(exist_ok=True)
    for name, text in parts.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_parts_make_one_timeline(tmp_path: Path) -> None:
    root = folder(tmp_path, {
        "a-park.yaml": "timezone: Asia/Shanghai\n" + STORY + "events:\n"
                       + event("one", "2030-01-01"),
        "b-notice.yaml": "events:\n" + event("two", "2030-02-01") + event("three", "2030-03-01"),
        ".hidden.yaml": "not: [a part",
        "notes.txt": "not a part either",
    })
    loaded = load_timeline(root)
    assert [e.id for e in loaded.timeline.events] == ["one", "two", "three"]
    assert loaded.part_stories == {str(root / "a-park.yaml"): {"park"},
                                   str(root / "b-notice.yaml"): set()}
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 0 and "1 stories, 3 events" in result.output
    listed = CliRunner().invoke(cli, ["list", "--events", str(root), "--from", "2029-12-01",
                                      "--to", "2030-12-31"])
    assert [line.split()[0] for line in listed.output.splitlines()] == \
        ["2030-01-01", "2030-02-01", "2030-03-01"]
    feed = CliRunner().invoke(cli, ["ics", "--events", str(root)])
    assert feed.output.count("BEGIN:VEVENT") == 3


def test_the_same_id_in_two_parts_names_both(tmp_path: Path) -> None:
    root = folder(tmp_path, {
        "a.yaml": STORY + "events:\n" + event("twice", "2030-01-01"),
        "b.yaml": "events:\n" + event("other", "2030-01-05") + event("twice", "2030-02-01"),
    })
    with pytest.raises(ValidationFailed) as failed:
        load_timeline(root)
    assert [str(p) for p in failed.value.problems] == [
        f"{root / 'b.yaml'}:8: twice.id: duplicate event id 'twice' "
        f"(also at {root / 'a.yaml'}:7)"]


def test_problems_name_their_part(tmp_path: Path) -> None:
    root = folder(tmp_path, {
        "a.yaml": "timezone: Asia/Shanghai\n" + STORY + "events: []\n",
        "b.yaml": "timezone: Europe/Berlin\nstories:\n  - id: park\n    title: 又一个\n"
                  "    source: {newspaper: 报}\n    published: 2024-04-10\n"
                  "events:\n" + event("lost", "2030-01-01", story="nowhere"),
        "c.yaml": "events:\n  - {id: broken\n",
    })
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{root / 'b.yaml'}:1: timezone: 'Europe/Berlin' differs from 'Asia/Shanghai' in " \
           f"{root / 'a.yaml'}: the parts of one timeline share one timezone" in lines
    assert f"{root / 'b.yaml'}:3: park.id: duplicate story id 'park' (also at " \
           f"{root / 'a.yaml'}:3)" in lines
    assert f"{root / 'b.yaml'}:9: lost.story: unknown story 'nowhere' (known: park)" in lines
    assert any(line.startswith(f"{root / 'c.yaml'}:") and "YAML syntax error" in line
               for line in lines)
    assert lines[-1] == "4 problem(s); nothing was changed."


def test_a_reload_plans_only_the_events_that_changed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = folder(tmp_path, {
        "a.yaml": STORY + "events:\n" + event("stays", "2031-01-01"),
        "b.yaml": "events:\n" + event("edited", "2031-02-01") + event("same", "2031-03-01"),
    })
    settings = Settings(events=root, store=f"sqlite:///{tmp_path / 't.db'}")
    store = Store.open(settings.store)
    now = datetime(2030, 12, 1, tzinfo=UTC)
    asked: list[set[str] | None] = []
    real = reload_module.plan_reminders

    def spy(*args: object, only: set[str] | None = None, **kwargs: object) -> object:
        asked.append(only)
        return real(*args, only=only, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reload_module, "plan_reminders",
                        lambda loaded, s, first, last, only=None: spy(loaded, s, first, last,
                                                                       only=only))
    try:
        first = load_timeline(root)
        apply_timeline(store, settings, first, now, configured=True)
        (root / "b.yaml").write_text("events:\n" + event("edited", "2031-02-15")
                                     + event("same", "2031-03-01") + event("new", "2031-04-01"),
                                     encoding="utf-8")
        second = load_timeline(root)
        summary = apply_timeline(store, settings, second, now, previous=first)
        assert asked == [None, {"edited", "new"}]
        # the moved deadline's 30d, 7d, 1d (its 90d is past) and the new one's four
        assert summary.planned == 7
        keys = {d.key for d in store.deliveries(state="pending", limit=100)}
        assert {k.split("/")[0] for k in keys} == {"stays", "edited", "same", "new"}
        assert not any(k.startswith("edited/2031-02-01") for k in keys)  # the old date: gone
    finally:
        store.close()


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    hooks = HookReceiver()
    hooks.start()
    yield hooks
    hooks.stop()


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    made: list[DaemonProcess] = []

    def make(config: Path) -> DaemonProcess:
        made.append(DaemonProcess(config))
        return made[-1]

    yield make
    for daemon in made:
        daemon.cleanup()


def _timed(ident: str, due: datetime) -> str:
    return (f"  - {{id: {ident}, story: s1, kind: deadline, title: {ident}, source: Q, "
            f"due: \"{due.isoformat(timespec='milliseconds')}\", reminders: [0m]}}\n")


def test_the_daemon_reloads_one_changed_part(tmp_path: Path, receiver: HookReceiver,
                                             daemons: Callable[..., DaemonProcess]) -> None:
    root = tmp_path / "events.d"
    root.mkdir()
    (root / "a.yaml").write_text(
        "stories:\n  - {id: s1, title: S, source: {newspaper: P}, published: 2024-04-10}\n"
        "events:\n" + _timed("first", at(30)), encoding="utf-8")
    (root / "b.yaml").write_text("events: []\n", encoding="utf-8")
    config = write_config(tmp_path / "config.yaml", f"{receiver.url}/hook", events="events.d")
    daemon = daemons(config).start("--watch").ready()
    daemon.wait_log(r"loaded .*events\.d: 1 events", 10)
    due = at(4.0)
    tmp = root / ".b.yaml.tmp"
    tmp.write_text("events:\n" + _timed("added", due), encoding="utf-8")
    os.replace(tmp, root / "b.yaml")
    daemon.wait_log(r"events\.d changed on disk: reloading", 5)
    daemon.wait_log(r"reloaded .*events\.d: 2 events, 1 new reminder\(s\) planned", 5)
    hit = poll(lambda: receiver.about("added"), 10, "the new part's reminder")[0]
    assert -0.05 <= hit.at - due.timestamp() < 1.0
    assert receiver.about("first") == []
    assert daemon.stop() == 0
