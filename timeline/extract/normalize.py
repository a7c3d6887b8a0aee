"""Normalizing a notice's text for reading dates, with a map back to the original.

Text pulled out of a PDF breaks words and dates across lines ("2011 年 8\\n月1日"), puts
spaces inside dates and names ("记 者 宁 亚 琴") and writes digits and punctuation full
width. The normalized text has ASCII digits and punctuation, no layout whitespace, and one
"\\n" per paragraph; `origin[i]` is the offset in the original of normalized character i,
so every quote found in the normalized text can be shown as the original wrote it.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from array import array
from dataclasses import dataclass

from timeline.extract import patterns as P

__all__ = ["Normalized", "normalize", "width"]

_DASHES = dict.fromkeys(map(ord, "—–―─━‒"), "—")
_WAVES = dict.fromkeys(map(ord, "〜∼"), "~")
_DROP = frozenset("\u200b\u200c\u200d\ufeff\u00ad")
_FINAL = frozenset("。!?;")  # after full-width folding
_CLOSERS = frozenset("”’」』)】")


@dataclass(frozen=True)
class Normalized:
    text: str
    origin: array[int]  # len(text) + 1 entries: the last is the original's length

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of normalized text[start:end]."""
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


def _fold(char: str) -> str:
    code = ord(char)
    if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII
        char = chr(code - 0xFEE0)
        return char
    if char in ("\u3000", "\xa0", "\t", "\r", "\f", "\v"):
        return " "
    return char.translate(_DASHES).translate(_WAVES)


def _folded(line: str) -> str:
    """The line as the patterns read it: no whitespace, ASCII digits and punctuation."""
    return "".join(_fold(c) for c in line if not c.isspace())


def width(line: str) -> float:
    """Display width in CJK cells: a full-width character is 1, ASCII a half."""
    return sum(0.5 if ord(c) < 0x2E80 and unicodedata.east_asian_width(c) in "NaH" else 1.0
               for c in line)


def _ascii_word(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "._")


# A line ending inside a date ("…2024 年 5" / "月1日", "…20" / "24年"): never a paragraph end.
_GLUE = re.compile(r"[\d年月]$")
_GLUE_NEXT = re.compile(r"^(?:[年月日号时分]|\d+[年月日号时分:\-./])")
_MIDWORD = re.compile(r"[\d的以于在和与及或并将被把对从自至到为是之]$")  # no headline ends so
_PUNCTUATION = re.compile(r"[，,。；;：:、！!？?“”\"（）()]")
_LABEL = re.compile(r"^[\u4e00-\u9fff]{2,8}[:：]")  # 招标编号：, 电话：, 地址：


def _paragraph_ends(lines: list[str], layout: str) -> list[bool]:
    """Per line: whether a paragraph ends after it (else the next line continues it).
    `layout`: "lines" (each line a paragraph: HTML, Word, a web page's text), "column" (a
    PDF's or a newspaper's column, lines filled to one width) or "ragged" (wrapped, but
    not evenly: only a clearly short line ends a paragraph)."""
    # Spaces a PDF puts between characters are not text: a spaced-out line is no wider.
    widths = [width("".join(line.split())) for line in lines]
    short_ratio = 0.72 if layout == "column" else 0.35
    next_text = [-1] * len(lines)  # per line, the next line with text (-1: none)
    upcoming = -1
    for index in range(len(lines) - 1, -1, -1):
        next_text[index] = upcoming
        if lines[index].strip():
            upcoming = index
    ends = []
    for index, line in enumerate(lines):
        text = line.strip()
        if not text or layout == "lines":
            # A blank line in a column proves nothing (a PDF's column break falls mid-word
            # too): the line before it decides.
            ends.append(layout == "lines")
            continue
        bare = text.rstrip("".join(_CLOSERS))
        last = _fold(bare[-1]) if bare else ""
        following = lines[next_text[index]].strip() if next_text[index] >= 0 else ""
        following = _folded(following[:24])[:12]
        near = [w for w in widths[max(0, index - 4):index + 5] if w]
        column = max(near) if near else 0
        short = column >= 8 and widths[index] < short_ratio * column
        starts_item = bool(P.LIST_ITEM.match(following) or P.NEWS_OPENING.match(following))
        # a label ("电话：") starts one after a line that does not fill the column (a
        # wrapped "…通知如\n下：" must stay one)
        label = bool(_LABEL.match(following)) and widths[index] < column
        if _GLUE.search(text) and _GLUE_NEXT.match(following) and not (starts_item or label):
            ends.append(False)
            continue
        # a byline ends its story, also when the layout broke it over two lines
        squeezed = _folded(text)  # "（记 者 杨 帆）": a PDF spaces out names
        byline = P.BYLINE_END.search(squeezed) or (
            index and P.BYLINE_END.search(_folded(lines[index - 1]) + squeezed))
        # A paragraph's first line with no punctuation at all, ending short of the column,
        # is a headline in a wrapped layout (prose wraps full lines, with commas in them).
        previous = lines[index - 1].strip() if index else ""
        opens = not previous or _fold(previous.rstrip("".join(_CLOSERS))[-1:] or "。") in _FINAL
        headline = (layout == "ragged" and opens and widths[index] < 0.9 * column
                    and not _PUNCTUATION.search(text) and not P.LIST_ITEM.match(squeezed)
                    and not _MIDWORD.search(text))
        # a numbered item or a news lead starts a paragraph, whatever the line before
        ends.append(last in _FINAL or short or bool(byline) or headline or starts_item
                    or label)
    return ends


