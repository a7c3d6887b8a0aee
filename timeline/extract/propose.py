"""From readings to candidate events in the events.yaml schema, each with its evidence.

A candidate is a real model (`Deadline`, `Window`, `Happening`, `Recurring`) built and
validated the way `timeline check` does, so whatever is proposed can be merged as it is.
Its `source` is the sentence the date was read from, as the original wrote it (the layout's
line breaks removed); `evidence` points at the date expression itself in the original.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from timeline.durations import format_lead
from timeline.extract import patterns as P
from timeline.extract.anchor import Published
from timeline.extract.classify import Reading
from timeline.extract.normalize import Normalized
from timeline.extract.recognize import Recurrence
from timeline.extract.stories import StorySpan
from timeline.model import DEFAULT_TIMEZONE, Event, Precision, Recurring, Story, Window
from timeline.recurrence import RuleError, add_years, build_rule

__all__ = ["Candidate", "Evidence", "propose", "slugify", "story_models"]

_EVENT = TypeAdapter(Event)
_SENTENCE_END = re.compile(r"[。!?;\n]")
_FILLER = re.compile(r"^(?:,|:|;|、|并|将|要|需|须|应|请|力争|确保|前|起|止|为止|之前|以前|"
                     r"完成|期间|开展|进行|在|于|到|至|是|为|的|即)+")
_TRAILING = re.compile(r"(?:,|、|:|;|的|等|和|及|并|于|在|到|至|为)+$")


@dataclass(frozen=True)
class Evidence:
    quote: str  # the date expression exactly as the original writes it
    start: int  # offsets in the original text
    end: int


@dataclass(frozen=True)
class Candidate:
    event: Any  # Deadline | Window | Happening | Recurring, validated
    evidence: Evidence
    confidence: float
    story_index: int


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)[:48].strip("-")


def _sentence(norm: Normalized, start: int, end: int) -> tuple[int, int]:
    """The sentence around normalized text[start:end]."""
    text = norm.text
    head = max((m.end() for m in _SENTENCE_END.finditer(text, max(0, start - 300), start)),
               default=max(0, start - 300))
    tail_match = _SENTENCE_END.search(text, end, end + 300)
    tail = tail_match.end() if tail_match else min(len(text), end + 300)
    if tail - head > 220:  # a run-on sentence: the clauses around the date
        head = max(head, start - 80)
        tail = min(tail, end + 120)
    return head, tail


def _original(original: str, norm: Normalized, start: int, end: int) -> str:
    """The original text of normalized [start, end), with the layout's line breaks out."""
    a, b = norm.original_span(start, end)
    quote = original[a:b]
    quote = re.sub(r"\s*\n\s*", lambda m: " " if _ascii_pair(quote, m) else "", quote)
    return quote.strip().rstrip("\n")


def _ascii_pair(text: str, match: re.Match[str]) -> bool:
    before = text[match.start() - 1:match.start()]
    after = text[match.end():match.end() + 1]
    return before.isascii() and before.isalpha() and after.isascii() and after.isalpha()


def _cjk(words: str) -> int:
    return len(re.findall(r"[\u4e00-\u9fff]", words))


def _strip(text: str, start: int, end: int, lead: re.Pattern[str] | None,
           trail: re.Pattern[str] | None) -> tuple[int, int]:
    """The span without the filler words `lead` and `trail` match at its ends."""
    if lead is not None and (found := lead.match(text, start, end)):
        start = found.end()
    if trail is not None and (found := trail.search(text[start:end])):
        end = start + found.start()
    return start, max(start, end)


_SUBJECT_TAIL = re.compile(r"(?:的)?(?:时间|日期|期限|截止时间)?(?:为|是|定于|:|\()*$")
_WINDOW_TAIL = re.compile(r"(?:为|是|:|\(|于)+$")
# "投标文件递交的截止时间为DATE", "开标时间:DATE": the words before the date are the subject
_SUBJECT_FORM = re.compile(r"(?:(?:时间|日期|期限)(?:为|是|:)+|[\u4e00-\u9fff]{2,10}:)$")
# after a date, words that are not what the item is: "(法定节假日除外)每日上午9:00-11:30"
_AFTER_NOISE = re.compile(r"(?:\([^()]{0,20}\)|每[日天]|上午|下午|[\d:\-—~至]+)+")


