"""The page in a real browser: headless Chromium reads the served page and screenshots it.

Needs Debian's `chromium` (CI installs it, with `fonts-noto-cjk` so Chinese renders); the
tests skip, saying why, when the binary is absent. Screenshots land in tests/artifacts/
(gitignored). Layout is measured through the DevTools protocol (tests/cdp.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from timeline.loader import LoadedTimeline
from timeline.source import TimelineSource

from .cdp import Browser
from .web_helpers import running_server, synthetic_timeline

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium")
                 if p and os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless browser tests need /usr/bin/chromium "
                             "(apt-get install -y chromium fonts-noto-cjk)")


@pytest.fixture(scope="module")
def base_url(loaded: LoadedTimeline) -> Iterator[str]:
    with running_server(TimelineSource(loaded), today=lambda: date(2024, 5, 20)) as url:
        yield url


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    result = subprocess.run(command, capture_output=True, timeout=90, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_dom_shows_days_left_chart_and_subscribe_links(base_url: str, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", f"{base_url}/")
    assert '<html lang="zh-CN">' in dom
    # Window 1 closes 2024-05-31: 11 days after the injected today.
    assert 'data-event="diesel-window-1" data-days-left="11"' in dom
    assert "受理中，还剩 11 天截止" in dom
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="chart"' in dom
    assert 'id="today-line"' in dom and "今天 2024-05-20" in dom
    host = base_url.removeprefix("http://")
    webcal = f"webcal://{host}/calendar.ics"
    assert f'href="{webcal}"' in dom
    google = "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
    assert f'href="{google}"' in dom
    assert f">{base_url}/calendar.ics</code>" in dom
    assert 'class="qrcode"' in dom
    assert f'href="webcal://{host}/feeds/tag/office-hours.ics"' in dom


def test_dom_in_english(base_url: str, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", f"{base_url}/?lang=en")
    assert '<html lang="en">' in dom
    assert "open, closes in 11 days" in dom
    assert f'href="webcal://{base_url.removeprefix("http://")}/calendar.ics?lang=en"' in dom


@pytest.mark.parametrize(("name", "path", "size"), [
    ("page.png", "/", "1280,2000"),
    ("page-en.png", "/?lang=en", "1280,2000"),
    ("page-mobile.png", "/", "390,1800"),
])
def test_screenshot(base_url: str, tmp_path: Path, name: str, path: str, size: str) -> None:
    if shutil.which("fc-list"):
        fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
        if not fonts.strip():
            warnings.warn("no CJK font installed (apt-get install -y fonts-noto-cjk): "
                          "Chinese will render as boxes in the screenshot", stacklevel=1)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    _chromium(tmp_path, f"--screenshot={shot}", f"--window-size={size}", f"{base_url}{path}")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 50_000  # a blank or error page compresses to far less


# ── the pages at a phone's width, measured in the laid-out page ────────────────────────

PHONE = 390


def _layout(browser: Browser) -> dict[str, Any]:
    """Where the chart's box, its content and the today line are, in CSS pixels."""
    value = browser.evaluate("""(() => {
        const box = document.querySelector('.chart');
        const line = document.getElementById('today-line').getBoundingClientRect();
        const rect = box.getBoundingClientRect();
        const label = document.querySelector('#chart text.lb').getBoundingClientRect();
        const today = document.querySelector('#chart text.tl').getBoundingClientRect();
        return {page_width: document.documentElement.scrollWidth,
                box_left: rect.left, box_right: rect.right, client: box.clientWidth,
                scroll_width: box.scrollWidth, scroll_left: box.scrollLeft,
                line_x: line.left, line_top: line.top, label_height: label.height,
                today_label_right: today.right,
                page_scroll_y: window.scrollY};
    })()""")
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize(("name", "path"), [
    ("home-390.png", "/"),
    ("story-390.png", "/stories/nanchuan-zero-carbon"),
    ("home-390-en.png", "/?lang=en"),
    ("tag-390-en.png", "/tags/office-hours?lang=en"),  # a short chart: 2023-2025
])
def test_at_390_px_the_chart_scrolls_and_opens_on_today(base_url: str, tmp_path: Path,
                                                         name: str, path: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert CHROMIUM is not None
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        browser.open(f"{base_url}{path}", PHONE, 1800)
        layout = _layout(browser)
        shot = browser.screenshot(ARTIFACTS / name)
        # the box scrolled to its initial target, and not the page
        scrolled = browser.evaluate("document.querySelector('.chart').scrollLeft")
        browser.evaluate("document.querySelector('.chart').scrollLeft = 0")
        at_start = browser.evaluate("document.getElementById('today-line')"
                                    ".getBoundingClientRect().left")
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 50_000
    assert layout["page_width"] <= PHONE  # the page itself never scrolls sideways
    assert layout["scroll_width"] > layout["client"] + 300  # the chart does
    # The today line is inside the box as the page opens, with room for its label.
    assert layout["box_left"] < layout["line_x"] < layout["box_right"] - 120, layout
    assert layout["today_label_right"] <= layout["box_right"], layout
    assert layout["page_scroll_y"] == 0
    # Readable: the chart is drawn 1:1 (12 px labels), not squeezed to the screen.
    assert layout["label_height"] >= 12
    # Where the line falls beyond the box's first screen, the box was scrolled to it.
    if at_start > layout["box_right"] - 100:
        assert scrolled > 0


def test_the_past_fold_is_closed_and_opens(base_url: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        browser.open(f"{base_url}/stories/marriage-registration", 1280, 1200, mobile=False)
        state = browser.evaluate("""(() => {
            const fold = document.querySelector('details.past');
            const item = fold.querySelector('li');
            const before = [fold.open, item.checkVisibility()];
            fold.querySelector('summary').click();
            return [...before, fold.open, item.checkVisibility(),
                    fold.querySelector('summary').textContent];
        })()""")
    assert state == [False, False, True, True, "已过去的事项（2）"]


def test_story_tag_and_search_pages_in_the_browser(base_url: str, tmp_path: Path) -> None:
    story = _chromium(tmp_path, "--dump-dom", f"{base_url}/stories/diesel-subsidy")
    assert '<li id="ev-diesel-window-1">' in story
    assert "「自工作方案发布之日起至 2024 年 5 月 31 日" in story
    tag = _chromium(tmp_path, "--dump-dom", f"{base_url}/tags/office-hours?lang=en")
    assert '<html lang="en">' in tag
    assert tag.count('<li id="ev-diesel-office-hours-window-') == 2
    zh = _chromium(tmp_path, "--dump-dom", f"{base_url}/?q={quote('补贴')}")
    assert "<mark>补贴</mark>" in zh and 'id="results"' in zh
    en = _chromium(tmp_path, "--dump-dom", f"{base_url}/?q=truck&lang=en")
    assert "<mark>truck</mark>" in en.lower() or "<mark>Truck</mark>" in en
    bad = _chromium(tmp_path, "--dump-dom", f"{base_url}/?q={'x' * 101}")
    assert "at most 100" in bad


@pytest.mark.parametrize("path", ["/?lang=en", "/stories/diesel-subsidy"])
def test_the_search_form_submits_under_the_pages_csp(base_url: str, tmp_path: Path,
                                                      path: str) -> None:
    assert CHROMIUM is not None
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        browser.open(f"{base_url}{path}", 1280, 1200, mobile=False)
        browser.navigated_by("document.getElementById('q').value = '受理期 window';"
                             "document.querySelector('form.search').requestSubmit()")
        url, marks, results = browser.evaluate("""[location.href,
            document.querySelectorAll('#results mark').length,
            document.querySelectorAll('#results li').length]""")
    base = f"{base_url}{path.split('?')[0]}"
    assert url.startswith(base + "?q=")
    assert ("lang=en" in url) == ("lang=en" in path)  # the language went with the form
    assert results >= 2 and marks >= 2


@pytest.fixture(scope="module")
def big_url() -> Iterator[str]:
    source = TimelineSource(synthetic_timeline(10_000))
    with running_server(source, today=lambda: date(2024, 5, 20)) as url:
        yield url


def test_home_at_10000_events_in_the_browser(big_url: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert CHROMIUM is not None
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        browser.open(f"{big_url}/", 1280, 2000, mobile=False)
        counts = browser.evaluate("""[document.querySelectorAll('#stories li').length,
            document.querySelectorAll('#coming li, #open-now li, #this-week li').length,
            document.querySelectorAll('#chart g[data-event]').length,
            document.documentElement.outerHTML.length]""")
        browser.screenshot(ARTIFACTS / "home-10000.png")
        browser.open(f"{big_url}/", PHONE, 1800)
        layout = _layout(browser)
        browser.screenshot(ARTIFACTS / "home-10000-390.png")
    stories, listed, rows, length = counts
    assert stories == 500 and 0 < listed <= 60 and 0 < rows <= 60
    assert length < 200_000
    assert layout["box_left"] < layout["line_x"] < layout["box_right"] - 100, layout
