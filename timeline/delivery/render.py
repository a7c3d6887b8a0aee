"""From a batch of claimed rows and the timeline in effect to the `Message` people read:
reminder lines (with the reminded events as an .ics for notifiers that attach files), a
digest, a change notice or a missed summary. The texts themselves are `timeline.messages`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from notifiers.base import Message, Notifier
from timeline.config import Settings
from timeline.delivery.batching import Batch, digest_day
from timeline.feed import render_feed
from timeline.formatting import Lang
from timeline.loader import LoadedTimeline
from timeline.messages import (
    ReminderLine,
    change_message,
    message_key,
    missed_message,
    planned_digest,
    reminder_message,
)
from timeline.source import TimelineSource
from timeline.store import Delivery, Revision

__all__ = ["Renderer"]


class Renderer:
    def __init__(self, settings: Settings, notifiers: Mapping[str, Notifier],
                 source: TimelineSource) -> None:
        self.settings = settings
        self.notifiers = notifiers
        self.source = source
        self.tz = ZoneInfo(settings.timezone)

    def render(self, batch: Batch) -> Message | None:
        """The batch's message, from the timeline in effect now; None when its event is
        not (or no longer) in it."""
        snapshot = self.source.snapshot()
        loaded = snapshot.loaded
        settings = self.settings
        lang = settings.lang_of(batch.notifier)
        first = batch.rows[0]
        payload = first.payload or {}
        if batch.kind == "digest":
            return planned_digest(first.key, loaded, settings, first.notifier,
                                  digest_day(first, self.tz), lang=lang, late=batch.late)
        if batch.kind == "change":
            try:
                event = loaded.timeline.event(first.event_id)
            except KeyError:
                return None
            return change_message(first.key, event, loaded.timeline.story(event.story),
                                  payload.get("old", ""), payload.get("new", ""), lang=lang,
                                  feed_url=settings.feed_url)
        if batch.kind == "missed":
            return missed_message(first.key, self._missed_titles(payload, loaded, lang),
                                  lang=lang)
        lines = [line for row in batch.rows if (line := self.line(row, loaded)) is not None]
        if not lines:
            return None
        plugin = self.notifiers.get(batch.notifier)
        attach = plugin is not None and plugin.attaches_ics
        ics = _ics(lines, loaded, snapshot.revisions, lang) if attach else None
        # The day it goes out, which for a batch rendered ahead may be tomorrow.
        today = max(datetime.now(UTC), batch.send_at).astimezone(self.tz).date()
        return reminder_message(message_key([r.key for r in batch.rows]), lines, today=today,
                                lang=lang, feed_url=settings.feed_url,
                                base_url=settings.server.base_url, late=batch.late, ics=ics)

    def line(self, row: Delivery, loaded: LoadedTimeline) -> ReminderLine | None:
        """A reminder row's line, or None when its event is not in `loaded`."""
        payload = row.payload or {}
        try:
            event = loaded.timeline.event(row.event_id)
        except KeyError:
            return None
        text = payload["occurrence"]
        occurrence: date | datetime = date.fromisoformat(text) if len(text) == 10 else \
            datetime.fromisoformat(text).astimezone(event.zone(loaded.timeline.timezone))
        # ^ back in its event's named zone, as the plan gave it: the message names the zone
        return ReminderLine(key=row.key, event=event, story=loaded.timeline.story(event.story),
                            anchor=payload.get("anchor", "due"), occurrence=occurrence,
                            lead=payload.get("lead", ""), due=row.due_at,
                            estimated=bool(payload.get("estimated")), tz=self.tz)

    @staticmethod
    def _missed_titles(payload: Mapping[str, object], loaded: LoadedTimeline,
                       lang: Lang) -> list[tuple[str, str]]:
        titles = []
        keys = payload.get("keys", [])
        for missed_key in keys if isinstance(keys, list) else []:
            event_id = str(missed_key).split("/", 1)[0]
            try:
                titles.append((missed_key, loaded.timeline.event(event_id).in_lang("title", lang)))
            except KeyError:
                titles.append((missed_key, event_id))
        return titles


def _ics(lines: Sequence[ReminderLine], loaded: LoadedTimeline,
         revisions: Mapping[str, Revision], lang: Lang) -> bytes:
    """The reminded events as a small calendar, for notifiers that attach files."""
    ids = list(dict.fromkeys(line.event.id for line in lines))
    return render_feed(loaded, revisions=revisions, lang=lang, event_ids=ids)
