"""Merging accepted candidates into an events file or folder: everything outside the added
block kept byte for byte, duplicates refused, a result that would not pass `timeline check`
never written; and the whole workflow a new user follows, from a notice page to the feed."""

from __future__ import annotations

import difflib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.extract_inputs import DATA
from tests.web_helpers import get
from timeline.cli import cli
from timeline.errors import ValidationFailed
from timeline.extract import extract
from timeline.extract.merge import merge
from timeline.extract.propose import Candidate, Evidence
from timeline.loader import load_timeline
from timeline.model import Recurring
from timeline.source import TimelineSource
from timeline.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
NOTICE = DATA / "subsidy-call.txt"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def events(tmp_path: Path) -> Path:
    target = tmp_path / "events.yaml"
    shutil.copy(ROOT / "events.yaml", target)
    return target


def _only_inserted(old: str, new: str) -> list[str]:
    """The lines `new` adds to `old`; fails if it changes or drops any (a last line of
    `old` without its line break may get one)."""
    old = old if not old or old.endswith("\n") else old + "\n"
    matcher = difflib.SequenceMatcher(a=old.splitlines(True), b=new.splitlines(True),
                                      autojunk=False)
    added = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        assert tag in ("equal", "insert"), (tag, old.splitlines()[a0:a1])
        if tag == "insert":
            added += new.splitlines(True)[b0:b1]
    return added


def test_merge_adds_the_block_and_keeps_every_other_byte(events: Path) -> None:
    before = events.read_text(encoding="utf-8")
    result = invoke("extract", str(NOTICE), "--merge", str(events))
    assert result.exit_code == 0, result.output
    after = events.read_text(encoding="utf-8")
    added = _only_inserted(before, after)
    assert after.startswith(before[:before.index("stories:")])  # the header's comments
    assert sum(line.lstrip().startswith("- id: subsidy-call-") for line in added) == 6
    assert sum("# extracted from subsidy-call.txt [" in line for line in added) == 6
    assert "  - id: subsidy-call\n" in added  # the story, at the end of `stories`
    loaded = load_timeline(events)
    assert len(loaded.timeline.events) == 20 + 6
    assert "added 6 event(s) and 1 story(ies)" in result.stderr
    check = invoke("check", str(events))
    assert check.exit_code == 0, check.output


def test_a_second_merge_refuses_the_duplicates(events: Path) -> None:
    assert invoke("extract", str(NOTICE), "--merge", str(events)).exit_code == 0
    once = events.read_bytes()
    again = invoke("extract", str(NOTICE), "--merge", str(events))
    assert again.exit_code == 0
    assert again.stderr.count("an event with this id is already there") == 6
    assert events.read_bytes() == once


def test_same_story_dates_and_title_under_another_id_is_a_duplicate(events: Path) -> None:
    extraction = extract(NOTICE.read_bytes(), "subsidy-call.txt")
    merge(events, extraction.stories, extraction.candidates[:1], "subsidy-call.txt")
    first = extraction.candidates[0]
    renamed = Candidate(first.event.model_copy(update={"id": "another-id"}), first.evidence,
                        first.confidence, first.story_index)
    report = merge(events, extraction.stories, [renamed], "subsidy-call.txt")
    assert report.added == []
    assert report.refused == [("another-id",
                               f"same story, dates and title as {first.event.id!r}")]


def _broken_candidate() -> Candidate:
    """Valid alone, wrong in a timeline: hours `within` a window nobody has."""
    event = Recurring.model_validate({
        "id": "hours-nowhere", "story": "diesel-subsidy", "kind": "recurring", "title": "办理日",
        "weekdays": ["tue"], "within": "no-such-window", "source": "每周二"})
    return Candidate(event, Evidence("每周二", 0, 3), 0.9, 0)


def test_a_merge_that_would_fail_check_writes_nothing(events: Path) -> None:
    before = events.read_bytes()
    with pytest.raises(ValidationFailed) as failed:
        merge(events, [], [_broken_candidate()], "x.txt")
    assert "hours-nowhere.within: no window with id 'no-such-window'" in str(
        failed.value.problems[0])
    assert events.read_bytes() == before
    assert sorted(p.name for p in events.parent.iterdir()) == ["events.yaml"]  # no temp file


