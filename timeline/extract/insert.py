"""Adding list items to a hand-written YAML file, leaving every other byte as it was.

A round trip through a YAML writer re-renders the whole file: an alignment, a leading
`---`, a folded string, a BOM or CRLF line ends come back changed. So the new items are
rendered alone (ruamel.yaml, in the file's own indentation) and inserted as text where
their list ends; ruamel.yaml's round-trip loader tells where that is. The caller checks the
result: that only lines were added, and that it validates.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from timeline.errors import TimelineError

__all__ = ["Block", "InsertError", "insert_items"]


class InsertError(TimelineError):
    """The file cannot take the items as text (a flow list with items, not a mapping)."""


@dataclass(frozen=True)
class Block:
    """Items for one top-level list (`stories` or `events`), each with an optional comment
    line above it."""

    key: str
    items: list[tuple[CommentedMap, str | None]]


_EMPTY_VALUE = re.compile(r"^(?P<head>\s*[\"']?(?P<key>\w+)[\"']?\s*:)\s*(?:\[\s*\]|null|~)?"
                          r"\s*(?P<comment>#.*)?$")


def _render(key: str, item: CommentedMap, dash: int, indent: int) -> list[str]:
    writer = YAML()
    writer.width = 4096  # never fold a long source quote
    writer.indent(mapping=2, sequence=max(indent, dash + 2), offset=dash)
    buffer = io.StringIO()
    seq = CommentedSeq([item])
    writer.dump({key: seq}, buffer)
    return buffer.getvalue().splitlines()[1:]  # without the `key:` line


def _item_style(lines: list[str], seq: CommentedSeq) -> tuple[int, int, bool]:
    """The column of the items' dash and of their keys, and whether a blank line parts
    them, as the file writes its first items; else events.yaml's (2, 4, one blank)."""
    if not len(seq):
        return 2, 4, False
    line, column = seq.lc.item(0)
    text = lines[line]
    dash = text.rfind("-", 0, column + 1)
    dash = dash if dash >= 0 else max(0, column - 2)
    spaced = len(seq) > 1 and seq.lc.item(1)[0] > 0 and not lines[seq.lc.item(1)[0] - 1].strip()
    return dash, column, spaced


def _end_of(lines: list[str], data: CommentedMap, key: str) -> int:
    """The line index after the last line of `key`'s block: before the next top-level key,
    and before the blank lines and column-0 comments that lead to it."""
    keys = list(data)
    after = keys[keys.index(key) + 1] if keys.index(key) + 1 < len(keys) else None
    end = data.lc.key(after)[0] if after is not None else len(lines)
    while end > 0 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return end


def insert_items(text: str, blocks: list[Block]) -> tuple[str, str]:
    """`text` with each block's items added at the end of its list (the list made when the
    file has none, or has it empty); and the baseline: `text` with only the lines it had
    to change (`events: []` → `events:`), which the new text adds lines to and nothing
    else."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    crlf = "\r\n" in body
    body = body.replace("\r\n", "\n")
    try:
        data = YAML().load(body) if body.strip() else CommentedMap()
    except YAMLError as exc:
        raise InsertError(f"cannot read the file to merge into: {str(exc)[:200]}") from None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise InsertError("the file to merge into is not a mapping with `stories` and `events`")
    lines = body.split("\n")
    if lines[-1] == "":  # the text ended with a line break (and will: the block ends one)
        lines.pop()
    inserts: list[tuple[int, list[str]]] = []  # (before line index, new lines)
    replaced: dict[int, str] = {}
    appended: list[str] = []
    for block in blocks:
        if not block.items:
            continue
        value = data.get(block.key)
        if block.key not in data or value is None or (isinstance(value, CommentedSeq)
                                                      and not len(value)):
            dash, indent, spaced = 2, 4, False
        elif isinstance(value, CommentedSeq) and not value.fa.flow_style():
            dash, indent, spaced = _item_style(lines, value)
        else:
            raise InsertError(f"`{block.key}` is not a block list: write it as one "
                              "(`- id: …` items) to merge into it")
        rendered: list[str] = []
        for item, comment in block.items:
            if spaced or (block.key == "events" and not rendered and len(value or [])):
                rendered.append("")
            if comment:
                rendered.append(" " * dash + "# " + comment)
            rendered += _render(block.key, item, dash, indent)
        if block.key not in data:
            appended += [f"{block.key}:", *rendered]
            continue
        if value is None or not len(value):
            line = data.lc.key(block.key)[0]
            match = _EMPTY_VALUE.match(lines[line])
            if match is None:
                raise InsertError(f"line {line + 1}: cannot make `{block.key}` a block list "
                                  "without rewriting the line; write it as `"
                                  f"{block.key}:` on a line of its own")
            comment = match.group("comment")
            replaced[line] = match.group("head") + (f"  {comment}" if comment else "")
            inserts.append((line + 1, rendered))
            continue
        inserts.append((_end_of(lines, data, block.key), rendered))
    for index, line in replaced.items():
        lines[index] = line
    baseline = "\n".join(lines) + ("\n" if lines else "")
    for at, new in sorted(inserts, key=lambda pair: pair[0], reverse=True):
        lines[at:at] = new
    lines += appended
    out = "\n".join(lines) + "\n"
    if crlf:
        out, baseline = out.replace("\n", "\r\n"), baseline.replace("\n", "\r\n")
    return bom + out, bom + baseline

