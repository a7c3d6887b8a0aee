"""Loading an events file: YAML with line numbers, then validation, all or nothing.

Every problem is reported as `FILE:LINE: subject.field: message`; a file with any problem
yields no Timeline at all, so later stages never see half-loaded data.
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
from timeline.model import EVENT_KINDS, Event, Recurring, Story, Timeline, Window, localize
from timeline.recurrence import Rule, RuleError, build_rule
from timeline.yamlfile import YamlDoc, YamlPath, locate, pydantic_message, read_yaml

__all__ = ["LoadedTimeline", "load_timeline", "parse_timeline"]

_EVENT = TypeAdapter(Event)
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
                 fingerprints: dict[str, str] | None = None) -> None:
        self.timeline = timeline
        self.rules = rules
        self.source = source
        self.fingerprints = fingerprints or {}


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
        head = str(ident) if isinstance(ident, str) and ident else f"{path[0]}[{path[1]}]"
        rest = [str(p) for p in path[2:]]
        return ".".join([head, *rest]) if rest else f"{head}.id" if not ident else head
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


def _validate_items(kind: str, adapter: TypeAdapter[Any], doc: YamlDoc,
                    problems: list[Problem]) -> list[Any]:
    items = doc.data.get(kind, [])
    if not isinstance(items, list):
        problems.append(Problem(doc.file, doc.line((kind,)), kind, f"`{kind}` must be a list"))
        return []
    parsed = []
    for index, raw in enumerate(items):
        try:
            parsed.append((index, adapter.validate_python(raw)))
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


def _cross_check(stories: list[tuple[int, Story]], events: list[tuple[int, Any]],
                 doc: YamlDoc, tz_name: str, problems: list[Problem]) -> dict[str, Rule]:
    def report(kind: str, index: int, field: str, message: str) -> None:
        path = (kind, index, field)
        problems.append(Problem(doc.file, doc.line(path), _subject(path, doc.data), message))

    story_ids: set[str] = set()
    for index, story in stories:
        if story.id in story_ids:
            report("stories", index, "id", f"duplicate story id {story.id!r}")
        story_ids.add(story.id)

    seen: set[str] = set()
    windows: dict[str, Window] = {}
    for index, event in events:
        if event.id in seen:
            report("events", index, "id", f"duplicate event id {event.id!r}")
        seen.add(event.id)
        if event.story not in story_ids:
            known = ", ".join(sorted(story_ids)) or "none defined"
            report("events", index, "story", f"unknown story {event.story!r} (known: {known})")
        if isinstance(event, Window):
            windows[event.id] = event
        for start_field, end_field in (("start", "end"), ("date", "end")):
            start, end = getattr(event, start_field, None), getattr(event, end_field, None)
            if start is None or end is None or isinstance(event, Recurring):
                continue
            if type(start) is not type(end):
                report("events", index, end_field,
                       f"{start_field} and {end_field} must both be dates or both date-times")
            elif end < start:  # timed ones are aware by now, in the event's zone
                report("events", index, end_field,
                       f"{end_field} {end} is before {start_field} {start}")
        if isinstance(event, Window) and event.start is None and not event.start_label:
            report("events", index, "start",
                   "a window needs `start`, or `start_label` saying when it opens")

    rules: dict[str, Rule] = {}
    for index, event in events:
        if isinstance(event, Recurring):
            try:
                rules[event.id] = build_rule(event, windows.get, event.zone(tz_name))
            except RuleError as exc:
                report("events", index, exc.field, str(exc))
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


def parse_timeline(text: str, file: str = "events.yaml") -> LoadedTimeline:
    """Validate an events document; raises ValidationFailed listing every problem."""
    doc = read_yaml(text, file, subject=_subject)
    problems = list(doc.problems)
    data = doc.data
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(file, 1, "(file)",
                                        "expected a mapping with `stories` and `events`")])
    for key in data:
        if key not in _TOP_KEYS:
            expected = ", ".join(sorted(_TOP_KEYS))
            problems.append(Problem(file, doc.line((key,)), str(key),
                                    f"unknown top-level key (expected {expected})"))
    for key in ("stories", "events"):
        if key not in data:
            problems.append(Problem(file, 1, key, "required top-level key is missing"))
    tz_name = data.get("timezone", "Asia/Shanghai")
    try:
        Timeline.model_validate({"timezone": tz_name, "stories": [], "events": []})
    except ValidationError as exc:
        problems.append(Problem(file, doc.line(("timezone",)), "timezone",
                                _message(exc.errors()[0])))
        tz_name = "Asia/Shanghai"
    stories = _validate_items("stories", _STORY, doc, problems)
    events = [(index, _in_own_zone(event, tz_name))
              for index, event in _validate_items("events", _EVENT, doc, problems)]
    rules = _cross_check(stories, events, doc, tz_name, problems)
    if problems:
        raise ValidationFailed(problems)
    timeline = Timeline(timezone=tz_name, stories=[s for _, s in stories],
                        events=[e for _, e in events])
    return LoadedTimeline(timeline, rules, file,
                          _fingerprints(data["stories"], data["events"], timeline))


def load_timeline(path: str | Path) -> LoadedTimeline:
    """Read and validate an events file; raises ValidationFailed (never half-loads)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed([Problem(str(path), 1, "(file)", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed([Problem(str(path), 1, "(file)", f"cannot read: {exc}")]) from None
    return parse_timeline(text, str(path))
