"""What the dispatcher counts for /healthz and /metrics: outcomes, delays, the last send."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Metrics"]


@dataclass
class Metrics:
    outcomes: Counter[str] = field(default_factory=Counter)  # delivered/retry/dead/missed
    delays: list[float] = field(default_factory=list)  # seconds from due to sent (recent)
    last: dict[str, Any] | None = None

    def observe_delay(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) > 10_000:
            del self.delays[:5_000]
