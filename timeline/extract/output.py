"""What `timeline extract` prints: JSON for tools, YAML for people.

The YAML is ready to paste into an events file or to merge: the accepted candidates as
plain events.yaml items, each with its evidence and confidence as a comment above it; the
candidates below the threshold and everything skipped as comments, so a reviewer sees what
was left out and why.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from timeline.extract import Extraction
from timeline.extract.propose import Candidate
from timeline.model import Story

__all__ = ["event_data", "story_data", "to_json", "to_yaml", "yaml_writer"]

# The order a person reads an event in: what, when, how sure, from where.
_EVENT_ORDER = ("id", "story", "kind", "title", "title_en", "description", "due", "start",
                "start_label", "end", "date", "rrule", "every", "weekdays", "within", "except",
                "duration", "timezone", "precision", "note", "source", "tags", "audience",
                "reminders", "start_reminders", "url")
_DAY = re.compile(r"\d{4}-\d\d-\d\d")
_STORY_ORDER = ("id", "title", "title_en", "source", "published", "published_precision",
                "published_note", "summary", "summary_en")


def _ordered(data: dict[str, Any], order: Iterable[str]) -> dict[str, Any]:
    return {key: data[key] for key in order if key in data}


def event_data(event: Any) -> dict[str, Any]:
    """An event model as its events.yaml item: the schema's keys, timed values as the
    timeline's wall clock, lead times as written ("7d")."""
    data = event.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["kind"] = event.kind
    data["precision"] = event.precision.value
    for key in ("due", "start", "end", "date"):
        if isinstance(data.get(key), str) and len(data[key]) > 16:
            data[key] = data[key][:16]  # 2025-04-03T17:30:00 → 2025-04-03T17:30
    return _ordered(data, _EVENT_ORDER)


def story_data(story: Story) -> dict[str, Any]:
    data = story.model_dump(mode="json", exclude_defaults=True)
    data["published_precision"] = story.published_precision.value
    return _ordered(data, _STORY_ORDER)


def _source(extraction: Extraction) -> dict[str, Any]:
    document, published = extraction.document, extraction.published
    return {
        "file": document.name, "format": document.format, "encoding": document.encoding,
        "pages": document.pages, "characters": len(document.text),
        "published": published.day.isoformat() if published else None,
        "published_precision": published.precision.value if published else None,
        "published_from": published.origin if published else None,
        "issuer": extraction.issuer,
    }


def to_json(extractions: list[Extraction], accepted: set[str]) -> str:
    documents = []
    for extraction in extractions:
        documents.append({
            "source": _source(extraction),
            "stories": [story_data(s) for s in extraction.stories],
            "events": [{**event_data(c.event),
                        "evidence": {"quote": c.evidence.quote, "start": c.evidence.start,
                                     "end": c.evidence.end},
                        "confidence": c.confidence, "accepted": c.event.id in accepted}
                       for c in extraction.candidates],
            "skipped": [{"quote": s.quote, "start": s.start, "end": s.end, "reason": s.reason,
                         "detail": s.detail} for s in extraction.skipped],
        })
    out = documents[0] if len(documents) == 1 else documents
    return json.dumps(out, ensure_ascii=False, indent=2)


def yaml_writer() -> YAML:
    """The round-trip writer both the output and the merge use: events.yaml's own style."""
    writer = YAML()
    writer.preserve_quotes = True
    writer.width = 4096  # never fold a long source quote
    writer.indent(mapping=2, sequence=4, offset=2)
    return writer


def _one_line(text: str) -> str:
    return " ".join(text.split())


def evidence_comment(candidate: Candidate, file: str) -> str:
    quote = _one_line(candidate.evidence.quote)
    return (f"extracted from {Path(file).name} "
            f"[{candidate.evidence.start}:{candidate.evidence.end}] "
            f"“{quote}”, confidence {candidate.confidence:.2f}")


def _dates(data: dict[str, Any]) -> dict[str, Any]:
    """Whole days as YAML dates (2024-05-31, unquoted, as people write them)."""
    return {key: date.fromisoformat(value) if isinstance(value, str) and len(value) == 10
            and _DAY.fullmatch(value) else value for key, value in data.items()}


def commented_event(candidate: Candidate, file: str) -> CommentedMap:
    item = CommentedMap(_dates(event_data(candidate.event)))
    for key in ("tags", "weekdays", "except", "reminders", "start_reminders"):
        if isinstance(item.get(key), list):
            seq = CommentedSeq(item[key])
            seq.fa.set_flow_style()
            item[key] = seq
    return item


def commented_story(story: Story) -> CommentedMap:
    item = CommentedMap(_dates(story_data(story)))
    source = CommentedMap(item["source"])
    source.fa.set_flow_style()
    item["source"] = source
    return item


def to_yaml(extractions: list[Extraction], accepted: set[str], min_confidence: float) -> str:
    header = []
    stories = CommentedSeq()
    events = CommentedSeq()
    below: list[str] = []
    skipped: list[str] = []
    for extraction in extractions:
        document, published = extraction.document, extraction.published
        name = document.name
        date_text = (f"published {published.day} ({published.origin}, "
                     f"{published.precision.value})" if published else "no publication date")
        chosen = [c for c in extraction.candidates if c.event.id in accepted]
        header.append(f"{name} ({document.describe()}), {len(document.text)} characters; "
                      f"{date_text}; {len(extraction.candidates)} candidate(s), "
                      f"{len(chosen)} accepted, {len(extraction.skipped)} skipped")
        used_stories = {c.event.story for c in chosen}
        for story in extraction.stories:
            if story.id in used_stories:
                stories.append(commented_story(story))
        for candidate in extraction.candidates:
            if candidate.event.id in accepted:
                events.append(commented_event(candidate, name))
                events.yaml_set_comment_before_after_key(
                    len(events) - 1, before=evidence_comment(candidate, name), indent=2)
            else:
                below.append(f"  {candidate.event.id} ({candidate.confidence:.2f}): "
                             f"{_one_line(candidate.event.title)} "
                             f"— “{_one_line(candidate.evidence.quote)}”")
        skipped += [f"  [{s.start}:{s.end}] “{_one_line(s.quote)}” {s.reason}: {s.detail}"
                    for s in extraction.skipped]
    doc = CommentedMap()
    doc["stories"] = stories
    doc["events"] = events
    lines = ["# timeline extract: " + h for h in header]
    lines.append("# Review, then add them: timeline extract FILE --merge events.yaml "
                 "[--only ID,...]")
    buffer = io.StringIO()
    yaml_writer().dump(doc, buffer)
    text = "\n".join(lines) + "\n" + buffer.getvalue()
    if below:
        text += (f"# below --min-confidence {min_confidence} (take one with --only ID):\n#"
                 + "\n#".join(below) + "\n")
    if skipped:
        text += "# skipped, not events:\n#" + "\n#".join(skipped) + "\n"
    return text
