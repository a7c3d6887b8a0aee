"""`timeline check`: a good file gets a one-line summary; a bad one gets one
`FILE:LINE: subject: message` line per problem, exit code 1 and never a traceback.

In the table of bad files the line at fault carries a `# <-` marker, so the expected line
number is read from the case itself, not from the program's output.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner, Result
from freezegun import freeze_time

from timeline.cli import cli

HEAD = """\
timezone: Asia/Shanghai
stories:
  - id: s1
    title: 故事
    source: {newspaper: 报纸}
    published: 2024-04-10
events:
"""

DEADLINE = """\
  - id: e1
    story: s1
    kind: deadline
    title: 截止
    source: 原文
    due: 2024-05-31
"""

MARK = "# <-"


def run_check(path: Path) -> Result:
    return CliRunner().invoke(cli, ["check", str(path)])


def marked_line(text: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if MARK in line]
    assert len(lines) == 1, "each case marks exactly one line"
    return lines[0]


BAD_FILES = [
    pytest.param(HEAD + DEADLINE.replace("title: 截止", "title: 截止: 两个冒号  # <-"),
                 "(yaml)", "YAML syntax error: mapping values are not allowed",
                 id="yaml-syntax"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: deadlin  # <-"),
                 "e1.kind", "unknown kind 'deadlin' (expected one of deadline, window, "
                 "happening, recurring)", id="unknown-kind"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: deadline\n    colour: red  # <-"),
                 "e1.colour", "unknown field", id="unknown-field"),
    pytest.param(HEAD + DEADLINE.replace("due: 2024-05-31", "due: 2024-02-30  # <-"),
                 "e1.due", "bad date '2024-02-30'", id="bad-date"),
    pytest.param(HEAD + DEADLINE.replace("due: 2024-05-31", "due: 31/05/2024  # <-"),
                 "e1.due", "bad date '31/05/2024'", id="bad-date-format"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: window").replace(
        "due: 2024-05-31", "start: 2024-06-01\n    end: 2024-05-31  # <-"),
                 "e1.end", "end 2024-05-31 is before start 2024-06-01", id="end-before-start"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: happening").replace(
        "due: 2024-05-31", "date: 2024-06-01\n    end: 2024-06-02T10:00  # <-"),
                 "e1.end", "must both be dates or both date-times", id="date-and-datetime"),
    pytest.param(HEAD + DEADLINE + DEADLINE.replace("- id: e1", "- id: e1  # <-"),
                 "e1.id", "duplicate event id 'e1'", id="duplicate-id"),
    pytest.param(HEAD + DEADLINE.replace("story: s1", "story: nope  # <-"),
                 "e1.story", "unknown story 'nope' (known: s1)", id="unknown-story"),
    pytest.param(HEAD.replace("  - id: s1", "  - id: s1\n    title: 另一个\n    source: {"
                              "newspaper: 报纸}\n    published: 2024-04-10\n  - id: s1  # <-")
                 + DEADLINE, "s1.id", "duplicate story id 's1'", id="duplicate-story"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: recurring").replace(
        "due: 2024-05-31", "start: 2024-05-01\n    rrule: FREQ=FORTNIGHTLY  # <-"),
                 "e1.rrule", "bad RRULE 'FREQ=FORTNIGHTLY'", id="bad-rrule"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: recurring").replace(
        "due: 2024-05-31", "start: 2024-05-01\n    every: fortnightly  # <-"),
                 "e1.every", "cannot read every: 'fortnightly'", id="bad-every"),
    pytest.param(HEAD + DEADLINE + "    reminders: [7d, 7x]  # <-\n",
                 "e1.reminders", "bad lead time '7x'", id="bad-lead"),
    pytest.param(HEAD + DEADLINE + "    reminders: [7]  # <-\n",
                 "e1.reminders", "needs a unit", id="lead-without-unit"),
    pytest.param(HEAD.replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus  # <-")
                 + DEADLINE, "timezone", "unknown timezone 'Mars/Olympus'", id="bad-file-tz"),
    pytest.param(HEAD + DEADLINE + "    timezone: Asia/Beijing  # <-\n",
                 "e1.timezone", "unknown timezone 'Asia/Beijing'", id="bad-event-tz"),
    pytest.param(HEAD + DEADLINE.replace("title: 截止", "title: '   '  # <-"),
                 "e1.title", "at least 1 character", id="blank-title"),
    pytest.param(HEAD + DEADLINE.replace("    source: 原文\n", "").replace(
        "- id: e1", "- id: e1  # <-"), "e1.source", "required field is missing",
                 id="missing-source"),
    pytest.param(HEAD + DEADLINE.replace("    kind: deadline\n", "").replace(
        "- id: e1", "- id: e1  # <-"), "e1.kind", "missing field 'kind'", id="missing-kind"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: window").replace(
        "due: 2024-05-31", "end: 2024-05-31").replace("- id: e1", "- id: e1  # <-"),
                 "e1.start", "a window needs `start`, or `start_label`", id="window-no-start"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: recurring").replace(
        "due: 2024-05-31", "weekdays: [tue, fri]\n    within: no-such-window  # <-"),
                 "e1.within", "no window with id 'no-such-window'", id="within-unknown"),
    pytest.param(HEAD + DEADLINE.replace("kind: deadline", "kind: recurring").replace(
        "due: 2024-05-31", "start: 2024-04-02\n    end: 2024-04-05\n    weekdays: [mon]  # <-"),
                 "e1.weekdays", "no occurrence between 2024-04-02 and 2024-04-05",
                 id="rule-never-occurs"),
    pytest.param(HEAD + DEADLINE.replace("source: 原文", "source: 原文\n    title: 又一个  # <-"),
                 "e1.title", "duplicate key 'title'", id="duplicate-key"),
    pytest.param(HEAD + DEADLINE.replace("- id: e1", "- id: E_1  # <-"),
                 "E_1.id", "'E_1' is not a slug", id="bad-slug"),
    pytest.param("colour: red  # <-\n" + HEAD + DEADLINE, "colour",
                 "unknown top-level key", id="unknown-top-level-key"),
    pytest.param(HEAD + "  - just text  # <-\n", "events[0].id",
                 "valid dictionary", id="event-not-a-mapping"),
]


@pytest.mark.parametrize(("text", "subject", "fragment"), BAD_FILES)
def test_bad_file(tmp_path: Path, text: str, subject: str, fragment: str) -> None:
    path = tmp_path / "events.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_check(path)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == "1 problem(s); nothing was changed."
    assert len(lines) == 2, lines
    expected_start = f"{path}:{marked_line(text)}: {subject}: "
    assert lines[0].startswith(expected_start), (lines[0], expected_start)
    assert fragment in lines[0]


def test_the_repo_file_is_ok(events_path: Path) -> None:
    raw = yaml.safe_load(events_path.read_text(encoding="utf-8"))
    # 2024-05-06 in Xining: the next item is the Tuesday office hours on 7 May.
    with freeze_time(datetime(2024, 5, 6, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))):
        result = run_check(events_path)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout == (
        f"{events_path}: ok, {len(raw['stories'])} stories, {len(raw['events'])} events; "
        "next: 2024-05-07 diesel-office-hours-window-1\n")


def test_the_repo_file_is_ok_at_any_time(events_path: Path) -> None:
    result = run_check(events_path)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert result.stdout.startswith(f"{events_path}: ok, ")


def test_every_problem_is_reported_sorted_by_line(tmp_path: Path) -> None:
    second = DEADLINE.replace("- id: e1", "- id: e2").replace("story: s1", "story: nope")
    third = DEADLINE.replace("- id: e1", "- id: e3").replace("due: 2024-05-31", "due: soon")
    text = (HEAD.replace("timezone: Asia/Shanghai", "timezone: Nowhere/City")
            + third + DEADLINE.replace("title: 截止", "title: 截止\n    colour: red") + second)
    path = tmp_path / "many.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_check(path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    *problems, summary = result.stderr.splitlines()
    assert summary == "4 problem(s); nothing was changed."
    numbered = text.splitlines()

    def line_of(snippet: str, after: int = 0) -> int:
        return next(n for n, line in enumerate(numbered, 1) if n > after and snippet in line)

    expected = [
        f"{path}:1: timezone: unknown timezone 'Nowhere/City'",
        f"{path}:{line_of('due: soon')}: e3.due: bad date 'soon'",
        f"{path}:{line_of('colour: red')}: e1.colour: unknown field",
        f"{path}:{line_of('story: nope')}: e2.story: unknown story 'nope'",
    ]
    assert len(problems) == len(expected)
    for got, want in zip(problems, expected, strict=True):
        assert got.startswith(want), (got, want)
    line_numbers = [int(p.split(":")[1]) for p in problems]
    assert line_numbers == sorted(line_numbers)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "(file): no such file"),
        (b"", "(file): the file is empty"),
        (b"\xff\xfe not utf-8", "(file): cannot read"),
        (b"- a\n- b\n", "(file): expected a mapping with `stories` and `events`"),
        (b"timezone: Asia/Shanghai\n", "stories: required top-level key is missing"),
    ],
)
def test_unusable_files_give_a_clean_error(tmp_path: Path, content: bytes | None,
                                           fragment: str) -> None:
    path = tmp_path / "events.yaml"
    if content is not None:
        path.write_bytes(content)
    result = run_check(path)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"{path}:1: ")
    assert fragment in result.stderr


def test_an_empty_folder_is_a_timeline_without_parts(tmp_path: Path) -> None:
    """A folder is an events timeline in parts (tests/test_loader_folder.py); one without
    any *.yaml is a problem naming it, not a crash."""
    result = run_check(tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path}:1: (folder): no *.yaml files in the folder" in result.output
    assert "Traceback" not in result.output


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    text = HEAD + DEADLINE.replace("due: 2024-05-31", "due: 2024-02-30  # <-")
    path = tmp_path / "events.yaml"
    path.write_text(text, encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    for target, expected in [
        (path, f"{path}:{marked_line(text)}: e1.due: bad date '2024-02-30'"),
        (missing, f"{missing}:1: (file): no such file"),
    ]:
        done = subprocess.run([sys.executable, "-m", "timeline.cli", "check", str(target)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1
        assert done.stdout == ""
        assert "Traceback" not in done.stderr
        assert done.stderr.splitlines()[0].startswith(expected)


def test_a_title_written_over_lines_reads_as_one_line() -> None:
    from timeline.loader import parse_timeline

    block = "title: |\n      设备更新补贴\n      申报截止"
    loaded = parse_timeline(HEAD + DEADLINE.replace("title: 截止", block))
    assert loaded.timeline.event("e1").title == "设备更新补贴 申报截止"
