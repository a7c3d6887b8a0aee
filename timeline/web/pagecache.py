"""Rendered pages kept per timeline version, so a warm request is a dictionary lookup.

A key is (version, language, day, base URL, which page); a new version drops the pages of
the old ones (a reload changes every page), and the cache is bounded both in entries and in
bytes, because the Host header and the story and tag names vary per request. Searches are
not kept: their keys are whatever a visitor types.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["PageCache"]


class PageCache:
    def __init__(self, max_entries: int = 256, max_bytes: int = 32 * 2**20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._pages: OrderedDict[tuple[int, Hashable], bytes] = OrderedDict()
        self._bytes = 0
        self._version: int | None = None
        self.renders = 0  # cache misses, for tests and the benchmark

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, version: int, key: Hashable) -> bytes | None:
        page = self._pages.get((version, key))
        if page is not None:
            self._pages.move_to_end((version, key))
        return page

    def put(self, version: int, key: Hashable, page: bytes) -> None:
        self.renders += 1
        if version != self._version:
            if self._version is not None and version < self._version:
                return  # a request that read an older snapshot finished late
            self._pages.clear()
            self._bytes = 0
            self._version = version
        old = self._pages.pop((version, key), None)
        if old is not None:
            self._bytes -= len(old)
        self._pages[(version, key)] = page
        self._bytes += len(page)
        while self._pages and (len(self._pages) > self.max_entries
                               or self._bytes > self.max_bytes):
            _, dropped = self._pages.popitem(last=False)
            self._bytes -= len(dropped)
