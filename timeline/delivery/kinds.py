"""The four kinds of delivery, what each row carries and how its key is made.

    reminder  a lead time before an item's date (the plan)  event/occurrence/lead/notifier
    digest    a notifier's summary of a period (the plan)   digest/first-day/frequency/notifier
    change    an item's dates moved (a reload)              event/change-N/notifier
    missed    what fell due while stopped (dispatcher)      missed/hash/notifier

The outbox keeps the kind in its own column and the payload as JSON; this module is the only
code that writes or reads that JSON (`to_json`, `read_payload`). The plan's JSON (reminders,
digests) is the one the store held before the kind column existed, so a re-plan after the
upgrade rewrites no row; change notices and missed summaries no longer say their kind
inside (rows written before still read). Imports nothing of the daemon: the plan and
the reload build their rows with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Final, Literal, TypeAlias, get_args

__all__ = ["KINDS", "ChangePayload", "DigestPayload", "Kind", "MissedPayload", "Payload",
           "ReminderAnchor", "ReminderPayload", "change_key", "digest_key", "digest_of_key",
           "event_of_key", "item_key", "keys_digest", "missed_key", "occurrence_part",
           "occurrence_token", "read_payload", "reminder_json", "reminder_key"]

Kind = Literal["reminder", "digest", "change", "missed"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
ReminderAnchor = Literal["due", "opens", "closes", "date", "occurs"]
_ANCHORS: Final[frozenset[str]] = frozenset(get_args(ReminderAnchor))
_NO_LEAD: Final = "0d"  # a digest's lead in its JSON, as format_lead(timedelta(0)) wrote it


# ── keys ─────────────────────────────────────────────────────────────────────────────────
def occurrence_token(value: date | datetime) -> str:
    """The occurrence part of a key: no '.', which Standard Webhooks ids may not contain."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H%M%z")
    return value.isoformat()


def occurrence_part(anchor: str, occurrence: date | datetime) -> str:
    """What names an occurrence in keys: its token, `opens-` before it for a window's
    opening (whose closing may fall on the same day)."""
    token = occurrence_token(occurrence)
    return f"opens-{token}" if anchor == "opens" else token


def reminder_key(event_id: str, part: str, lead: str, notifier: str) -> str:
    """`part`: occurrence_part of the occurrence (the plan makes it once per occurrence,
    not once per lead)."""
    return f"{event_id}/{part}/{lead}/{notifier}"


def item_key(event_id: str, anchor: str, occurrence: date | datetime) -> str:
    """A digest line's key when no reminder announces it: `event/occurrence`."""
    return f"{event_id}/{occurrence_part(anchor, occurrence)}"


def digest_key(first_day: date, frequency: str, notifier: str) -> str:
    return f"digest/{first_day.isoformat()}/{frequency}/{notifier}"


def change_key(event_id: str, sequence: int, notifier: str) -> str:
    """One notice per notifier for each revision of an event whose dates moved."""
    return f"{event_id}/change-{sequence}/{notifier}"


