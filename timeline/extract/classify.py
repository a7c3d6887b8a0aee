"""Deciding what each date expression is: an event of some kind, or not an event and why.

A date in a notice is often not a date to act on: "2011年8月1日至2012年3月31日…注册登记的"
says which trucks qualify, "〔2024〕12号" numbers a document, a year inside 《…》 names a
plan, "另行通知" gives no date at all, a range that ended before the notice is history.
Each `Reading` says which kind of event a mention is and with what dates, precision and
confidence; each `Skipped` says why a mention is not one, so a reviewer sees both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from timeline.extract import patterns as P
from timeline.extract.anchor import Anchored, InvalidDate, Published, anchor
from timeline.extract.recognize import Mention, Point, Recurrence, Spans
from timeline.model import Precision
from timeline.workdays import add_working_days

__all__ = ["SKIP_REASONS", "Reading", "Skipped", "classify"]

Kind = Literal["deadline", "window", "happening", "recurring"]

SKIP_REASONS = {
    "criterion": ("资格条件中的日期（说明谁符合条件，不是办理时间）",
                  "an eligibility criterion (who qualifies), not a date to act on"),
    "document-number": ("文号", "a document number"),
    "standard": ("标准编号", "a standard's number"),
    "code": ("项目编号", "a project or tender code"),
    "title": ("文件或计划名称中的年份", "a year inside the name of a document or a plan"),
    "tbd": ("另行通知：原文没有日期", "to be announced: the text gives no date"),
    "relative-unknown": ("相对于一个原文未给出的日子", "relative to a day the text does not give"),
    "duration": ("一段时长，没有起点", "a length of time without a starting day"),
    "history": ("发布前已过去的时点（统计截止或“以来”），不是待办日期",
                "a past reference (an as-of date or a 'since'), not a date ahead"),
    "published": ("通知本身的发布日期", "the notice's own date"),
    "speech": ("引语中的说法，不是政策安排", "words in a quotation, not a scheduled item"),
    "no-year": ("没有年份，也没有发布日期可依：请用 --published 给出",
                "no year, and no publication date to take it from: give --published"),
    "invalid": ("日历上没有这一天（如2月30日、1月32日）", "no such day (2月30日, 1月32日)"),
}

_ORDER = [Precision.DAY, Precision.MONTH_END, Precision.MONTH, Precision.QUARTER,
          Precision.HALF_YEAR, Precision.YEAR_END, Precision.YEAR, Precision.APPROXIMATE]
_CLAUSE = re.compile(r"[,。;!?\n]")
_SENTENCE = re.compile(r"[。;!?\n]")


@dataclass(frozen=True)
class Reading:
    """A mention read as an event: `first`/`last` are the kind's dates (a deadline's due is
    `last`; a window's start and end; a happening's date and end; a recurring item's
    bounds, resolved later from the windows around it when the text gives none)."""

    kind: Kind
    mention: Mention
    first: date | datetime | None
    last: date | datetime | None
    precision: Precision
    confidence: float
    notes: tuple[str, ...] = ()
    start_label: str | None = None
    past: bool = False  # history: kept, without reminders
    recurrence: Recurrence | None = None


@dataclass(frozen=True)
class Skipped:
    mention: Mention
    reason: str

    @property
    def detail(self) -> str:
        return SKIP_REASONS[self.reason][0]


def _spans(text: str, pattern: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(pattern, text)]


@dataclass(frozen=True)
class _Context:
    text: str
    published: Published | None
    titles: Spans  # 《…》
    quotes: Spans  # “…” of some length: speech
    headlines: Spans  # the stories' own headlines

    def clause_after(self, end: int) -> str:
        """The words after `end` up to the next clause break; when the date ends its clause
        ("…7月30日，受理…"), the next clause."""
        rest = self.text[end:end + 80]
        return _CLAUSE.split(rest.lstrip(",:"), maxsplit=1)[0]

    def clause_before(self, start: int) -> str:
        return _CLAUSE.split(self.text[max(0, start - 80):start])[-1]

    def sentence_before(self, start: int) -> str:
        return _SENTENCE.split(self.text[max(0, start - 120):start])[-1]

    def in_title(self, mention: Mention) -> bool:
        return self.titles.contains(mention.start, mention.end)

    def in_speech(self, mention: Mention) -> bool:
        return self.quotes.contains(mention.start, mention.end)

    def in_headline(self, mention: Mention) -> bool:
        return self.headlines.overlaps(mention.start, mention.end)

    def said_future(self, mention: Mention) -> bool:
        """"请于…前", "将于…", "拟于…": asked for or planned, so ahead of the notice."""
        return bool(re.search(r"(?:请|须|应|务必|需|要|将|拟|计划|预计|定于)(?:在|于)?$",
                              self.text[max(0, mention.start - 4):mention.start]))

    def said_past(self, mention: Mention) -> bool:
        """"已于4月中旬开工", "4月10日…召开了": told as what has happened."""
        return bool(re.search(r"已(?:经)?(?:于|在)?$", self.text[max(0, mention.start - 3):
                                                               mention.start]))


def _coarser(a: Precision, b: Precision) -> Precision:
    return a if _ORDER.index(a) >= _ORDER.index(b) else b


def _day_of(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _criterion(context: _Context, mention: Mention) -> bool:
    """Whether the date says who qualifies: "…注册登记的", "出生于…", "2024年度营业收入…"."""
    after = context.text[mention.end:mention.end + 40]
    if P.CRITERION_AFTER.match(_CLAUSE.split(after, maxsplit=1)[0]):
        return True
    head = mention.first.start if mention.first is not None else mention.start
    if P.CRITERION_BEFORE.search(context.text[max(0, head - 10):head]):
        return True
    point = mention.last or mention.first
    if point is None or not point.fiscal:
        return False
    tail = point.end - 1 if context.text[point.end - 1] == "度" else point.end
    return bool(P.CRITERION_FISCAL.match(context.text[tail:tail + 12]))


def _year_name(context: _Context, point: Point) -> bool:
    """"2024年老旧车辆…方案", "2025年度专项资金": a year naming something."""
    bare = point.month is None and point.part is None and point.relative_year is None
    after = context.text[point.end:point.end + 12]
    if not bare or P.EVENT_VERB.match(after):
        return False
    return point.fiscal or P.NAME_AFTER.match(after) is not None


def _confidence(base: float, *anchors: Anchored) -> float:
    for anchored in anchors:
        if anchored.year_guessed:
            base -= 0.35 if any("通知也未写发布日期" in n for n in anchored.notes) else 0.1
    return round(max(0.05, min(base, 0.95)), 2)


def _is_past(context: _Context, last: date | datetime) -> bool:
    published = context.published
    return published is not None and _day_of(last) < published.day


def _application(context: _Context, mention: Mention) -> bool:
    rest = _SENTENCE.split(context.text[mention.end:mention.end + 60], maxsplit=1)[0]
    near = context.sentence_before(mention.start)[-30:] + rest
    return P.APPLICATION.search(near) is not None


def _point_reading(context: _Context, mention: Mention, context_year: int | None
                   ) -> Reading | Skipped:
    point = mention.first
    assert point is not None
    if context.in_title(mention):
        return Skipped(mention, "title")
    if _criterion(context, mention):
        return Skipped(mention, "criterion")
    if _year_name(context, point) and not mention.marker:
        return Skipped(mention, "title")
    if context.in_headline(mention):
        return Skipped(mention, "title")  # "关于2026年上半年…的通知": it names the notice
    try:
        anchored = anchor(point, context.published, context_year,
                          ends=mention.marker in ("deadline", "by"),
                          past=context.said_past(mention), future=context.said_future(mention))
    except InvalidDate:
        return Skipped(mention, "invalid")
    if anchored is None:
        return Skipped(mention, "no-year")
    notes = anchored.notes
    if mention.marker == "since":
        return Skipped(mention, "history")
    # A year alone is that whole year ("2018年出台": some day of 2018, shown as 2018年).
    span_end = anchored.last if anchored.precision is Precision.YEAR else None
    if _is_past(context, anchored.last):
        # "截至2023年底，已…": a figure as of a past day. "已于2024年底结束" is history kept.
        as_of = re.search(r"(?:截至|截止)(?:到|至)?$", context.text[max(0, point.start - 4):
                                                              point.start])
        if as_of or (mention.marker == "deadline" and point.part is None):
            return Skipped(mention, "history")
        return Reading("happening", mention, anchored.first, span_end, anchored.precision,
                       _confidence(0.7, anchored), (*notes, "发布前已发生的事，不设提醒"),
                       past=True)
    bare_year = point.month is None and point.part is None
    after = context.text[mention.end:mention.end + 14]
    if mention.marker in ("deadline", "by") or P.CLOSING.match(after) or (
            anchored.precision is not Precision.DAY
            and P.COMPLETION.search(context.clause_after(mention.end)[:14])):
        base = 0.9 if anchored.precision is Precision.DAY else 0.85
        return Reading("deadline", mention, None, anchored.last, anchored.precision,
                       _confidence(base - (0.2 if bare_year else 0), anchored), notes)
    if mention.marker == "effect":
        return Reading("happening", mention, anchored.first, None, anchored.precision,
                       _confidence(0.85, anchored), (*notes, "自该日起施行"))
    if mention.marker == "approx":
        word = context.text[point.end:mention.end]
        return Reading("happening", mention, anchored.first, span_end, Precision.APPROXIMATE,
                       _confidence(0.7, anchored), (*notes, f"原文“{word}”：约在此日"))
    base = 0.85 if anchored.precision is Precision.DAY else 0.7
    if bare_year:
        base = 0.45  # "2025年，…": a year as a time adverb, at best
    return Reading("happening", mention, anchored.first, span_end, anchored.precision,
                   _confidence(base, anchored), notes)


def _range_reading(context: _Context, mention: Mention, context_year: int | None
                   ) -> Reading | Skipped:
    first, last = mention.first, mention.last
    assert first is not None and last is not None
    if context.in_title(mention) or context.in_headline(mention):
        return Skipped(mention, "title")
    if _criterion(context, mention):
        return Skipped(mention, "criterion")
    past, future = context.said_past(mention), context.said_future(mention)
    try:
        a = anchor(first, context.published, context_year, ends=True, past=past,
                   future=future)
        if a is not None and last.year is None and last.relative_year is None:
            # "1月15日至1月20日": the second end is in the first one's year (or the next,
            # "12月20日至1月10日"), however the first was read
            year = a.first.year + (1 if (last.month or 0, last.day or 0) <
                                   (first.month or 0, first.day or 0) else 0)
            last = replace(last, year=year, year_inferred=True)
        b = anchor(last, context.published, context_year, ends=True, past=past,
                   future=future)
    except InvalidDate:
        return Skipped(mention, "invalid")
    if a is None or b is None:
        return Skipped(mention, "no-year")
    start, end = a.first, b.last
    if isinstance(start, datetime) != isinstance(end, datetime):
        start, end = _day_of(start), _day_of(end)  # "4月7日9:00至4月11日": both whole days
    if end < start:
        return Skipped(mention, "no-year")
    precision = _coarser(a.precision, b.precision)
    notes = tuple(dict.fromkeys((*a.notes, *b.notes)))
    if _is_past(context, end):
        return Reading("happening", mention, start, end, precision, _confidence(0.75, a, b),
                       (*notes, "发布前已结束的时段（历史），不设提醒"), past=True)
    kind: Kind = "window" if _application(context, mention) else "happening"
    base = 0.9 if precision is Precision.DAY else 0.8
    return Reading(kind, mention, start, end, precision, _confidence(base, a, b), notes)


def _open_reading(context: _Context, mention: Mention, context_year: int | None
                  ) -> Reading | Skipped:
    last = mention.last
    assert last is not None
    if _criterion(context, mention):
        return Skipped(mention, "criterion")
    try:
        b = anchor(last, context.published, context_year, ends=True)
    except InvalidDate:
        return Skipped(mention, "invalid")
    if b is None:
        return Skipped(mention, "no-year")
    published = context.published
    label = mention.label.removeprefix("从")
    if not label.startswith("自"):
        label = f"自{label}" if not label.startswith("即日") else label
    notes = [*b.notes]
    start: date | None = None
    if _is_past(context, b.last):  # "即日起至2025年12月31日" in a notice of 2026: over
        return Reading("happening", mention, b.last, None, b.precision, _confidence(0.6, b),
                       (*notes, "截止日在发布日期之前，已结束，不设提醒"), past=True)
    if published is not None and published.exact:
        start = published.day
        notes.append(f"开始日原文写“{mention.label}”，即发布之日（{published.day:%Y年%-m月%-d日}）")
    elif published is not None:
        label = f"{label}（约{published.day:%Y年%-m月}）"
        notes.append(f"开始日原文写“{mention.label}”，发布日期不确切，故不设开始日")
    else:
        notes.append(f"开始日原文写“{mention.label}”，通知未写发布日期，故不设开始日")
    confidence = _confidence(0.9 if b.precision is Precision.DAY else 0.8, b)
    return Reading("window", mention, start, b.last, b.precision, confidence, tuple(notes),
                   start_label=None if start else label)


def _relative_reading(context: _Context, mention: Mention) -> Reading | Skipped:
    published = context.published
    if published is None:
        return Skipped(mention, "no-year")
    if mention.form == "recently":
        word = context.text[mention.start:mention.end]
        return Reading("happening", mention, published.day, None, Precision.APPROXIMATE, 0.65,
                       (f"原文“{word}”，未给日期；以发布日期（{published.day:%Y年%-m月%-d日}）"
                        "为锚点，仅表示约数",))
    if mention.form == "effect-on-publication":
        return Reading("happening", mention, published.day, None, published.precision, 0.8,
                       (f"原文“{mention.label}”，即发布之日",))
    if mention.form == "after-publication":
        count = mention.days or 0
        due = add_working_days(published.day, count) if mention.working else \
            published.day + timedelta(days=count)
        unit = "个工作日" if mention.working else "日"
        exact = published.exact
        return Reading("deadline", mention, None, due,
                       Precision.DAY if exact else Precision.APPROXIMATE, 0.8 if exact else 0.6,
                       (f"原文“{mention.label}”：发布日期（{published.day:%Y年%-m月%-d日}）起"
                        f"{count}{unit}",))
    years = mention.years_ago or 0
    try:
        day = published.day.replace(year=published.day.year - years)
    except ValueError:
        day = published.day - timedelta(days=365 * years)
    word = context.text[mention.start:mention.end]
    return Reading("happening", mention, day, None, Precision.APPROXIMATE, 0.5,
                   (f"原文只说“{word}”；按发布日期前推{years}年{'多' if mention.more else ''}"
                    "作为约数锚点（推算，不是原文日期）",), past=True)


def _recurrence_reading(context: _Context, mention: Mention) -> Reading | Skipped:
    rule = mention.recurrence
    assert rule is not None
    vague = not (rule.weekdays or rule.monthday or rule.times or rule.month)
    if vague and context.in_speech(mention):
        return Skipped(mention, "speech")  # “每天跨区接送确实麻烦…”: what a parent says
    if context.in_title(mention):
        return Skipped(mention, "title")
    if rule.weekdays:
        precision, confidence = Precision.DAY, 0.85
    elif rule.monthday is not None and rule.monthday > 0:
        precision, confidence = Precision.DAY, 0.8
    elif rule.every == "yearly" and rule.month and rule.day:
        precision, confidence = Precision.DAY, 0.75
    elif rule.every == "yearly" and rule.month:
        precision, confidence = Precision.MONTH, 0.7
    elif rule.every == "3 months" and rule.monthday == -1:
        precision, confidence = Precision.QUARTER, 0.7  # 每季度末: the end, not a day
    elif rule.every == "monthly" and rule.monthday == -1:
        precision, confidence = Precision.MONTH_END, 0.7  # 每月底
    elif rule.every in ("3 months", "6 months"):
        precision, confidence = Precision.APPROXIMATE, 0.6
    elif rule.term:
        precision, confidence = Precision.APPROXIMATE, 0.4
    elif rule.every == "daily":
        precision, confidence = Precision.DAY, 0.6
    else:
        precision, confidence = Precision.APPROXIMATE, 0.55
    return Reading("recurring", mention, None, None, precision, confidence,
                   recurrence=rule)


def classify(text: str, mentions: list[Mention], published: Published | None,
             published_spans: list[tuple[int, int]] | None = None,
             headlines: list[tuple[int, int]] | None = None) -> list[Reading | Skipped]:
    """Each mention read as an event or skipped with its reason, in order.
    `published_spans`: where the notice gives its own date; `headlines`: the stories'."""
    quotes = [(a, b) for a, b in _spans(text, r"“[^“”]{0,300}”")
              if b - a > 14 and re.search(r"[!?,。]", text[a:b])]
    context = _Context(text, published, Spans(_spans(text, r"《[^《》]{1,80}》")), Spans(quotes),
                       Spans(headlines or []))
    own_date = Spans(published_spans or [])
    out: list[Reading | Skipped] = []
    context_year: int | None = None
    for mention in mentions:
        if own_date.overlaps(mention.start, mention.end):
            out.append(Skipped(mention, "published"))
            continue
        if mention.form == "skip":
            assert mention.skip_reason is not None
            out.append(Skipped(mention, mention.skip_reason))
            continue
        if mention.form == "point":
            out.append(_point_reading(context, mention, context_year))
        elif mention.form == "range":
            out.append(_range_reading(context, mention, context_year))
        elif mention.form == "open-range":
            out.append(_open_reading(context, mention, context_year))
        elif mention.form == "recurrence":
            out.append(_recurrence_reading(context, mention))
        else:
            out.append(_relative_reading(context, mention))
        for point in (mention.first, mention.last):
            if point is not None and point.year is not None and not point.year_inferred:
                context_year = point.year
    return out
