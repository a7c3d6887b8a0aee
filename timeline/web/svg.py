"""The Gantt-like chart: each story's phases, windows and dates across the years, as SVG.

Server-rendered SVG needs no script and no chart library. Dates that the source gives only
approximately (a month, a year-end, "recently") are drawn hollow and dashed, and every mark's
tooltip shows the date as `format_when` words it, so the chart never claims an exact day the
source does not give.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from typing import NamedTuple

from timeline.formatting import Lang, format_when
from timeline.loader import LoadedTimeline
from timeline.model import Deadline, Happening, Precision, Recurring, Story, Window
from timeline.occurrences import AnyEvent
from timeline.recurrence import Rule
from timeline.web.text import t

__all__ = ["Chart", "chart_svg"]

WIDTH = 1000
LEFT = RIGHT = 16
TOP = 44  # room for the year labels and the "today" label
ROW = 24
STORY_ROW = 28
YEARS_BEFORE = 2  # recent history worth seeing next to what is coming
YEARS_AFTER_MAX = 12  # far-off items are listed on the page, not squeezed into the chart
TICKS_MAX = 60  # more occurrences than this read better as one band
_YEAR = timedelta(days=366)
LABEL_UNITS = 24  # label length cap, in CJK-character widths
# More rows than this make a chart taller than a phone's screen many times over (and 100 KB
# of SVG): the rows nearest today are drawn, the lists below have the rest.
ROWS_MAX = 60

_STYLE = """
.yr{stroke:#e2e8f0}.yl{font-size:12px;fill:#718096}
.st{font-size:13px;font-weight:700;fill:#1a202c}.sep{stroke:#cbd5e0}
.lb{font-size:12px;fill:#2d3748;paint-order:stroke;stroke:#fff;stroke-width:3px}
.bar{stroke-width:1.5}.window{fill:#68d391;stroke:#2f855a}
.phase{fill:#fbd38d;stroke:#dd6b20}.span{fill:#90cdf4;stroke:#2b6cb0}
.recurring{fill:#d6bcfa;stroke:#6b46c1}.tick{fill:#6b46c1}
.mark{stroke-width:1.5}.mark.deadline{fill:#dd6b20;stroke:#9c4221}
.mark.happening{fill:#3182ce;stroke:#2c5282}
.approx{fill-opacity:.25;stroke-dasharray:3 2}.mark.approx{fill:#fff;fill-opacity:1}
.today{stroke:#e53e3e;stroke-width:2}.tl{font-size:12px;fill:#e53e3e;font-weight:700}
"""


@dataclass
class _Row:
    event: AnyEvent
    start: date
    end: date  # inclusive
    ticks: list[date] = field(default_factory=list)
    mark: date | None = None  # a deadline's due day or a single-day happening
    open_start: bool = False  # a window whose opening day the source does not give
    open_end: bool = False  # a rule without an end: it must not stretch the chart
    label: str = ""


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _due_order(event: Deadline) -> tuple[date, int, float]:
    """By day, and on one day timed deadlines by their time before an all-day one (which
    runs to the day's end): a date and a datetime do not compare."""
    due = event.due
    return (_day(due), 0, due.timestamp()) if isinstance(due, datetime) else (due, 1, 0.0)


def _rows(loaded: LoadedTimeline, story: Story, events: Sequence[AnyEvent], first: date,
          last: date, only: Collection[str] | None = None) -> list[_Row]:
    """The story's rows; with `only`, just those events' (every deadline still counts
    for where the next phase starts)."""
    published = _day(story.published)
    rows: list[_Row] = []
    # Deadlines of one story read as consecutive phases: each runs from the day after the
    # previous one (the first from the story's publication) to its own due day.
    phase_start = published
    for deadline in sorted((e for e in events if isinstance(e, Deadline)), key=_due_order):
        due = _day(deadline.due)
        if only is None or deadline.id in only:
            rows.append(_Row(deadline, min(phase_start, due), due, mark=due))
        phase_start = due + timedelta(days=1)
    for event in events:
        if only is not None and event.id not in only:
            continue  # spares expanding a rule nobody will see
        if isinstance(event, Window):
            start = _day(event.start) if event.start is not None else min(published,
                                                                           _day(event.end))
            rows.append(_Row(event, start, _day(event.end), open_start=event.start is None))
        elif isinstance(event, Happening):
            start = _day(event.date)
            end = _day(event.end) if event.end is not None else start
            rows.append(_Row(event, start, end, mark=start if end == start else None))
        elif isinstance(event, Recurring):
            rule = loaded.rules[event.id]
            span = _rule_span(rule, first, last)
            if span is not None:
                start, end, ticks = span
                rows.append(_Row(event, start, end, ticks=ticks,
                                 open_end=rule.last_day is None))
    rows.sort(key=lambda r: (r.start, r.end, r.event.id))
    return rows


def _rule_span(rule: Rule, first: date, last: date) -> tuple[date, date, list[date]] | None:
    """A rule's first and last day within first..last, and its days when they are to be
    drawn one by one. Sparse rhythms (yearly, every 3 years) show each date; dense ones
    (twice a week) would smear into a band anyway, so they are drawn as one, and only a
    year at each end is expanded (a daily rule since 1900 across 14 years cost 0.03 s)."""
    low = max(first, _day(rule.dtstart))
    high = last if rule.last_day is None else min(last, rule.last_day)
    if low > high:
        return None
    head = [_day(d) for d in rule.between(low, min(high, low + _YEAR))]
    if len(head) > 13:  # more than one a month on average: dense
        tail = rule.between(max(low, high - _YEAR), high)
        return head[0], _day(tail[-1]) if tail else head[-1], []
    days = [_day(d) for d in rule.between(low, high)]
    if not days:
        return None
    sparse = (days[-1] - days[0]).days > 30 * (len(days) - 1)
    return days[0], days[-1], days if len(days) <= TICKS_MAX and sparse else []


def _label(rows: list[_Row], lang: Lang) -> None:
    """Short labels, except where shortening makes two rows of a story read the same."""
    titles = [r.event.in_lang("title", lang)
              for r in rows]
    short = [_short(title) for title in titles]
    for row, title, label in zip(rows, titles, short, strict=True):
        row.label = label if short.count(label) == 1 else _short(title, cut=False)


def _short(title: str, cut: bool = True, units_max: float = LABEL_UNITS) -> str:
    """The label: the title up to its parenthesised details, capped in width."""
    for stop in ("（", " (") if cut else ():
        head = title.split(stop, 1)[0]
        # Not inside a book title: 《2024年老旧车辆（柴油货车）…》 keeps its bracket.
        if head.count("《") == head.count("》"):
            title = head
    units = 0.0
    for i, char in enumerate(title):
        units += 1 if ord(char) > 0x2E7F else 0.55
        if units > units_max:
            return title[:i].rstrip() + "…"
    return title


def _width(text: str) -> float:
    return sum(12 if ord(c) > 0x2E7F else 6.6 for c in text)


def _when(row: _Row, lang: Lang) -> str:
    precision = row.event.precision
    if row.start == row.end:
        return format_when(row.end, precision, lang)
    start = format_when(row.start, precision, lang)
    if row.open_start and isinstance(row.event, Window):
        start = row.event.in_lang("start_label", lang) or t("open_start", lang)
    return f"{start} – {format_when(row.end, precision, lang)}"


class Chart(NamedTuple):
    svg: str  # an inline `<svg>` element, its styles inside, no script
    note: str  # what the chart leaves out, in words ("" when nothing)
    today_x: float  # where the today line is, as a fraction of the chart's width


def _distance(row: _Row, today: date) -> int:
    """Days between a row and today (0 when it spans today)."""
    if row.start <= today <= row.end:
        return 0
    return min(abs((row.start - today).days), abs((row.end - today).days))


def _nearest(stories: list[tuple[Story, list[_Row]]], today: date,
             most: int) -> list[tuple[Story, list[_Row]]]:
    """At most `most` rows, those nearest today, each story's in their order."""
    ranked = sorted((_distance(r, today), r.start, r.event.id) for _, rows in stories
                    for r in rows)
    keep = {event_id for _, _, event_id in ranked[:most]}
    return [(s, [r for r in rows if r.event.id in keep]) for s, rows in stories]


def chart_svg(loaded: LoadedTimeline, today: date, lang: Lang = "zh", *,
              stories: Collection[str] | None = None, only: Collection[str] | None = None,
              by_story: Mapping[str, Sequence[AnyEvent]] | None = None,
              rows_max: int = ROWS_MAX, note_more: str = "") -> Chart:
    """The chart from two years before `today`: of the stories named (all by default), of
    the events named in `only` (all by default), at most `rows_max` rows. `by_story` is the
    events grouped by story when the caller has them (the page's catalog)."""
    first = date(today.year - YEARS_BEFORE, 1, 1)
    limit = date(today.year + YEARS_AFTER_MAX, 12, 31)
    if by_story is None:
        grouped: dict[str, list[AnyEvent]] = {}
        for event in loaded.timeline.events:
            grouped.setdefault(event.story, []).append(event)
        by_story = grouped
    if only is not None:
        timeline = loaded.timeline
        with_items = {timeline.event(e).story for e in only}
        stories = with_items if stories is None else set(stories) & with_items
    chosen = [s for s in loaded.timeline.stories if stories is None or s.id in stories]
    every = [(s, _rows(loaded, s, by_story.get(s.id, ()), first, limit, only)) for s in chosen]
    every = [(s, rows) for s, rows in every if rows]
    stories_rows = every
    ends = [r.end for _, rows in stories_rows for r in rows
            if not r.open_end and r.end >= first and r.start <= limit]
    last_year = max([today.year + 1, *(d.year for d in ends)])
    domain_end = date(min(last_year, limit.year) + 1, 1, 1)
    shown = [(s, [r for r in rows if r.end >= first and r.start < domain_end])
             for s, rows in stories_rows]
    hidden = sum(len(rows) for _, rows in stories_rows) - sum(len(rows) for _, rows in shown)
    in_range = sum(len(rows) for _, rows in shown)
    if in_range > rows_max:
        shown = _nearest(shown, today, rows_max)
    capped = in_range - min(in_range, rows_max)
    for _, rows in shown:
        _label(rows, lang)
        for row in rows:
            row.ticks = [d for d in row.ticks if d < domain_end]
    span = (domain_end - first).days
    plot = WIDTH - LEFT - RIGHT

    def x(day: date) -> float:
        clipped = min(max(day, first), domain_end)
        return round(LEFT + (clipped - first).days / span * plot, 1)

    body: list[str] = []
    y = TOP
    for story, rows in shown:
        if not rows:
            continue
        title = story.in_lang("title", lang)
        body.append(f'<line class="sep" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y + 4}" '
                    f'y2="{y + 4}"/><text class="st" x="{LEFT}" y="{y + 20}">'
                    f'{escape(_short(title, cut=False, units_max=70))}</text>')
        y += STORY_ROW
        for row in rows:
            body.append(_row_svg(row, x, y, lang))
            y += ROW
    height = y + 12
    years = range(first.year, domain_end.year)
    grid = "".join(
        f'<line class="yr" x1="{x(date(yr, 1, 1))}" x2="{x(date(yr, 1, 1))}" y1="20" '
        f'y2="{height}"/><text class="yl" x="{x(date(yr, 1, 1)) + 4}" y="14">{yr}</text>'
        for yr in years)
    tx = x(today) + round(0.5 / span * plot, 1)
    today_text = f"{t('today', lang)} {today.isoformat()}"
    anchor = "end" if tx > WIDTH - 160 else "start"
    today_svg = (f'<line id="today-line" class="today" x1="{tx}" x2="{tx}" y1="20" '
                 f'y2="{height}"><title>{escape(today_text)}</title></line>'
                 f'<text class="tl" x="{tx + (4 if anchor == "start" else -4)}" y="34" '
                 f'text-anchor="{anchor}">{escape(today_text)}</text>')
    notes = []
    if hidden:
        notes.append(t("chart_hidden", lang, n=hidden, first=first.year,
                       last=domain_end.year - 1))
    if capped:
        notes.append(t("chart_capped", lang, shown=rows_max, n=capped))
    if note_more:
        notes.append(note_more)
    note = " ".join(notes)
    label = f"{t('chart', lang)} {first.year}–{domain_end.year - 1}"
    return Chart(f'<svg xmlns="http://www.w3.org/2000/svg" id="chart" role="img" '
            f'aria-labelledby="chart-title chart-desc" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" data-first="{first}" data-last="{domain_end - timedelta(days=1)}">'
            f'<title id="chart-title">{escape(label)}</title>'
            f'<desc id="chart-desc">{escape(t("chart_desc", lang) + " " + note)}</desc>'
            f"<style>{_STYLE}</style>{grid}{''.join(body)}{today_svg}</svg>", note,
            round(tx / WIDTH, 4))


def _row_svg(row: _Row, x: Callable[[date], float], y: int, lang: Lang) -> str:
    event = row.event
    approx = " approx" if event.precision is not Precision.DAY else ""
    title = event.in_lang("title", lang)
    tip = f"<title>{escape(title)} · {escape(_when(row, lang))}</title>"
    x0, x1 = x(row.start), x(row.end + timedelta(days=1))
    mid = y + 12
    # One tooltip for the row's group (bar, mark and label alike), not one per shape.
    parts = [f'<g data-event="{escape(event.id)}">{tip}']
    if row.ticks:
        parts += [f'<rect class="tick" x="{x(d)}" y="{mid - 6}" width="1.6" height="12"/>'
                  for d in row.ticks]
    elif row.start != row.end or row.mark is None:
        kind = {"deadline": "phase", "window": "window", "happening": "span"}.get(
            event.kind, "recurring")
        dashed = " approx" if approx or row.open_start else ""
        parts.append(f'<rect class="bar {kind}{dashed}" x="{x0}" y="{mid - 5}" '
                     f'width="{max(round(x1 - x0, 1), 2)}" height="10" rx="3"/>')
    if row.mark is not None:
        cx = round((x(row.mark) + x(row.mark + timedelta(days=1))) / 2, 1)
        if isinstance(event, Deadline):
            parts.append(f'<polygon class="mark deadline{approx}" points="{cx},{mid - 7} '
                         f'{cx + 7},{mid} {cx},{mid + 7} {cx - 7},{mid}"/>')
        else:
            parts.append(f'<circle class="mark happening{approx}" cx="{cx}" cy="{mid}" '
                         f'r="5"/>')
    label = row.label
    width = _width(label)
    # Clear of the marker, which is wider than a single day's bar.
    right, left = round(max(x1, x0 + 7) + 8, 1), round(min(x0, x1 - 7) - 8, 1)
    if right + width <= WIDTH - RIGHT:
        parts.append(f'<text class="lb" x="{right}" y="{mid + 4}">{escape(label)}</text>')
    elif left - width >= LEFT:
        parts.append(f'<text class="lb" x="{left}" y="{mid + 4}" text-anchor="end">'
                     f"{escape(label)}</text>")
    else:  # a bar across most of the chart: the label sits on it, haloed for contrast
        parts.append(f'<text class="lb" x="{LEFT + 4}" y="{mid + 4}">{escape(label)}</text>')
    parts.append("</g>")
    return "".join(parts)
