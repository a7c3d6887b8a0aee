"""What `timeline extract` does, apart from the command line: extract every input, choose
the accepted candidates, then print them, write them to a new file, or merge them.

Nothing is written when anything fails: an unreadable input, an unknown `--only` id, a
merge or a new part that would not pass `timeline check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from timeline.errors import TimelineError
from timeline.extract import Extraction, Published, UnreadableNotice, extract
from timeline.extract.merge import describe, merge
from timeline.extract.output import to_json, to_yaml
from timeline.loader import load_parts, part_files

__all__ = ["ExtractResult", "run_extract"]


@dataclass
class ExtractResult:
    text: str | None = None  # for standard output
    messages: list[str] = field(default_factory=list)  # for standard error
    exit_code: int = 0


def _summary(extraction: Extraction, accepted: set[str]) -> str:
    document, published = extraction.document, extraction.published
    origin = {"--published": "given with --published", "signature": "from the signature line",
              "header": "from the header"}
    when = (f"published {published.day} ({origin.get(published.origin, published.origin)}"
            f"{', ' + published.precision.value if not published.exact else ''})"
            if published else "no publication date found (give --published)")
    chosen = sum(1 for c in extraction.candidates if c.event.id in accepted)
    return (f"{document.name}: {document.describe()}; {when}; "
            f"{len(extraction.stories)} story(ies), {len(extraction.candidates)} candidate(s), "
            f"{chosen} accepted, {len(extraction.skipped)} skipped")


def _accepted(extractions: list[Extraction], only: list[str] | None,
              min_confidence: float) -> set[str]:
    candidates = [c for x in extractions for c in x.candidates]
    if only is None:
        return {c.event.id for c in candidates if c.confidence >= min_confidence}
    known = {c.event.id for c in candidates}
    unknown = [i for i in only if i not in known]
    if unknown:
        raise TimelineError(f"--only: no candidate {', '.join(map(repr, unknown))}; "
                            f"the candidates are {', '.join(sorted(known)) or 'none'}")
    return set(only)


def _unique_ids(extractions: list[Extraction]) -> None:
    """Two inputs named alike would propose the same ids: say so rather than merge one."""
    seen: dict[str, str] = {}
    for extraction in extractions:
        for candidate in extraction.candidates:
            ident = candidate.event.id
            if ident in seen and seen[ident] != extraction.document.name:
                raise TimelineError(f"{extraction.document.name} and {seen[ident]} both "
                                    f"propose {ident!r}: give each its own --story")
            seen[ident] = extraction.document.name


def _write_new(out: Path, text: str, fmt: str) -> None:
    if out.exists():
        raise TimelineError(f"{out} exists; --merge {out} adds to it")
    if fmt == "yaml" and out.parent.is_dir() and part_files(out.parent):
        # a new part of an events folder: the folder must still pass `timeline check`
        parts = [(str(p), p.read_text(encoding="utf-8")) for p in part_files(out.parent)]
        load_parts(sorted([*parts, (str(out), text)]), str(out.parent))
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)


def run_extract(inputs: list[tuple[str, bytes]], *, published: Published | None = None,
                story: str | None = None, fmt: str = "yaml", out: Path | None = None,
                merge_into: Path | None = None, only: list[str] | None = None,
                min_confidence: float = 0.6) -> ExtractResult:
    result = ExtractResult()
    extractions: list[Extraction] = []
    for name, data in inputs:
        label = "stdin" if name == "-" else name
        try:
            extractions.append(extract(data, label, published=published,
                                       story=story if len(inputs) == 1 else None))
        except UnreadableNotice as exc:
            result.messages.append(f"error: {exc}")
            result.exit_code = 1
    if result.exit_code:
        if merge_into is not None or out is not None:
            result.messages.append("nothing was written.")
        return result
    _unique_ids(extractions)
    accepted = _accepted(extractions, only, min_confidence)
    result.messages += [_summary(x, accepted) for x in extractions]
    if merge_into is not None:
        labels = ", ".join(x.document.name for x in extractions)
        stories = [s for x in extractions for s in x.stories]
        chosen = [c for x in extractions for c in x.candidates if c.event.id in accepted]
        if not chosen:
            result.messages.append("no candidate accepted: nothing to merge "
                                   "(lower --min-confidence, or pick with --only)")
            return result
        result.messages += describe(merge(merge_into, stories, chosen, labels))
        return result
    text = to_json(extractions, accepted) + "\n" if fmt == "json" else \
        to_yaml(extractions, accepted, min_confidence)
    if out is not None:
        _write_new(out, text, fmt)
        result.messages.append(f"wrote {out}")
    else:
        result.text = text
    return result
