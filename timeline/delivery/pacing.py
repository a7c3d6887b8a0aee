"""How fast a notifier may be sent to: a token bucket per notifier (`rate_per_minute`)."""

from __future__ import annotations

import asyncio
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """A token bucket: at most `per_minute` sends a minute, short bursts allowed."""

    def __init__(self, per_minute: float | None, burst: int = 1) -> None:
        self.rate = per_minute / 60.0 if per_minute else None
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate is None:
            return
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)
