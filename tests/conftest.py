"""Shared fixtures. Area-specific fixtures live in their own test modules or helpers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from timeline.loader import LoadedTimeline, load_timeline

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _non_chinese_local_timezone() -> None:
    """Run everything with a local zone that is neither UTC nor Shanghai, and has DST, so
    code that leans on the machine's zone instead of the timeline's shows up."""
    os.environ["TZ"] = "America/New_York"
    time.tzset()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def events_path() -> Path:
    return REPO / "events.yaml"


@pytest.fixture(scope="session")
def loaded(events_path: Path) -> LoadedTimeline:
    return load_timeline(events_path)