def _title_spans(norm: Normalized, reading: Reading) -> list[tuple[int, int]]:
    """Where the words that say what the item is lie: the clause after the date
    ("到2025年底前，建成绿电产业园区"), the one before it ("网上申报系统将于…关闭": both
    sides), or the subject of a window ("申报时间自…至…")."""
    text, mention = norm.text, reading.mention
    if reading.recurrence is not None and reading.recurrence.term:
        return [(mention.start, mention.end)]
    a0 = mention.end
    while a0 < len(text) and text[a0] in ",:":  # the date ended its clause: the next one
        a0 += 1
    breaks = re.compile(r"[,。;!?\n]")
    a1 = found.start() if (found := breaks.search(text, a0, a0 + 60)) else min(len(text),
                                                                                a0 + 60)
    after = _strip(text, a0, min(a1, a0 + 60), _FILLER, _TRAILING)
    after = _strip(text, *after, _AFTER_NOISE, None)
    b0 = max((m.end() for m in breaks.finditer(text, max(0, mention.start - 60),
                                               mention.start)), default=max(0, mention.start - 60))
    before = _strip(text, b0, mention.start, P.LIST_ITEM,
                    _WINDOW_TAIL if reading.kind == "window" else _SUBJECT_TAIL)
    before = _strip(text, *before, None, _TRAILING)
    after_words, before_words = text[slice(*after)], text[slice(*before)]
    subject = _SUBJECT_FORM.search(text[b0:mention.start]) is not None
    # "初赛:4月下旬", "本办法自…起施行": the words before the date say what it is
    effect = mention.marker == "effect"
    if (reading.kind == "window" or subject or effect) and _cjk(before_words) >= 2:
        return [before]
    if reading.kind == "window":
        # "请于DATE…到…购买招标文件": what one does in the window, later in the sentence
        head, tail = _sentence(norm, mention.start, mention.end)
        act = P.APPLICATION.search(text, mention.end, tail)
        if act:
            stop = breaks.search(text, act.start(), tail)
            return [(act.start(), stop.start() if stop else tail)]
    if _cjk(after_words) >= 4:
        return [after]
    if _cjk(before_words) >= 2:
        return [before, after] if _cjk(after_words) else [before]
    if _cjk(after_words) >= 2:
        return [after]
    head, tail = _sentence(norm, mention.start, mention.end)
    return [(head, mention.start), (mention.end, tail)]


def _title(original: str, norm: Normalized, reading: Reading, story_title: str) -> str:
    words = "".join(_original(original, norm, a, b) for a, b in _title_spans(norm, reading))
    words = words.strip(" ，,：:；;、。（(")
    if reading.mention.marker == "effect" and not words.endswith(("施行", "实施")):
        words += "施行"
    if _cjk(words) < 4 and story_title:
        # "申报时间" alone says little in a calendar: whose application
        topic = re.sub(r"^关于|的(?:通知|公告|通告|函)$", "", story_title)
        words = f"{words}——{_cut(topic, 24)}" if words else topic
    return _cut(words) or _original(original, norm, reading.mention.start, reading.mention.end)


def _cut(words: str, limit: int = 60) -> str:
    if len(words) <= limit:
        return words
    cut = max(words.rfind(c, 0, limit) for c in "、,(")
    return words[:cut] if cut >= 12 else words[:limit] + "…"


def _story_tags(story_text: str) -> list[str]:
    """The tags a story's words suggest for all its items (a word three times or more)."""
    return [tag for tag, words in P.TAG_WORDS.items()
            if sum(story_text.count(w) for w in words) >= 3]


def _tags(text: str, story_tags: list[str]) -> list[str]:
    tags = [tag for tag, words in P.TAG_WORDS.items() if any(w in text for w in words)]
    return [*tags, *(t for t in story_tags if t not in tags)][:4]


def _when(value: date | datetime) -> str:
    return value.isoformat(timespec="minutes") if isinstance(value, datetime) else \
        value.isoformat()


