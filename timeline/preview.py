"""Seeing before sending: `timeline preview` and `timeline notify-test`.

Preview runs the same plan and the same message rendering as the daemon, minus the store
and the network, so what it shows is what the group will read.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from notifiers.base import Message, SendResult
from notifiers.registry import build
from timeline.config import Settings
from timeline.loader import LoadedTimeline
from timeline.messages import (
    message_key,
    planned_digest,
    planned_line,
    reminder_message,
    test_message,
)
from timeline.plan import PlannedReminder, plan_reminders

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
    tz = ZoneInfo(settings.timezone)
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    wanted = set(only)
    groups: dict[tuple[datetime, str], list[PlannedReminder]] = defaultdict(list)
    out = []
    for item in plan_reminders(loaded, settings, start, end - timedelta(microseconds=1)):
        if wanted and item.notifier not in wanted:
            continue
        if item.anchor == "digest":
            message = planned_digest(item.key, loaded, settings, item.notifier,
                                     item.occurrence,
                                     lang=settings.lang_of(item.notifier))
            out.append(PreviewItem(item.notifier, item.due_at, item.due_at.astimezone(tz),
                                   message))
            continue
        entry = settings.notifiers[item.notifier]
        minute = item.due_at.replace(second=0, microsecond=0)
        groups[(minute, item.notifier if entry.group else item.key)].append(item)
    for (minute, _), items in groups.items():
        notifier = items[0].notifier
        limit = settings.notifiers[notifier].group_max
        for i in range(0, len(items), limit):
            chunk = items[i:i + limit]
            today = minute.astimezone(tz).date()
            lines = [planned_line(p, loaded.timeline, tz) for p in chunk]
            message = reminder_message(message_key([p.key for p in chunk]), lines,
                                       today=today, lang=settings.lang_of(notifier),
                                       feed_url=settings.feed_url,
                                       base_url=settings.server.base_url)
            out.append(PreviewItem(notifier, minute, minute.astimezone(tz), message))
    out.sort(key=lambda item: (item.due_at, item.notifier))  # stable: chunks stay in order
    return out


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
