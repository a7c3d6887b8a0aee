"""The hostile-input table: events files and settings files an attacker or a careless
operator would write. Each row goes through `timeline check` and, when accepted, through
the listing, the feed, the preview, the page and a real daemon start
(tests/hostile_runner.py, in one process with a memory cap and a time limit per row).
A row is handled when it is refused with `FILE:LINE: field: message` (the fragment given
here) or accepted and every stage runs; a traceback, a timeout or the memory cap is not.
No secret given through the environment may appear in anything the rows print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAD = ("stories:\n  - {id: s, title: S, source: {newspaper: P}, published: 2024-04-10}\n"
        "events:\n")


def event(fields: str) -> str:
    return HEAD + "  - {id: e, story: s, source: Q, title: T, " + fields + "}\n"


# A row's expected outcome: a fragment of its first problem, or ACCEPTED
ACCEPTED = "accepted"

LAUGHS = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
                 for p, c in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh",
                                 strict=True))
EVENTS: dict[str, tuple[str, str]] = {
    "billion laughs": (LAUGHS + "stories: [*h]\nevents: []\n", "anchors and aliases"),
    "one alias": (HEAD.replace("{id: s,", "&x {id: s,") + "  - *x\n", "anchors and aliases"),
    "nested flow collections": ("stories: " + "[" * 3000 + "]" * 3000 + "\nevents: []\n",
                                "nest"),
    "nested 80 deep": ("stories: " + "[" * 80 + "]" * 80 + "\nevents: []\n", "deeper than 64"),
    "31 million characters": ("# " + "x" * 30_000_100 + "\n" + HEAD + "  []\n", "too big"),
    "a long comment, 9 MB": ("# " + "x" * 9_000_000 + "\n" + event("kind: deadline, "
                                                                   "due: 2030-01-01"),
                             ACCEPTED),
    "FREQ=SECONDLY": (event("kind: recurring, rrule: 'FREQ=SECONDLY', start: 2024-01-01"),
                      "FREQ must be one of"),
    "FREQ=MINUTELY no end": (event("kind: recurring, rrule: 'FREQ=MINUTELY', "
                                   "start: 2024-01-01T00:00"), "FREQ must be one of"),
    "FREQ=HOURLY": (event("kind: recurring, rrule: 'FREQ=HOURLY', start: 2024-01-01"),
                    "FREQ must be one of"),
    "INTERVAL=0": (event("kind: recurring, rrule: 'FREQ=DAILY;INTERVAL=0', start: 2024-01-01"),
                   "INTERVAL must be a whole number"),
    "INTERVAL huge": (event("kind: recurring, rrule: 'FREQ=DAILY;INTERVAL=99999999999', "
                            "start: 2024-01-01"), "INTERVAL must be a whole number"),
    "BYHOUR every hour": (event("kind: recurring, rrule: 'FREQ=DAILY;BYHOUR=0,1,2,3,4,5', "
                                "start: 2024-01-01"), "'BYHOUR' is not supported"),
    "BYEASTER": (event("kind: recurring, rrule: 'FREQ=YEARLY;BYEASTER=0', start: 2024-01-01"),
                 "'BYEASTER' is not supported"),
    "COUNT huge": (event("kind: recurring, rrule: 'FREQ=DAILY;COUNT=99999999', "
                         "start: 2024-01-01"), "COUNT must be a whole number"),
    "garbage BYDAY": (event("kind: recurring, rrule: 'FREQ=WEEKLY;BYDAY=XX', "
                            "start: 2024-01-01"), "bad RRULE"),
    "every 0 weeks": (event("kind: recurring, every: 0 weeks, start: 2024-01-01"),
                      "at least 1"),
    "every 99999 years": (event("kind: recurring, every: 99999 years, start: 2024-01-01"),
                          "at most 100"),
    "every a million days": (event("kind: recurring, every: 1000000 days, "
                                   "start: 2024-01-01"), "cannot read every"),
    "daily for a century": (event("kind: recurring, every: daily, start: 2100-01-01"),
                            ACCEPTED),
    "weekdays empty": (event("kind: recurring, weekdays: [], start: 2024-01-01"),
                       "at least 1 item"),
    "year 0001": (event("kind: deadline, due: 0001-01-01"), "out of range"),
    "year 9999 with leads": (event("kind: deadline, due: 9999-12-31, reminders: [90d]"),
                             "out of range"),
    "all-day 2200-12-31, the last day": (event("kind: deadline, due: 2200-12-31, "
                                               "reminders: [3660d]"), ACCEPTED),
    "1900-01-01 with the longest lead": (event("kind: happening, date: 1900-01-01, "
                                               "reminders: [3660d]"), ACCEPTED),
    "timed at 2200-12-31 23:59 east of everything": (
        event("kind: deadline, due: 2200-12-31T23:59, timezone: Pacific/Kiritimati, "
              "reminders: [1d]"), ACCEPTED),
    "window from 0001-01-01": (event("kind: window, start: 0001-01-01, end: 2024-01-01"),
                               "out of range"),
    "lead 999999999d": (event("kind: deadline, due: 2030-01-01, reminders: [999999999d]"),
                        "too long"),
    "lead of 40 digits": (event("kind: deadline, due: 2030-01-01, reminders: ["
                                + "9" * 40 + "d]"), "bad lead time"),
    "duration 999999999d": (event("kind: recurring, every: weekly, start: 2024-01-01T09:00, "
                                  "duration: 999999999d"), "too long"),
    "an id with a trailing newline": (event("kind: deadline, due: 2030-01-01").replace(
        "{id: e,", '{id: "e\\n",'), "is not a slug"),
    "a tag with a trailing newline": (event('kind: deadline, due: 2030-01-01, '
                                            'tags: ["x\\n"]'), "is not a slug"),
    "an id of 300 characters": (event("kind: deadline, due: 2030-01-01").replace(
        "{id: e,", "{id: " + "e" * 300 + ","), "is not a slug"),
    "NUL in a title": (event("kind: deadline, due: 2030-01-01").replace(
        "title: T", 'title: "T\\0"'), "control characters"),
    "BEL and ESC in the source": (event("kind: deadline, due: 2030-01-01").replace(
        "source: Q", 'source: "Q\\a\\e[31m"'), "control characters"),
    "20300101 as a date": (event("kind: deadline, due: '20300101'"), "bad date"),
    "a mapping as a key": (HEAD + "  - {id: e, story: s, source: Q, title: T, "
                           "kind: deadline, due: 2030-01-01, {a: 1}: 2}\n",
                           "a key must be plain text"),
    "a list as a key": ("? [a, b]\n: 1\n" + HEAD + "  []\n", "a key must be plain text"),
    "a Python tag": ("stories: !!python/object:os.system [ls]\nevents: []\n", "stories[0]"),
    "several documents": (HEAD + "  []\n---\n" + HEAD + "  []\n", "YAML"),
    "binary junk": ("\x00\x01\x02\x03" * 50, "YAML"),
    "empty": ("", "empty"),
    "only comments": ("# nothing here\n# at all\n", "empty"),
    "unknown timezone": ("timezone: Mars/Olympus\n" + HEAD + "  []\n", "unknown timezone"),
    "a title of 100,000 characters": (event("kind: deadline, due: 2030-01-01").replace(
        "title: T", "title: " + "长" * 100_000), ACCEPTED),
    "within a deadline, not a window": (
        HEAD + "  - {id: d, story: s, source: Q, title: D, kind: deadline, due: 2030-01-01}\n"
        "  - {id: r, story: s, source: Q, title: R, kind: recurring, weekdays: [tue], "
        "within: d}\n", "no window with id 'd'"),
    "rrule with its own DTSTART": (event("kind: recurring, rrule: 'DTSTART:20240101;"
                                         "FREQ=DAILY', start: 2024-01-01"),
                                   "first date in `start`"),
    "29 February every year": (event("kind: recurring, every: yearly, start: 2024-02-29"),
                               ACCEPTED),
    "the 31st of every month": (event("kind: recurring, rrule: 'FREQ=MONTHLY;BYMONTHDAY=31', "
                                      "start: 2024-01-31"), ACCEPTED),
    "a line separator in a title": (event("kind: deadline, due: 2030-01-01").replace(
        "title: T", 'title: "一\\u2028二"'), ACCEPTED),
    "2,000 deadlines": (HEAD + "".join(
        f"  - {{id: d{i}, story: s, source: Q, title: D{i}, kind: deadline, "
        f"due: 2030-{1 + i % 12:02d}-{1 + i % 28:02d}}}\n" for i in range(2_000)), ACCEPTED),
    "!!binary in a title": (event("kind: deadline, due: 2030-01-01").replace(
        "title: T", "title: !!binary AAECAw=="), "YAML tags (tag:yaml.org,2002:binary) are not"),
    "a tag of one's own": (event("kind: deadline, due: !custom 2030-01-01"),
                           "YAML tags (!custom) are not allowed"),
    "a timezone that is a folder": ("timezone: Asia\n" + HEAD + "  []\n", "unknown timezone"),
    "a URL with a space": (event("kind: deadline, due: 2030-01-01, url: 'https://x.example/a b'"),
                           "a URL is one word"),
    "21 lead times": (event("kind: deadline, due: 2030-01-01, reminders: ["
                            + ", ".join(f"{d}d" for d in range(1, 22)) + "]"),
                      "21 lead times: at most 20"),
    "a key with a newline and an escape": (event("kind: deadline, due: 2030-01-01").replace(
        "{id: e,", '{"x\\n\\e[31m": 1, id: e,'), "unknown field"),
    "within a window of another zone": (
        HEAD + "  - {id: w, story: s, source: Q, title: W, kind: window, "
        "start: 2030-01-01T09:00, end: 2030-02-01T17:00, timezone: Europe/Paris}\n"
        "  - {id: r, story: s, source: Q, title: R, kind: recurring, weekdays: [tue], "
        "start: 2030-01-01T09:00, within: w}\n", "keeps its zone"),
    "2,000 daily items": (HEAD + "".join(
        f"  - {{id: d{i}, story: s, source: Q, title: D{i}, kind: recurring, every: daily, "
        f"start: 2026-01-01}}\n" for i in range(2_000)), "100,000 occurrences a year"),
    "30 daily items since 1900 but holidays": (HEAD + "".join(
        f"  - {{id: d{i}, story: s, source: Q, title: D{i}, kind: recurring, every: daily, "
        f"start: 1900-01-01, except: [cn-holidays]}}\n" for i in range(30)), ACCEPTED),
    "50 daily items on 30 February": (HEAD + "".join(
        f"  - {{id: d{i}, story: s, source: Q, title: D{i}, kind: recurring, "
        f"rrule: 'FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30', start: 2026-01-01}}\n"
        for i in range(50)), "no occurrence from 2026-01-01 on"),
    "1,500 bad events": (HEAD + "".join(
        f"  - {{id: d{i}, story: s, source: Q, title: D{i}, kind: deadline, due: never}}\n"
        for i in range(1_500)), "bad date"),
}

SECRET = "hunter2-never-shown-9f3a"
MINIMAL = "notifiers:\n  out: {type: console}\n"
CONFIGS: dict[str, tuple[str, str, dict[str, str]]] = {
    "anchors": ("x: &a {type: console}\nnotifiers:\n  out: *a\n", "anchors and aliases", {}),
    "billion laughs": (LAUGHS + "notifiers: {out: {type: console}}\n", "anchors and aliases",
                       {}),
    "nested 80 deep": ("x: " + "[" * 80 + "]" * 80 + "\n", "deeper than 64", {}),
    "a store URL with a password, mistyped": (f"store: 'postgresql:/postgres:{SECRET}@db/x'\n",
                                              "bad store URL (not shown", {}),
    "a store port that is no number": (f"store: 'postgresql://u:{SECRET}@h:abc/db'\n",
                                       "bad store URL (not shown", {}),
    "a store of another kind": (f"store: 'mysql://u:{SECRET}@h/db'\n",
                                "unsupported store URL scheme 'mysql'", {}),
    "a store password from the environment": ("store: 'postgresql://u:${PGPASS}@127.0.0.1:1/x'\n"
                                              + MINIMAL, ACCEPTED, {"PGPASS": SECRET}),
    # accepted, and the daemon's start refuses the store in one line (no traceback)
    "a store file that is no database": ("store: sqlite:///config.yaml\n" + MINIMAL, ACCEPTED,
                                         {}),
    "a PostgreSQL option that does not exist": (
        "store: 'postgresql://postgres@127.0.0.1:5432/test?bogus=1'\n" + MINIMAL, ACCEPTED, {}),
    "horizon 999999999d": ("reminders: {horizon: 999999999d}\n", "too long", {}),
    "catch_up 999999999d": ("reminders: {catch_up: 999999999d}\n", "too long", {}),
    "retry_max 999999999d": ("reminders: {retry_max: 999999999d}\n", "too long", {}),
    "horizon ten years": ("reminders: {horizon: 3660d}\n" + MINIMAL, ACCEPTED, {}),
    "concurrency 0": ("reminders: {concurrency: 0}\n", "greater than or equal to 1", {}),
    "concurrency a million": ("reminders: {concurrency: 1000000}\n", "less than or equal", {}),
    "max_attempts a billion": ("reminders: {max_attempts: 1000000000}\n", "less than or equal",
                               {}),
    "send_at 25:00": ("reminders: {send_at: '25:00'}\n", "bad time", {}),
    "a timezone from the environment": ("timezone: '${TZVALUE}'\n", "the value of ${TZVALUE}",
                                        {"TZVALUE": SECRET}),
    "a header secret ending in a newline": (
        "notifiers:\n  hook:\n    type: webhook\n    url: http://127.0.0.1:1/\n"
        "    headers: {X-Token: '${TOKEN}'}\n", "has a line break", {"TOKEN": SECRET + "\n"}),
    "a webhook URL from the environment with a space": (
        "notifiers:\n  hook: {type: webhook, url: '${HOOK}'}\n", "the value of ${HOOK}",
        {"HOOK": f"https://x.example/{SECRET} x"}),
    "an unknown notifier type": ("notifiers:\n  x: {type: telegraph}\n",
                                 "unknown notifier type", {}),
    "a notifier name with a slash": ("notifiers:\n  'a/b': {type: console}\n",
                                     "a notifier name may use", {}),
    "a route to nobody": (MINIMAL + "routes:\n  - notify: [ghost]\n", "unknown notifier", {}),
    "a bad digest": ("notifiers:\n  out: {type: console, digest: 'hourly'}\n", "bad digest",
                     {}),
    "a server port of 99999": ("server: {port: 99999}\n", "less than or equal to 65535", {}),
    "lang xx": ("lang: xx\n", "Input should be 'zh' or 'en'", {}),
    "group_max 0": ("notifiers:\n  out: {type: console, group_max: 0}\n",
                    "greater than or equal to 1", {}),
    "a mapping as a key": ("{a: 1}: 2\n", "a key must be plain text", {}),
    "an unset variable": ("notifiers:\n  hook: {type: webhook, url: '${NOT_SET_ANYWHERE}'}\n",
                          "environment variable NOT_SET_ANYWHERE is not set", {}),
    "send_at a number of 30 digits": ("reminders: {send_at: " + "9" * 30 + "}\n",
                                      "bad time: write HH:MM", {}),
    "a store password in the query": (f"store: 'postgresql://u@127.0.0.1:1/x?password={SECRET}'\n"
                                      + MINIMAL, ACCEPTED, {}),
    "a store host with an @": (f"store: 'postgresql://u:{SECRET}@h@x/db'\n",
                               "bad store URL (not shown", {}),
    "a notifier type from the environment": ("notifiers:\n  x: {type: '${KIND}'}\n",
                                             "the value of ${KIND}: not a notifier type",
                                             {"KIND": SECRET}),
    "a header value that is not ASCII": (
        "notifiers:\n  hook:\n    type: webhook\n    url: http://127.0.0.1:1/\n"
        "    headers: {X-Name: 名字}\n", "cannot carry (only ASCII)", {}),
    "a webhook URL with a password": (
        "notifiers:\n  hook: {type: webhook, url: 'http://u:${PASS}@127.0.0.1:1/hook'}\n",
        ACCEPTED, {"PASS": SECRET}),
    "an email port that is text": ("notifiers:\n  mail: {type: email, host: localhost, "
                                   "port: smtp, from: a@example.org, to: [b@example.org]}\n",
                                   "valid integer", {}),
}


def _rows() -> list[dict[str, Any]]:
    rows = [{"name": name, "kind": "events", "file": "events.yaml", "text": text}
            for name, (text, _) in EVENTS.items()]
    for name, (text, _, env) in CONFIGS.items():
        events = "events: events.yaml\n" if "events:" not in text else ""
        rows.append({"name": "config: " + name, "kind": "config", "file": "config.yaml",
                     "text": events + text, "env": env})
    return rows


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("hostile")
    rows = _rows()
    (folder / "rows.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    runner = subprocess.run(
        [sys.executable, "-m", "tests.hostile_runner", str(folder / "rows.json")],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parent.parent),
             "HOME": str(folder)})
    out = {}
    for line in runner.stdout.splitlines():
        row = json.loads(line)
        out[row["name"]] = row
    assert len(out) == len(rows), (runner.stdout[-2000:], runner.stderr[-4000:])
    # No secret in anything printed: results, warnings, logs of the daemon starts.
    assert SECRET not in runner.stdout + runner.stderr
    return out


def test_the_table_is_large_enough() -> None:
    assert len(EVENTS) >= 40 and len(CONFIGS) >= 25


@pytest.mark.parametrize("name", list(EVENTS))
def test_hostile_events_file(results: dict[str, dict[str, Any]], name: str) -> None:
    result = results[name]
    expected = EVENTS[name][1]
    assert "crashed" not in result, result["crashed"]
    if expected == ACCEPTED:
        assert result["accepted"], result
        return
    assert not result["accepted"], f"accepted, expected a refusal with {expected!r}"
    first = result["problems"][0]
    assert first.split(":", 2)[1].isdigit(), first  # FILE:LINE: …
    assert expected in first, first
    assert "\n" not in "".join(result["problems"])  # one line each


@pytest.mark.parametrize("name", list(CONFIGS))
def test_hostile_settings_file(results: dict[str, dict[str, Any]], name: str) -> None:
    result = results["config: " + name]
    expected = CONFIGS[name][1]
    assert "crashed" not in result, result["crashed"]
    if expected == ACCEPTED:
        assert result["accepted"], result
        assert "\n" not in result.get("refused_at_start", "")
        return
    assert not result["accepted"], f"accepted, expected a refusal with {expected!r}"
    text = " ".join(result["problems"])
    assert expected in text, text
    assert SECRET not in text
