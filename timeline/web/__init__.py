"""The publishing side: the timeline page, iCalendar feeds and a JSON API over HTTP.
What it serves is a `timeline.source.TimelineSource`, which the daemon updates.

    app.py      create_app(): the Starlette routes
    feeds.py    FeedCache: each feed rendered once per timeline version, gzip included
    page.py     the HTML page; svg.py its chart; agenda.py "days left"; text.py its words
    server.py   run_server() / serve() / make_server(): uvicorn
"""

from __future__ import annotations

from timeline.web.app import create_app
from timeline.web.server import make_server, run_server, serve

__all__ = ["create_app", "make_server", "run_server", "serve"]
