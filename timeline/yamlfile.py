"""YAML documents that remember where each value came from.

Both hand-written files (events and deployment config) are read through here, so every
problem in either names its file and line the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic_core import ErrorDetails

from timeline.errors import Problem, ValidationFailed

__all__ = ["YamlDoc", "YamlPath", "locate", "pydantic_message", "read_yaml"]

YamlPath = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Scalars only ever reach it (mappings and sequences are walked above), so one instance
# serves every file; making one per scalar cost a fifth of loading a big file.
_SCALARS = yaml.constructor.SafeConstructor()


@dataclass
class YamlDoc:
    data: Any
    file: str
    lines: dict[YamlPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # e.g. duplicate keys

    def line(self, path: YamlPath) -> int:
        """The line of `path`, or of its closest parent that exists."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


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
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in out:
                duplicates.append(((*path, key), line))
            doc.lines[(*path, key)] = line
            out[key] = _plain(value_node, (*path, key), doc, duplicates)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), doc, duplicates) for i, item in enumerate(node.value)]
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value
    return _SCALARS.construct_object(node)  # type: ignore[arg-type]


def _dotted(path: YamlPath, data: Any) -> str:
    return ".".join(str(p) for p in path)


def read_yaml(text: str, file: str,
              subject: Callable[[YamlPath, Any], str] = _dotted) -> YamlDoc:
    """Parse YAML text; a syntax error raises ValidationFailed naming its line.

    Duplicate keys become `doc.problems`, named by `subject(path, data)`; it is called once
    the whole document is read, so it can name an item by its `id` even when the duplicate
    comes before the id in the item.
    """
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ValidationFailed([Problem(file, line, "(yaml)",
                                        f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed([Problem(file, 1, "(yaml)", f"YAML error: {exc}")]) from None
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
