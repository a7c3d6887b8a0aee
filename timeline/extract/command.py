"""What `timeline extract` does, apart from the command line: extract every input, choose
the accepted candidates, then print them, write them to a new file, or merge them.

Nothing is written when anything fails: an unreadable input, an unknown `--only` id, a
merge or a new part that would not pass `timeline check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from timeline.errors import TimelineError, ValidationFailed
from timeline.extract import Extraction, Published, UnreadableNotice, extract
from timeline.extract.merge import describe, merge, write_atomically
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
        chosen = {c.event.id for c in candidates if c.confidence >= min_confidence}
    else:
        if not only:
            raise TimelineError("--only: give the ids of the candidates to accept")
        known = {c.event.id for c in candidates}
        unknown = [i for i in only if i not in known]
        if unknown:
            raise TimelineError(f"--only: no candidate {', '.join(map(repr, unknown))}; "
                                f"the candidates are {', '.join(sorted(known)) or 'none'}")
        chosen = set(only)
    # office hours `within` a window need that window in the file too
    return chosen | {c.event.within for c in candidates
                     if c.event.id in chosen and getattr(c.event, "within", None)}


def _unique_ids(extractions: list[Extraction]) -> None:
    """Two inputs named alike (a/notice.html, b/notice.html) would propose the same story
    and event ids: say so rather than merge one into the other."""
    seen: dict[str, str] = {}
    for extraction in extractions:
        for ident in {s.id for s in extraction.stories}:
            if ident in seen and seen[ident] != extraction.document.name:
                raise TimelineError(f"{extraction.document.name} and {seen[ident]} would "
                                    f"both be story {ident!r}: rename one, or extract each "
                                    "with its own --story")
            seen[ident] = extraction.document.name


def _write_new(out: Path, text: str, fmt: str) -> None:
    if out.exists():
        raise TimelineError(f"{out} exists; --merge {out} adds to it")
    if not out.parent.is_dir():
        raise TimelineError(f"{out.parent}: no such folder")
    if fmt == "yaml" and out.suffix == ".yaml" and _is_events_folder(out.parent):
        # a new part of an events folder: the folder must still pass `timeline check`
        parts = [(str(p), p.read_text(encoding="utf-8")) for p in part_files(out.parent)]
        load_parts(sorted([*parts, (str(out), text)]), str(out.parent))
    write_atomically(out, text)


def _is_events_folder(folder: Path) -> bool:
    """Whether the folder's *.yaml make a timeline now: an events folder, not a project's
    root with a config file or a CI file beside the new one."""
    parts = part_files(folder)
    if not parts:
        return False
    try:
        load_parts([(str(p), p.read_text(encoding="utf-8")) for p in parts], str(folder))
    except (ValidationFailed, OSError, UnicodeDecodeError):
        return False
    return True


def run_extract(inputs: list[tuple[str, bytes]], *, published: Published | None = None,
                story: str | None = None, fmt: str = "yaml", out: Path | None = None,
                merge_into: Path | None = None, only: list[str] | None = None,
                min_confidence: float = 0.6) -> ExtractResult:
    result = ExtractResult()
    if story is not None and len(inputs) > 1:
        raise TimelineError("--story names one notice's story: give one file with it, or "
                            "leave it out (each notice then gets its own)")
    extractions: list[Extraction] = []
    seen: dict[bytes, str] = {}
    for name, data in inputs:
        label = "stdin" if name == "-" else name
        if data in seen:
            result.messages.append(f"{label}: the same as {seen[data]}; read once")
            continue
        seen[data] = label
        try:
            extractions.append(extract(data, label, published=published, story=story))
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
        result.messages += describe(merge(merge_into, stories, chosen, labels,
                                          explicit_story=story is not None))
        return result
    text = to_json(extractions, accepted) + "\n" if fmt == "json" else \
        to_yaml(extractions, accepted, min_confidence)
    if out is not None:
        _write_new(out, text, fmt)
        result.messages.append(f"wrote {out}")
    else:
        result.text = text
    return result
