"""End to end through the real uvicorn server on 127.0.0.1: what a calendar app would see."""

from __future__ import annotations

import gzip
import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import recurring_ical_events
from icalendar import Calendar

from timeline.feed import render_feed
from timeline.loader import LoadedTimeline
from timeline.source import TimelineSource

from .web_helpers import edited_timeline, free_port, running_server

IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture(scope="module")
def server(loaded: LoadedTimeline) -> Iterator[tuple[str, TimelineSource]]:
    source = TimelineSource(loaded)
    with running_server(source, today=lambda: date(2024, 5, 20)) as url:
        yield url, source


def _raw_get(url: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
    """The bytes on the wire: stdlib http.client does not decode Content-Encoding."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                     headers=headers)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def test_feed_read_back_by_an_independent_reader(server: tuple[str, TimelineSource],
                                                 loaded: LoadedTimeline) -> None:
    url, _ = server
    r = httpx.get(f"{url}/calendar.ics", headers=IDENTITY)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.content == render_feed(loaded)
    calendar = Calendar.from_ical(r.content)
    office = [e for e in recurring_ical_events.of(calendar).between(date(2024, 4, 29),
                                                                    date(2024, 5, 12))
              if str(e["UID"]).startswith("diesel-office-hours-window-1@")]
    days = sorted(e["DTSTART"].dt for e in office)
    # Tuesdays and Fridays, minus Friday 3 May (Labour Day holiday, 1-5 May 2024).
    assert days == [date(2024, 4, 30), date(2024, 5, 7), date(2024, 5, 10)]


def test_filters_and_languages(server: tuple[str, TimelineSource]) -> None:
    url, _ = server
    office = httpx.get(f"{url}/feeds/tag/office-hours.ics")
    assert office.status_code == 200
    uids = {str(e["UID"]) for e in Calendar.from_ical(office.content).walk("VEVENT")}
    assert uids == {"diesel-office-hours-window-1@policy-timeline",
                    "diesel-office-hours-window-2@policy-timeline"}
    story = httpx.get(f"{url}/calendar.ics?story=nanchuan-zero-carbon&lang=en")
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(story.content).walk("VEVENT")]
    assert "Phase 1: a green-power industrial park (60% green power, 80% clean energy)" \
        " (by year-end)" in summaries
    missing = httpx.get(f"{url}/feeds/story/nope.ics")
    assert missing.status_code == 404 and "unknown story 'nope'" in missing.text
    bad = httpx.get(f"{url}/calendar.ics?lang=fr")
    assert bad.status_code == 400


def test_not_modified_and_head(server: tuple[str, TimelineSource]) -> None:
    url, _ = server
    with httpx.Client(headers=IDENTITY) as client:
        first = client.get(f"{url}/calendar.ics")
        again = client.get(f"{url}/calendar.ics",
                           headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        since = client.get(f"{url}/calendar.ics",
                           headers={"If-Modified-Since": first.headers["last-modified"]})
        assert since.status_code == 304
        head = client.head(f"{url}/calendar.ics")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(first.content))
        assert head.headers["etag"] == first.headers["etag"]


def test_gzip_on_the_wire(server: tuple[str, TimelineSource]) -> None:
    url, _ = server
    plain, plain_body = _raw_get(f"{url}/calendar.ics", IDENTITY)
    zipped, zipped_body = _raw_get(f"{url}/calendar.ics", {"Accept-Encoding": "gzip"})
    assert plain.getheader("Content-Encoding") is None
    assert zipped.getheader("Content-Encoding") == "gzip"
    assert int(zipped.getheader("Content-Length") or 0) == len(zipped_body)
    assert gzip.decompress(zipped_body) == plain_body
    assert len(zipped_body) * 3 < len(plain_body)
    page, page_body = _raw_get(f"{url}/", {"Accept-Encoding": "gzip"})
    assert page.getheader("Content-Encoding") == "gzip"
    assert b"<!DOCTYPE html>" in gzip.decompress(page_body)


def test_reload_reaches_subscribers(loaded: LoadedTimeline, events_path: Path) -> None:
    source = TimelineSource(loaded)
    with running_server(source) as url, httpx.Client() as client:
        before = client.get(f"{url}/calendar.ics")
        source.update(edited_timeline(events_path, "end: 2024-07-30", "end: 2024-08-30"))
        after = client.get(f"{url}/calendar.ics",
                           headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert b"DTEND;VALUE=DATE:20240831" in after.content
        assert client.get(f"{url}/healthz").json()["timeline_version"] == 2


def test_run_server_as_a_process(events_path: Path) -> None:
    port = free_port()
    code = ("from timeline.web import run_server; "
            f"run_server({str(events_path)!r}, '127.0.0.1', {port}, 'en', log_level='warning')")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "timeline_version": 1}
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert '<html lang="en">' in page.text
        assert f'href="webcal://127.0.0.1:{port}/calendar.ics"' in page.text
        assert "server" not in page.headers  # no version banner
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode in (0, -15)


def test_run_server_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "events.yaml"
    bad.write_text("stories: []\nevents: [{id: x}]\n", encoding="utf-8")
    code = f"from timeline.web import run_server; run_server({str(bad)!r}, '127.0.0.1', 1)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert result.returncode != 0
    assert b"ValidationFailed" in result.stderr
