"""Splitting a page into its stories, and finding the notice's own date.

A newspaper page carries several stories: each opens with a headline or with 本报讯（记者
…）, and many end with a byline （记者 …）. A single notice is one story, titled by its
first line. Works on normalized text (one paragraph a line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from timeline.extract import patterns as P
from timeline.extract.anchor import Published
from timeline.extract.recognize import Point, find_points
from timeline.model import Precision

__all__ = ["NoticeDate", "Paragraph", "StorySpan", "find_published", "paragraphs",
           "split_stories"]

_ISSUER = re.compile(r"(?:局|厅|委|委员会|办公室|办|政府|中心|公司|院|所|站|会|部|处|署|协会|学校|"
                     r"医院|集团|小组|指挥部)\)?$")


@dataclass(frozen=True)
class Paragraph:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class StorySpan:
    start: int  # normalized offsets
    end: int
    title: str
    headline: bool  # the title is the story's own headline, not made from its first lines
    byline: str | None = None
    title_span: tuple[int, int] | None = None  # where the headline is, when it is one


def paragraphs(text: str) -> list[Paragraph]:
    out, offset = [], 0
    for line in text.split("\n"):
        if line.strip():
            out.append(Paragraph(offset, offset + len(line), line))
        offset += len(line) + 1
    return out


def _headline(text: str) -> bool:
    """A headline: a short line of its own, not a sentence of the body."""
    body = text.rstrip("!?")
    return (4 <= len(text) <= 40 and "。" not in text and not text.startswith(("“", "\"", "("))
            and not body.endswith((",", ":", "、", ";", "。")) and "," not in body[-3:]
            and P.BYLINE.match(text) is None and not _is_date_line(text))


def _is_date_line(text: str) -> bool:
    return bool(re.fullmatch(r"[\d〇零一二三四五六七八九十年月日号.\-/() 星期周天]+", text))


def _lead_title(paragraph: str) -> str:
    """A title for a story without a headline: its news lead, "近日，X开馆" → "X开馆"."""
    body = P.LEAD_BYLINE.sub("", paragraph)
    body = re.sub(r"^记者从[^,]{2,20}获悉,", "", body)
    lead = re.search(r"(?:近日|日前|近期|目前|今天|昨天|今年以来)[,]([^,。;!?]{4,40})", body)
    if lead:
        return lead.group(1)
    first = re.split(r"[,。;!?]", body, maxsplit=1)[0]
    return first[:40]


def _body(paragraph: Paragraph) -> bool:
    """Text of the story's own, not only a headline or a page label."""
    return not _headline(paragraph.text) and len(paragraph.text) > 8


def _starts_story(paras: list[Paragraph], index: int, current: int, lead: bool) -> bool:
    """Whether paragraph `index` begins a new story (the current one began at `current`;
    `lead`: it has a 本报讯 line)."""
    para, previous = paras[index], paras[index - 1].text
    if P.BYLINE.match(previous):
        return True  # the story before ended with its byline
    if not _headline(para.text) or index <= current + 1:
        return False
    # A 本报讯 story is short news without subheadings: a headline after it is the next
    # story's. (A long feature, without 本报讯, has subheadings: they split nothing.)
    return lead


