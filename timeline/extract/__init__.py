"""From a notice to candidate events: read → normalize → recognize → classify → stories →
propose, each step a pure function in its own module (see README, "Adding a notice").

    extract(data, name)        bytes of any supported form → Extraction
    extract_text(text, name)   the same from text already decoded
"""

from __future__ import annotations

from dataclasses import dataclass

from timeline.extract.anchor import Published
from timeline.extract.classify import Reading, Skipped, classify
from timeline.extract.normalize import normalize
from timeline.extract.propose import Candidate, default_story_ids, propose, story_models
from timeline.extract.read import Document, UnreadableNotice, read_notice
from timeline.extract.recognize import recognize
from timeline.extract.stories import find_published, split_stories
from timeline.model import Story

__all__ = ["Candidate", "Document", "Extraction", "Published", "SkippedItem",
           "UnreadableNotice", "extract", "extract_document"]


@dataclass(frozen=True)
class SkippedItem:
    quote: str  # as the original writes it
    start: int  # offsets in the original
    end: int
    reason: str  # a key of classify.SKIP_REASONS
    detail: str


@dataclass(frozen=True)
class Extraction:
    document: Document
    published: Published | None
    stories: list[Story]
    candidates: list[Candidate]
    skipped: list[SkippedItem]
    issuer: str | None = None


def extract(data: bytes, name: str = "-", *, published: Published | None = None,
            story: str | None = None) -> Extraction:
    """Read a notice in any supported form and propose its dated items."""
    return extract_document(read_notice(data, name), published=published, story=story)


def extract_document(document: Document, *, published: Published | None = None,
                     story: str | None = None) -> Extraction:
    original = document.text
    norm = normalize(original, hard_lines=True if document.format in ("html", "docx")
                     else None)
    text = norm.text
    own = find_published(text)
    issuer = _issuer(text, own.signature) if own.signature else None
    if published is None:
        published = own.published
    stories = split_stories(text)
    headlines = [s.title_span for s in stories if s.headline and s.title_span]
    ids = default_story_ids(len(stories), story, document.name, original)
    mentions = recognize(text)
    readings: list[Reading] = []
    skipped: list[SkippedItem] = []
    for item in classify(text, mentions, published, list(own.spans), headlines):
        if isinstance(item, Skipped):
            a, b = norm.original_span(item.mention.start, item.mention.end)
            skipped.append(SkippedItem(original[a:b], a, b, item.reason, item.detail))
        else:
            readings.append(item)
    candidates = propose(original, norm, readings, stories, ids, published)
    models = story_models(original, norm, stories, ids, published, document.name, issuer)
    return Extraction(document, published, models,
                      candidates, skipped, issuer)


def _issuer(text: str, span: tuple[int, int]) -> str | None:
    """The issuing body from the signature line ("西宁市工业和信息化局 2025年2月20日")."""
    line_start = text.rfind("\n", 0, span[0]) + 1
    before = text[line_start:span[0]].strip()
    if not before:
        previous = text[:line_start].rstrip("\n")
        before = previous[previous.rfind("\n") + 1:].strip()
    before = before.split(":")[-1].strip()
    return before if 2 <= len(before) <= 40 and "," not in before else None
