"""Search over titles, descriptions and source quotes, on the server, bounded.

A query is at most `MAX_QUERY` characters and `MAX_TERMS` words; an item matches when it
holds every word (Chinese has no spaces between words, so a word is a substring, and the
same rule serves English). At most `LIMIT` results are shown, so neither a long query nor
a word every item holds makes a slow or huge page. Highlighting escapes the text first and
wraps only the matches in `<mark>`: it is the one place the pages build markup from text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from markupsafe import Markup, escape

from timeline.occurrences import AnyEvent
from timeline.web.catalog import Catalog

__all__ = ["LIMIT", "MAX_QUERY", "MAX_TERMS", "Query", "QueryError", "Results", "parse_query",
           "search"]

MAX_QUERY = 100
MAX_TERMS = 8
LIMIT = 50
SNIPPET = 40  # characters of context either side of the first match


class QueryError(ValueError):
    """A query that cannot be searched; its text says why (the app answers 400)."""


@dataclass(frozen=True)
class Query:
    text: str  # as typed, stripped
    terms: tuple[str, ...]  # lower-cased, longest first (so a longer match wins the mark)

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(re.escape(t) for t in self.terms), re.IGNORECASE)

    def highlight(self, text: str) -> Markup:
        """`text` escaped, each match in `<mark>`."""
        out: list[str] = []
        at = 0
        for match in self.pattern.finditer(text):
            out.append(escape(text[at:match.start()]))
            out.append(Markup("<mark>") + escape(match.group()) + Markup("</mark>"))
            at = match.end()
        out.append(escape(text[at:]))
        return Markup("").join(out)

    def snippet(self, text: str) -> Markup:
        """The part of `text` around its first match, highlighted; empty when none."""
        match = self.pattern.search(text)
        if match is None:
            return Markup("")
        start, end = max(0, match.start() - SNIPPET), min(len(text), match.end() + SNIPPET)
        head = "…" if start > 0 else ""
        tail = "…" if end < len(text) else ""
        return escape(head) + self.highlight(text[start:end]) + escape(tail)


def parse_query(values: list[str]) -> Query | None:
    """The `q` values of a request: None when there is no query (absent or blank)."""
    if not values:
        return None
    if len(values) > 1:
        raise QueryError("give q only once")
    text = values[0].strip()
    if not text:
        return None
    if len(text) > MAX_QUERY:
        raise QueryError(f"the search is {len(text)} characters long: at most {MAX_QUERY}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and not c.isspace()
           for c in text):
        raise QueryError("the search holds control or unassigned characters")
    # str.split() splits on the ideographic space (U+3000) too, as a Chinese IME types it.
    terms = list(dict.fromkeys(term.lower() for term in text.split()))
    if len(terms) > MAX_TERMS:
        raise QueryError(f"the search has {len(terms)} words: at most {MAX_TERMS}")
    return Query(text, tuple(sorted(terms, key=len, reverse=True)))


@dataclass(frozen=True)
class Results:
    query: Query
    events: list[AnyEvent]  # at most LIMIT
    total: int


def search(catalog: Catalog, query: Query, scope: list[int] | None = None) -> Results:
    """The events (of `scope`, positions in `catalog.ordered`; all by default) that hold
    every word of `query`, in date order, those whose title holds them first."""
    # One pass per word over what is left, each a plain substring test on a list: 10,000
    # items and a word they all hold take about a millisecond.
    haystacks, titles = catalog.haystacks, catalog.titles
    found = range(len(haystacks)) if scope is None else scope
    for term in query.terms:
        found = [i for i in found if term in haystacks[i]]
    in_title = found
    for term in query.terms:
        in_title = [i for i in in_title if term in titles[i]]
    chosen = list(in_title[:LIMIT])
    if len(chosen) < LIMIT:
        first = set(chosen)
        chosen += [i for i in found if i not in first][:LIMIT - len(chosen)]
    ordered = catalog.ordered
    return Results(query, [ordered[i] for i in chosen], len(found))