def test_a_file_that_fails_check_now_is_not_merged_into(events: Path) -> None:
    events.write_text(events.read_text(encoding="utf-8").replace("due: 2025-12-31",
                                                                 "due: someday", 1),
                      encoding="utf-8")
    before = events.read_bytes()
    result = invoke("extract", str(NOTICE), "--merge", str(events))
    assert result.exit_code == 1
    assert "does not pass `timeline check` now" in result.stderr
    assert events.read_bytes() == before


STYLES = {
    "unindented lists": "stories:\n- id: park\n  title: 园区\n  source: {newspaper: 报}\n"
                        "  published: 2024-04-10\nevents:\n- id: one\n  story: park\n"
                        "  kind: deadline\n  title: 一\n  due: 2030-01-01\n  source: 原文\n",
    "document start, aligned values, folded text, no final newline":
        "---\nstories:\n    -   id:        park\n        title:     园区\n"
        "        source:    {newspaper: 报}\n        published: 2024-04-10\n"
        "        summary: >-\n            一段\n            折叠的摘要\nevents:\n"
        "    -   id:    one\n        story: park\n        kind:  deadline\n"
        "        title: 一\n        due:   2030-01-01\n        source: 原文",
    "empty lists": "timezone: Asia/Shanghai\nstories: []  # none yet\nevents: []\n",
    "an empty file": "",
}


@pytest.mark.parametrize("style", list(STYLES))
def test_any_hand_written_style_is_kept_byte_for_byte(tmp_path: Path, style: str) -> None:
    path = tmp_path / "events.yaml"
    for ending, bom in (("\n", ""), ("\r\n", "\ufeff")):
        before = bom + STYLES[style].replace("\n", ending)
        path.write_bytes(before.encode())
        result = invoke("extract", str(NOTICE), "--merge", str(path))
        assert result.exit_code == 0, result.output
        after = path.read_bytes().decode()
        assert after.startswith(bom)
        if ending == "\r\n" and STYLES[style]:  # (an empty file has no line ends to keep)
            assert "\n" not in after.replace("\r\n", "")  # every line still ends in CRLF
        # an empty flow list becomes a block list; no other line changes
        baseline = re.sub(r"^(\w+): \[\]", r"\1:", before.removeprefix(bom), flags=re.M)
        _only_inserted(baseline.replace("\r\n", "\n"),
                       after.removeprefix(bom).replace("\r\n", "\n"))
        assert len(load_timeline(path).timeline.events) >= 6


def test_a_flow_list_with_items_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text("stories: [{id: park, title: 园区, source: {newspaper: 报}, "
                    "published: 2024-04-10}]\nevents: []\n", encoding="utf-8")
    before = path.read_bytes()
    result = invoke("extract", str(NOTICE), "--merge", str(path), "--story", "park")
    assert result.exit_code == 0, result.output  # the story is there: only events are added
    path.write_bytes(before)
    other = invoke("extract", str(NOTICE), "--merge", str(path))  # a new story to add
    assert other.exit_code == 1 and "`stories` is not a block list" in other.stderr
    assert path.read_bytes() == before


def test_owner_mode_and_symlinks_are_kept(tmp_path: Path) -> None:
    import os
    import stat

    real = tmp_path / "real.yaml"
    shutil.copy(ROOT / "events.yaml", real)
    real.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(real, 65534, 65534)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert invoke("extract", str(NOTICE), "--merge", str(link)).exit_code == 0
    assert link.is_symlink() and "subsidy-call" in real.read_text(encoding="utf-8")
    info = real.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (65534, 65534)
    fresh = tmp_path / "new.yaml"
    old_umask = os.umask(0o022)
    try:
        assert invoke("extract", str(NOTICE), "--merge", str(fresh)).exit_code == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


