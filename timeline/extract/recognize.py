"""Recognizing date expressions in normalized text: what is written, not yet what it means.

Three steps, each a pure function of the text:

1. `find_points`: every calendar point ("2024年5月31日", "6月底", "2025年第三季度",
   "下午5时" after a date), as a `Point` with the parts the text gives and nothing invented;
2. `find_patterns`: what is recognized as a whole (recurrences, "近日", "两年多以来",
   "另行通知", document numbers, standards, relative periods) and kept away from step 3;
3. `compose`: points joined into ranges (…至…), open ranges (即日起至…) and points with
   their markers (…前, 截至…, …起), as `Mention`s.

Which mention is an event, and of what kind, is `classify.py`'s business.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import cn2an

from timeline.extract import patterns as P

__all__ = ["Mention", "Point", "Recurrence", "recognize"]

Form = Literal["point", "range", "open-range", "recently", "years-ago", "recurrence",
               "effect-on-publication", "after-publication", "skip"]
Marker = Literal["", "deadline", "start", "effect", "since", "by", "approx"]


@dataclass(frozen=True)
class Point:
    """One calendar point as written: the parts the text gives, None for the others."""

    start: int
    end: int
    year: int | None = None
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int = 0
    part: str | None = None  # year-end, month-end, h1, h2, q1..q4, early, mid, late, ...
    fiscal: bool = False  # "2025年度"
    relative_year: int | None = None  # 今年 0, 明年 1: years after the publication's
    relative_month: int | None = None  # 本月 0, 下月 1
    relative_week: int | None = None  # 本周 0, 下周 1 (with `weekday`)
    weekday: int | None = None  # 0 = Monday
    festival: str | None = None  # the `holidays` package's name of the day (春节)
    season: int | None = None  # the first month of 春季, 夏季, …
    year_inferred: bool = False  # the year came from the range's other end
    invalid: bool = False  # "1月32日": a day no month has

    @property
    def timed(self) -> bool:
        return self.hour is not None


@dataclass(frozen=True)
class Recurrence:
    weekdays: tuple[str, ...] = ()
    every: str | None = None  # yearly, monthly, "3 months", "3 years", daily
    monthday: int | None = None  # -1: the last day (每月底, 每季度末)
    monthdays: tuple[int, ...] = ()  # 每月1日、15日
    month: int | None = None  # 每年12月
    until_month: int | None = None  # 每年3月至5月
    day: int | None = None  # 每年12月1日
    except_holidays: bool = False
    times: tuple[tuple[int, int, int, int], ...] = ()  # (h, m, h2, m2)
    all_day: bool = False
    term: bool = False  # "3年…时限": a term, read as every N years, with low confidence
    deadline: bool = False  # 每月5日前


@dataclass(frozen=True)
class Mention:
    form: Form
    start: int  # span in the normalized text, markers included
    end: int
    first: Point | None = None
    last: Point | None = None
    marker: Marker = ""
    label: str = ""  # an open start's words ("自工作方案发布之日起")
    recurrence: Recurrence | None = None
    years_ago: int | None = None
    more: bool = False  # "两年多": more than that
    days: int | None = None  # "发布之日起30日内"
    working: bool = False  # … 个工作日
    skip_reason: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


def number(text: str) -> int:
    """A number written in Arabic or Chinese numerals (二〇二五, 三十一, 廿, 两)."""
    if text.isdigit():
        return int(text)
    if text in ("元", "正"):  # 元月, 正月
        return 1
    return int(cn2an.cn2an(text, "smart"))


_QUARTER_MONTH = {"q1": 1, "q2": 4, "q3": 7, "q4": 10}
_DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _year_part(word: str | None) -> str | None:
    if not word:
        return None
    if "季度" in word:
        digit = word.replace("第", "").replace("季度", "")
        return f"q{number(digit)}"
    return P.YEAR_PARTS.get(word, P.YEAR_PARTS.get(word.removesuffix("前")))


def _time(groups: dict[str, str | None], prefix: str = "") -> tuple[int, int] | None:
    hour_text = groups.get(f"{prefix}h")
    if hour_text is None:
        return None
    hour = int(hour_text)
    minute_text = (groups.get(f"{prefix}mi") or groups.get(f"{prefix}mi2")
                   or groups.get(f"{prefix}mi3"))
    minute = int(minute_text) if minute_text else 30 if groups.get(f"{prefix}half") else 0
    ampm = groups.get(f"{prefix}ampm")
    if ampm in ("下午", "晚上", "傍晚", "晚") and hour < 12:
        hour += 12
    if ampm == "中午" and hour < 6:  # 中午1时 is 13:00
        hour += 12
    if hour > 24 or (hour == 24 and minute):
        return None
    return hour, minute


def _point(match: re.Match[str], offset: int = 0) -> Point | None:
    g = match.groupdict()
    start, end = match.start() + offset, match.end() + offset
    if g.get("ny"):
        point = Point(start, end, int(g["ny"]), int(g["nm"]), int(g["nd"]))
    else:
        year = number(g["y"]) if g.get("y") else None
        month = number(g["m"]) if g.get("m") else None
        day = number(g["d"]) if g.get("d") else None
        part = None
        if month is None:
            part = _year_part(g.get("ypart"))
        elif g.get("mpart"):
            part = P.MONTH_PARTS[g["mpart"]]
        fiscal = bool(g.get("y")) and match.group().startswith(f"{g['y']}年度")
        point = Point(start, end, year, month, day, part=part, fiscal=fiscal)
    if point.month is not None and not 1 <= point.month <= 12:
        return None
    if point.day is not None and not 1 <= point.day <= 31:
        return None
    if g.get("time") and point.day is not None:
        clock = _time(g)
        if clock is None:  # 25时: not a time; keep the date alone
            return replace(point, end=match.start("time") + offset)
        point = replace(point, hour=clock[0], minute=clock[1])
    elif g.get("time"):
        point = replace(point, end=match.start("time") + offset)
    return point


def find_points(text: str, taken_spans: Iterable[tuple[int, int]]) -> list[Point]:
    """Every calendar point outside the spans already `taken`."""
    taken = Spans(taken_spans)
    points: list[Point] = []
    for match in P.POINT.finditer(text):
        if not match.group() or _inside(match.start(), match.end(), taken):
            continue
        point = _point(match)
        if point is None or (point.year is None and point.month is None):
            continue
        if point.month is not None and point.day is None and point.part is None and (
                bad := P.INVALID_DAY.match(text, point.end)):
            point = replace(point, end=bad.end(), invalid=True)
        points.append(point)
    for match in P.BARE_YEAR.finditer(text):
        if not _inside(match.start(), match.end(), taken):
            points.append(Point(match.start(), match.end(), int(match.group())))
    for match in P.RELATIVE_YEAR.finditer(text):
        if _inside(match.start(), match.end(), taken):
            continue
        g = match.groupdict()
        month = number(g["m"]) if g.get("m") else None
        day = number(g["d"]) if g.get("d") else None
        part = (P.MONTH_PARTS[g["mpart"]] if month and g.get("mpart")
                else _year_part(g.get("ypart")) if not month else None)
        if month is None and part is None:
            continue  # 今年 alone is an adverb, 本年度 names a year's round: not a date
        points.append(Point(match.start(), match.end(), month=month, day=day, part=part,
                            relative_year=P.RELATIVE_YEARS[g["rel"]]))
    found = Spans((p.start, p.end) for p in points)
    for match in P.BARE_PART.finditer(text):
        if _inside(match.start(), match.end(), taken) or found.overlaps(match.start(),
                                                                        match.start() + 1):
            continue
        word = match.group("ypart")
        points.append(Point(match.start(), match.start() + len(word.removesuffix("前")),
                            part=_year_part(word), relative_year=0))
    for match in P.RELATIVE_MONTH.finditer(text):
        if _inside(match.start(), match.end(), taken) or not (match.group("mpart")
                                                              or match.group("d")):
            continue
        part = P.MONTH_PARTS[match.group("mpart")] if match.group("mpart") else None
        day = number(match.group("d")) if match.group("d") else None
        points.append(Point(match.start(), match.end(), day=day, part=part, relative_year=0,
                            relative_month=1 if match.group("rel") in ("下月", "次月") else 0))
    for match in P.RELATIVE_WEEK.finditer(text):
        if not _inside(match.start(), match.end(), taken):
            points.append(Point(match.start(), match.end(), relative_year=0,
                                relative_week=1 if match.group("rel") == "下周" else 0,
                                weekday=_DAY_NAMES.index(P.WEEKDAY_NAMES[match.group("wd")])))
    for match in P.FESTIVAL.finditer(text):
        if _inside(match.start(), match.end(), taken):
            continue
        year = int(match.group("y")) if match.group("y") else None
        relative = {"明年": 1, "今年": 0}.get(match.group("rel") or "")
        points.append(Point(match.start(), match.end(), year, relative_year=relative,
                            festival=P.FESTIVALS[match.group("name")]))
    for match in P.SEASON.finditer(text):
        if not _inside(match.start(), match.end(), taken):
            points.append(Point(match.start(), match.end(), int(match.group("y")),
                                season=P.SEASONS[match.group("name")]))
    points.sort(key=lambda p: (p.start, -p.end))
    unique: list[Point] = []
    for point in points:
        if unique and point.start < unique[-1].end:
            continue
        unique.append(point)
    return unique


class Spans:
    """Spans of text already taken, asked whether a new one overlaps any, in log time (a
    long notice has thousands of each)."""

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[list[int]] = []
        for a, b in sorted(spans):
            if merged and a < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self._starts = [a for a, _ in merged]
        self._ends = [b for _, b in merged]

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._ends, start + 1)  # the first span ending after start
        return index < len(self._starts) and self._starts[index] < end

    def contains(self, start: int, end: int) -> bool:
        """Whether one span holds start..end, its first character excluded (a quote's or a
        title's opening mark)."""
        index = bisect.bisect_left(self._starts, start) - 1
        return index >= 0 and end <= self._ends[index]


def _inside(start: int, end: int, spans: Spans) -> bool:
    return spans.overlaps(start, end)


def _weekdays(days: str) -> tuple[str, ...]:
    """"二、五" → tue, fri; "一至五" → mon..fri."""
    names = list(P.WEEKDAY_NAMES)
    out: list[str] = []
    parts = re.split(r"(至|到|-|—|~)", days.replace("周", "").replace("星期", ""))
    previous: str | None = None
    ranged = False
    for part in parts:
        if part in ("至", "到", "-", "—", "~"):
            ranged = True
            continue
        for char in re.split(r"[、,和及与或]", part):
            if char not in P.WEEKDAY_NAMES:
                continue
            if ranged and previous is not None:
                a, b = names.index(previous), names.index(char)
                out.extend(P.WEEKDAY_NAMES[n] for n in names[a + 1:b + 1])
                ranged = False
            else:
                out.append(P.WEEKDAY_NAMES[char])
            previous = char
    return tuple(dict.fromkeys(out))


def _clock_ranges(text: str) -> tuple[tuple[int, int, int, int], ...]:
    found = []
    for match in P.TIME_RANGE.finditer(text):
        g = match.groupdict()
        a, b = _time(g, "a_"), _time(g, "b_")
        if a and b:
            # "下午2:00-5:00": the afternoon applies to both ends
            if g.get("a_ampm") in ("下午", "晚上") and not g.get("b_ampm") and b[0] < 12:
                b = (b[0] + 12, b[1])
            if b > a:
                found.append((*a, *b))
    return tuple(found)


Clock = tuple[int, int, int, int]  # from h:m to h:m


def _recurrence_tail(text: str, end: int) -> tuple[int, bool, bool, tuple[Clock, ...]]:
    """After a recurrence: how far its own words go (全天, times, 节假日除外)."""
    tail = text[end:end + 60]
    clause = re.split(r"[。;\n]", tail, maxsplit=1)[0]
    holidays = P.HOLIDAYS_EXCEPT.search(clause[:50])
    all_day = P.ALL_DAY.match(clause) is not None
    times = _clock_ranges(clause[:50])
    stop = end
    cursor = 0  # the hours that follow at once are the recurrence's own words too
    for found in P.TIME_RANGE.finditer(clause[:50]):
        if found.start() > cursor + 3:
            break
        cursor = found.end()
    stop = end + cursor
    if holidays:
        stop = max(stop, end + holidays.end())
    if all_day:
        stop = max(stop, end + 2)
    return stop, bool(holidays), all_day, times


def _recurrences(text: str) -> list[Mention]:
    found: list[Mention] = []

    def add(match: re.Match[str], recurrence: Recurrence) -> None:
        stop, holidays, all_day, times = _recurrence_tail(text, match.end())
        if not holidays:  # "(节假日除外)" may also come just before
            before = text[max(0, match.start() - 14):match.start()]
            holidays = bool(P.HOLIDAYS_EXCEPT.search(before))
        found.append(Mention("recurrence", match.start(), stop, recurrence=replace(
            recurrence, except_holidays=holidays or recurrence.except_holidays,
            all_day=all_day, times=times)))

    for match in P.WEEKLY.finditer(text):
        days = _weekdays(match.group("days"))
        if days:
            add(match, Recurrence(weekdays=days, every="weekly"))
    for match in P.OFFICE_DAYS.finditer(text):
        days = _weekdays(match.group("days"))
        if days:
            add(match, Recurrence(weekdays=days, every="weekly"))
    for match in P.EVERY_N_WEEKS.finditer(text):
        add(match, Recurrence(every=f"{number(match.group('n'))} weeks"))
    for match in P.WORKDAYS.finditer(text):
        add(match, Recurrence(weekdays=("mon", "tue", "wed", "thu", "fri"), every="weekly",
                              except_holidays=True))
    for match in P.MONTHLY_DAY.finditer(text):
        monthdays = [number(match.group("day"))] + [
            number(d) for d in re.findall(r"(\d{1,2}|[〇零一二三四五六七八九十两廿卅]{1,3})[日号]",
                                          match.group("more"))]
        if all(1 <= d <= 31 for d in monthdays):
            add(match, Recurrence(every="monthly", monthday=monthdays[0],
                                  monthdays=tuple(dict.fromkeys(monthdays)),
                                  deadline=bool(match.group("before"))))
    for match in P.MONTHLY.finditer(text):
        add(match, Recurrence(every="monthly", monthday=-1 if match.group("part") in ("底", "末")
                              else None))
    for match in P.QUARTERLY.finditer(text):
        add(match, Recurrence(every="3 months", monthday=-1 if match.group("part") == "末"
                              else None))
    for match in P.HALF_YEARLY.finditer(text):
        add(match, Recurrence(every="6 months"))
    for match in P.YEARLY.finditer(text):
        add(match, Recurrence(every="yearly",
                              month=number(match.group("m")) if match.group("m") else None,
                              day=number(match.group("d")) if match.group("d") else None,
                              until_month=number(match.group("m2")) if match.group("m2")
                              else None))
    for match in P.EVERY_N_YEARS.finditer(text):
        count = number(match.group("n") or match.group("n2"))
        add(match, Recurrence(every=f"{count} years" if count > 1 else "yearly"))
    for match in P.TERM.finditer(text):
        count = number(match.group("n"))
        if count > 1:
            add(match, Recurrence(every=f"{count} years", term=True))
    for match in P.DAILY.finditer(text):
        add(match, Recurrence(every="daily"))
    return _first_of_overlaps(found)


def _first_of_overlaps(mentions: list[Mention]) -> list[Mention]:
    """Of overlapping mentions, the one that starts first (the longest on a tie)."""
    mentions.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Mention] = []
    for mention in mentions:
        if kept and mention.start < kept[-1].end:
            continue
        kept.append(mention)
    return kept


