"""Shared fixtures. Area-specific fixtures live in their own test modules or helpers."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.receiver import Receiver, shared_receiver
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


@pytest.fixture
def receiver() -> Receiver:
    """The process-wide local HTTP receiver (tests/receiver.py), its script and log reset."""
    receiver = shared_receiver()
    receiver.reset()
    return receiver


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A fresh httpx client for a notifier under test (the daemon owns one the same way)."""
    async with httpx.AsyncClient() as client:
        yield client
