"""Reading requests: query values, known filters, content and cache negotiation.

Every rejection is an HTTPException whose text says what was wrong and how to write it,
because the people reading it are typing feed URLs into calendar apps by hand.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request

from timeline.formatting import Lang
from timeline.source import Snapshot
from timeline.web.feeds import CachedFeed, FeedKey

__all__ = ["accepts_gzip", "bad_request", "check_known", "filename", "language", "not_modified",
           "slug", "slugs"]

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")  # fullmatch: "x\n" is no slug
_LANGS: dict[str, Lang] = {"zh": "zh", "zh-cn": "zh", "zh-hans": "zh", "en": "en"}


def bad_request(message: str) -> HTTPException:
    return HTTPException(400, message)


def language(request: Request, default: Lang) -> Lang:
    values = request.query_params.getlist("lang")
    if not values:
        return default
    if len(values) > 1:
        raise bad_request("give lang only once")
    lang = _LANGS.get(values[0].strip().lower())
    if lang is None:
        raise bad_request(f"bad lang {values[0]!r}: use zh or en")
    return lang


def slugs(request: Request, name: str) -> list[str]:
    """`?tag=a,b` and `?tag=a&tag=b` both mean a and b."""
    out = []
    for raw in request.query_params.getlist(name):
        for part in raw.split(","):
            value = part.strip()
            if not _SLUG.fullmatch(value):
                shown = value[:40] + ("…" if len(value) > 40 else "")
                raise bad_request(f"bad {name} value {shown!r}: "
                                  "use lower-case letters, digits and '-'")
            out.append(value)
    return out


def slug(value: str, name: str) -> str:
    """A tag or story from the path (`/feeds/tag/{tag}.ics`): one that is no slug names no
    feed (404; its repr shows a line break as \\n, so the answer stays one line)."""
    if not _SLUG.fullmatch(value):
        shown = value[:40] + ("…" if len(value) > 40 else "")
        raise HTTPException(404, f"unknown {name} {shown!r}: a {name} is lower-case letters, "
                                 "digits and '-'")
    return value


def _known(values: frozenset[str], shown: int = 30) -> str:
    names = sorted(values)
    more = f" … ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def check_known(snap: Snapshot, tags: list[str], stories: list[str]) -> None:
    for tag in tags:
        if tag not in snap.known_tags:
            raise HTTPException(404, f"unknown tag {tag!r}; known: {_known(snap.known_tags)}")
    for story in stories:
        if story not in snap.known_stories:
            raise HTTPException(404, f"unknown story {story!r}; known: "
                                     f"{_known(snap.known_stories)}")


def accepts_gzip(header: str) -> bool:
    """Accept-Encoding with q-values: `gzip;q=0` refuses, `*` accepts unless gzip is named."""
    star = False
    for item in header.split(","):
        coding, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if coding.lower() in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q > 0
    return star


def not_modified(request: Request, feed: CachedFeed) -> bool:
    # RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since only counts without it.
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return feed.matches_etag(if_none_match)
    since = request.headers.get("if-modified-since")
    if since is None or feed.last_modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, OverflowError):  # year 99999999999 overflows
        return False  # an unreadable date is ignored, as the RFC asks
    if when.tzinfo is None:
        return False
    return feed.last_modified <= when


def filename(key: FeedKey) -> str:
    parts = ["policy-timeline", *key.tags, *key.stories]
    if key.lang != "zh":
        parts.append(key.lang)
    return "-".join(parts)[:120] + ".ics"
