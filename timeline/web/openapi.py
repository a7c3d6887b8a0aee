"""The OpenAPI 3.1 description of the HTTP interface, written by hand.

Hand-written because the routes are plain Starlette (no schema generator) and the feed
endpoints' caching contract (ETag, 304, gzip) matters more to a client than field types.
`tests/test_web_app.py` checks that every route is described here and nothing else is.
"""

from __future__ import annotations

from typing import Any

from timeline import __version__
from timeline.model import Precision

__all__ = ["openapi"]

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_ERROR_404 = {"description": "unknown tag or story", "content": _TEXT}
_ERROR_400 = {"description": "a bad query value; the body says which", "content": _TEXT}
_LANG = {"name": "lang", "in": "query", "required": False,
         "description": "language of titles and descriptions (default: the server's, zh)",
         "schema": {"type": "string", "enum": ["zh", "en"]}}
_TAG = {"name": "tag", "in": "query", "required": False, "style": "form", "explode": False,
        "description": "only items with any of these tags (comma-separated or repeated)",
        "schema": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"}}}
_STORY = {**_TAG, "name": "story",
          "description": "only items of any of these stories (comma-separated or repeated)"}
_CONDITIONAL = [
    {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
    {"name": "If-Modified-Since", "in": "header", "required": False,
     "schema": {"type": "string"}},
]
_FEED_RESPONSES = {
    "200": {
        "description": "the iCalendar feed (RFC 5545); gzip when Accept-Encoding allows",
        "headers": {
            "ETag": {"schema": {"type": "string"}, "description": "strong; digest of the body"},
            "Last-Modified": {"schema": {"type": "string"},
                              "description": "latest revision among the feed's events"},
        },
        "content": {"text/calendar": {"schema": {"type": "string"}}},
    },
    "304": {"description": "not modified since the ETag or date the client holds"},
    "400": _ERROR_400,
    "404": _ERROR_404,
}


_Q = {"name": "q", "in": "query", "required": False,
      "description": "search titles, descriptions and source quotes, zh and en (every word "
                     "must occur; at most 100 characters and 8 words; at most 50 results)",
      "schema": {"type": "string", "maxLength": 100}}
_HTML = {"200": {"description": "HTML page", "content": {"text/html": {}}},
         "400": _ERROR_400}


def _path_param(name: str, what: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": what,
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"}}


def openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "policy-timeline", "version": __version__,
                 "description": "Dated items from public policy news: an HTML page, "
                                "subscribable iCalendar feeds and a small JSON API."},
        "paths": {
            "/": {"get": {"summary": "The home page (HTML): what comes up, an index of the "
                                     "stories; with q, the search across them",
                          "parameters": [_LANG, _Q], "responses": _HTML}},
            "/stories/{story}": {"get": {
                "summary": "A story's page (HTML): all its items, its chart and feed",
                "parameters": [_path_param("story", "a story id"), _LANG, _Q],
                "responses": {**_HTML, "404": _ERROR_404}}},
            "/tags/{tag}": {"get": {
                "summary": "A tag's page (HTML): its items across the stories",
                "parameters": [_path_param("tag", "a tag"), _LANG, _Q],
                "responses": {**_HTML, "404": _ERROR_404}}},
            "/calendar.ics": {"get": {
                "summary": "The whole feed, optionally filtered",
                "parameters": [_TAG, _STORY, _LANG, *_CONDITIONAL],
                "responses": _FEED_RESPONSES}},
            "/feeds/tag/{tag}.ics": {"get": {
                "summary": "A stable feed of one tag",
                "parameters": [_path_param("tag", "a tag"), _LANG, *_CONDITIONAL],
                "responses": _FEED_RESPONSES}},
            "/feeds/story/{story}.ics": {"get": {
                "summary": "A stable feed of one story",
                "parameters": [_path_param("story", "a story id"), _LANG, *_CONDITIONAL],
                "responses": _FEED_RESPONSES}},
            "/api/events": {"get": {
                "summary": "Stories and events as loaded (the events file's fields)",
                "parameters": [_TAG, _STORY],
                "responses": {"200": {"description": "JSON", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["version", "stories", "events"],
                               "properties": {
                                   "version": {"type": "integer"},
                                   "timezone": {"type": "string"},
                                   "stories": {"type": "array", "items": {"type": "object"}},
                                   "events": {"type": "array", "items": {"type": "object"}}}}}}},
                    "400": _ERROR_400, "404": _ERROR_404}}},
            "/api/upcoming": {"get": {
                "summary": "Occurrences from today to today + days, in date order",
                "parameters": [
                    {"name": "days", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 3660,
                                "default": 30}},
                    _TAG, _STORY],
                "responses": {"200": {"description": "JSON", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "today": {"type": "string", "format": "date"},
                        "days": {"type": "integer"},
                        "occurrences": {"type": "array", "items": {"$ref":
                                        "#/components/schemas/Occurrence"}}}}}}},
                    "400": _ERROR_400, "404": _ERROR_404}}},
            "/openapi.json": {"get": {"summary": "This description",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/healthz": {"get": {
                "summary": "Liveness and the daemon's health",
                "responses": {"200": {"description": "healthy (JSON)"},
                              "503": {"description": "unhealthy (JSON, `ok` is false)"}}}},
            "/metrics": {"get": {
                "summary": "Prometheus text exposition",
                "responses": {"200": {"description": "metrics",
                                      "content": {"text/plain": {}}}}}},
        },
        "components": {"schemas": {"Occurrence": {
            "type": "object",
            "required": ["event", "story", "kind", "start", "end", "all_day", "days_left"],
            "properties": {
                "event": {"type": "string"}, "story": {"type": "string"},
                "kind": {"enum": ["deadline", "window", "happening", "recurring"]},
                "title": {"type": "string"}, "title_en": {"type": ["string", "null"]},
                "start": {"type": ["string", "null"],
                          "description": "ISO date or date-time; null when the source gives no "
                                         "opening day"},
                "end": {"type": ["string", "null"]},
                "all_day": {"type": "boolean"},
                "precision": {"enum": [p.value for p in Precision]},
                "estimated": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "note": {"type": "string"},
                "days_left": {"type": "integer",
                              "description": "days from today to the last day (0 = today)"},
                "open": {"type": "boolean", "description": "today lies within it"},
            }}}},
    }