def find_patterns(text: str) -> list[Mention]:
    """What is recognized as a whole, before points: numbers that look like dates and are
    not, phrases with no date to give, recurrences, "近日", "两年多以来"."""
    found: list[Mention] = []
    for pattern, reason in ((P.DOCUMENT_NUMBER, "document-number"), (P.STANDARD, "standard"),
                            (P.CODE, "code"), (P.TBD, "tbd"),
                            (P.RELATIVE_UNKNOWN, "relative-unknown"),
                            (P.DURATION, "duration")):
        found.extend(Mention("skip", m.start(), m.end(), skip_reason=reason)
                     for m in pattern.finditer(text))
    found.extend(Mention("skip", m.start(), m.end(), skip_reason="relative-unknown")
                 for m in P.SAME_DAY.finditer(text))
    for match in P.AFTER_PUBLICATION.finditer(text):
        found.append(Mention("after-publication", match.start(), match.end(),
                             label=match.group(), days=number(match.group("n")),
                             working=match.group("work") == "个工作日"))
    found.extend(Mention("effect-on-publication", m.start(), m.end(), label=m.group())
                 for m in re.finditer(r"自(?:印发|发布|公布|下发)之日起(?:施行|实施|执行|生效)",
                                      text))
    taken = Spans(m.span for m in found)
    found.extend(m for m in _recurrences(text) if not _inside(m.start, m.end, taken))
    taken = Spans(m.span for m in found)
    for match in P.RECENTLY.finditer(text):
        if not _inside(match.start(), match.end(), taken):
            found.append(Mention("recently", match.start(), match.end()))
    for match in P.YEARS_AGO.finditer(text):
        if _inside(match.start(), match.end(), taken):
            continue
        before = text[max(0, match.start() - 1):match.start()]
        if before.isdigit() or before in ("第", "近", "这", "多"):  # "近三年来": a span
            continue
        years = number(match.group("n"))
        if 1 <= years <= 50:
            found.append(Mention("years-ago", match.start(), match.end(), years_ago=years,
                                 more=bool(match.group("more"))))
    return _first_of_overlaps(found)


