"""Seeing before sending: `timeline preview` and `timeline notify-test`.

Preview runs the same plan and the same message rendering as the daemon, minus the store
and the network, so what it shows is what the group will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from notifiers.base import Message, SendResult
from notifiers.registry import build
from timeline.config import Settings
from timeline.delivery.batching import triage
from timeline.delivery.render import Renderer
from timeline.loader import LoadedTimeline
from timeline.messages import test_message
from timeline.plan import PlannedReminder, plan_reminders
from timeline.source import TimelineSource
from timeline.store import Delivery

__all__ = ["PreviewItem", "preview_messages", "send_test"]


@dataclass(frozen=True)
class PreviewItem:
    notifier: str
    due_at: datetime
    due_local: datetime
    message: Message

    def to_json(self) -> dict[str, Any]:
        return {"notifier": self.notifier, "due_at": self.due_at.isoformat(),
                "key": self.message.key, "title": self.message.title,
                "text": self.message.text, "keys": [i.key for i in self.message.items]}


def preview_messages(loaded: LoadedTimeline, settings: Settings, first: date, last: date,
                     only: Iterable[str] = ()) -> list[PreviewItem]:
    """The messages the plan sends from `first` to `last` (the deployment's days): the
    plan's rows, batched (batching.triage) and rendered (Renderer) as the dispatcher does
    when they fall due, without attachments. Where it can differ: the dispatcher batches
    what one claim holds (200 rows), so a grouping notifier's minute with more reminders
    than that may be cut into messages at other places (the same lines, in other groups);
    and the day a message says it is sent is its due day here, the day it goes out there."""
    tz = ZoneInfo(settings.timezone)
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    wanted = set(only)
    rows = [_as_claimed(item) for item in plan_reminders(loaded, settings, start,
                                                         end - timedelta(microseconds=1))
            if not wanted or item.notifier in wanted]
    # Started at the first row: nothing is late or missed.
    batches = triage(rows, settings, started_at=start, now=start, tz=tz).batches
    renderer = Renderer(settings, {}, TimelineSource(loaded))
    out = []
    for batch in batches:
        message = renderer.render(batch, now=batch.send_at)
        if message is not None:
            out.append(PreviewItem(batch.notifier, batch.send_at,
                                   batch.send_at.astimezone(tz), message))
    out.sort(key=lambda item: (item.due_at, item.notifier))  # stable: chunks stay in order
    return out


def _as_claimed(item: PlannedReminder) -> Delivery:
    """The outbox row the plan's item becomes, as the dispatcher claims it."""
    return Delivery(item.key, item.event_id, item.notifier, item.due_at, "sending", 1, None,
                    None, None, None, None, False, item.payload_json(), item.due_at,
                    item.due_at, item.kind)


def send_test(settings: Settings, name: str) -> SendResult:
    async def go() -> SendResult:
        entry = settings.notifiers[name]
        async with httpx.AsyncClient(timeout=20.0) as client:
            notifier = build(name, {"type": entry.type, **entry.options}, client)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            message = test_message(f"test/{stamp}/{name}", name, lang=settings.lang_of(name),
                                   feed_url=settings.feed_url)
            return await notifier.send(message)

    return asyncio.run(go())
