"""What delivery counts for /healthz and /metrics: outcomes, delays, the last send; and
those counts (with the store's deliveries by state) as Prometheus metric families."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["Metrics", "delivery_metrics"]


@dataclass
class Metrics:
    outcomes: Counter[str] = field(default_factory=Counter)  # delivered/retry/dead/missed
    delays: list[float] = field(default_factory=list)  # seconds from due to sent (recent)
    last: dict[str, Any] | None = None
    # Every delay since start (the summary's _count and _sum, which must never go down)
    delay_count: int = 0
    delay_sum: float = 0.0

    def observe_delay(self, seconds: float) -> None:
        self.delay_count += 1
        self.delay_sum += seconds
        self.delays.append(seconds)
        if len(self.delays) > 10_000:
            del self.delays[:5_000]


def delivery_metrics(states: Mapping[str, int], metrics: Metrics) -> list[Metric]:
    """Deliveries in the store by state, send outcomes since start, and the delays from due
    time to send as a summary: median and 99th percentile of the recent ones, count and
    sum of all since start."""
    deliveries = GaugeMetricFamily("timeline_deliveries", "Deliveries in the store by state.",
                                   labels=["state"])
    for state, count in sorted(states.items()):
        deliveries.add_metric([state], count)
    outcomes = CounterMetricFamily("timeline_send_outcomes", "Send outcomes since start.",
                                   labels=["outcome"])
    for outcome, count in sorted(metrics.outcomes.items()):
        outcomes.add_metric([outcome], count)
    families: list[Metric] = [deliveries, outcomes]
    delays = sorted(metrics.delays)
    if delays:
        name = "timeline_reminder_delay_seconds"
        summary = Metric(name, "Due time to send, recent.", "summary")
        for q in (0.5, 0.99):
            value = delays[min(len(delays) - 1, int(q * len(delays)))]
            summary.add_sample(name, {"quantile": str(q)}, value)
        summary.add_sample(f"{name}_count", {}, metrics.delay_count)
        summary.add_sample(f"{name}_sum", {}, metrics.delay_sum)
        families.append(summary)
    return families
