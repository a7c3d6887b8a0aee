"""Merging accepted candidates into an events file (or a part of an events folder).

All or nothing: the new items are inserted as text where their lists end (`insert.py`:
every other byte kept, comments, order, style, line ends), the result is checked to
change nothing but the added lines, validated as a whole timeline exactly as `timeline
check` validates it, and only then written to a temporary file renamed into place (the
file's owner and mode kept; a symlink's target written). A duplicate (the same id, or the
same story, dates and title as an event already there) is reported and left out.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from timeline.errors import TimelineError, ValidationFailed
from timeline.extract.insert import Block, InsertError, insert_items
from timeline.extract.output import commented_event, commented_story, evidence_comment
from timeline.extract.propose import Candidate
from timeline.loader import LoadedTimeline, load_parts, load_timeline, part_files
from timeline.model import DEFAULT_TIMEZONE, Story

__all__ = ["MergeError", "MergeReport", "describe", "merge"]


class MergeError(TimelineError):
    """The merge cannot be made; nothing was written."""


@dataclass
class MergeReport:
    target: Path  # the file written (a new part when merging into a folder)
    added: list[str] = field(default_factory=list)
    stories: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    created: bool = False


_DATE_FIELDS = ("due", "start", "start_label", "end", "date", "rrule", "every", "weekdays",
                "within")


def _dates(event: Any) -> tuple[Any, ...]:
    """An event's dates as its own wall clock: a loaded event's timed values are aware in
    its zone, a candidate's are naive in the same zone."""
    values = []
    for name in _DATE_FIELDS:
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            value = value.replace(tzinfo=None)
        values.append(tuple(value) if isinstance(value, list) else value)
    return tuple(values)


def _duplicates(loaded: LoadedTimeline, candidates: list[Candidate],
                report: MergeReport) -> list[Candidate]:
    existing = {e.id: e for e in loaded.timeline.events}
    same = {(e.story, _dates(e), " ".join(e.title.split())): e.id
            for e in loaded.timeline.events}
    kept = []
    for candidate in candidates:
        event = candidate.event
        if event.id in existing:
            report.refused.append((event.id, "an event with this id is already there"))
            continue
        twin = same.get((event.story, _dates(event), " ".join(event.title.split())))
        if twin is not None:
            report.refused.append((event.id, f"same story, dates and title as {twin!r}"))
            continue
        kept.append(candidate)
    return kept


def _target(path: Path, stories: list[Story], loaded: LoadedTimeline | None) -> tuple[Path, bool]:
    """The file to add to: the events file itself, or in a folder the part that holds the
    candidates' story, else a new part named after it."""
    if not path.is_dir():
        return path, not path.exists()
    wanted = {s.id for s in stories}
    if loaded is not None:
        for part, ids in loaded.part_stories.items():
            if wanted & ids:
                return Path(part), False
    name = (stories[0].id if stories else "extracted") + ".yaml"
    target = path / name
    number = 2
    while target.exists():
        target = path / f"{name[:-5]}-{number}.yaml"
        number += 1
    return target, True


def _only_added(old: str, new: str) -> bool:
    """Whether `new` is `old` with lines added and nothing changed or removed."""
    matcher = difflib.SequenceMatcher(a=old.splitlines(True), b=new.splitlines(True),
                                      autojunk=False)
    return all(tag in ("equal", "insert") for tag, *_ in matcher.get_opcodes())


def _in_china(candidate: Candidate) -> Candidate:
    """A notice's clock times are China's: in a file of another zone, an event with a time
    of day says its own (the file's zone would move 15:00 Beijing to 15:00 there)."""
    event = candidate.event
    timed = any(isinstance(getattr(event, name, None), datetime)
                for name in ("due", "start", "end", "date"))
    if not timed or event.timezone:
        return candidate
    return replace(candidate, event=event.model_copy(update={"timezone": DEFAULT_TIMEZONE}))


