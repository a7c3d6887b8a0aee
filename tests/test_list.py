"""`timeline list`: occurrences in a date range, in date order, with time frozen.

The session's machine zone is America/New_York (see conftest); the timeline's is
Asia/Shanghai, so "today" is deliberately tested at a moment when the two disagree.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time

from timeline.cli import cli
from timeline.loader import LoadedTimeline

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
# Statutory days off in spring 2024 (State Council announcement): Qingming 4-6 April,
# Labour Day 1-5 May.
DAYS_OFF = {date(2024, 4, d) for d in (4, 5, 6)} | {date(2024, 5, d) for d in range(1, 6)}
FIELDS = {"event", "story", "title", "start", "end", "all_day", "kind", "tags"}


def run_list(events_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["list", "--events", str(events_path), *args])


def list_json(events_path: Path, *args: str) -> list[dict[str, Any]]:
    result = run_list(events_path, "--json", *args)
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert isinstance(items, list)
    return items


def day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text[:10])


def sort_day(item: dict[str, Any]) -> date:
    found = day(item["start"]) or day(item["end"])
    assert found is not None
    return found


def office_days(first: date, last: date) -> list[date]:
    """Tuesdays and Fridays of the first window's office hours (2 April..31 May 2024)."""
    first, last = max(first, date(2024, 4, 2)), min(last, date(2024, 5, 31))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [d for d in days if d.weekday() in (1, 4) and d not in DAYS_OFF]


def test_default_range_is_a_year_from_today(events_path: Path) -> None:
    with freeze_time(datetime(2024, 5, 6, 12, 0, tzinfo=SHANGHAI)):
        items = list_json(events_path)
    assert {i["event"] for i in items} == {
        "diesel-window-1", "diesel-window-2", "diesel-office-hours-window-1",
        "diesel-office-hours-window-2", "preschool-staff-exchange", "preschool-two-way-review"}
    for item in items:
        assert (day(item["end"]) or sort_day(item)) >= date(2024, 5, 6), item
        assert sort_day(item) <= date(2025, 5, 6), item
    office = [day(i["start"]) for i in items if i["event"] == "diesel-office-hours-window-1"]
    assert office == office_days(date(2024, 5, 6), date(2024, 5, 31))


def test_today_is_the_timelines_today_not_the_machines(events_path: Path) -> None:
    # Friday 10 May, 22:30 in New York is already Saturday 11 May in Xining: Friday's
    # office hours are over for the people the timeline is about.
    moment = datetime(2024, 5, 10, 22, 30, tzinfo=NEW_YORK)
    assert moment.astimezone(SHANGHAI).date() == date(2024, 5, 11)
    with freeze_time(moment):
        items = list_json(events_path, "--tag", "office-hours")
    assert day(items[0]["start"]) == date(2024, 5, 14)


def test_from_to_json(events_path: Path) -> None:
    items = list_json(events_path, "--from", "2024-05-01", "--to", "2024-05-31")
    for item in items:
        assert item.keys() >= FIELDS
        assert isinstance(item["tags"], list)
        assert item["all_day"] is True
    assert {i["event"] for i in items} == {"diesel-window-1", "diesel-office-hours-window-1"}
    office = [i for i in items if i["event"] == "diesel-office-hours-window-1"]
    assert [day(i["start"]) for i in office] == office_days(date(2024, 5, 1), date(2024, 5, 31))
    assert all(i["start"] == i["end"] for i in office)  # one whole day each, end inclusive
    first = office[0]
    assert first["story"] == "diesel-subsidy"
    assert first["kind"] == "recurring"
    assert first["title"].startswith("车管所办理日")
    assert first["tags"] == ["diesel-subsidy", "office-hours"]


def test_listing_is_in_date_order(events_path: Path) -> None:
    items = list_json(events_path, "--from", "1960-01-01", "--to", "2031-12-31")
    days = [sort_day(i) for i in items]
    assert days == sorted(days)
    # Everything in the file shows up somewhere in such a long range.
    assert "third-front-era-1964-1980" in {i["event"] for i in items}
    assert "nanchuan-phase-3-zero-carbon-park" in {i["event"] for i in items}


def test_holidays_are_excluded(events_path: Path) -> None:
    items = list_json(events_path, "--from", "2024-04-01", "--to", "2024-05-10",
                      "--story", "diesel-subsidy")
    office = [day(i["start"]) for i in items if i["event"] == "diesel-office-hours-window-1"]
    assert date(2024, 4, 5) not in office and date(2024, 5, 3) not in office
    assert date(2024, 4, 30) in office
    assert office == office_days(date(2024, 4, 1), date(2024, 5, 10))