def _inherit(later: Point, earlier: Point) -> Point:
    """The second end of a range takes what it leaves out from the first
    ("2025年3月1日至31日", "3月1日至4月30日")."""
    updates: dict[str, Any] = {}
    if later.year is None and later.relative_year is None:
        if earlier.year is not None:
            updates["year"] = earlier.year
            updates["year_inferred"] = True
        elif earlier.relative_year is not None:
            updates["relative_year"] = earlier.relative_year
    if later.month is None and later.day is not None:
        updates["month"] = earlier.month
    return replace(later, **updates) if updates else later


def _earlier_from_later(earlier: Point, later: Point) -> Point:
    """"3月1日至2025年3月31日": the first end takes its year from the second."""
    if earlier.year is None and earlier.relative_year is None and later.year is not None:
        year = later.year
        if earlier.month and later.month and earlier.month > later.month:
            year -= 1
        return replace(earlier, year=year, year_inferred=True)
    return earlier


def compose(text: str, points: list[Point]) -> list[Mention]:
    """Points joined into ranges and given their markers."""
    mentions: list[Mention] = []
    index = 0
    while index < len(points):
        point = points[index]
        start, end = point.start, point.end
        before = text[max(0, start - 30):start]
        # a range: A至B, A—B, 从A到B, A起至B
        following = points[index + 1] if index + 1 < len(points) else None
        if following is not None and P.RANGE_LINK.match(text[end:following.start]):
            last = _inherit(following, point)
            first = _earlier_from_later(point, last)
            opener = P.RANGE_OPEN.search(before[-1:])
            close = P.RANGE_CLOSE.match(text[last.end:last.end + 2])
            marker: Marker = "deadline" if close and close.group() == "前" else ""
            mentions.append(Mention("range", start - (1 if opener else 0),
                                    last.end + (len(close.group()) if close else 0),
                                    first=first, last=last, marker=marker))
            index += 2
            continue
        # a range whose second end is a bare day or a time: 3月1日至31日, 9:00-11:30
        tail = text[end:end + 16]
        day_only = re.match(r"(?:起)?(?:至|到|—|-|~)" + P.DAY_ONLY.pattern, tail)
        if day_only and point.day is not None:
            day = number(day_only.group("d"))
            if point.day < day <= 31:
                last = replace(point, start=end, end=end + day_only.end(), day=day, hour=None)
                mentions.append(Mention("range", start, last.end, first=point, last=last))
                index += 1
                continue
        clock_to = re.match(r"(?:-|—|~|至|到)" + P.TIME_ONLY.pattern, tail)
        if clock_to and point.timed:
            clock = _time(clock_to.groupdict())
            if clock and clock > (point.hour or 0, point.minute):
                last = replace(point, start=end, end=end + clock_to.end(), hour=clock[0],
                               minute=clock[1])
                mentions.append(Mention("range", start, last.end, first=point, last=last))
                index += 1
                continue
        # an open start: 即日起至B, 自工作方案发布之日起至B
        opening = P.OPEN_START.search(before)
        if opening:
            label = opening.group("label")
            close = P.RANGE_CLOSE.match(text[end:end + 2])
            mentions.append(Mention("open-range", start - len(before) + opening.start(),
                                    end + (len(close.group()) if close else 0), last=point,
                                    label=label))
            index += 1
            continue
        # "2026年1月8日、9日": more days of the same month; the next day makes a span of
        # two, others are days of their own
        more = _NEXT_DAY.match(text, end) if point.day is not None else None
        if more and number(more.group("d")) == (point.day or 0) + 1 and \
                not _NEXT_DAY.match(text, more.end()):
            last = replace(point, start=more.start("d"), end=more.end(),
                           day=number(more.group("d")), hour=None, minute=0)
            mentions.append(Mention("range", start, last.end, first=point, last=last))
            index += 1
            continue
        mentions.append(_marked(text, point))
        at = mentions[-1].end
        while point.day is not None and (more := _NEXT_DAY.match(text, at)):
            day = number(more.group("d"))
            if not 1 <= day <= 31:
                break
            extra = replace(point, start=more.start("d"), end=more.end(), day=day,
                            hour=None, minute=0)
            mentions.append(_marked(text, extra))
            at = mentions[-1].end
        index += 1
    return mentions