def _recurring_fields(reading: Reading, rule: Recurrence, published: Published | None,
                      windows: list[tuple[str, Window]]) -> dict[str, Any] | None:
    fields: dict[str, Any] = {}
    if rule.weekdays and rule.every == "weekly":
        fields["weekdays"] = list(rule.weekdays)
    elif rule.monthday is not None and rule.monthday > 0:
        days = ",".join(map(str, rule.monthdays or (rule.monthday,)))
        fields["rrule"] = f"FREQ=MONTHLY;BYMONTHDAY={days}"
    elif rule.monthday == -1:
        # 每季度末: the last days of March, June, September and December
        fields["rrule"] = ("FREQ=MONTHLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1"
                           if rule.every == "3 months" else "FREQ=MONTHLY;BYMONTHDAY=-1")
    elif rule.every == "yearly" and rule.month:
        fields["rrule"] = f"FREQ=YEARLY;BYMONTH={rule.month}" + (
            f";BYMONTHDAY={rule.day}" if rule.day else "")
    elif rule.every == "daily":
        fields["rrule"] = "FREQ=DAILY"
    else:
        fields["every"] = rule.every
    if rule.except_holidays:
        fields["except"] = ["cn-holidays"]
    start: date | None = None
    end: date | None = None
    if len(windows) == 1 and windows[0][1].start is not None:
        fields["within"] = windows[0][0]
    elif windows:
        starts = [w.start for _, w in windows if w.start is not None]
        start = min(starts) if len(starts) == len(windows) else (
            published.day if published else None)
        end = max(w.end for _, w in windows)
        if start is None:
            return None
    elif published is not None:
        start = published.day
        if rule.term and rule.every:
            start = add_years(published.day, int(rule.every.split()[0]))
        elif rule.every == "yearly" and rule.month:
            start = date(published.day.year, rule.month, rule.day or 1)
            if start < published.day:
                start = add_years(start, 1)
    else:
        return None
    if isinstance(start, datetime):
        start = start.date()
    if isinstance(end, datetime):
        end = end.date()
    if rule.times:
        # one span, or the first start to the last end of several (上午…、下午…)
        h, m = rule.times[0][:2]
        h2, m2 = rule.times[-1][2:]
        first = start or min((w.start for _, w in windows if w.start is not None),
                             default=None)
        if first is not None:
            start = datetime.combine(first, time(h, m))
            fields["duration"] = format_lead(timedelta(hours=h2 - h, minutes=m2 - m))
    if start is not None:
        fields["start"] = _when(start)
    if end is not None:
        fields["end"] = _when(end)
    return fields


def _reminders(reading: Reading, rule: Recurrence | None) -> list[str] | None:
    """Lead times where the kind's defaults would not serve: none for history and for
    vague or frequent items (office hours twice a week need no reminder each time)."""
    if reading.past or (reading.kind == "happening"
                        and reading.precision is Precision.APPROXIMATE):
        return []
    if rule is not None:
        if rule.weekdays or rule.every == "daily":
            return []
        if rule.term:
            return ["90d", "30d"]
        if rule.every == "yearly" and rule.month is None:
            return ["30d"]
    return None


def _fields(reading: Reading, published: Published | None,
            windows: list[tuple[str, Window]]) -> dict[str, Any] | None:
    first, last = reading.first, reading.last
    if reading.kind == "deadline":
        assert last is not None
        return {"due": _when(last)}
    if reading.kind == "window":
        assert last is not None
        fields: dict[str, Any] = {"end": _when(last)}
        if first is not None:
            fields = {"start": _when(first), **fields}
        if reading.start_label:
            fields["start_label"] = reading.start_label
        return fields
    if reading.kind == "happening":
        assert first is not None
        fields = {"date": _when(first)}
        if last is not None and last != first:
            fields["end"] = _when(last)
        return fields
    assert reading.recurrence is not None
    return _recurring_fields(reading, reading.recurrence, published, windows)


def _story_title(original: str, norm: Normalized, story: StorySpan) -> str:
    """The story's title as the original writes it (full-width punctuation and all)."""
    if not story.title:
        return ""
    at = norm.text.find(story.title, story.start)
    if at < 0:
        return story.title
    return _original(original, norm, at, at + len(story.title))