def keys_digest(keys: Iterable[str]) -> str:
    """A stable hash of a set of keys (the order they come in does not matter)."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


def missed_key(keys: Iterable[str], notifier: str) -> str:
    """The summary of these missed keys: the same keys make the same summary, once."""
    return f"missed/{keys_digest(keys)[:20]}/{notifier}"


def event_of_key(key: str) -> str | None:
    """The event a reminder's or change notice's key is about; None for a digest's or a
    missed summary's, which are about no one event. Told by the key's form, not its first
    word alone: an event may be called `digest` or `missed` too."""
    parts = key.split("/")
    if parts[0] == "missed" and len(parts) == 3:  # missed/hash/notifier
        return None
    return None if digest_of_key(key) is not None else parts[0]


def digest_of_key(key: str) -> date | None:
    """The first day a digest's key names (`digest/day/frequency/notifier`); None for any
    other key. A reminder of an event called `digest` has a lead there, which starts with
    a digit (`7d`); a frequency never does."""
    parts = key.split("/", 3)
    if len(parts) != 4 or parts[0] != "digest" or parts[2][:1].isdigit():
        return None
    try:
        return date.fromisoformat(parts[1])
    except ValueError:
        return None


# ── payloads ─────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class ReminderPayload:
    """`lead` as the events file writes it (`7d`); `shifted`: moved earlier to a working
    day; `estimated`: that shift relied on an estimated holiday calendar."""

    kind: ClassVar[Kind] = "reminder"
    anchor: ReminderAnchor
    occurrence: date | datetime
    lead: str
    shifted: bool = False
    estimated: bool = False

    @property
    def all_day(self) -> bool:
        return not isinstance(self.occurrence, datetime)

    def to_json(self) -> dict[str, Any]:
        return reminder_json(self.anchor, self.occurrence, self.lead, self.shifted,
                             self.estimated)


def reminder_json(anchor: ReminderAnchor, occurrence: date | datetime, lead: str,
                  shifted: bool, estimated: bool) -> dict[str, Any]:
    """ReminderPayload(...).to_json() without the object: the plan writes 100,000s."""
    return {"anchor": anchor, "occurrence": occurrence.isoformat(),
            "all_day": not isinstance(occurrence, datetime), "lead": lead,
            "shifted": shifted, "estimated": estimated}


@dataclass(frozen=True, slots=True)
class DigestPayload:
    """The first day of the period the digest speaks for; the send time's working-day
    shift, as for a reminder."""

    kind: ClassVar[Kind] = "digest"
    first_day: date
    shifted: bool = False
    estimated: bool = False

    def to_json(self) -> dict[str, Any]:
        # Shaped like a reminder's, as it was before digests had a kind of their own.
        return {"anchor": "digest", "occurrence": self.first_day.isoformat(), "all_day": True,
                "lead": _NO_LEAD, "shifted": self.shifted, "estimated": self.estimated}


@dataclass(frozen=True, slots=True)
class ChangePayload:
    """The event's dates before and after, each in one line (reload.date_summary)."""

    kind: ClassVar[Kind] = "change"
    old: str
    new: str

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class MissedPayload:
    """The keys of the reminders recorded as missed."""

    kind: ClassVar[Kind] = "missed"
    keys: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"keys": list(self.keys)}


Payload: TypeAlias = ReminderPayload | DigestPayload | ChangePayload | MissedPayload


def read_payload(kind: str, data: Mapping[str, Any] | None) -> Payload | None:
    """A row's payload from its kind column and JSON; None when the JSON is not what that
    kind carries (edited by hand, or an unknown kind): such a row fails with a reason
    rather than being sent as something it is not."""
    if not isinstance(data, Mapping):
        return None
    try:
        if kind == "reminder":
            return _reminder(data)
        if kind == "digest":
            if data.get("anchor") != "digest":
                return None
            return DigestPayload(date.fromisoformat(str(data["occurrence"])[:10]),
                                 data.get("shifted") is True, data.get("estimated") is True)
        if kind == "change":
            old, new = data["old"], data["new"]
            return ChangePayload(old, new) if isinstance(old, str) and isinstance(new, str) \
                else None
        if kind == "missed":
            keys = data.get("keys")
            return MissedPayload(tuple(str(k) for k in keys)) if isinstance(keys, list) else None
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _reminder(data: Mapping[str, Any]) -> ReminderPayload | None:
    anchor = data.get("anchor", "due")
    text = data["occurrence"]
    if anchor not in _ANCHORS or not isinstance(text, str):
        return None
    # Rows written before `all_day` was stored tell by the text's length.
    all_day = data.get("all_day", len(text) == 10)
    if not isinstance(all_day, bool):
        return None
    occurrence: date | datetime = date.fromisoformat(text[:10]) if all_day \
        else datetime.fromisoformat(text)
    if isinstance(occurrence, datetime) and occurrence.tzinfo is None:
        return None
    return ReminderPayload(anchor, occurrence, str(data.get("lead", "")),
                           data.get("shifted") is True, data.get("estimated") is True)
