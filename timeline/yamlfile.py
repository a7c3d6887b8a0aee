"""YAML documents that remember where each value came from.

Both hand-written files (events and deployment config) are read through here, so every
problem in either names its file and line the same way.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic_core import ErrorDetails

from timeline.errors import Problem, ValidationFailed

__all__ = ["MAX_CHARACTERS", "YamlDoc", "YamlPath", "locate", "pydantic_message", "read_text",
           "read_yaml"]

YamlPath = tuple[str | int, ...]
# Files people write by hand: bounded, so a hostile one cannot take the machine (a reload
# runs the same reader). 30 MB holds 100,000 events; 64 levels is ten times what they use.
MAX_CHARACTERS = 30_000_000
MAX_DEPTH = 64
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Scalars only ever reach it (mappings and sequences are walked above), so one instance
# serves every file; making one per scalar cost a fifth of loading a big file.
_SCALARS = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# Tags whose constructor returns a plain value at once; called directly because
# construct_object keeps every node it saw (in the shared constructor: for ever).
# The tags a file may write out (`!!str 09:00`); anything else (!!binary, !!set, !custom,
# !!python/…) is refused before it is read.
_EXPLICIT_TAGS = frozenset({"!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:int",
                            "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                            "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
                            "tag:yaml.org,2002:seq"})
_PLAIN_TAGS = {tag: _SCALARS.yaml_constructors[tag] for tag in (
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float", "tag:yaml.org,2002:binary", _STR)}


@dataclass
class YamlDoc:
    data: Any
    file: str
    lines: dict[YamlPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # e.g. duplicate keys
    # Set when the data came from the fast reader, which records no lines: they are read
    # from the text again only if a problem needs one, so a good file never pays for them.
    text: str | None = field(default=None, repr=False)

    def line(self, path: YamlPath) -> int:
        """The line of `path`, or of its closest parent that exists."""
        if self.text is not None:
            self.lines = _line_map(self.text, self.file)
            self.text = None
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def _scalar(node: yaml.ScalarNode) -> Any:
    constructor = _PLAIN_TAGS.get(node.tag)
    if constructor is not None:
        return constructor(_SCALARS, node)
    try:  # other tags: construct_object raises the error that names them
        return _SCALARS.construct_object(node)
    finally:
        _SCALARS.constructed_objects.clear()
        _SCALARS.recursive_objects.clear()


def _plain(node: yaml.Node, path: YamlPath, doc: YamlDoc,
           duplicates: list[tuple[YamlPath, int]]) -> Any:
    """Turn a composed YAML node into plain data, recording the line of every path.

    Timestamps stay text so that the models decide what a date means (PyYAML would silently
    turn 2024-06-04T09:00+08:00 into a UTC datetime).
    """
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ValidationFailed([Problem(doc.file, key_node.start_mark.line + 1, "(yaml)",
                                                "a key must be plain text, not a mapping or "
                                                "a list")])
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in out:
                duplicates.append(((*path, key), line))
            doc.lines[(*path, key)] = line
            out[key] = _plain(value_node, (*path, key), doc, duplicates)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), doc, duplicates) for i, item in enumerate(node.value)]
    if node.tag == _TIMESTAMP:
        return node.value
    # A composed node is a mapping, a sequence or a scalar: only a scalar is left here.
    return _scalar(cast(yaml.ScalarNode, node))


def _line_map(text: str, file: str) -> dict[YamlPath, int]:
    """The line of every path, read again from text that the fast reader accepted."""
    node = yaml.compose(text, Loader=_Loader)
    doc = YamlDoc(None, file)
    if node is not None:  # an empty stream: the fast reader refuses it, so never in practice
        _plain(node, (), doc, [])
    return doc.lines


class _Unusual(Exception):
    """Something the fast reader leaves to the full one (anchors, tags, duplicate keys,
    several documents, errors): that one reports it, with its line."""


_NO_KEY = object()


def _fast_data(text: str) -> Any:
    """The same plain data as `_plain(compose(text))`, built straight from the parser's
    events: no node tree and no line map, which made up nine tenths of reading a big file
    (most of it the garbage collector walking a million live nodes and marks)."""
    loader = _Loader(text)
    try:
        get = loader.get_event
        if (type(get()) is not yaml.StreamStartEvent
                or type(get()) is not yaml.DocumentStartEvent):
            raise _Unusual
        resolve = loader.resolve
        known: dict[str, Any] = {}  # plain scalar text -> value: files repeat them a lot
        stack: list[Any] = []  # the open mappings and sequences, innermost last
        keys: list[Any] = []  # per open collection: a mapping's key awaiting its value
        while True:
            event = get()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unusual
                raw = event.value
                if stack and keys[-1] is _NO_KEY:  # a mapping's key: its text, as _plain
                    if raw in stack[-1]:
                        raise _Unusual
                    keys[-1] = raw
                    continue
                if not event.implicit[0]:  # quoted: always a string
                    value: Any = raw
                elif raw in known:
                    value = known[raw]
                else:
                    tag = resolve(yaml.ScalarNode, raw, event.implicit)
                    if tag == _TIMESTAMP:
                        value = raw
                    elif tag in _PLAIN_TAGS:
                        value = _PLAIN_TAGS[tag](
                            _SCALARS, yaml.ScalarNode(tag, raw, style=event.style))
                    else:
                        raise _Unusual
                    known[raw] = value
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None or (stack and keys[-1] is _NO_KEY) \
                        or len(stack) >= MAX_DEPTH:
                    raise _Unusual  # an anchor, a mapping or list as a key, too deep
                value = {} if kind is yaml.MappingStartEvent else []
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value = stack.pop()
                keys.pop()
                if not stack:
                    break
                continue
            else:  # an alias, or anything else out of the ordinary
                raise _Unusual
            if stack:
                parent = stack[-1]
                if keys[-1] is None:
                    parent.append(value)
                else:
                    parent[keys[-1]] = value
                    keys[-1] = _NO_KEY
            if kind is yaml.MappingStartEvent:
                stack.append(value)
                keys.append(_NO_KEY)
            elif kind is yaml.SequenceStartEvent:
                stack.append(value)
                keys.append(None)
            elif not stack:  # a lone scalar document
                break
        if (type(get()) is not yaml.DocumentEndEvent
                or type(get()) is not yaml.StreamEndEvent):
            raise _Unusual  # several documents: the full reader says so
        return value
    finally:
        loader.dispose()


def _dotted(path: YamlPath, data: Any) -> str:
    return ".".join(str(p) for p in path)


def _one_line(reason: object) -> str:
    """A parser's message as one line, cut short (a Problem is one line of output)."""
    text = " ".join(str(reason).split())
    return text if len(text) <= 200 else text[:197] + "…"


