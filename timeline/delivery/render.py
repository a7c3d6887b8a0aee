"""From a batch of claimed rows and the timeline in effect to the `Message` people read:
reminder lines (with the reminded events as an .ics for notifiers that attach files), a
digest, a change notice or a missed summary. The texts themselves are `timeline.messages`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from notifiers.base import Message, Notifier
from timeline.config import Settings
from timeline.delivery.batching import Batch
from timeline.delivery.kinds import (
    ChangePayload,
    DigestPayload,
    MissedPayload,
    Payload,
    ReminderPayload,
    digest_of_key,
    event_of_key,
    read_payload,
)
from timeline.feed import render_feed
from timeline.formatting import Lang
from timeline.loader import LoadedTimeline
from timeline.messages import (
    ReminderLine,
    change_message,
    digest_title,
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

    def render(self, batch: Batch, *, now: datetime | None = None) -> Message | None:
        """The batch's message, from the timeline in effect now; None when its event is
        not (or no longer) in it. `now`: the clock, for the day a message says it is."""
        snapshot = self.source.snapshot()
        loaded = snapshot.loaded
        settings = self.settings
        lang = settings.lang_of(batch.notifier)
        first = batch.rows[0]
        payload = batch.payload_of(0)
        if isinstance(payload, DigestPayload):
            return planned_digest(first.key, loaded, settings, first.notifier,
                                  payload.first_day, lang=lang, late=batch.late)
        if isinstance(payload, ChangePayload):
            try:
                event = loaded.timeline.event(first.event_id)
            except KeyError:
                return None
            return change_message(first.key, event, loaded.timeline.story(event.story),
                                  payload.old, payload.new, lang=lang,
                                  feed_url=settings.feed_url)
        if isinstance(payload, MissedPayload):
            return missed_message(first.key, self._missed_titles(payload, loaded, lang),
                                  lang=lang)
        lines = [line for i, row in enumerate(batch.rows)
                 if (line := self.line(row, loaded, batch.payload_of(i))) is not None]
        if not lines:
            return None
        plugin = self.notifiers.get(batch.notifier)
        attach = plugin is not None and plugin.attaches_ics
        ics = _ics(lines, loaded, snapshot.revisions, lang) if attach else None
        # The day it goes out, which for a batch rendered ahead may be tomorrow.
        today = max(now or datetime.now(UTC), batch.send_at).astimezone(self.tz).date()
        return reminder_message(message_key([r.key for r in batch.rows]), lines, today=today,
                                lang=lang, feed_url=settings.feed_url,
                                base_url=settings.server.base_url, late=batch.late, ics=ics)

    def line(self, row: Delivery, loaded: LoadedTimeline,
             payload: Payload | None = None) -> ReminderLine | None:
        """A reminder row's line, or None when its event is not in `loaded` (or the row is
        not a readable reminder). `payload`: the row's, when read already."""
        if payload is None:
            payload = read_payload(row.kind, row.payload)
        if not isinstance(payload, ReminderPayload):
            return None
        try:
            event = loaded.timeline.event(row.event_id)
        except KeyError:
            return None
        occurrence = payload.occurrence
        if isinstance(occurrence, datetime):
            # Back in its event's named zone, as the plan gave it: the message names the zone.
            occurrence = occurrence.astimezone(event.zone(loaded.timeline.timezone))
        return ReminderLine(key=row.key, event=event, story=loaded.timeline.story(event.story),
                            anchor=payload.anchor, occurrence=occurrence, lead=payload.lead,
                            due=row.due_at, estimated=payload.estimated, tz=self.tz)

    @staticmethod
    def _missed_titles(payload: MissedPayload, loaded: LoadedTimeline,
                       lang: Lang) -> list[tuple[str, str]]:
        titles = []
        for missed_key in payload.keys:
            event_id = event_of_key(missed_key)
            if event_id is None:  # a digest whose period ended while stopped
                day = digest_of_key(missed_key)
                titles.append((missed_key, digest_title(day, lang) if day else missed_key))
                continue
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
