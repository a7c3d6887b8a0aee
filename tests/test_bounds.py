"""What a file can make the later stages do is bounded: problems reported, rules found
empty, occurrences a year, the range a listing spells out; and what cannot be read as an
events file (a device, a FIFO, a part linked out of its folder) is refused or left out."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from notifiers._http import classify_status, url_secrets
from timeline.cli import cli
from timeline.errors import ValidationFailed
from timeline.loader import (
    MAX_EMPTY_RULES,
    MAX_OCCURRENCES_A_YEAR,
    MAX_PROBLEMS,
    load_timeline,
    parse_timeline,
)

HEAD = ("stories:\n  - {id: s, title: S, source: {newspaper: P}, published: 2024-04-10}\n"
        "events:\n")


def _items(count: int, fields: str) -> str:
    return HEAD + "".join(f"  - {{id: e{i}, story: s, source: Q, title: T{i}, {fields}}}\n"
                          for i in range(count))


def _problems(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_timeline(text)
    return [str(p) for p in caught.value.problems]


def test_a_million_bad_events_are_not_a_million_messages() -> None:
    problems = _problems(_items(MAX_PROBLEMS + 500, "kind: deadline, due: never"))
    assert len(problems) == MAX_PROBLEMS + 1
    assert f"more than {MAX_PROBLEMS} problems" in problems[-1]
    assert all("bad date" in p for p in problems[:-1])


def test_rules_without_an_occurrence_stop_being_searched() -> None:
    problems = _problems(_items(50, "kind: recurring, rrule: 'FREQ=DAILY;BYMONTH=2;"
                                    "BYMONTHDAY=30', start: 2026-01-01"))
    assert len(problems) == MAX_EMPTY_RULES + 1
    assert "no occurrence from 2026-01-01 on" in problems[0]
    assert sum("not checked" in p for p in problems) == 1
    assert not any(f"e{MAX_EMPTY_RULES}." in p for p in problems)


def test_the_occurrences_a_year_of_all_rules_together_are_bounded() -> None:
    # 274 daily items are 100,010 occurrences a year; 273 are within the bound
    daily = "kind: recurring, every: daily, start: 2026-01-01"
    assert len(parse_timeline(_items(MAX_OCCURRENCES_A_YEAR // 365 - 1, daily)).rules) == 272
    [problem] = _problems(_items(MAX_OCCURRENCES_A_YEAR // 365 + 2, daily))
    assert "e273.every: the recurring items up to this one make more than 100,000" in problem


def test_a_rule_found_empty_only_far_away_is_still_found_quickly() -> None:
    # 29 February on a Monday, every 4 years from 2001: never (2001 + 4k is no leap year)
    problems = _problems(_items(1, "kind: recurring, rrule: 'FREQ=YEARLY;INTERVAL=4;"
                                   "BYMONTH=2;BYMONTHDAY=29', start: 2001-01-01"))
    assert "no occurrence from 2001-01-01 on" in problems[0]
    # 29 February on a Monday, yearly: first in 2044
    loaded = parse_timeline(_items(1, "kind: recurring, rrule: 'FREQ=YEARLY;BYMONTH=2;"
                                      "BYMONTHDAY=29;BYDAY=MO', start: 2025-01-01"))
    assert str(loaded.rules["e0"].first()) == "2044-02-29"


def test_a_listing_spells_out_a_million_occurrences_at_most(tmp_path: Path) -> None:
    events = tmp_path / "events.yaml"
    events.write_text(_items(30, "kind: recurring, every: daily, start: 1900-01-01"),
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["list", "--events", str(events), "--from", "1900-01-01",
                                      "--to", "2200-12-31"])
    assert result.exit_code == 2, result.output
    assert "would list about 3,3" in result.output and "at most 1,000,000" in result.output
    result = CliRunner().invoke(cli, ["list", "--events", str(events), "--from", "1900-01-01",
                                      "--to", "1900-12-31", "--json"])
    assert result.exit_code == 0 and result.output.count('"event"') == 30 * 365


def test_check_finds_the_next_occurrence_of_a_sparse_rule(tmp_path: Path) -> None:
    events = tmp_path / "events.yaml"
    events.write_text(_items(1, "kind: recurring, every: 40 years, start: 2001-03-01"),
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(events)])
    assert result.exit_code == 0 and "next: 2041-03-01 e0" in result.output


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_a_file_that_is_no_regular_file_is_refused(tmp_path: Path, make: str) -> None:
    if make == "fifo":
        path = tmp_path / "events.yaml"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    with pytest.raises(ValidationFailed) as caught:
        load_timeline(path)  # a FIFO would block, /dev/zero never end
    assert [str(p) for p in caught.value.problems] == [f"{path}:1: (file): not a regular file"]


def test_a_part_linked_out_of_its_folder_is_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "a.yaml").write_text(HEAD + "  []\n", encoding="utf-8")
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n", encoding="utf-8")
    (folder / "b.yaml").symlink_to(secret)
    loaded = load_timeline(folder)
    assert [s.id for s in loaded.timeline.stories] == ["s"]


def test_a_receivers_control_characters_stay_out_of_the_reason() -> None:
    reply = httpx.Response(500, text="boom\x1b[31m\r\nforged log line\x00")
    reason = classify_status(reply).detail
    assert reason.startswith("HTTP 500: boom")
    assert not any(c in reason for c in "\x1b\r\n\x00")


def test_the_secrets_of_a_url_are_its_password_basic_form_and_query_values() -> None:
    found = url_secrets("https://bot:pa55@hooks.example/x?access_token=tok123&v=2")
    assert {"pa55", "Ym90OnBhNTU=", "tok123", "2"} <= set(found)
    assert "bot" not in found and "hooks.example" not in found