@pytest.mark.parametrize(
    ("first", "last", "listed"),
    [
        ("2024-05-10", "2024-05-20", True),  # in the middle of the window
        ("2024-04-15", "2024-04-20", True),  # open since the story reported it (~10 April)
        ("2024-05-31", "2024-05-31", True),  # its last day
        ("2024-06-01", "2024-06-30", False),  # after it closed
        ("2024-03-01", "2024-03-31", False),  # before anyone reported it
    ],
)
def test_open_start_window(events_path: Path, first: str, last: str, listed: bool) -> None:
    items = list_json(events_path, "--from", first, "--to", last, "--tag",
                      "application-window")
    window = [i for i in items if i["event"] == "diesel-window-1"]
    assert bool(window) is listed
    if listed:
        assert window[0]["start"] is None
        assert window[0]["end"] == "2024-05-31"


def test_table_output(events_path: Path, loaded: LoadedTimeline) -> None:
    result = run_list(events_path, "--from", "2024-05-10", "--to", "2024-05-20")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    window = loaded.timeline.event("diesel-window-1")
    office = loaded.timeline.event("diesel-office-hours-window-1")
    assert any(line.startswith("… 2024-05-31") and window.title in line for line in lines)
    office_lines = [line for line in lines if office.title in line]
    assert [line.split()[0] for line in office_lines] == [
        d.isoformat() for d in office_days(date(2024, 5, 10), date(2024, 5, 20))]
    english = run_list(events_path, "--from", "2024-05-10", "--to", "2024-05-20", "--lang", "en")
    assert office.title_en and office.title_en in english.stdout
    empty = run_list(events_path, "--from", "2023-01-01", "--to", "2023-01-31")
    assert empty.exit_code == 0
    assert empty.stdout == "nothing between 2023-01-01 and 2023-01-31\n"


def test_tag_and_story_filters(events_path: Path, loaded: LoadedTimeline) -> None:
    span = ("--from", "2024-01-01", "--to", "2031-12-31")
    by_tag = list_json(events_path, *span, "--tag", "phase")
    assert {i["event"] for i in by_tag} == {
        e.id for e in loaded.timeline.events if "phase" in e.tags}
    assert all("phase" in i["tags"] for i in by_tag)
    both = list_json(events_path, *span, "--tag", "goal,phase")
    assert both == list_json(events_path, *span, "--tag", "goal", "--tag", "phase")
    assert {i["event"] for i in both} == {i["event"] for i in by_tag} | {
        "diesel-scrapping-goal-2025"}
    by_story = list_json(events_path, *span, "--story", "preschool-alliance")
    assert by_story and all(i["story"] == "preschool-alliance" for i in by_story)
    assert list_json(events_path, *span, "--story", "preschool-alliance", "--tag", "goal") == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--tag", "nope"), "unknown tag 'nope'"),
        (("--tag", "office-hours,nope"), "unknown tag 'nope'"),
        (("--story", "nope"), "unknown story 'nope'"),
        (("--from", "2024-05-31", "--to", "2024-05-01"), "is before --from"),
        (("--from", "31/05/2024"), "Invalid value for '--from'"),
    ],
)
def test_bad_options_are_usage_errors(events_path: Path, args: tuple[str, ...],
                                      fragment: str) -> None:
    result = run_list(events_path, *args)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert fragment in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_unknown_tag_names_the_known_ones(events_path: Path) -> None:
    result = run_list(events_path, "--tag", "nope")
    assert "Invalid value for --tag" in result.stderr
    assert "office-hours" in result.stderr and "zero-carbon" in result.stderr


def test_bad_events_file_exits_1(tmp_path: Path) -> None:
    result = run_list(tmp_path / "missing.yaml")
    assert result.exit_code == 1
    assert "no such file" in result.stderr
    assert "Traceback" not in result.output


def test_29_february(events_path: Path) -> None:
    # A year after 29 February 2024 is 28 February 2025 (there is no 29th).
    with freeze_time(datetime(2024, 2, 29, 12, 0, tzinfo=SHANGHAI)):
        items = list_json(events_path)
    assert "preschool-two-way-review" in {i["event"] for i in items}  # 2024-12-01
    assert all(sort_day(i) <= date(2025, 2, 28) for i in items)
    assert list_json(events_path, "--from", "2024-02-29") == items


def test_estimated_holidays_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text("""\
stories:
  - {id: s, title: 故事, source: {newspaper: 报纸}, published: 2024-01-01}
events:
  - id: weekly
    story: s
    kind: recurring
    title: 每周一
    source: 原文
    weekdays: [mon]
    start: 2024-01-01
    except: [cn-holidays]
""", encoding="utf-8")
    published = list_json(path, "--from", "2024-09-23", "--to", "2024-10-14")
    assert [day(i["start"]) for i in published] == [  # National Day Monday (7 Oct) skipped
        date(2024, 9, 23), date(2024, 9, 30), date(2024, 10, 14)]
    assert not any(i["estimated"] for i in published)
    future = list_json(path, "--from", "2028-09-25", "--to", "2028-10-09")
    # 2 October 2028 is a Monday in the estimated National Day break.
    assert [day(i["start"]) for i in future] == [date(2028, 9, 25), date(2028, 10, 9)]
    assert all(i["estimated"] for i in future)
    table = run_list(path, "--from", "2028-09-25", "--to", "2028-10-09")
    assert "[估算]" in table.stdout