def test_only_and_min_confidence_choose(events: Path) -> None:
    extraction = extract(NOTICE.read_bytes(), "subsidy-call.txt")
    chosen = extraction.candidates[2].event.id
    result = invoke("extract", str(NOTICE), "--merge", str(events), "--only", chosen)
    assert result.exit_code == 0 and f"+ {chosen}" in result.stderr
    assert "added 1 event(s)" in result.stderr
    unknown = invoke("extract", str(NOTICE), "--merge", str(events), "--only", "nope")
    assert unknown.exit_code == 1 and "--only: no candidate 'nope'" in unknown.stderr
    none = invoke("extract", str(NOTICE), "--merge", str(events), "--min-confidence", "1")
    assert none.exit_code == 0 and "nothing to merge" in none.stderr


def test_events_join_an_existing_story(events: Path) -> None:
    result = invoke("extract", str(NOTICE), "--merge", str(events), "--story", "diesel-subsidy")
    assert result.exit_code == 0, result.output
    loaded = load_timeline(events)
    assert len(loaded.timeline.stories) == 5  # no story added
    assert sum(e.story == "diesel-subsidy" for e in loaded.timeline.events) == 6 + 6


def test_merge_into_a_folder_and_out_to_a_new_part(tmp_path: Path) -> None:
    parts = tmp_path / "events.d"
    parts.mkdir()
    shutil.copy(ROOT / "events.yaml", parts / "seed.yaml")
    result = invoke("extract", str(NOTICE), "--merge", str(parts))
    assert result.exit_code == 0, result.output
    assert (parts / "subsidy-call.yaml").exists()  # a new part, named after its story
    assert "created, added 6 event(s)" in result.stderr
    tender = DATA / "tender-notice.txt"
    out = invoke("extract", str(tender), "--out", str(parts / "tender.yaml"))
    assert out.exit_code == 0, out.output
    check = invoke("check", str(parts))
    assert check.exit_code == 0 and "7 stories" in check.output, check.output
    # the same notice again as a new part: its ids are there already, so nothing is written
    again = invoke("extract", str(tender), "--out", str(parts / "tender-again.yaml"))
    assert again.exit_code == 1 and "duplicate event id" in again.stderr
    assert not (parts / "tender-again.yaml").exists()
    exists = invoke("extract", str(tender), "--out", str(parts / "tender.yaml"))
    assert exists.exit_code == 1 and "exists; --merge" in exists.stderr


def test_json_output_has_source_stories_events_and_skipped() -> None:
    import json

    result = invoke("extract", str(NOTICE), "--format", "json")
    data: dict[str, Any] = json.loads(result.stdout)
    assert set(data) == {"source", "stories", "events", "skipped"}
    assert data["source"]["published"] == "2025-02-20"
    assert data["source"]["published_from"] == "signature"
    first = data["events"][0]
    assert {"evidence", "confidence", "accepted", "id", "kind", "precision", "note",
            "source"} <= set(first)
    original = NOTICE.read_text(encoding="utf-8")
    assert original[first["evidence"]["start"]:first["evidence"]["end"]] == \
        first["evidence"]["quote"]
    reasons = {s["reason"] for s in data["skipped"]}
    assert {"document-number", "criterion", "tbd", "relative-unknown", "duration",
            "published"} <= reasons


def test_a_new_user_from_a_notice_page_to_the_feed(events: Path) -> None:
    """README "Adding a notice": extract a web page into events.yaml, check it, and see the
    new items in the list, the feed and the page."""
    page = DATA / "html" / "gov-notice.html"
    merged = invoke("extract", str(page), "--merge", str(events), "--story", "digital-fund")
    assert merged.exit_code == 0, merged.output
    assert invoke("check", str(events)).exit_code == 0
    listed = invoke("list", "--events", str(events), "--from", "2025-03-01", "--to",
                    "2025-04-30", "--story", "digital-fund")
    assert "申报时间" in listed.output and "2025-04-03 17:30" in listed.output
    feed = invoke("ics", "--events", str(events), "--story", "digital-fund")
    # the window, two deadlines, the briefing; the header's 发布时间 is the notice's own date
    assert feed.output.count("BEGIN:VEVENT") == 4
    assert "UID:digital-fund-window-20250331@policy-timeline" in feed.output
    app = create_app(TimelineSource(load_timeline(events)))
    html = get(app, "/").text
    assert "网上申报系统将关闭" in html
    story_feed = get(app, "/feeds/story/digital-fund.ics")
    assert story_feed.status_code == 200 and story_feed.text.count("BEGIN:VEVENT") == 4


