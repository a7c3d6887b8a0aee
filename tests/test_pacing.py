"""Pacing and retry timing, tested directly and fast: the one rate limiter (RateLimiter: a
notifier's per-minute rate with its burst, a service's per-second budget), the retry back-off
(delivery.outcomes.backoff: bounds, jitter, a notifier's Retry-After hint) and the Retry-After
header itself (parse_retry_after, classify_status, classify_errcode).

The clocks are fakes handed to each module (its `time`, `asyncio.sleep`, `random`), so the
tests neither wait nor depend on the machine's load; the expected figures come from the
settings and the rules (rate, burst, base·2^(n-1), the 0.5–1.5 jitter), not from the code.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest

import notifiers.pacing as pacing_module
import timeline.delivery.outcomes as outcomes_module
from notifiers._http import (
    RETRY_AFTER_MAX,
    classify_errcode,
    classify_status,
    parse_retry_after,
)
from notifiers.base import RETRY_AFTER_MAX as RETRY_AFTER_LIMIT
from notifiers.pacing import RateLimiter
from timeline.config import Settings
from timeline.delivery.outcomes import backoff as delivery_backoff


class FakeClock:
    """A monotonic clock that only moves when something sleeps (or the test moves it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    fake_asyncio = SimpleNamespace(sleep=fake.sleep, CancelledError=asyncio.CancelledError)
    for module in (pacing_module,):
        monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=fake.monotonic))
        monkeypatch.setattr(module, "asyncio", fake_asyncio)
    return fake


# ── RateLimiter (notifiers/pacing.py) ─────────────────────────────────────────────────

