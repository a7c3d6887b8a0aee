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
from typing import Any

from pydantic import TypeAdapter, ValidationError

from timeline.durations import format_lead
from timeline.extract import patterns as P
from timeline.extract.anchor import Published
from timeline.extract.classify import Reading
from timeline.extract.normalize import Normalized
from timeline.extract.recognize import Recurrence
from timeline.extract.stories import StorySpan
from timeline.model import Event, Precision, Story, Window
from timeline.recurrence import add_years

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
    tail_match = _SENTENCE_END.search(text, end)
    tail = tail_match.end() if tail_match else len(text)
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


def _title(norm: Normalized, reading: Reading) -> str:
    """What the dated item is, from the words around its date: the clause after the date
    ("到2025年底前，建成绿电产业园区" → 建成绿电产业园区), else the one before."""
    text = norm.text
    mention = reading.mention
    clause_end = re.search(r"[,。;!?\n]", text[mention.end:])
    after = text[mention.end:mention.end + clause_end.start()] if clause_end else \
        text[mention.end:mention.end + 40]
    before_all = re.split(r"[。;!?\n]", text[max(0, mention.start - 60):mention.start])[-1]
    before = re.split(r"[,]", before_all)[-1]
    after = _FILLER.sub("", after)
    before = _TRAILING.sub("", re.sub(r"(?:时间|日期|期限)?(?:为|是|:)?$", "", before))
    before = re.sub(r"^(?:\d+(?:\.\d+)*\.?|[一二三四五六七八九十]+、|\([一二三四五六七八九十]+\))",
                    "", before)
    candidates = [after, before] if len(re.findall(r"[\u4e00-\u9fff]", after)) >= 4 else \
        [before, after]
    if reading.kind == "window" and len(re.findall(r"[\u4e00-\u9fff]", before)) >= 2:
        candidates = [before, after]
    for words in candidates:
        words = words.strip(" ,:;、")
        if len(re.findall(r"[\u4e00-\u9fff]", words)) >= 2:
            return _cut(words)
    sentence = text[slice(*_sentence(norm, mention.start, mention.end))]
    rest = (sentence[:mention.start - _sentence(norm, mention.start, mention.end)[0]]
            + sentence[mention.end - _sentence(norm, mention.start, mention.end)[0]:])
    return _cut(rest.strip(" ,。;:、")) or text[mention.start:mention.end]


def _cut(words: str, limit: int = 40) -> str:
    if len(words) <= limit:
        return words
    cut = max(words.rfind(c, 0, limit) for c in "、,(")
    return words[:cut] if cut >= 12 else words[:limit] + "…"


def _tags(text: str, story_text: str) -> list[str]:
    tags = [tag for tag, words in P.TAG_WORDS.items() if any(w in text for w in words)]
    tags += [tag for tag, words in P.TAG_WORDS.items()
             if tag not in tags and sum(story_text.count(w) for w in words) >= 3]
    return tags[:4]


def _when(value: date | datetime) -> str:
    return value.isoformat(timespec="minutes") if isinstance(value, datetime) else \
        value.isoformat()


def _recurring_fields(reading: Reading, rule: Recurrence, published: Published | None,
                      windows: list[tuple[str, Window]]) -> dict[str, Any] | None:
    fields: dict[str, Any] = {}
    if rule.weekdays and rule.every == "weekly":
        fields["weekdays"] = list(rule.weekdays)
    elif rule.monthday is not None and rule.monthday > 0:
        fields["rrule"] = f"FREQ=MONTHLY;BYMONTHDAY={rule.monthday}"
    elif rule.monthday == -1:
        fields["rrule"] = ("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=-1" if rule.every == "3 months"
                           else "FREQ=MONTHLY;BYMONTHDAY=-1")
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
        end = max(w.end for _, w in windows)  # type: ignore[type-var]
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
    if len(rule.times) == 1:
        h, m, h2, m2 = rule.times[0]
        first = start or min((w.start for _, w in windows if w.start is not None),
                             default=None)
        if first is not None:
            start = datetime.combine(first, time(h, m))  # type: ignore[assignment]
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


def story_models(stories: list[StorySpan], ids: list[str], published: Published | None,
                 name: str, issuer: str | None) -> list[Story]:
    out = []
    for story, ident in zip(stories, ids, strict=True):
        data: dict[str, Any] = {
            "id": ident, "title": story.title or name,
            "source": {"newspaper": issuer or f"{name}（发布单位待核对）", "file": name},
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


def propose(original: str, norm: Normalized, readings: list[Reading],
            stories: list[StorySpan], story_ids: list[str],
            published: Published | None) -> list[Candidate]:
    """Candidate events for the readings, in text order, ids unique."""
    used: set[str] = set()
    out: list[Candidate] = []
    windows: dict[int, list[tuple[int, str, Window]]] = {}  # per story: (position, id, model)
    for reading in readings:
        mention = reading.mention
        index = _story_of(stories, mention.start)
        story = stories[index]
        recent = [(ident, w) for pos, ident, w in windows.get(index, [])
                  if mention.start - pos < 400]
        rule = reading.recurrence
        if rule is not None and rule.every == "daily" and recent:
            continue  # "…至…每日上午9:00-11:30": the window's hours, not an item of its own
        fields = _fields(reading, published, recent if reading.kind == "recurring" else [])
        if fields is None:
            continue
        key_date = fields.get("due") or fields.get("end") or fields.get("date") or \
            fields.get("start") or "open"
        base = f"{story_ids[index]}-{reading.kind}-{str(key_date)[:10].replace('-', '')}"
        ident, number = base, 2
        while ident in used:
            ident, number = f"{base}-{number}", number + 1
        used.add(ident)
        head, tail = _sentence(norm, mention.start, mention.end)
        sentence = _original(original, norm, head, tail)
        title = _title(norm, reading)
        data: dict[str, Any] = {"id": ident, "story": story_ids[index], "kind": reading.kind,
                                "title": title, **fields}
        # What the sentence says after the date: for a window, often who may apply
        # (the eligibility range belongs here, not in the dates).
        rest = _original(original, norm, mention.end, tail).lstrip("，,：:；; ")
        if len(re.findall(r"[\u4e00-\u9fff]", rest)) >= 6 and rest.rstrip("。") != title:
            data["description"] = rest
        data.update({
            "precision": reading.precision.value,
            "note": "；".join(reading.notes) if reading.notes else "原文给出确切日期。",
            "source": sentence or title,
            "tags": _tags(norm.text[head:tail], norm.text[story.start:story.end]),
        })
        reminders = _reminders(reading, reading.recurrence)
        if reminders is not None:
            data["reminders"] = reminders
        if reading.kind == "window" and reading.first is not None and not reading.past:
            data["start_reminders"] = ["1d"]
        try:
            event = _EVENT.validate_python(data)
        except ValidationError:
            continue  # a reading the schema cannot hold is not worth proposing
        a, b = norm.original_span(mention.start, mention.end)
        out.append(Candidate(event, Evidence(original[a:b], a, b), reading.confidence, index))
        if isinstance(event, Window):
            windows.setdefault(index, []).append((mention.start, ident, event))
    return out


def default_story_ids(count: int, story: str | None, name: str, text: str) -> list[str]:
    base = story or slugify(name.rsplit("/", 1)[-1].rsplit(".", 1)[0]) or \
        "notice-" + hashlib.sha256(text.encode()).hexdigest()[:6]
    if count == 1:
        return [base]
    return [f"{base}-{n}" for n in range(1, count + 1)]

