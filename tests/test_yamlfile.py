"""The fast YAML reader gives the same data as the line-numbered one, or hands over to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from timeline import yamlfile
from timeline.yamlfile import YamlDoc, read_yaml

SAME = [
    "a: 1",
    "- 1\n- 2.5\n- true\n- null\n- ~\n- ''\n- 0x1f\n- 1_000\n- .inf\n- 2024-01-01\n- yes\n",
    "due: 2024-06-04T09:00+08:00\nquoted: '2024-01-01'\n",
    "x:\n  - {a: [1, {b: c}], d: []}\n  - []\n  - {}\n",
    "just text",
    "1: a\n2.0: b\nnull: c\ntrue: d\n",
    "a:\n",
    "a: '1'\nb: \"x\\ty\"\nc: |\n  block\n  text\nd: >\n  folded\n",
]


def _full(text: str) -> object:
    node = yaml.compose(text, Loader=yamlfile._Loader)
    return yamlfile._plain(node, (), YamlDoc(None, "x"), [])


@pytest.mark.parametrize("text", SAME)
def test_fast_reader_matches_the_full_one(text: str) -> None:
    fast = yamlfile._fast_data(text)
    assert fast == _full(text)
    assert repr(fast) == repr(_full(text))  # same types too (1 vs 1.0 vs True)


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: 1\na: 2\n", "--- a\n--- b\n", "a: !!str 1\n", "? [a]\n: b\n", "",
    "a: [1\n",
])
def test_unusual_documents_go_to_the_full_reader(text: str) -> None:
    with pytest.raises((yamlfile._Unusual, yaml.YAMLError)):
        yamlfile._fast_data(text)


def test_repo_files_read_fast_with_lines_on_demand(events_path: Path) -> None:
    text = events_path.read_text(encoding="utf-8")
    doc = read_yaml(text, str(events_path))
    assert doc.text is not None  # the fast reader took it
    assert doc.data == _full(text)
    full = YamlDoc(None, "x")
    yamlfile._plain(yaml.compose(text, Loader=yamlfile._Loader), (), full, [])
    assert doc.line(("events", 3, "title")) == full.lines[("events", 3, "title")] > 1
    assert doc.text is None and doc.lines  # read once


def test_duplicate_key_is_still_a_problem_with_its_line() -> None:
    doc = read_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(p.line, p.message) for p in doc.problems] == [(3, "duplicate key 'a'")]
    assert doc.data == {"a": 3, "b": 2}