def _layout(lines: list[str]) -> str:
    """"column" for lines wrapped at one width (a PDF, a newspaper page): narrow, most of
    them filled to their neighbours' width; "ragged" for narrow lines that mostly do not
    end a sentence; else "lines": one paragraph a line, of every length."""
    widths = [width("".join(line.split())) for line in lines if line.strip()]
    if len(widths) < 8 or statistics.median(widths) > 45:
        return "lines"  # a few lines are no column; long ones are paragraphs
    # Blank lines between many of the lines: paragraphs and list items, each on its line
    # (a PDF's text has a blank line only now and then, at a column's end).
    blank_after = sum(1 for i, line in enumerate(lines[:-1])
                      if line.strip() and not lines[i + 1].strip())
    if blank_after >= 0.3 * len(widths):
        return "lines"
    full = sum(1 for i, w in enumerate(widths)
               if w >= 0.85 * max(widths[max(0, i - 4):i + 5]))
    if full >= 0.55 * len(widths):
        return "column"
    texts = [line.strip().rstrip("".join(_CLOSERS)) for line in lines if line.strip()]
    ending = sum(1 for t in texts if t and _fold(t[-1]) in _FINAL | {":"})
    return "ragged" if ending < 0.35 * len(texts) else "lines"


def normalize(original: str, *, hard_lines: bool | None = None) -> Normalized:
    """`hard_lines`: every line break ends a paragraph (HTML, Word); None: decide from the
    layout (narrow, evenly filled lines are a PDF's or a newspaper column's)."""
    lines = original.split("\n")
    layout = _layout(lines) if hard_lines is None else "lines" if hard_lines else "column"
    ends = _paragraph_ends(lines, layout)
    out: list[str] = []
    origin = array("l")
    pending_space: int | None = None  # offset of a whitespace run not yet decided
    pending_break = False
    wrapped_break = False
    offset = 0
    for number, line in enumerate(lines):
        for char in line:
            folded = _fold(char)
            if char in _DROP:
                offset += 1
                continue
            if folded == " ":
                if pending_space is None:
                    pending_space = offset
                offset += 1
                continue
            if out:
                if pending_break:
                    if out[-1] != "\n":
                        out.append("\n")
                        origin.append(pending_space if pending_space is not None else offset)
                elif pending_space is not None and _ascii_word(out[-1]) and _ascii_word(folded) \
                        and not (wrapped_break and layout != "lines"):
                    out.append(" ")
                    origin.append(pending_space)
            pending_space = None
            pending_break = False
            wrapped_break = False
            out.append(folded)
            origin.append(offset)
            offset += 1
        if number < len(lines) - 1:
            # A column wraps anywhere, inside a number too ("20" / "24年"): no space there.
            wrapped_break = True
            if pending_space is None:
                pending_space = offset
            if ends[number]:
                pending_break = True
            offset += 1  # the "\n"
    origin.append(len(original))
    return Normalized("".join(out), origin)
