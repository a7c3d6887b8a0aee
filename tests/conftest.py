"""Shared fixtures. Area-specific fixtures live in their own test modules or helpers."""

from __future__ import annotations

import logging
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


# ── no secret in any log ─────────────────────────────────────────────────────────────────
# The secrets the tests hand to the code (signing keys, header tokens, passwords from the
# environment): none may reach a log line, whether logged in this process or written by a
# daemon the tests run (their logs are *.log files under pytest's temporary folder).
TEST_SECRETS: set[str] = set()


def _secrets() -> set[str]:
    from tests.daemon_helpers import WHSEC
    from tests.test_hostile import SECRET

    return {WHSEC, WHSEC.removeprefix("whsec_"), SECRET, *TEST_SECRETS}


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []
        self.secrets: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted leaks nothing either
            return
        if any(secret in text for secret in self.secrets):
            self.leaks.append(text[:300])


_RECORDER = _Recorder()


def pytest_sessionstart(session: pytest.Session) -> None:
    _RECORDER.secrets = _secrets()
    _RECORDER.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logging.getLogger().addHandler(_RECORDER)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = list(_RECORDER.leaks)
    base = getattr(session.config, "_tmp_path_factory", None)
    root = base.getbasetemp() if base is not None else None
    if root is not None and root.exists():
        for log_file in root.rglob("*.log"):
            text = log_file.read_text(encoding="utf-8", errors="replace")
            leaks += [f"{log_file}: a secret" for s in _RECORDER.secrets if s in text]
    if leaks:
        print("\nsecrets reached a log:\n  " + "\n  ".join(leaks[:20]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
