"""The page in a real browser: headless Chromium reads the served page and screenshots it.

Needs Debian's `chromium` (CI installs it, with `fonts-noto-cjk` so Chinese renders); the
tests skip, saying why, when the binary is absent. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest

from timeline.loader import LoadedTimeline
from timeline.source import TimelineSource

from .web_helpers import running_server

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