def write_atomically(target: Path, text: str) -> None:
    """Replace `target` at once: a daemon reloading it sees the old file or the new one.
    The file keeps its owner, group and mode (the service reads it as its own user); a new
    one gets the usual mode (0666 less the umask); a symlink's target is what is written."""
    target = Path(os.path.realpath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise MergeError(f"{target.parent}: cannot write there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if target.exists():
            stat = target.stat()
            os.chmod(tmp, stat.st_mode & 0o7777)
            # not ours to give away (not root): the file keeps our owner, and its mode
            with contextlib.suppress(PermissionError):
                os.chown(tmp, stat.st_uid, stat.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge(path: Path, stories: list[Story], candidates: list[Candidate],
          source_label: str, *, explicit_story: bool = False) -> MergeReport:
    """Add `candidates` (and the `stories` they need that are not there yet) to the events
    file or folder at `path`. Raises ValidationFailed or MergeError, writing nothing.
    `explicit_story`: the user named the story (`--story`), so events may join one the file
    has; a story id made from a file name that meets another story is refused instead."""
    path = Path(path)
    loaded: LoadedTimeline | None = None
    blank = path.is_file() and not path.read_bytes().strip(b" \t\r\n\xef\xbb\xbf")
    empty_folder = path.is_dir() and not part_files(path)
    if path.exists() and not blank and not empty_folder:  # else: a timeline to begin
        try:
            loaded = load_timeline(path)
        except ValidationFailed as exc:
            raise MergeError(f"{path} does not pass `timeline check` now "
                             f"({exc.problems[0]}); fix it before merging into it") from None
    needed = {c.event.story for c in candidates}
    known = {s.id for s in loaded.timeline.stories} if loaded else set()
    if loaded is not None and not explicit_story:
        for story in stories:
            if story.id in needed and story.id in known and \
                    loaded.timeline.story(story.id).title != story.title:
                raise MergeError(f"the file has a story {story.id!r} titled "
                                 f"{loaded.timeline.story(story.id).title!r}, not this notice's; "
                                 f"give --story {story.id} to add to it, or another id")
    if loaded is not None and loaded.timeline.timezone != DEFAULT_TIMEZONE:
        candidates = [_in_china(c) for c in candidates]
    new_stories = [s for s in stories if s.id in needed and s.id not in known]
    target, created = _target(path, new_stories or stories, loaded)
    report = MergeReport(target, created=created)
    chosen = _duplicates(loaded, candidates, report) if loaded else list(candidates)
    if not chosen:
        return report
    new_stories = [s for s in new_stories if s.id in {c.event.story for c in chosen}]
    # bytes, decoded: read_text would turn CRLF into LF, and the file would change whole
    old = target.read_bytes().decode("utf-8") if target.exists() else ""
    blocks = [Block("stories", [(commented_story(s), None) for s in new_stories]),
              Block("events", [(commented_event(c, source_label),
                                evidence_comment(c, source_label)) for c in chosen])]
    try:
        new, baseline = insert_items(old, blocks)
    except InsertError as exc:
        raise MergeError(f"{target}: {exc}") from None
    # the baseline: the old text, a last line given its line break and `events: []` made
    # `events:`; the new text only adds lines to it
    if old.strip("\ufeff \t\r\n") and not _only_added(baseline, new):
        raise MergeError(f"{target}: merging would change lines outside the added block; "
                         "add the candidates by hand, or write them to a new part with --out")
    parts = part_files(path) if path.is_dir() else []
    texts = {str(p): p.read_text(encoding="utf-8") for p in parts}
    texts[str(target)] = new
    label = str(path)
    load_parts(sorted(texts.items()) if path.is_dir() else [(str(target), new)], label,
               single=not path.is_dir())  # raises ValidationFailed, as `check` would
    write_atomically(target, new)
    report.added = [c.event.id for c in chosen]
    report.stories = [s.id for s in new_stories]
    return report


def describe(report: MergeReport) -> list[str]:
    lines = [f"{report.target}: {'created, ' if report.created else ''}added "
             f"{len(report.added)} event(s)"
             + (f" and {len(report.stories)} story(ies)" if report.stories else "")]
    lines += [f"  + {ident}" for ident in report.added]
    lines += [f"  refused {ident}: {why}" for ident, why in report.refused]
    return lines

