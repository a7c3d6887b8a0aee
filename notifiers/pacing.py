"""How fast a receiver may be sent to: one rate limiter for the dispatcher's per-notifier
`rate_per_minute` and for the services' own per-second budgets (Feishu 5/s, Slack ~1/s).

The generic cell rate algorithm (a token bucket kept as one time): each request reserves
its slot before it sleeps, so concurrent senders go out in the order they asked, at most
`burst` at once and then one per interval."""

from __future__ import annotations

import asyncio
import math
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most `per_second` requests a second, `burst` of them at once; None: no limit."""

    def __init__(self, per_second: float | None, burst: int = 1) -> None:
        self.interval = 1.0 / per_second if per_second else None
        self.burst = max(burst, 1)
        self._next = -math.inf  # when the bucket would be empty again (the theoretical time)

    @classmethod
    def per_minute(cls, per_minute: float | None, burst: int = 1) -> RateLimiter:
        return cls(per_minute / 60.0 if per_minute else None, burst)

    async def acquire(self) -> None:
        """Wait for this request's slot."""
        interval = self.interval
        if interval is None:
            return
        now = time.monotonic()
        due = max(self._next, now)
        start = due - (self.burst - 1) * interval  # a full bucket lets `burst` go now
        self._next = mine = due + interval
        if start > now:
            try:
                await asyncio.sleep(start - now)
            except asyncio.CancelledError:
                if self._next == mine:  # the last reservation: nobody queued behind it
                    self._next = due
                raise
