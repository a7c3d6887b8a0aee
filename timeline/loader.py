"""Loading an events file, or a folder of them: YAML with line numbers, then validation,
all or nothing.

A folder is one timeline in parts: every `*.yaml` in it (a notice per file is the natural
unit once extraction exists); stories and ids are unique across the folder. Every problem is
reported as `FILE:LINE: subject.field: message`, naming the part it is in; a timeline with
any problem yields no Timeline at all, so later stages never see half-loaded data.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from timeline.errors import Problem, ValidationFailed
from timeline.model import (
    EVENT_KINDS,
    Event,
    Recurring,
    Story,
    Timeline,
    Window,
    localize,
)
from timeline.recurrence import NoOccurrence, Rule, RuleError, build_rule, yearly_count
from timeline.yamlfile import YamlDoc, YamlPath, locate, pydantic_message, read_text, read_yaml

__all__ = ["LoadedTimeline", "load_parts", "load_timeline", "parse_timeline", "part_files"]

_EVENT = TypeAdapter(Event)
# Bounds on what a file can make later stages do: occurrences a year of all its recurring
# items together (100,000: 960 items twice a week, or 270 daily ones), and problems (a
# file of a million bad events would fill memory with their messages).
MAX_OCCURRENCES_A_YEAR = 100_000
MAX_PROBLEMS = 1000
# A rule with no occurrence is known so only by walking to the last supported year,
# up to a sixth of a second for a daily rule; after this many the rest are not built.
MAX_EMPTY_RULES = 10
_STORY = TypeAdapter(Story)
_TOP_KEYS = {"timezone", "stories", "events"}
_TIMED_FIELDS = {"deadline": ("due",), "window": ("start", "end"),
                 "happening": ("date", "end"), "recurring": ("start", "end")}


class LoadedTimeline:
    """A validated Timeline plus what loading learned.

    `rules` holds each recurring item's Rule; `fingerprints` a digest per event of everything
    that shapes it (its own YAML, its story's, its zone, the window a recurring item lies
    `within`), so caches and the store can tell a changed event from an unchanged one
    without comparing models.
    """

    def __init__(self, timeline: Timeline, rules: dict[str, Rule], source: str,
                 fingerprints: dict[str, str] | None = None,
                 part_stories: dict[str, set[str]] | None = None) -> None:
        self.timeline = timeline
        self.rules = rules
        self.source = source
        self.fingerprints = fingerprints or {}
        # per part (file) of the timeline, the ids of the stories it defines
        self.part_stories = part_stories or {source: {s.id for s in timeline.stories}}


def _digest(item: Any) -> str:
    text = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fingerprints(raw_stories: list[Any], raw_events: list[Any],
                  timeline: Timeline) -> dict[str, str]:
    """Per event, a digest of everything its calendar entry is made of: its own YAML, its
    story's (title and newspaper are in its description), the zone its times are read in,
    and for a recurring item the window it lies `within`."""
    own = {item["id"]: _digest(item) for item in raw_events}
    stories = {item["id"]: _digest(item) for item in raw_stories}
    out = {}
    for event in timeline.events:
        parts = [own[event.id], stories[event.story], event.timezone or timeline.timezone]
        if isinstance(event, Recurring) and event.within:
            parts.append(own[event.within])
        out[event.id] = hashlib.sha256(":".join(parts).encode()).hexdigest()[:16]
    return out


def _subject(path: YamlPath, data: dict[str, Any]) -> str:
    """`event-id.field` for events, `stories[n].field` style elsewhere."""
    if len(path) >= 2 and path[0] in ("events", "stories") and isinstance(path[1], int):
        items = data.get(path[0]) if isinstance(data, dict) else None
        item = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
        ident = item.get("id") if isinstance(item, dict) else None
        # an id with a line break or 10,000 characters would break the line that names it
        named = isinstance(ident, str) and 0 < len(ident) <= 100 and ident.isprintable()
        head = str(ident) if named else f"{path[0]}[{path[1]}]"
        rest = [str(p) for p in path[2:]]
        return ".".join([head, *rest]) if rest else f"{head}.id" if not named else head
    return ".".join(str(p) for p in path) or "(file)"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return (f"unknown kind {ctx.get('tag')!r} "
                f"(expected one of {', '.join(EVENT_KINDS)})")
    if kind == "union_tag_not_found":
        return f"missing field 'kind' (one of {', '.join(EVENT_KINDS)})"
    return pydantic_message(error)


Item = tuple[YamlDoc, int, Any]  # the part it is in, its index there, the model


def _validate_items(kind: str, adapter: TypeAdapter[Any], doc: YamlDoc,
                    problems: list[Problem]) -> list[Item]:
    items = doc.data.get(kind, [])
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append(Problem(doc.file, doc.line((kind,)), kind, f"`{kind}` must be a list"))
        return []
    parsed: list[Item] = []
    for index, raw in enumerate(items):
        if len(problems) >= MAX_PROBLEMS:
            problems.append(Problem(doc.file, doc.line((kind, index)), kind,
                                    f"more than {MAX_PROBLEMS} problems: the rest not checked"))
            break
        try:
            parsed.append((doc, index, adapter.validate_python(raw)))
        except ValidationError as exc:
            for error in exc.errors():
                if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                    path: YamlPath = (kind, index, "kind")
                else:
                    path = locate(error, (kind, index), raw, aliases={"except_": "except"},
                                  skip=frozenset(EVENT_KINDS))
                problems.append(Problem(doc.file, doc.line(path), _subject(path, doc.data),
                                        _message(error)))
    return parsed


def _cross_check(stories: list[Item], events: list[Item], tz_name: str,
                 problems: list[Problem]) -> dict[str, Rule]:
    def report(doc: YamlDoc, kind: str, index: int, field: str, message: str) -> None:
        path = (kind, index, field)
        problems.append(Problem(doc.file, doc.line(path), _subject(path, doc.data), message))

    def where(first: tuple[YamlDoc, int], kind: str) -> str:
        # Only asked for a duplicate: a line asked for makes a good file's lines be read.
        doc, index = first
        return f"{doc.file}:{doc.line((kind, index, 'id'))}"

    story_ids: dict[str, tuple[YamlDoc, int]] = {}
    for doc, index, story in stories:
        if story.id in story_ids:
            first = where(story_ids[story.id], "stories")
            report(doc, "stories", index, "id",
                   f"duplicate story id {story.id!r} (also at {first})")
        else:
            story_ids[story.id] = (doc, index)

    seen: dict[str, tuple[YamlDoc, int]] = {}
    windows: dict[str, Window] = {}
    for doc, index, event in events:
        if event.id in seen:
            first = where(seen[event.id], "events")
            report(doc, "events", index, "id",
                   f"duplicate event id {event.id!r} (also at {first})")
        else:
            seen[event.id] = (doc, index)
        if event.story not in story_ids:
            known = ", ".join(sorted(story_ids)) or "none defined"
            report(doc, "events", index, "story",
                   f"unknown story {event.story!r} (known: {known})")
        if isinstance(event, Window):
            windows[event.id] = event
        for start_field, end_field in (("start", "end"), ("date", "end")):
            start, end = getattr(event, start_field, None), getattr(event, end_field, None)
            if start is None or end is None or isinstance(event, Recurring):
                continue
            if type(start) is not type(end):
                report(doc, "events", index, end_field,
                       f"{start_field} and {end_field} must both be dates or both date-times")
            elif end < start:  # timed ones are aware by now, in the event's zone
                report(doc, "events", index, end_field,
                       f"{end_field} {end} is before {start_field} {start}")
        if isinstance(event, Window) and event.start is None and not event.start_label:
            report(doc, "events", index, "start",
                   "a window needs `start`, or `start_label` saying when it opens")

    rules: dict[str, Rule] = {}
    yearly = 0  # occurrences a year of all recurring items so far
    empty = 0  # rules found to have no occurrence
    for doc, index, event in events:
        within = windows.get(event.within) if isinstance(event, Recurring) and \
            event.within else None
        if within is not None and (event.timezone or tz_name) != (within.timezone or tz_name):
            report(doc, "events", index, "within",
                   f"the window {event.within!r} is in {within.timezone or tz_name}, this item "
                   f"in {event.timezone or tz_name}: an item within a window keeps its zone")
            continue
        if isinstance(event, Recurring):
            try:
                rules[event.id] = build_rule(event, windows.get, event.zone(tz_name))
            except RuleError as exc:
                report(doc, "events", index, exc.field, str(exc))
                empty += isinstance(exc, NoOccurrence)
                if empty >= MAX_EMPTY_RULES:
                    report(doc, "events", index, exc.field,
                           f"{MAX_EMPTY_RULES} rules without an occurrence: "
                           "the rules after this one not checked")
                    break
                continue
            yearly += yearly_count(rules[event.id], MAX_OCCURRENCES_A_YEAR + 1)
            if yearly > MAX_OCCURRENCES_A_YEAR:
                report(doc, "events", index, "every" if event.every else "rrule" if
                       event.rrule else "weekdays",
                       f"the recurring items up to this one make more than "
                       f"{MAX_OCCURRENCES_A_YEAR:,} occurrences a year, which every listing, "
                       "feed and plan would spell out")
                break
    return rules


def _in_own_zone(event: Any, tz_name: str) -> Any:
    """The event with its timed values as aware times in its own zone (a naive one read in
    it, one with another offset converted to it), so that every reader (page, feed text,
    timeline chart) shows the wall-clock time of the place, as DTSTART and the plan do."""
    # Only the kind's own fields: getattr of a missing one raises inside pydantic, and
    # three of those per deadline cost a quarter of a second on 25,000 events.
    timed = [name for name in _TIMED_FIELDS[event.kind]
             if getattr(event, name).__class__ is datetime]
    excepts = isinstance(event, Recurring) and any(
        d.__class__ is datetime for d in event.except_)
    if not timed and not excepts:
        return event
    tz = event.zone(tz_name)
    update: dict[str, Any] = {name: localize(getattr(event, name), tz) for name in timed}
    if excepts:
        update["except_"] = [localize(d, tz) if isinstance(d, datetime) else d
                             for d in event.except_]
    # In place: the model was made a moment ago and nothing holds it yet, and model_copy
    # costs as much again as the rest of this on a file of timed items.
    event.__dict__.update(update)
    return event


def _timezone(docs: list[YamlDoc], problems: list[Problem]) -> str:
    """The timeline's zone: the parts that name one must agree."""
    chosen: tuple[str, YamlDoc] | None = None
    for doc in docs:
        if "timezone" not in doc.data:
            continue
        name = doc.data["timezone"]
        try:
            Timeline.model_validate({"timezone": name, "stories": [], "events": []})
        except ValidationError as exc:
            problems.append(Problem(doc.file, doc.line(("timezone",)), "timezone",
                                    _message(exc.errors()[0])))
            continue
        if chosen is None:
            chosen = (name, doc)
        elif name != chosen[0]:
            problems.append(Problem(
                doc.file, doc.line(("timezone",)), "timezone",
                f"{name!r} differs from {chosen[0]!r} in {chosen[1].file}: the parts of one "
                "timeline share one timezone"))
    return chosen[0] if chosen else "Asia/Shanghai"


