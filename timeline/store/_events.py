"""The events table: what was loaded, with a revision per event for the feed."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, update

from timeline.store._base import StoreBase
from timeline.store._records import EventChange, Revision, utc
from timeline.store._schema import events

if TYPE_CHECKING:
    from timeline.loader import LoadedTimeline

__all__ = ["EventsMixin"]

_UPDATE = (
    update(events)
    .where(events.c.id == bindparam("b_id"))
    .values(fingerprint=bindparam("fingerprint"), sequence=bindparam("sequence"),
            modified=bindparam("modified"), data=bindparam("data"),
            removed=bindparam("removed"))
)


def _digest(data: dict[str, Any]) -> str:
    """A fingerprint for an event the loader gave none (a hand-built LoadedTimeline)."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class EventsMixin(StoreBase):
    def sync_events(self, loaded: LoadedTimeline, now: datetime) -> list[EventChange]:
        """Make the events table match `loaded`; returns what changed, file order first,
        removals last. A changed fingerprint (or a removed event coming back) bumps the
        event's sequence and modified time; syncing the same file again changes nothing."""
        now = utc(now)
        incoming: dict[str, tuple[str, dict[str, Any]]] = {}
        for event in loaded.timeline.events:
            data = event.model_dump(mode="json", by_alias=True)
            incoming[event.id] = (loaded.fingerprints.get(event.id) or _digest(data), data)

        changes: list[EventChange] = []
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        # The lock makes a second daemon wait and then find nothing to change, so "date
        # changed" notices go out once however many instances load the same file.
        with self._write(lock="events") as conn:
            stored = {row.id: row for row in conn.execute(select(events))}
            for event_id, (fingerprint, data) in incoming.items():
                row = stored.get(event_id)
                values = {"b_id": event_id, "fingerprint": fingerprint, "data": data,
                          "removed": None, "modified": now}
                if row is None:
                    inserts.append({"id": event_id, "fingerprint": fingerprint, "sequence": 0,
                                    "modified": now, "data": data, "removed": None})
                    changes.append(EventChange(event_id, "added", None, data))
                elif row.removed is not None:
                    updates.append({**values, "sequence": row.sequence + 1})
                    changes.append(EventChange(event_id, "added", None, data))
                elif row.fingerprint != fingerprint:
                    updates.append({**values, "sequence": row.sequence + 1})
                    changes.append(EventChange(event_id, "changed", row.data, data))
                elif row.data != data:
                    # Same source, new serialization (a model field added by an upgrade):
                    # store it, but the event itself did not change, so no new revision.
                    updates.append({**values, "sequence": row.sequence,
                                    "modified": row.modified})
            for event_id, row in stored.items():
                if event_id not in incoming and row.removed is None:
                    updates.append({"b_id": event_id, "fingerprint": row.fingerprint,
                                    "sequence": row.sequence, "modified": now,
                                    "data": row.data, "removed": now})
                    changes.append(EventChange(event_id, "removed", row.data, None))
            if inserts:
                conn.execute(insert(events), inserts)
            if updates:
                conn.execute(_UPDATE, updates)
        return changes

    def last_change(self) -> datetime | None:
        """When any event last changed, was added or was removed (None: no events yet)."""
        with self._read() as conn:
            newest = conn.execute(select(func.max(events.c.modified))).scalar()
        return utc(newest) if newest is not None else None

    def revisions(self) -> dict[str, Revision]:
        """Sequence and last-modified time of every event still in the file."""
        query = select(events.c.id, events.c.sequence, events.c.modified).where(
            events.c.removed.is_(None))
        with self._read() as conn:
            return {row.id: Revision(row.sequence, row.modified) for row in conn.execute(query)}