_NEXT_DAY = re.compile(rf"、{P.DAY_ONLY.pattern}")


def _marked(text: str, point: Point) -> Mention:
    start, end = point.start, point.end
    before = text[max(0, start - 12):start]
    after = text[end:end + 8]
    if text.startswith("内", end - 1) and point.part == "year-end":
        # 年内, 2025年内: within the year, a deadline at its end
        by = P.BY_BEFORE.search(before)
        return Mention("point", start - (1 if by else 0), end, first=point, marker="deadline")
    approx = P.APPROX_AFTER.match(after)
    if approx:  # 3月31日前后, 左右: about then
        return Mention("point", start, end + approx.end(), first=point, marker="approx")
    until = P.UNTIL_BEFORE.search(before)
    if until:  # 有效期至2026年12月31日
        return Mention("point", start - 1, end, first=point, marker="deadline")
    if point.part in ("year-end", "month-end") and after.startswith("前"):
        after_match: re.Match[str] | None = re.match("前", after)
    else:
        after_match = P.DEADLINE_AFTER.match(after)
    if after_match:
        by = P.BY_BEFORE.search(before)
        return Mention("point", start - (1 if by else 0), end + after_match.end(),
                       first=point, marker="deadline")
    deadline_before = P.DEADLINE_BEFORE.search(before)
    if deadline_before:
        return Mention("point", start - len(deadline_before.group()), end, first=point,
                       marker="deadline")
    effect = P.EFFECT_AFTER.match(after)
    if effect:
        opener = 1 if before.endswith(("自", "从", "于")) else 0
        return Mention("point", start - opener, end + effect.end(), first=point,
                       marker="effect")
    since = P.SINCE_AFTER.match(after)
    if since:
        return Mention("point", start, end + since.end(), first=point, marker="since")
    begin = P.START_AFTER.match(after)
    if begin:
        opener = 1 if before.endswith(("自", "从")) else 0
        return Mention("point", start - opener, end + begin.end(), first=point,
                       marker="start")
    if point.part in ("year-end", "month-end") and P.BY_BEFORE.search(before):
        return Mention("point", start - 1, end, first=point, marker="by")
    return Mention("point", start, end, first=point)


def recognize(text: str) -> list[Mention]:
    """Every date expression of the normalized text, in order."""
    wholes = find_patterns(text)
    points = find_points(text, [m.span for m in wholes])
    return sorted([*wholes, *compose(text, points)], key=lambda m: m.start)