def _rule_holds(event: Recurring, windows: list[tuple[int, str, Window]]) -> bool:
    known = {ident: window for _, ident, window in windows}
    try:
        build_rule(event, known.get, ZoneInfo(DEFAULT_TIMEZONE))
    except RuleError:
        return False
    return True


def story_models(original: str, norm: Normalized, stories: list[StorySpan], ids: list[str],
                 published: Published | None, name: str, issuer: str | None) -> list[Story]:
    out = []
    base = Path(name).name  # where the notice lies on this machine is nobody's business
    for story, ident in zip(stories, ids, strict=True):
        data: dict[str, Any] = {
            "id": ident, "title": _story_title(original, norm, story) or name,
            "source": {"newspaper": issuer or f"{base}（发布单位待核对）", "file": base},
        }
        if published is not None:
            data["published"] = published.day.isoformat()
            data["published_precision"] = published.precision.value
            data["published_note"] = {
                "--published": "发布日期由 --published 给出。",
                "signature": "发布日期取自文末落款。",
                "header": "发布日期取自页首。"}.get(published.origin, "")
        else:
            data["published"] = date.today().isoformat()
            data["published_precision"] = "approximate"
            data["published_note"] = "通知未写发布日期；以提取之日为约数，请核对。"
        out.append(Story.model_validate(data))
    return out


def _story_of(stories: list[StorySpan], position: int) -> int:
    for index, story in enumerate(stories):
        if story.start <= position < story.end:
            return index
    return len(stories) - 1


def _window_groups(rule: Recurrence, windows: list[tuple[str, Window]]
                   ) -> list[list[tuple[str, Window]]]:
    """The windows an item's hours run through, as groups one item each can span: two
    windows with a gap between them that has days of the rule (April between a March and a
    May window, for Tuesdays and Fridays) give two items, not one that runs through April."""
    if len(windows) < 2:
        return [windows]
    ordered = sorted(windows, key=lambda w: w[1].end)
    groups = [[ordered[0]]]
    for ident, window in ordered[1:]:
        before = groups[-1][-1][1].end
        gap_start = _day(before) + timedelta(days=1)
        gap_end = (_day(window.start) - timedelta(days=1)) if window.start else gap_start
        if _occurs_between(rule, gap_start, gap_end):
            groups.append([(ident, window)])
        else:
            groups[-1].append((ident, window))
    return groups


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _occurs_between(rule: Recurrence, first: date, last: date) -> bool:
    if last < first:
        return False
    if not rule.weekdays:
        return True  # a monthly or yearly rule: keep each window's own
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    days = {names.index(d) for d in rule.weekdays}
    span = (last - first).days + 1
    return any((first + timedelta(days=n)).weekday() in days for n in range(min(span, 7)))


def propose(original: str, norm: Normalized, readings: list[Reading],
            stories: list[StorySpan], story_ids: list[str],
            published: Published | None) -> list[Candidate]:
    """Candidate events for the readings, in text order, ids unique."""
    used: set[str] = set()
    counts: dict[str, int] = {}  # per id base, the last number given (ids unique in O(1))
    story_tags: dict[int, list[str]] = {}
    out: list[Candidate] = []
    windows: dict[int, list[tuple[int, str, Window]]] = {}  # per story: (position, id, model)
    spans: dict[int, list[int]] = {}  # per story: where each range ends
    for reading in readings:
        mention = reading.mention
        index = _story_of(stories, mention.start)
        story = stories[index]
        rule = reading.recurrence
        ends = spans.get(index)
        if rule is not None and rule.every == "daily" and ends and \
                0 <= mention.start - ends[-1] < 60:
            continue  # "…至…每日上午9:00-11:30": the range's own hours, not an item
        groups: list[list[tuple[str, Window]]] = [[]]
        if rule is not None:
            # the windows a recurring item's hours belong to: those of its own paragraph
            paragraph = norm.text.rfind("\n", 0, mention.start)
            recent: list[tuple[str, Window]] = []
            for pos, ident, window in reversed(windows.get(index, [])[-20:]):
                if pos < paragraph:
                    break
                recent.append((ident, window))
            groups = _window_groups(rule, recent[::-1])
        if index not in story_tags:
            story_tags[index] = _story_tags(norm.text[story.start:story.end])
        for group in groups:
            candidate = _candidate(original, norm, reading, group, stories, story_ids,
                                   published, story_tags[index], used, counts,
                                   windows.get(index, []))
            if candidate is None:
                continue
            out.append(candidate)
            if isinstance(candidate.event, Window):
                windows.setdefault(index, []).append((mention.start, candidate.event.id,
                                                      candidate.event))
        if mention.form == "range":
            spans.setdefault(index, []).append(mention.end)
    return out


