"""The reminder plan: every reminder occurrence with its due time and a stable key.

Pure functions of (timeline, settings, time range): no clock, no I/O, so they are tested with
fixed datetimes. The key `event/occurrence/lead/notifier` is the delivery's identity in the
store and the idempotency key receivers see, so planning the same thing twice (after a
restart, on another instance) names it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from timeline.config import NotifierEntry, Route, Settings
from timeline.delivery.kinds import (
    DigestPayload,
    Kind,
    ReminderAnchor,
    ReminderPayload,
    digest_key,
    item_key,
    occurrence_part,
    reminder_json,
    reminder_key,
)
from timeline.durations import format_lead
from timeline.loader import LoadedTimeline
from timeline.model import Deadline, Happening, Recurring, Window, localize
from timeline.occurrences import AnyEvent
from timeline.workdays import day_info, is_estimated

__all__ = ["DigestContents", "DigestItem", "DigestSlot", "PlannedReminder", "digest_item_key",
           "digest_items", "digest_slot", "digest_slots", "notifiers_for", "plan_reminders"]

Anchor = ReminderAnchor | Literal["digest"]
# More than the longest run of days off in China's calendar (Spring Festival: 8-9 days).
_SHIFT_ROOM = timedelta(days=21)


@dataclass(frozen=True, slots=True)  # slots: a plan holds 100,000s of them
class PlannedReminder:
    key: str
    event_id: str  # "" for a digest
    notifier: str
    anchor: Anchor
    occurrence: date | datetime  # the day (or moment) the reminder is about
    lead: timedelta
    due_at: datetime  # aware, UTC
    shifted: bool = False  # moved earlier to a working day
    estimated: bool = False  # the working-day shift relied on an estimated holiday calendar

    @property
    def kind(self) -> Kind:
        return "digest" if self.anchor == "digest" else "reminder"

    def payload(self) -> ReminderPayload | DigestPayload:
        """What its outbox row carries (timeline.delivery.kinds)."""
        if self.anchor == "digest":
            return DigestPayload(_day(self.occurrence), self.shifted, self.estimated)
        return ReminderPayload(self.anchor, self.occurrence, format_lead(self.lead),
                               self.shifted, self.estimated)

    def payload_json(self) -> dict[str, Any]:
        """payload().to_json(), without the object in between (a plan has 100,000s)."""
        if self.anchor == "digest":
            return self.payload().to_json()
        return reminder_json(self.anchor, self.occurrence, format_lead(self.lead),
                             self.shifted, self.estimated)


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def notifiers_for(event: AnyEvent, routes: Iterable[Route]) -> list[str]:
    """Notifier names for an event: first matching route wins unless it says `continue`."""
    chosen: list[str] = []
    for route in routes:
        match = route.match
        if match.tags and not set(match.tags) & set(event.tags):
            continue
        if match.stories and event.story not in match.stories:
            continue
        if match.kinds and event.kind not in match.kinds:
            continue
        if match.events and event.id not in match.events:
            continue
        chosen.extend(n for n in route.notify if n not in chosen)
        if not route.continue_:
            break
    return chosen


def _anchors(event: AnyEvent, loaded: LoadedTimeline, first: date, last: date
             ) -> Iterator[tuple[Anchor, date | datetime, list[timedelta]]]:
    tz = event.zone(loaded.timeline.timezone)

    def norm(value: date | datetime) -> date | datetime:
        return localize(value, tz) if isinstance(value, datetime) else value

    leads = event.lead_times
    if isinstance(event, Deadline):
        yield "due", norm(event.due), leads
    elif isinstance(event, Window):
        yield "closes", norm(event.end), leads
        if event.start is not None and event.start_reminders:
            yield "opens", norm(event.start), event.start_reminders
    elif isinstance(event, Happening):
        yield "date", norm(event.date), leads
    elif isinstance(event, Recurring) and leads:
        rule = loaded.rules[event.id]
        # Look past `last` by the longest lead plus room for a working-day shift: a reminder
        # for an occurrence just after a long holiday moves back into the range.
        longest = max(leads) + _SHIFT_ROOM
        for start in rule.between(first, last + longest + timedelta(days=1)):
            yield "occurs", start, leads


def _due(occurrence: date | datetime, lead: timedelta, settings: Settings
         ) -> tuple[datetime, bool, bool]:
    """Due moment (UTC), whether it was shifted to a working day, whether that was estimated."""
    reminders = settings.reminders
    if isinstance(occurrence, datetime):
        # Subtract in UTC: aware arithmetic in a zone with DST is wall-clock arithmetic, so
        # "2h before" 04:00 on the spring-forward day would land on a nonexistent 02:00.
        return occurrence.astimezone(UTC) - lead, False, False
    tz = _zone(settings)
    local = datetime.combine(occurrence, reminders.send_at, tzinfo=tz) - lead
    if not reminders.working_days_only:
        return local.astimezone(UTC), False, False
    day, shifted, estimated = _working_day(local.date())
    if shifted:
        local = datetime.combine(day, reminders.send_at, tzinfo=tz)
    return local.astimezone(UTC), shifted, estimated


def _working_day(day: date) -> tuple[date, bool, bool]:
    """The last working day on or before `day`, whether that moved it, whether estimated."""
    shifted = estimated = False
    while True:
        info = day_info(day)
        estimated = estimated or info.estimated
        if info.workday:
            return day, shifted, estimated
        day -= timedelta(days=1)
        shifted = True


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def plan_reminders(loaded: LoadedTimeline, settings: Settings, first: datetime,
                   last: datetime, only: set[str] | None = None) -> list[PlannedReminder]:
    """Every reminder due in first..last (inclusive), ordered by due time then key.
    `only`: just these events' reminders, and no digests (a reload of what changed)."""
    senders: dict[str, NotifierEntry] = {
        name: entry for name, entry in settings.notifiers.items() if entry.reminders}
    first_day = first.astimezone(_zone(settings)).date() - timedelta(days=1)
    last_day = last.astimezone(_zone(settings)).date() + timedelta(days=1)
    planned: list[PlannedReminder] = []
    lead_names: dict[timedelta, str] = {}  # a few distinct leads, formatted 100,000s of times
    for event in loaded.timeline.events:
        if only is not None and event.id not in only:
            continue
        targets = [n for n in notifiers_for(event, settings.routes) if n in senders]
        if not targets:
            continue
        for anchor, occurrence, leads in _anchors(event, loaded, first_day, last_day):
            token = ""  # made once per occurrence, and only if a lead falls in range
            for lead in leads:
                due_at, shifted, estimated = _due(occurrence, lead, settings)
                if not first <= due_at <= last:
                    continue
                if not token:
                    token = occurrence_part(anchor, occurrence)
                lead_text = lead_names.get(lead) or lead_names.setdefault(lead, format_lead(lead))
                for notifier in targets:
                    planned.append(PlannedReminder(
                        key=reminder_key(event.id, token, lead_text, notifier),
                        event_id=event.id, notifier=notifier, anchor=anchor,
                        occurrence=occurrence, lead=lead, due_at=due_at,
                        shifted=shifted, estimated=estimated))
    if only is None:
        planned.extend(_digests(settings, first, last))
    planned.sort(key=lambda r: (r.due_at, r.key))
    return planned


