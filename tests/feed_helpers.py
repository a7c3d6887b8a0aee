"""Synthetic timelines for the feed tests: many events of every kind, built straight from
dicts (the loader's time is not what these tests are about), with fingerprints made the
way the loader makes them, so the store can tell a changed event from an unchanged one."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from pydantic import TypeAdapter

from timeline.loader import LoadedTimeline
from timeline.model import Event as EventModel
from timeline.model import Recurring, Story, Timeline, Window
from timeline.recurrence import build_rule

__all__ = ["one_changed", "synthetic"]

_EVENT: TypeAdapter[Any] = TypeAdapter(EventModel)


def _raw_event(i: int, stories: int) -> dict[str, Any]:
    """Event i: the four kinds, all-day and timed, in three zones, with and without
    descriptions, notes, URLs, English texts and text that needs escaping and folding."""
    base = date(2024, 1, 1) + timedelta(days=i % 1500)
    common: dict[str, Any] = {
        "id": f"e{i}", "story": f"s{i % stories}", "title": f"合成事项 {i}：补贴申请",
        "source": f"原文第{i}条：……；逗号,分号;反斜杠\\",
        "tags": [f"t{i % 50}", "bench"]}
    if i % 3:
        common["title_en"] = f"Synthetic item {i}, with a comma; and a semicolon"
    if i % 4:
        common["description"] = "受理地点：车管所北门。" * (1 + i % 3) + "\n第二行"
    if i % 7 == 0:
        common["note"] = "原文只给到年底；以12月31日为截止锚点"
    if i % 11 == 0:
        common["url"] = f"https://example.org/notice/{i}?a=1&b=2"
    timed = i % 13 == 0
    zone = ("Europe/London", "America/New_York", None)[i % 3]
    if timed and zone:
        common["timezone"] = zone
    day = (f"{base.isoformat()}T09:30:00" if timed else base.isoformat())
    kind = i % 10
    if kind < 4:
        precision = ("year-end", "day", "month", "approximate")[kind]
        return {**common, "kind": "deadline", "due": day, "precision": precision,
                **({"reminders": ["90d", "7d", "2h"]} if kind == 1 else {})}
    if kind < 7:
        end = base + timedelta(days=55)
        window: dict[str, Any] = {**common, "kind": "window",
                                  "end": f"{end.isoformat()}T17:00:00" if timed else
                                  end.isoformat()}
        if kind == 6:
            window["start_label"] = "自发布之日起"
        else:
            window["start"] = day
            window["start_reminders"] = ["7d"]
        return window
    if kind < 9:
        return {**common, "kind": "happening", "date": day,
                **({"end": (base + timedelta(days=2)).isoformat()} if kind == 8 and not timed
                   else {}), "reminders": [] if kind == 7 else ["1d"]}
    recurring: dict[str, Any] = {**common, "kind": "recurring", "weekdays": ["tue", "fri"],
                                 "start": day, "except": ["cn-holidays"]}
    if i % 200 != 9:  # a few open-ended: their EXDATEs follow the year (and cost 13 ms)
        recurring["end"] = (base + timedelta(days=60)).isoformat()
    return recurring


def synthetic(n: int) -> LoadedTimeline:
    """n events across n/20 stories."""
    count = max(1, n // 20)
    raw_stories = [{"id": f"s{i}", "title": f"合成报道 {i}", "source": {"newspaper": "基准报"},
                    "published": "2024-01-01"} for i in range(count)]
    stories = [Story.model_validate(raw) for raw in raw_stories]
    raws = [_raw_event(i, count) for i in range(n)]
    events = [_EVENT.validate_python(raw) for raw in raws]
    timeline = Timeline(stories=stories, events=events)
    windows = {e.id: e for e in events if isinstance(e, Window)}
    rules = {e.id: build_rule(e, windows.get, timeline.tz) for e in events
             if isinstance(e, Recurring)}
    prints = {raw["id"]: hashlib.sha256(json.dumps(raw, sort_keys=True).encode()
                                        ).hexdigest()[:16] for raw in raws}
    return LoadedTimeline(timeline, rules, "synthetic", prints)


def one_changed(loaded: LoadedTimeline, index: int) -> LoadedTimeline:
    """The same timeline with one event's title edited (and its fingerprint moved)."""
    events = list(loaded.timeline.events)
    old = events[index]
    events[index] = old.model_copy(update={"title": old.title + "（已更新）"})
    timeline = loaded.timeline.model_copy(update={"events": events})
    prints = {**loaded.fingerprints, old.id: "changed"}
    return LoadedTimeline(timeline, loaded.rules, loaded.source, prints)
