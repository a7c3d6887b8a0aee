"""The publishing side: the pages, iCalendar feeds and a JSON API over HTTP.
What it serves is a `timeline.source.TimelineSource`, which the daemon updates.

    app.py         create_app(): the Starlette routes
    feeds.py       FeedCache: each feed rendered once per timeline version, gzip included
    page.py        the home, story and tag pages: what each shows, handed to its template
    templates/     the pages' Jinja2 templates (autoescaped); templating.py their environment
    items.py       one item's words; catalog.py per-version lookups; search.py `?q=`
    pagecache.py   rendered pages per version; links.py the pages' URLs
    svg.py         the chart; agenda.py "days left"; text.py the pages' words; style.py CSS
    server.py      run_server() / serve() / make_server(): uvicorn
"""

from __future__ import annotations

from timeline.web.app import create_app
from timeline.web.server import make_server, run_server, serve

__all__ = ["create_app", "make_server", "run_server", "serve"]
