"""Bringing the store in line with a (re)loaded timeline.

Runs on start, on every reload and on the hourly re-plan: sync events (revisions), put the
planned reminders into the outbox (existing keys are left alone, so nothing is sent twice),
cancel what a moved or removed event no longer needs, and queue a change notice when an
event's dates moved, because subscribed calendars may lag a day and chat does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from timeline.config import Settings
from timeline.delivery.kinds import ChangePayload, change_key
from timeline.loader import LoadedTimeline
from timeline.plan import notifiers_for, plan_reminders
from timeline.store import EventChange, PlannedDelivery, Store

__all__ = ["ApplySummary", "apply_timeline", "date_summary"]

# The fields that decide when an event happens; a change to any of them is a date change.
DATE_FIELDS = ("due", "start", "start_label", "end", "date", "rrule", "every", "weekdays",
               "within", "except")


@dataclass(frozen=True)
class ApplySummary:
    planned: int
    notices: int
    cancelled: int
    changes: tuple[EventChange, ...]


def _shown(value: Any, tz: ZoneInfo) -> str:
    """A stored date as people read it: 2024-05-31, or a moment in the timeline's zone."""
    if not isinstance(value, str) or len(value) <= 10:
        return str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    # Seconds only when they say something (tests and timed items set to the second).
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")


def date_summary(data: dict[str, Any] | None, tz: ZoneInfo) -> str:
    """An event's dates in one line, from its stored JSON form."""
    if not data:
        return "—"
    kind = data.get("kind")

    def show(key: str) -> str:
        return _shown(data.get(key), tz)

    if kind == "deadline":
        return show("due")
    if kind == "window":
        start = show("start") if data.get("start") else data.get("start_label") or "…"
        return f"{start} – {show('end')}"
    if kind == "happening":
        return f"{show('date')} – {show('end')}" if data.get("end") else show("date")
    rule = data.get("rrule") or data.get("every") or ",".join(data.get("weekdays") or [])
    first = show("start") if data.get("start") else data.get("within") or ""
    last = show("end") if data.get("end") else ""
    excepts = data.get("except") or []
    extra = f" except {', '.join(_shown(e, tz) for e in excepts)}" if excepts else ""
    return f"{rule} {first} – {last}{extra}".strip()


def _current(now: datetime) -> datetime:
    """The time of a cancelling statement, not the plan's start: what another instance
    prepared and has fallen due while the plan was made may be on the wire by now, and is
    left alone (the store's PREPARED_MARGIN counts from this)."""
    return max(now, datetime.now(UTC))


def _dates_moved(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    if not old or not new:
        return False
    return any(old.get(k) != new.get(k) for k in DATE_FIELDS)


def apply_timeline(store: Store, settings: Settings, loaded: LoadedTimeline,
                   now: datetime, *, configured: bool = False,
                   previous: LoadedTimeline | None = None) -> ApplySummary:
    """Bring the store in line with `loaded`. `configured`: the settings may have changed
    since the store was last planned (a start): what the plan no longer routes, or now
    plans at another time, is cancelled too, not only what changed events left behind.
    `previous`: the timeline applied last in this process (a reload of the file): only
    the events whose fingerprints differ from it are planned again; the rest are in the
    store already, up to the horizon the hourly re-plan keeps extending."""
    reminders = settings.reminders
    first, last = now - reminders.catch_up, now + reminders.horizon
    only = None
    if previous is not None and not configured:
        before = previous.fingerprints
        only = {i for i, f in loaded.fingerprints.items() if before.get(i) != f}
        only |= set(before) - set(loaded.fingerprints)
    # Everything that can fail without the store first (the plan is pure); then the store's
    # changes in one transaction: a failure anywhere leaves it as it was.
    planned = plan_reminders(loaded, settings, first, last, only)
    with store.transaction():
        return _apply(store, settings, loaded, now, planned, (first, last), configured, only)


def _apply(store: Store, settings: Settings, loaded: LoadedTimeline, now: datetime,
           planned: list[Any], span: tuple[datetime, datetime], configured: bool,
           only: set[str] | None) -> ApplySummary:
    first, last = span
    changes = store.sync_events(loaded, now)
    if only is not None:
        # The store may know of changes this process did not see (another instance's
        # reload): those events are planned too, or cancelling below would drop them.
        missed = {c.event_id for c in changes if c.change != "removed"} - only
        if missed:
            planned = planned + plan_reminders(loaded, settings, first, last, missed)
    keep = {p.key for p in planned}
    # Before adding the plan: on a first start there is nothing yet to look through.
    cancelled = store.cancel_unplanned(keep, first, last, _current(now)) if configured else 0
    rows = [PlannedDelivery(key=p.key, event_id=p.event_id, notifier=p.notifier,
                            due_at=p.due_at, payload=p.payload_json(), kind=p.kind)
            for p in planned]
    inserted = store.add_planned(rows)
    touched = [c.event_id for c in changes if c.change in ("changed", "removed")]
    cancelled += store.cancel_except(touched, keep, _current(now)) if touched else 0

    notices = []
    revisions = store.revisions() if changes else {}
    timeline = loaded.timeline
    for change in changes:
        if change.change != "changed" or not _dates_moved(change.old, change.new):
            continue
        event = timeline.event(change.event_id)
        sequence = revisions[event.id].sequence if event.id in revisions else 0
        for notifier in notifiers_for(event, settings.routes):
            notice = ChangePayload(date_summary(change.old, timeline.tz),
                                   date_summary(change.new, timeline.tz))
            notices.append(PlannedDelivery(
                key=change_key(event.id, sequence, notifier), event_id=event.id,
                notifier=notifier, due_at=now, payload=notice.to_json(), kind=notice.kind))
    if notices:
        store.add_planned(notices)
    return ApplySummary(planned=inserted, notices=len(notices), cancelled=cancelled,
                        changes=tuple(changes))
