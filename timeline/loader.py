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

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from timeline.errors import Problem, ValidationFailed
from timeline.model import EVENT_KINDS, Event, Recurring, Story, Timeline, Window
from timeline.recurrence import Rule, RuleError, build_rule

__all__ = ["LoadedTimeline", "load_timeline", "parse_timeline"]

Path_ = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_EVENT = TypeAdapter(Event)
_STORY = TypeAdapter(Story)
_TOP_KEYS = {"timezone", "stories", "events"}


class LoadedTimeline:
    """A validated Timeline plus what loading learned.

    `rules` holds each recurring item's Rule; `fingerprints` a digest per event of everything
    that shapes it (its own YAML, plus the window a recurring item lies `within`), so caches
    and the store can tell a changed event from an unchanged one without comparing models.
    """

    def __init__(self, timeline: Timeline, rules: dict[str, Rule], source: str,
                 fingerprints: dict[str, str] | None = None) -> None:
        self.timeline = timeline
        self.rules = rules
        self.source = source
        self.fingerprints = fingerprints or {}


def _fingerprints(raw_events: list[Any], timeline: Timeline) -> dict[str, str]:
    own = {
        item["id"]: hashlib.sha256(
            json.dumps(item, sort_keys=True, ensure_ascii=False, default=str).encode()
        ).hexdigest()[:16]
        for item in raw_events
    }
    out = {}
    for event in timeline.events:
        digest = own[event.id]
        if isinstance(event, Recurring) and event.within:
            digest = hashlib.sha256(f"{digest}:{own[event.within]}".encode()).hexdigest()[:16]
        out[event.id] = digest
    return out


def _plain(node: yaml.Node, path: Path_, lines: dict[Path_, int],
           problems: list[Problem], file: str) -> Any:
    """Turn a composed YAML node into plain data, recording the line of every path.

    Timestamps stay text so that `model` decides what a date means (PyYAML would silently
    turn 2024-06-04T09:00+08:00 into a UTC datetime).
    """
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key in out:
                problems.append(Problem(file, key_node.start_mark.line + 1,
                                        _subject((*path, key), {}), f"duplicate key {key!r}"))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, (*path, key), lines, problems, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), lines, problems, file)
                for i, item in enumerate(node.value)]
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value
    return yaml.constructor.SafeConstructor().construct_object(node)  # type: ignore[arg-type]


def _subject(path: Path_, data: dict[str, Any]) -> str:
    """`event-id.field` for events, `stories[n].field` style elsewhere."""
    if len(path) >= 2 and path[0] in ("events", "stories") and isinstance(path[1], int):
        items = data.get(path[0]) if isinstance(data, dict) else None
        item = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
        ident = item.get("id") if isinstance(item, dict) else None
        head = str(ident) if isinstance(ident, str) and ident else f"{path[0]}[{path[1]}]"
        rest = [str(p) for p in path[2:]]
        return ".".join([head, *rest]) if rest else f"{head}.id" if not ident else head
    return ".".join(str(p) for p in path) or "(file)"


def _line(lines: dict[Path_, int], path: Path_) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _locate(error: ErrorDetails, base: Path_, data: Any) -> Path_:
    """Map a pydantic error location onto the data, dropping union tags it adds."""
    path = list(base)
    node = data
    for part in error["loc"]:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and part == "except_" and "except" in node:
            node = node["except"]
            path.append("except")
        elif isinstance(part, str) and part not in EVENT_KINDS:
            path.append(part)  # a missing field: report it at its parent's line
    return tuple(path)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return (f"unknown kind {ctx.get('tag')!r} "
                f"(expected one of {', '.join(EVENT_KINDS)})")
    if kind == "union_tag_not_found":
        return f"missing field 'kind' (one of {', '.join(EVENT_KINDS)})"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    message = error["msg"]
    return message.removeprefix("Value error, ")


def _validate_items(kind: str, adapter: TypeAdapter[Any], items: Any, data: dict[str, Any],
                    lines: dict[Path_, int], file: str, problems: list[Problem]) -> list[Any]:
    if not isinstance(items, list):
        problems.append(Problem(file, _line(lines, (kind,)), kind,
                                f"`{kind}` must be a list"))
        return []
    parsed = []
    for index, raw in enumerate(items):
        try:
            parsed.append((index, adapter.validate_python(raw)))
        except ValidationError as exc:
            for error in exc.errors():
                if error["type"] == "union_tag_invalid":
                    path: Path_ = (kind, index, "kind")
                elif error["type"] == "union_tag_not_found":
                    path = (kind, index, "kind")
                else:
                    path = _locate(error, (kind, index), raw)
                problems.append(Problem(file, _line(lines, path), _subject(path, data),
                                        _message(error)))
    return parsed


def _cross_check(stories: list[tuple[int, Story]], events: list[tuple[int, Any]],
                 data: dict[str, Any], lines: dict[Path_, int], file: str, tz_name: str,
                 problems: list[Problem]) -> dict[str, Rule]:
    def report(kind: str, index: int, field: str, message: str) -> None:
        path = (kind, index, field)
        problems.append(Problem(file, _line(lines, path), _subject(path, data), message))

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
            elif _naive(end) < _naive(start):
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


def _naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def parse_timeline(text: str, file: str = "events.yaml") -> LoadedTimeline:
    """Validate an events document; raises ValidationFailed listing every problem."""
    problems: list[Problem] = []
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ValidationFailed([Problem(file, line, "(yaml)",
                                        f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed([Problem(file, 1, "(yaml)", f"YAML error: {exc}")]) from None
    if node is None:
        raise ValidationFailed([Problem(file, 1, "(file)", "the file is empty")])
    lines: dict[Path_, int] = {}
    data = _plain(node, (), lines, problems, file)
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(file, 1, "(file)",
                                        "expected a mapping with `stories` and `events`")])
    for key in data:
        if key not in _TOP_KEYS:
            expected = ", ".join(sorted(_TOP_KEYS))
            problems.append(Problem(file, _line(lines, (key,)), str(key),
                                    f"unknown top-level key (expected {expected})"))
    for key in ("stories", "events"):
        if key not in data:
            problems.append(Problem(file, 1, key, "required top-level key is missing"))
    tz_name = data.get("timezone", "Asia/Shanghai")
    try:
        Timeline.model_validate({"timezone": tz_name, "stories": [], "events": []})
    except ValidationError as exc:
        problems.append(Problem(file, _line(lines, ("timezone",)), "timezone",
                                _message(exc.errors()[0])))
        tz_name = "Asia/Shanghai"
    stories = _validate_items("stories", _STORY, data.get("stories", []), data, lines, file,
                              problems)
    events = _validate_items("events", _EVENT, data.get("events", []), data, lines, file,
                             problems)
    rules = _cross_check(stories, events, data, lines, file, tz_name, problems)
    if problems:
        raise ValidationFailed(problems)
    timeline = Timeline(timezone=tz_name, stories=[s for _, s in stories],
                        events=[e for _, e in events])
    return LoadedTimeline(timeline, rules, file, _fingerprints(data["events"], timeline))


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