@dataclass(frozen=True, slots=True)
class DigestSlot:
    """One digest: the days it speaks for and when it goes out.

    Its nominal days are those its spec names (every day, or every Monday); it speaks for
    its first nominal day up to the day before the next digest's first (`last_day`). With
    `working_days_only`, one on a day off goes out on the working day before, and nominal
    days that go out on the same working day make one digest: a daily digest on Friday
    covers the weekend, a weekly one on the Monday of a holiday goes out before it. Keyed by
    its first nominal day, so a holiday calendar published later moves it, not renames it.
    """

    first_day: date  # its first nominal day (local): its key
    last_day: date  # its last nominal day (local): the day before the next digest's first
    send_at: datetime  # UTC
    # UTC: first_day at the digest's time up to the next digest's first day at it (start
    # inclusive, end exclusive): the reminders falling due in it are what it announces.
    start: datetime
    end: datetime
    shifted: bool  # goes out on an earlier working day
    estimated: bool  # the shift relied on an estimated holiday calendar


def _slots_from(settings: Settings, entry: NotifierEntry, day: date) -> Iterator[DigestSlot]:
    """Digest slots in order, the first one starting at nominal day `day` (or after it)."""
    spec = entry.digest
    assert spec is not None
    tz = _zone(settings)
    working_only = settings.reminders.working_days_only

    def moment(on: date) -> datetime:
        return datetime.combine(on, spec.at, tzinfo=tz).astimezone(UTC)

    first_day: date | None = None  # of the slot being gathered
    send_day, shifted, estimated = day, False, False
    while True:
        if spec.weekday is None or day.weekday() == spec.weekday:
            sent_on, moved, guessed = _working_day(day) if working_only else (day, False, False)
            if first_day is not None and sent_on == send_day:
                estimated = estimated or guessed  # goes out with the slot being gathered
            else:
                if first_day is not None:
                    yield DigestSlot(first_day, day - timedelta(days=1), moment(send_day),
                                     moment(first_day), moment(day), shifted, estimated)
                first_day, send_day, shifted, estimated = day, sent_on, moved, guessed
        day += timedelta(days=1)


