"""Merging accepted candidates into an events file (or a part of an events folder).

All or nothing: the new text is made with ruamel.yaml's round trip (comments, order and
formatting kept), checked to change nothing but the added block, validated as a whole
timeline exactly as `timeline check` validates it, and only then written, to a temporary
file renamed into place. A duplicate (the same id, or the same story, dates and title as an
event already there) is reported and left out, never added twice.
"""

from __future__ import annotations

import difflib
import io
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from timeline.errors import TimelineError, ValidationFailed
from timeline.extract.output import commented_event, commented_story, evidence_comment, yaml_writer
from timeline.extract.propose import Candidate
from timeline.loader import LoadedTimeline, load_parts, load_timeline, part_files
from timeline.model import Story

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


def _writer_for(text: str) -> tuple[YAML, Any]:
    """A round-trip writer that reproduces `text` exactly, and the loaded document: the
    file's own indentation, found by trying the styles people write (the guessed one
    first). Raises MergeError when none reproduces it."""
    try:
        _, indent, offset = load_yaml_guess_indent(text)
    except YAMLError as exc:
        raise MergeError(f"cannot read the file to merge into: {exc}") from None
    styles = [(2, indent or 4, offset if offset is not None else 2), (2, 4, 2), (2, 2, 0),
              (4, 4, 2), (4, 4, 0), (4, 6, 4)]
    for mapping, sequence, dash in dict.fromkeys(styles):
        writer = yaml_writer()
        writer.indent(mapping=mapping, sequence=sequence, offset=dash)
        data = writer.load(text)
        buffer = io.StringIO()
        writer.dump(data, buffer)
        if buffer.getvalue() == text:
            return writer, writer.load(text)
    raise MergeError("merging would reformat the file (an indentation or style the YAML "
                     "writer cannot reproduce); add the candidates by hand, or write them "
                     "to a new part with --out")


def _round_trip(text: str, stories: list[Story], candidates: list[Candidate],
                file_label: str) -> str:
    """The file's text with the stories and events appended, nothing else changed."""
    if text.strip():
        writer, data = _writer_for(text)
    else:
        writer, data = yaml_writer(), CommentedMap()
    if not isinstance(data, CommentedMap):
        raise MergeError("the file to merge into is not a mapping with `stories` and `events`")
    for key, items in (("stories", [commented_story(s) for s in stories]),
                       ("events", [commented_event(c, file_label) for c in candidates])):
        if not items:
            continue
        seq = data.get(key)
        if seq is None:
            seq = data[key] = CommentedSeq()
        if not isinstance(seq, CommentedSeq) or seq.fa.flow_style():
            raise MergeError(f"`{key}` is not a block list; write it as one to merge into it")
        for number, item in enumerate(items):
            seq.append(item)
            if key == "events":
                seq.yaml_set_comment_before_after_key(
                    len(seq) - 1, before=evidence_comment(candidates[number], file_label),
                    indent=_item_indent(text))
    buffer = io.StringIO()
    writer.dump(data, buffer)
    return buffer.getvalue()


def _item_indent(text: str) -> int:
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if stripped.startswith("- id:"):
            return len(line) - len(stripped)
    return 2


def _only_added(old: str, new: str) -> bool:
    """Whether `new` is `old` with lines added and nothing changed or removed."""
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    return all(tag in ("equal", "insert") for tag, *_ in matcher.get_opcodes())


def _write(target: Path, text: str) -> None:
    """Replace `target` at once: a daemon reloading it sees the old file or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge(path: Path, stories: list[Story], candidates: list[Candidate],
          source_label: str) -> MergeReport:
    """Add `candidates` (and the `stories` they need that are not there yet) to the events
    file or folder at `path`. Raises ValidationFailed or MergeError, writing nothing."""
    path = Path(path)
    loaded: LoadedTimeline | None = None
    if path.exists():
        try:
            loaded = load_timeline(path)
        except ValidationFailed as exc:
            raise MergeError(f"{path} does not pass `timeline check` now "
                             f"({exc.problems[0]}); fix it before merging into it") from None
    needed = {c.event.story for c in candidates}
    known = {s.id for s in loaded.timeline.stories} if loaded else set()
    new_stories = [s for s in stories if s.id in needed and s.id not in known]
    target, created = _target(path, new_stories or stories, loaded)
    report = MergeReport(target, created=created)
    chosen = _duplicates(loaded, candidates, report) if loaded else list(candidates)
    if not chosen:
        return report
    new_stories = [s for s in new_stories if s.id in {c.event.story for c in chosen}]
    old = target.read_text(encoding="utf-8") if target.exists() else ""
    new = _round_trip(old, new_stories, chosen, source_label)
    if old and not _only_added(old, new):
        raise MergeError(f"{target}: merging would reformat lines outside the added block "
                         "(an unusual indentation or style); add the candidates by hand, or "
                         "write them to a new part with --out")
    parts = part_files(path) if path.is_dir() else []
    texts = {str(p): p.read_text(encoding="utf-8") for p in parts}
    texts[str(target)] = new
    label = str(path)
    load_parts(sorted(texts.items()) if path.is_dir() else [(str(target), new)], label,
               single=not path.is_dir())  # raises ValidationFailed, as `check` would
    _write(target, new)
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