def load_parts(parts: list[tuple[str, str]], source: str, *, single: bool = False
               ) -> LoadedTimeline:
    """Validate the parts (file name, text) of one timeline; raises ValidationFailed listing
    every problem in every part. `single`: one events file, which must have both keys."""
    problems: list[Problem] = []
    docs: list[YamlDoc] = []
    for file, text in parts:
        try:
            doc = read_yaml(text, file, subject=_subject)
        except ValidationFailed as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(doc.problems)
        if not isinstance(doc.data, dict):
            problems.append(Problem(file, 1, "(file)",
                                    "expected a mapping with `stories` and `events`"))
            continue
        docs.append(doc)
        for key in doc.data:
            if key not in _TOP_KEYS:
                expected = ", ".join(sorted(_TOP_KEYS))
                problems.append(Problem(file, doc.line((key,)), str(key),
                                        f"unknown top-level key (expected {expected})"))
        for key in ("stories", "events"):
            if single and key not in doc.data:
                problems.append(Problem(file, 1, key, "required top-level key is missing"))
    if not parts:
        problems.append(Problem(source, 1, "(folder)", "no *.yaml files in the folder"))
    tz_name = _timezone(docs, problems)
    stories = [item for doc in docs for item in _validate_items("stories", _STORY, doc, problems)]
    events = [(doc, index, _in_own_zone(event, tz_name)) for part in docs
              for doc, index, event in _validate_items("events", _EVENT, part, problems)]
    rules = _cross_check(stories, events, tz_name, problems)
    if problems:
        raise ValidationFailed(problems)
    timeline = Timeline(timezone=tz_name, stories=[s for _, _, s in stories],
                        events=[e for _, _, e in events])
    raw_stories = [s for doc in docs for s in doc.data.get("stories") or []]
    raw_events = [e for doc in docs for e in doc.data.get("events") or []]
    part_stories = {doc.file: {s.id for d, _, s in stories if d is doc} for doc in docs}
    return LoadedTimeline(timeline, rules, source,
                          _fingerprints(raw_stories, raw_events, timeline), part_stories)


def parse_timeline(text: str, file: str = "events.yaml") -> LoadedTimeline:
    """Validate an events document; raises ValidationFailed listing every problem."""
    return load_parts([(file, text)], file, single=True)


def part_files(folder: Path) -> list[Path]:
    """The parts of an events folder, in name order: hidden and editor files left out, and
    links that lead out of the folder (a part linked to /etc/shadow would have its lines in
    the errors and the log)."""
    root = folder.resolve()
    return sorted(p for p in folder.glob("*.yaml")
                  if p.is_file() and not p.name.startswith(".")
                  and p.resolve().parent == root)


def load_timeline(path: str | Path) -> LoadedTimeline:
    """Read and validate an events file or folder; raises ValidationFailed (never
    half-loads)."""
    path = Path(path)
    if path.is_dir():
        return load_parts([(str(p), read_text(p)) for p in part_files(path)], str(path))
    return parse_timeline(read_text(path), str(path))