def split_stories(text: str) -> list[StorySpan]:
    """The stories of a normalized text, in order; at least one."""
    paras = paragraphs(text)
    if not paras:
        return [StorySpan(0, len(text), "", False)]
    starts: list[int] = [0]  # paragraph indexes where a story begins
    body = _body(paras[0])  # whether the current story has text of its own yet
    has_lead = bool(P.NEWS_LEAD.match(paras[0].text))  # and a 本报讯 line
    for index in range(1, len(paras)):
        para = paras[index]
        begin = None
        if P.NEWS_LEAD.match(para.text):
            # A headline right before the 本报讯 line is the new story's own.
            begin = index
            while begin - 1 > starts[-1] and _headline(paras[begin - 1].text) \
                    and index - begin < 2:
                begin -= 1
            if begin == starts[-1] or not (body or any(_body(p) for p in
                                                       paras[starts[-1]:begin])):
                begin = None
        elif body and _starts_story(paras, index, starts[-1], has_lead):
            begin = index
        if begin is not None:
            starts.append(begin)
            body = any(_body(p) for p in paras[begin:index + 1])
            has_lead = any(P.NEWS_LEAD.match(p.text) for p in paras[begin:index + 1])
        else:
            body = body or _body(para)
            has_lead = has_lead or bool(P.NEWS_LEAD.match(para.text))
    if len(starts) > 1 and not any(_body(p) for p in paras[starts[-1]:]):
        starts.pop()  # headlines left at the page's foot belong to no story of their own
    stories = []
    for number, first in enumerate(starts):
        last = (starts[number + 1] if number + 1 < len(starts) else len(paras)) - 1
        block = paras[first:last + 1]
        byline = next((p.text for p in block if P.BYLINE.match(p.text)), None)
        lead = next((p for p in block if P.NEWS_LEAD.match(p.text)), None)
        if lead is not None and byline is None:
            match = P.LEAD_BYLINE.match(lead.text.removeprefix("本报讯"))
            byline = match.group() if match else None
        # the first headline of the block, before its lead; not a page label ("A3城事")
        heads = [p for p in block[:3] if p is not lead and len(p.text) > 6]
        before_lead = block.index(lead) if lead is not None else 3
        title_span = None
        if heads and _headline(heads[0].text) and block.index(heads[0]) < before_lead:
            title, headline = heads[0].text, True
            title_span = (heads[0].start, heads[0].end)
        else:
            title, headline = _lead_title((lead or block[0]).text), False
        end = paras[last].end if number + 1 == len(starts) else paras[last + 1].start
        stories.append(StorySpan(block[0].start if number else 0,
                                 end if number + 1 < len(starts) else len(text),
                                 title.strip(), headline, byline, title_span))
    return stories


def _date_of(text: str) -> Point | None:
    points = [p for p in find_points(text, []) if p.year and p.month and p.day]
    return points[0] if len(points) == 1 else None


@dataclass(frozen=True)
class NoticeDate:
    """What a notice says of its own date: the date (signature first, then a header), every
    place it is written (none of them an event), and the signature's, which names the
    issuer before it."""

    published: Published | None
    spans: tuple[tuple[int, int], ...]
    signature: tuple[int, int] | None


def _signature(paras: list[Paragraph]) -> tuple[Point, Paragraph] | None:
    for para in reversed(paras[-4:]):
        stripped = para.text.strip()
        point = _date_of(stripped)
        if point is None:
            continue
        rest = (stripped[:point.start] + stripped[point.end:]).strip()
        # the date alone, or after the issuing body's name (西宁市工业和信息化局 2025年2月20日,
        # 招标代理机构：某某有限公司 2024年3月18日)
        body = _ISSUER.search(stripped[:point.start].strip()) is not None
        if point.end >= len(stripped) - 3 and (not rest or (len(rest) <= 30 and (
                body or not re.search(r"[,。;:!?]", rest)))):
            return point, para
    return None


def find_published(text: str) -> NoticeDate:
    """The notice's own date: a signature line at the end (the issuing body, then the date)
    or a header ("发布时间：2025-02-20", a masthead date); with where it is written, so that
    it is not taken for an event."""
    paras = paragraphs(text)
    headers: list[tuple[Point, int]] = []  # (point, offset of the text it was found in)
    for para in paras[:8]:
        for label in P.PUBLISHED_LABEL.finditer(para.text):
            point = _date_of(para.text[label.end():label.end() + 24])
            if point is not None and point.start == 0:
                headers.append((point, para.start + label.end()))
        if _is_date_line(para.text.strip()) and (point := _date_of(para.text)) is not None:
            headers.append((point, para.start))
    spans = [(offset + p.start, offset + p.end) for p, offset in headers]
    signed = _signature(paras)
    if signed is not None:
        point, para = signed
        span = (para.start + point.start, para.start + point.end)
        return NoticeDate(_published(point, "signature"), (*spans, span), span)
    if headers:
        return NoticeDate(_published(headers[0][0], "header"), tuple(spans), None)
    return NoticeDate(None, (), None)


def _published(point: Point, origin: str) -> Published:
    from datetime import date

    assert point.year and point.month and point.day
    return Published(date(point.year, point.month, point.day), Precision.DAY, origin)