def digest_slots(settings: Settings, entry: NotifierEntry, first: datetime,
                 last: datetime) -> list[DigestSlot]:
    """The digests of a notifier that go out in first..last (inclusive), in order."""
    if entry.digest is None:
        return []
    # A slot goes out no later than its first nominal day, so none that goes out in range
    # starts before `first`'s day; one that began earlier went out earlier and is left out.
    slots: list[DigestSlot] = []
    for slot in _slots_from(settings, entry, first.astimezone(_zone(settings)).date()):
        if slot.send_at > last:
            return slots
        if slot.send_at >= first:
            slots.append(slot)
    raise AssertionError("unreachable: the slots go on forever")


def digest_slot(settings: Settings, entry: NotifierEntry, first_day: date) -> DigestSlot:
    """The digest keyed by `first_day`, as the plan made it."""
    return next(_slots_from(settings, entry, first_day))


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One line of a digest: an item's occurrence and, for one announced ahead, the
    reminder that announces it."""

    event_id: str
    anchor: Anchor  # due, opens, closes, date or occurs
    occurrence: date | datetime  # as the plan gives it (a timed one in its event's zone)
    day: date  # the day it falls on, on the readers' clock (the deployment's zone)
    estimated: bool = False  # its date or shift relied on an estimated holiday calendar
    reminder: PlannedReminder | None = None  # "ahead" only: the earliest one in the slot


@dataclass(frozen=True, slots=True)
class DigestContents:
    """What a digest lists: what falls due in its days, then what lies further ahead and
    is announced now by a lead time."""

    due: tuple[DigestItem, ...]
    ahead: tuple[DigestItem, ...]


def _occurrences_on(event: AnyEvent, loaded: LoadedTimeline, tz: ZoneInfo, first: date,
                    last: date) -> Iterator[tuple[Anchor, date | datetime, bool]]:
    """(anchor, occurrence, estimated) of an event whose own date falls in first..last on
    the readers' clock, whatever its lead times: a deadline's due date, a window's opening
    and closing days, a happening's (first) day, each start of a recurring item."""
    own = event.zone(loaded.timeline.timezone)

    def on(value: date | datetime | None) -> date | datetime | None:
        if value is None:
            return None
        value = localize(value, own) if isinstance(value, datetime) else value
        return value if first <= _readers_day(value, tz) <= last else None

    if isinstance(event, Deadline):
        candidates: list[tuple[Anchor, date | datetime | None]] = [("due", on(event.due))]
    elif isinstance(event, Window):
        candidates = [("opens", on(event.start)), ("closes", on(event.end))]
    elif isinstance(event, Happening):
        candidates = [("date", on(event.date))]
    else:
        rule = loaded.rules[event.id]
        # Two days either side: a timed start's own date may differ from the readers' (zones
        # are up to 26 hours apart).
        for start in rule.between(first - timedelta(days=2), last + timedelta(days=2)):
            if first <= (day := _readers_day(start, tz)) <= last:
                yield "occurs", start, rule.skip_cn_holidays and is_estimated(day)
        return
    for anchor, value in candidates:
        if value is not None:
            yield anchor, value, False