def test_notices_from_stdin_or_alike_names_get_stories_of_their_own(tmp_path: Path) -> None:
    target = tmp_path / "x.yaml"
    tender = (DATA / "tender-notice.txt").read_bytes()
    first = CliRunner().invoke(cli, ["extract", "-", "--merge", str(target)],
                               input=NOTICE.read_bytes())
    second = CliRunner().invoke(cli, ["extract", "-", "--merge", str(target)], input=tender)
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    stories = load_timeline(target).timeline.stories
    assert len(stories) == 2 and all(s.id.startswith("notice-") for s in stories)
    # a story id from a file name that meets another story of the file is refused
    (tmp_path / "a").mkdir()
    shutil.copy(NOTICE, tmp_path / "a" / "subsidy-call.txt")
    clash = tmp_path / "clash.yaml"
    clash.write_text("stories:\n  - id: subsidy-call\n    title: 另一个\n"
                     "    source: {newspaper: 报}\n    published: 2024-04-10\nevents: []\n",
                     encoding="utf-8")
    before = clash.read_bytes()
    refused = invoke("extract", str(tmp_path / "a" / "subsidy-call.txt"), "--merge", str(clash))
    assert refused.exit_code == 1 and "give --story subsidy-call to add to it" in refused.stderr
    assert clash.read_bytes() == before


def test_only_takes_the_window_its_office_hours_lie_within(tmp_path: Path) -> None:
    notice = tmp_path / "hours.txt"
    notice.write_text("关于受理申请的通知\n申报时间为2025年3月1日至3月31日。咨询时间为每周二、周五"
                      "(节假日除外)。\n西江市财政局\n2025年2月20日\n", encoding="utf-8")
    hours = next(c.event.id for c in extract(notice.read_bytes(), "hours.txt").candidates
                 if c.event.kind == "recurring")
    target = tmp_path / "events.yaml"
    result = invoke("extract", str(notice), "--merge", str(target), "--only", hours)
    assert result.exit_code == 0, result.output
    assert [e.kind for e in load_timeline(target).timeline.events] == ["window", "recurring"]


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "nowhere/x.yaml"], "no such folder"),
    (["--story", "a" * 120], "is not a slug"),
    (["--published", "0001-01-01"], "years 1900 to 2200 are supported"),
    (["--min-confidence", "nan"], "a number from 0 to 1"),
    (["--only", ""], "--only: give the ids"),
])
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["extract", str(NOTICE), *args])
    assert result.exit_code in (1, 2) and message in result.output
    assert "Traceback" not in result.output


def test_several_files(tmp_path: Path) -> None:
    tender = str(DATA / "tender-notice.txt")
    with_story = invoke("extract", str(NOTICE), tender, "--story", "one")
    assert with_story.exit_code == 1 and "--story names one notice's story" in with_story.stderr
    twice = invoke("extract", str(NOTICE), str(NOTICE), "--format", "json")
    assert twice.exit_code == 0 and "the same as" in twice.stderr
    both = invoke("extract", str(NOTICE), tender, "--format", "json")
    import json

    assert [d["source"]["file"] for d in json.loads(both.stdout)] == [str(NOTICE), tender]


def test_out_beside_other_yaml_is_a_file_of_its_own(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.example.yaml")
    result = invoke("extract", str(NOTICE), "--out", str(tmp_path / "proposal.yaml"))
    assert result.exit_code == 0, result.output
    assert invoke("check", str(tmp_path / "proposal.yaml")).exit_code == 0


def test_clock_times_keep_chinas_zone_in_a_file_of_another(tmp_path: Path) -> None:
    target = tmp_path / "utc.yaml"
    target.write_text("timezone: UTC\nstories: []\nevents: []\n", encoding="utf-8")
    assert invoke("extract", str(NOTICE), "--merge", str(target)).exit_code == 0
    timed = [e for e in load_timeline(target).timeline.events if e.id.endswith("20250403")]
    assert timed[0].timezone == "Asia/Shanghai"
    assert timed[0].due.utcoffset().total_seconds() == 8 * 3600