def read_text(path: Path, missing: str = "no such file") -> str:
    """A hand-written YAML file's text; raises ValidationFailed naming it when it cannot be
    read or is too big to be one (looked at before reading it into memory)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # /dev/zero never ends, a FIFO never answers
            raise ValidationFailed([Problem(str(path), 1, "(file)", "not a regular file")])
        size = info.st_size
        if size > 4 * MAX_CHARACTERS:
            raise ValidationFailed([Problem(str(path), 1, "(file)", f"{size:,} bytes is too "
                                            f"big (at most {MAX_CHARACTERS:,} characters)")])
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed([Problem(str(path), 1, "(file)", missing)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            type(exc).__name__
        raise ValidationFailed([Problem(str(path), 1, "(file)",
                                        f"cannot read: {reason}")]) from None


def _refuse_references_and_depth(text: str, file: str) -> None:
    """Anchors and aliases (`&a`, `*a`) are refused: nobody needs them in these files, and
    nested ones expand a few hundred bytes into gigabytes (a "billion laughs"). So is
    nesting deeper than MAX_DEPTH. Both are found from the parser's events, before
    anything is built."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            line = event.start_mark.line + 1 if event.start_mark else 1
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ValidationFailed([Problem(file, line, "(yaml)",
                                                "anchors and aliases (&name, *name) are not "
                                                "allowed here: write the value out")])
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _EXPLICIT_TAGS:
                # !!binary skips every check on text, !custom has no reader: write values
                # as the plain text they are
                raise ValidationFailed([Problem(file, line, "(yaml)",
                                                f"YAML tags ({tag[:30]}) are not allowed here")])
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ValidationFailed([Problem(file, line, "(yaml)",
                                                    f"nested deeper than {MAX_DEPTH} levels")])
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # compose below reports it with its line


def read_yaml(text: str, file: str,
              subject: Callable[[YamlPath, Any], str] = _dotted) -> YamlDoc:
    """Parse YAML text; a syntax error raises ValidationFailed naming its line.

    Duplicate keys become `doc.problems`, named by `subject(path, data)`; it is called once
    the whole document is read, so it can name an item by its `id` even when the duplicate
    comes before the id in the item.
    """
    if len(text) > MAX_CHARACTERS:
        raise ValidationFailed([Problem(file, 1, "(file)", f"{len(text):,} characters is too "
                                        f"big (at most {MAX_CHARACTERS:,})")])
    try:
        return YamlDoc(_fast_data(text), file, text=text)
    except (_Unusual, yaml.YAMLError):
        pass
    _refuse_references_and_depth(text, file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = _one_line(exc.problem or exc)
        raise ValidationFailed([Problem(file, line, "(yaml)",
                                        f"YAML syntax error: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed([Problem(file, 1, "(yaml)",
                                        f"YAML error: {_one_line(exc)}")]) from None
    doc = YamlDoc(None, file)
    if node is None:
        raise ValidationFailed([Problem(file, 1, "(file)", "the file is empty")])
    duplicates: list[tuple[YamlPath, int]] = []
    doc.data = _plain(node, (), doc, duplicates)
    doc.problems.extend(Problem(file, line, subject(path, doc.data), f"duplicate key {path[-1]!r}")
                        for path, line in duplicates)
    return doc


def locate(error: ErrorDetails, base: YamlPath, data: Any,
           aliases: dict[str, str] | None = None, skip: frozenset[str] = frozenset()
           ) -> YamlPath:
    """Map a pydantic error location onto the data: drop what pydantic adds (union tags in
    `skip`), translate field names to their YAML keys (`aliases`)."""
    path = list(base)
    node = data
    for part in error["loc"]:
        key = (aliases or {}).get(part, part) if isinstance(part, str) else part
        in_dict = isinstance(node, dict) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and key < len(node)
        if in_dict or in_list:
            node = node[key]
            path.append(key)
        elif isinstance(key, str) and key not in skip:
            path.append(key)  # a missing field: reported at its parent's line
    return tuple(path)


def pydantic_message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    return error["msg"].removeprefix("Value error, ")