async def test_no_rate_never_waits(clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(None)
    for _ in range(1000):
        await limiter.acquire()
    assert clock.sleeps == []


async def test_rate_spaces_sends_after_the_burst(clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(60, burst=3)  # one a second, three at once
    for _ in range(3):
        await limiter.acquire()
    assert clock.sleeps == []
    for _ in range(4):
        await limiter.acquire()
    assert clock.sleeps == pytest.approx([1.0] * 4)
    assert clock.now == pytest.approx(1004.0)


async def test_rate_per_minute_sets_the_spacing(clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(20)  # burst 1: one every 3 s
    await limiter.acquire()
    await limiter.acquire()
    await limiter.acquire()
    assert clock.sleeps == pytest.approx([3.0, 3.0])


async def test_idle_time_refills_but_only_up_to_the_burst(clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(60, burst=2)
    await limiter.acquire()
    await limiter.acquire()
    clock.now += 600  # ten idle minutes would be 600 tokens; the bucket holds 2
    for _ in range(2):
        await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert clock.sleeps == pytest.approx([1.0])


async def test_a_partly_refilled_bucket_waits_only_the_rest(clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(60)
    await limiter.acquire()
    clock.now += 0.25
    await limiter.acquire()
    assert clock.sleeps == pytest.approx([0.75])


async def test_burst_below_one_still_lets_one_through(clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(60, burst=0)
    await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert clock.sleeps == pytest.approx([1.0])


async def test_rate_holds_over_a_long_run(clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(120, burst=5)
    for _ in range(245):
        await limiter.acquire()
    # 5 at once, then 240 more at two a second: 120 s.
    assert clock.now - 1000.0 == pytest.approx(120.0)


async def test_concurrent_senders_share_one_bucket() -> None:
    # The real loop and clock: four senders at 600/min (0.1 s apart), burst 1.
    limiter = RateLimiter.per_minute(600)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def send() -> None:
        await limiter.acquire()
        times.append(loop.time())

    await asyncio.gather(*(send() for _ in range(4)))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3
    assert all(gap >= 0.09 for gap in gaps), gaps  # never two within the same 0.1 s


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    # The real loop and clock: at 10 a second, a waiter cancelled (a stop, a deadline)
    # must not make the next one wait for the slot nobody used.
    limiter = RateLimiter(10)
    await limiter.acquire()  # the bucket's one token
    waiting = asyncio.ensure_future(limiter.acquire())  # reserves the slot 0.1 s on
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    loop = asyncio.get_running_loop()
    started = loop.time()
    await limiter.acquire()
    assert loop.time() - started < 0.15  # its own slot, not one behind the cancelled one


# ── a service's per-second budget (Feishu and Slack use the same RateLimiter) ───────────────

async def test_min_interval_first_request_goes_at_once(clock: FakeClock) -> None:
    interval = RateLimiter(5)  # Feishu's 5 a second
    await interval.acquire()
    assert clock.sleeps == []


async def test_min_interval_keeps_requests_apart(clock: FakeClock) -> None:
    interval = RateLimiter(5)  # Feishu's 5 a second
    await interval.acquire()
    await interval.acquire()
    await interval.acquire()
    assert clock.sleeps == pytest.approx([0.2, 0.2])
    clock.now += 5  # a quiet spell: the next one goes at once
    await interval.acquire()
    assert len(clock.sleeps) == 2


async def test_min_interval_reserves_slots_in_order_for_concurrent_senders(
        clock: FakeClock) -> None:
    interval = RateLimiter(1)  # Slack's one a second
    waits = [interval.acquire() for _ in range(3)]
    # All three asked at the same instant: they are given the slots 0, 1 s and 2 s later.
    for waiting in waits:
        clock.now = 1000.0
        await waiting
    assert clock.sleeps == pytest.approx([1.0, 2.0])


# ── backoff (timeline/delivery/outcomes.py) ────────────────────────────────────────────

def backoff(monkeypatch: pytest.MonkeyPatch, attempts: int, retry_after: float | None = None,
            *, jitter: float, base: str = "5s", most: str = "1h") -> float:
    """The back-off in seconds with random.uniform(a, b) pinned to a + jitter·(b - a)."""
    asked: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        asked.append((a, b))
        return a + jitter * (b - a)

    monkeypatch.setattr(outcomes_module, "random", SimpleNamespace(uniform=uniform))
    settings = Settings.model_validate({"reminders": {"retry_base": base, "retry_max": most}})
    delay = delivery_backoff(settings.reminders, attempts, retry_after)
    assert isinstance(delay, timedelta)
    assert asked == [(0.5, 1.5)]  # ±50 % jitter
    return delay.total_seconds()


@pytest.mark.parametrize(("attempts", "nominal"), [(0, 5), (1, 5), (2, 10), (3, 20), (6, 160)])
def test_backoff_doubles_per_attempt_within_the_jitter(monkeypatch: pytest.MonkeyPatch,
                                                       attempts: int, nominal: float) -> None:
    assert backoff(monkeypatch, attempts, jitter=0.0) == pytest.approx(nominal * 0.5)
    assert backoff(monkeypatch, attempts, jitter=0.5) == pytest.approx(nominal)
    assert backoff(monkeypatch, attempts, jitter=1.0) == pytest.approx(nominal * 1.5)


@pytest.mark.parametrize("attempts", [12, 30, 100])  # 100: the most max_attempts allows
def test_backoff_never_exceeds_retry_max(monkeypatch: pytest.MonkeyPatch,
                                         attempts: int) -> None:
    # 5 s · 2^11 is well past an hour: the jitter then spreads 0.5–1 of retry_max, never
    # past it (it used to reach 1.5 h with retry_max 1h).
    assert backoff(monkeypatch, attempts, jitter=0.0) == pytest.approx(1800)
    assert backoff(monkeypatch, attempts, jitter=0.5) == pytest.approx(3600)
    assert backoff(monkeypatch, attempts, jitter=1.0) == pytest.approx(3600)


def test_backoff_just_below_the_cap_is_capped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # attempt 10: 5 s · 2^9 = 2560 s, under the hour; its upper jitter (3840 s) is not.
    assert backoff(monkeypatch, 10, jitter=0.0) == pytest.approx(1280)
    assert backoff(monkeypatch, 10, jitter=1.0) == pytest.approx(3600)


def test_backoff_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backoff(monkeypatch, 3, jitter=0.5, base="1m", most="1d") == pytest.approx(240)
    assert backoff(monkeypatch, 3, jitter=0.5, base="1m", most="2m") == pytest.approx(120)


def test_retry_after_wins_when_longer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backoff(monkeypatch, 1, retry_after=120, jitter=1.0) == pytest.approx(120)
    # Longer than retry_max too: the receiver's word wins (README: reminders.retry_max).
    assert backoff(monkeypatch, 1, retry_after=7200, jitter=1.0) == pytest.approx(7200)


def test_retry_after_shorter_than_the_backoff_is_ignored(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert backoff(monkeypatch, 3, retry_after=1, jitter=0.5) == pytest.approx(20)
    assert backoff(monkeypatch, 3, retry_after=0, jitter=0.5) == pytest.approx(20)
    assert backoff(monkeypatch, 3, retry_after=-50, jitter=0.5) == pytest.approx(20)


@pytest.mark.parametrize("hint", [1e12, float("inf")])
def test_a_huge_retry_after_is_bounded(monkeypatch: pytest.MonkeyPatch, hint: float) -> None:
    assert backoff(monkeypatch, 1, retry_after=hint, jitter=0.5) == pytest.approx(
        RETRY_AFTER_LIMIT)
    assert RETRY_AFTER_LIMIT == 86_400  # a day, the same bound as the HTTP header's


def test_backoff_is_random_within_its_bounds() -> None:
    # The real random: spread, never outside 0.5–1.5 of the nominal 20 s.
    settings = Settings.model_validate({"reminders": {"retry_base": "5s", "retry_max": "1h"}})
    delays = [delivery_backoff(settings.reminders, 3, None).total_seconds()
              for _ in range(500)]
    assert all(10 <= d <= 30 for d in delays)
    assert len(set(delays)) > 400  # jittered, not one fixed value
    assert min(delays) < 13 and max(delays) > 27


# ── Retry-After (notifiers/_http.py) ───────────────────────────────────────────────────

@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5),
    ("-5", 0.0),  # a wait cannot be negative
    ("99999999", RETRY_AFTER_MAX),  # at most a day
])
def test_retry_after_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "inf", "-inf", "nan", "1e400",
                                   "Wed, 21 Oct 2015 07:28:00"])  # a date without its zone
def test_retry_after_absent_or_garbled_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_http_date() -> None:
    now = 1_445_412_450.0  # 2015-10-21 07:27:30 UTC
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0  # past: now
    assert parse_retry_after("Thu, 21 Oct 2021 07:28:00 GMT", now=now) == RETRY_AFTER_MAX


def test_retry_after_http_date_against_the_real_clock() -> None:
    import time

    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    wait = parse_retry_after(in_a_minute)
    assert wait is not None and 55 <= wait <= 60


@pytest.mark.parametrize("status", [429, 503])
def test_classify_status_carries_the_header(status: int) -> None:
    result = classify_status(httpx.Response(status, headers={"Retry-After": "30"}, text="busy"))
    assert result.status == "retryable"
    assert result.retry_after == 30.0
    assert result.detail == f"HTTP {status}: busy"


def test_classify_status_without_a_header_leaves_the_backoff_to_us() -> None:
    result = classify_status(httpx.Response(429))
    assert result.status == "retryable" and result.retry_after is None


def test_a_permanent_failure_ignores_retry_after() -> None:
    result = classify_status(httpx.Response(400, headers={"Retry-After": "30"}))
    assert result.status == "permanent"


def test_errcode_header_beats_the_services_own_hint() -> None:
    hints = {45009: 60.0}
    body = {"errcode": 45009, "errmsg": "api freq out of limit"}
    with_header = classify_errcode(httpx.Response(200, json=body, headers={"Retry-After": "5"}),
                                   field="errcode", retryable=hints)
    assert with_header.status == "retryable" and with_header.retry_after == 5.0
    without = classify_errcode(httpx.Response(200, json=body), field="errcode", retryable=hints)
    assert without.status == "retryable" and without.retry_after == 60.0