def _candidate(original: str, norm: Normalized, reading: Reading,
               group: list[tuple[str, Window]], stories: list[StorySpan], story_ids: list[str],
               published: Published | None, story_tags: list[str], used: set[str],
               counts: dict[str, int], known: list[tuple[int, str, Window]]
               ) -> Candidate | None:
    mention = reading.mention
    index = _story_of(stories, mention.start)
    story = stories[index]
    fields = _fields(reading, published, group)
    if fields is None:
        return None
    key_date = fields.get("due") or fields.get("end") or fields.get("date") or \
        fields.get("start") or (group[0][1].end.isoformat() if group else "open")
    base = f"{story_ids[index]}-{reading.kind}-{str(key_date)[:10].replace('-', '')}"
    ident = base
    while ident in used:
        counts[base] = counts.get(base, 1) + 1
        ident = f"{base}-{counts[base]}"
    head, tail = _sentence(norm, mention.start, mention.end)
    sentence = _original(original, norm, head, tail)
    title = _title(original, norm, reading, _story_title(original, norm, story))
    data: dict[str, Any] = {"id": ident, "story": story_ids[index], "kind": reading.kind,
                            "title": title, **fields}
    # What the sentence says after the date: for a window, often who may apply
    # (the eligibility range belongs here, not in the dates).
    rest = _original(original, norm, mention.end, tail).lstrip("，,：:；; ")
    if _cjk(rest) >= 10 and rest.rstrip("。") not in title:
        data["description"] = rest
    notes = list(reading.notes)
    rule = reading.recurrence
    if rule is not None and len(rule.times) > 1:
        spans = "、".join(f"{h}:{m:02d}-{h2}:{m2:02d}" for h, m, h2, m2 in rule.times)
        notes.append(f"原文分时段（{spans}）；日历中按首尾连成一段")
    if rule is not None and rule.until_month:
        notes.append(f"原文“每年{rule.month}月至{rule.until_month}月”；以{rule.month}月1日为每年的锚点")
    data.update({
        "precision": reading.precision.value,
        "note": "；".join(notes) if notes else "原文给出确切日期。",
        "source": sentence or title,
        "tags": _tags(norm.text[head:tail], story_tags),
    })
    reminders = _reminders(reading, rule)
    if reminders is not None:
        data["reminders"] = reminders
    if reading.kind == "window" and reading.first is not None and not reading.past:
        data["start_reminders"] = ["1d"]
    try:
        event = _EVENT.validate_python(data)
    except ValidationError:
        return None  # a reading the schema cannot hold is not worth proposing
    if isinstance(event, Recurring) and not _rule_holds(event, known):
        return None  # no occurrence in its bounds: `timeline check` would refuse it
    used.add(ident)
    a, b = norm.original_span(mention.start, mention.end)
    return Candidate(event, Evidence(original[a:b], a, b), reading.confidence, index)


# File names that say nothing of the notice: its story id gets the text's digest instead
_GENERIC_NAMES = {"stdin", "index", "notice", "default", "content", "detail", "article", "main",
                  "page", "view", "show", "doc", "document", "file", "tzgg", "text"}


def default_story_ids(count: int, story: str | None, name: str, text: str) -> list[str]:
    """`--story`, else the file's name (a notice per file), else "notice-" and a digest of
    the text: two notices read from standard input or both saved as index.html must not
    share a story."""
    stem = slugify(name.rsplit("/", 1)[-1].rsplit(".", 1)[0])[:60].strip("-")
    if not stem or stem in _GENERIC_NAMES or len(stem) < 3:
        stem = "notice-" + hashlib.sha256(text.encode()).hexdigest()[:6]
    base = story or stem
    if count == 1:
        return [base]
    return [f"{base}-{n}" for n in range(1, count + 1)]