def digest_item_key(item: DigestItem) -> str:
    """The key a digest line goes by: the announcing reminder's, else `event/occurrence`
    (with `opens-` for a window's opening, as in reminder keys)."""
    if item.reminder is not None:
        return item.reminder.key
    return item_key(item.event_id, item.anchor, item.occurrence)


def _readers_day(value: date | datetime, tz: ZoneInfo) -> date:
    return value.astimezone(tz).date() if isinstance(value, datetime) else value


def digest_items(loaded: LoadedTimeline, settings: Settings, notifier: str,
                 slot: DigestSlot) -> DigestContents:
    """What a notifier's digest lists, from the events routed to it (also with
    `reminders: false`).

    `due`: every occurrence whose own date is one of the slot's days (first_day..last_day),
    whatever its lead times: a deadline on its due date, a window on its opening day and on
    its closing day (a window open all through the period is not listed), a happening on its
    (first) day, a recurring item on each of its starts. An all-day item falls on the date
    written; a timed one on the day its moment shows on the readers' clock (the deployment's
    `timezone`, where the digest's days are counted), also when that moment is already past
    when the digest goes out. Every occurrence falls due in exactly one digest.

    `ahead`: items beyond the period announced now by a lead time: a reminder routed to the
    notifier falls due in the slot (start..end) but its item's day is after last_day. One
    line per occurrence however many of its lead times fall in the slot. Both in date order.
    """
    entry = settings.notifiers[notifier]
    tz = _zone(settings)
    due = []
    for event in loaded.timeline.events:
        if notifier not in notifiers_for(event, settings.routes):
            continue
        for anchor, occurrence, estimated in _occurrences_on(event, loaded, tz,
                                                             slot.first_day, slot.last_day):
            due.append(DigestItem(event.id, anchor, occurrence, _readers_day(occurrence, tz),
                                  estimated))
    # A settings copy holding only this notifier, sending reminders: its plan is routed.
    routed = settings.model_copy(update={"notifiers": {notifier: entry.model_copy(
        update={"reminders": True, "digest": None})}})
    ahead = []
    seen = set()
    for item in plan_reminders(loaded, routed, slot.start, slot.end - timedelta(microseconds=1)):
        day = _readers_day(item.occurrence, tz)
        if day > slot.last_day and (item.event_id, item.anchor, item.occurrence) not in seen:
            seen.add((item.event_id, item.anchor, item.occurrence))
            ahead.append(DigestItem(item.event_id, item.anchor, item.occurrence, day,
                                    item.estimated, item))

    def order(item: DigestItem) -> tuple[date, datetime, str, str]:
        moment = localize(item.occurrence, tz) if not isinstance(item.occurrence, datetime) \
            else item.occurrence
        return item.day, moment.astimezone(UTC), item.event_id, item.anchor

    return DigestContents(tuple(sorted(due, key=order)), tuple(sorted(ahead, key=order)))


def _digests(settings: Settings, first: datetime, last: datetime) -> Iterator[PlannedReminder]:
    for name, entry in settings.notifiers.items():
        for slot in digest_slots(settings, entry, first, last):
            yield PlannedReminder(
                key=digest_key(slot.first_day, entry.digest.frequency, name),  # type: ignore[union-attr]
                event_id="", notifier=name, anchor="digest", occurrence=slot.first_day,
                lead=timedelta(0), due_at=slot.send_at, shifted=slot.shifted,
                estimated=slot.estimated)

