"""One VEVENT's properties, and two ways to write them: with icalendar (the reference) and
directly, byte for byte the same.

`timeline.feed` says *what* an event's VEVENT holds by adding properties to a `Props`, as
it would to an icalendar component. `to_icalendar` replays them onto icalendar's `Event`
and `Alarm`; `write` produces the same bytes with a few string operations: icalendar's
property order (its canonical VEVENT order, then by name), its TEXT escaping, its value
formats and its folding at 75 octets (never inside a UTF-8 character, never right after a
backslash). That is most of the cold render's time saved (icalendar spends it inferring
types and building parameter objects per property). `write` handles the shapes the feed
produces and answers None for anything else, which the caller then writes with icalendar;
tests/test_vevent.py holds the two to the same bytes on the repo's file, timed items in
several zones, a large synthetic set and the hostile inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Alarm, vRecur
from icalendar import Event as VEvent

__all__ = ["Props", "to_icalendar", "write"]

Params = dict[str, str] | None


@dataclass
class Props:
    """A component's properties in the order they were added, and its subcomponents; the
    part of icalendar's Component interface that the feed uses."""

    name: str  # "VEVENT" or "VALARM"
    items: list[tuple[str, Any, Params]] = field(default_factory=list)
    components: list[Props] = field(default_factory=list)

    def add(self, name: str, value: Any, parameters: Params = None) -> None:
        self.items.append((name.upper(), value, parameters))

    def add_component(self, component: Props) -> None:
        self.components.append(component)

    def __setitem__(self, name: str, value: Any) -> None:
        """Replace a property's value (as icalendar's `component[name] = value`)."""
        name = name.upper()
        self.items = [(n, value, None) if n == name else (n, v, p)
                      for n, v, p in self.items]


def to_icalendar(props: Props) -> bytes:
    """The reference: icalendar's own serialization of `props`."""
    block: bytes = _component(props).to_ical()  # icalendar leaves it unannotated
    return block


def _component(props: Props) -> VEvent | Alarm:
    component = VEvent() if props.name == "VEVENT" else Alarm()
    for name, value, params in props.items:
        component.add(name, value, parameters=params or {})
    for sub in props.components:
        component.add_component(_component(sub))
    return component


# icalendar's Event.canonical_order: these first, in this order, then the rest by name.
_VEVENT_ORDER = {name: i for i, name in enumerate((
    "SUMMARY", "DTSTART", "DTEND", "DURATION", "DTSTAMP", "UID", "RECURRENCE-ID",
    "SEQUENCE", "RRULE", "RDATE", "EXDATE"))}
# Properties icalendar writes as UTC times whatever zone they are given in.
_UTC_TIMES = frozenset(("DTSTAMP", "LAST-MODIFIED", "CREATED"))
_TEXT_NAMES = frozenset(("SUMMARY", "DESCRIPTION", "UID", "TRANSP", "ACTION", "LOCATION"))
_DATE_TIMES = frozenset(("DTSTART", "DTEND"))


class _Unhandled(Exception):
    """A value of a shape `write` does not know: the caller uses icalendar instead."""


def write(props: Props) -> bytes | None:
    """`props` as icalendar would write them, or None when they hold a shape this does
    not handle."""
    lines: list[str] = []
    try:
        _lines(props, lines)
    except _Unhandled:
        return None
    return b"".join(_fold(line) for line in lines)


def _lines(props: Props, out: list[str]) -> None:
    out.append(f"BEGIN:{props.name}")
    names = [name for name, _, _ in props.items]
    if len(set(names)) != len(names):
        raise _Unhandled  # icalendar would group repeated names: not something we add
    if props.name == "VEVENT":
        head = sorted((i for i in props.items if i[0] in _VEVENT_ORDER),
                      key=lambda i: _VEVENT_ORDER[i[0]])
        tail = sorted((i for i in props.items if i[0] not in _VEVENT_ORDER),
                      key=lambda i: i[0])
        items = head + tail
    elif props.name == "VALARM":
        items = sorted(props.items, key=lambda i: i[0])
    else:
        raise _Unhandled
    for name, value, params in items:
        out.append(name + _property(name, value, params))
    for sub in props.components:
        _lines(sub, out)
    out.append(f"END:{props.name}")


def _escape(text: str) -> str:
    """RFC 5545 TEXT escaping, in icalendar's order (a literal `\\N` is a line break)."""
    return (text.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;")
            .replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
            .replace("\r", "\\n"))


def _property(name: str, value: Any, params: Params) -> str:
    """What follows the name: `;PARAM=…` and `:value`."""
    if name == "TRIGGER" and isinstance(value, timedelta):
        if params == {"RELATED": "END"}:
            return ";RELATED=END:" + _duration(value)
        if not params:
            return ":" + _duration(value)
        raise _Unhandled
    if params:
        raise _Unhandled
    if isinstance(value, str):
        if value.startswith("\ufeff"):
            raise _Unhandled  # icalendar drops a leading byte-order mark; it writes these
        if name in _TEXT_NAMES:
            return ":" + _escape(value)
        if name == "URL" or name.startswith("X-"):  # vUri and vUnknown: verbatim
            return ":" + value
        raise _Unhandled
    if isinstance(value, bool):
        raise _Unhandled
    if isinstance(value, int) and name == "SEQUENCE":
        return f":{value}"
    if isinstance(value, datetime):
        if name in _UTC_TIMES:
            return ":" + _stamp(value.astimezone(UTC)) + "Z"
        if name in _DATE_TIMES:
            return _zoned(value)
        raise _Unhandled
    if isinstance(value, date) and name in _DATE_TIMES:
        return ";VALUE=DATE:" + _day(value)
    if isinstance(value, list) and value:
        if name == "CATEGORIES" and all(isinstance(c, str) for c in value):
            return ":" + ",".join(_escape(c) for c in value)
        if name == "EXDATE":
            return _exdates(value)
        raise _Unhandled
    if isinstance(value, vRecur) and name == "RRULE" and not value.params:
        recur: bytes = value.to_ical()  # type: ignore[no-untyped-call]
        return ":" + recur.decode()
    raise _Unhandled


def _day(value: date) -> str:
    return f"{value.year:04}{value.month:02}{value.day:02}"


def _stamp(value: datetime) -> str:
    return (f"{value.year:04}{value.month:02}{value.day:02}"
            f"T{value.hour:02}{value.minute:02}{value.second:02}")


def _exdates(value: list[Any]) -> str:
    if all(type(d) is date for d in value):
        return ";VALUE=DATE:" + ",".join(_day(d) for d in value)
    zones = {d.tzinfo for d in value if isinstance(d, datetime)}
    if len(zones) != 1 or not all(isinstance(d, datetime) for d in value):
        raise _Unhandled  # icalendar names one TZID for the whole list
    [zone] = zones
    params, utc = _zone_shape("EXDATE", zone)
    z = "Z" if utc else ""
    return params + ":" + ",".join(_stamp(d) + z for d in value)


def _zoned(value: datetime) -> str:
    params, utc = _zone_shape("DTSTART", value.tzinfo)
    return f"{params}:{_stamp(value)}{'Z' if utc else ''}"


# (property, zone key) -> (the text between the name and the value, whether the value
# ends in Z), as icalendar writes a time in that zone: learned from icalendar once.
_ZONE_SHAPES: dict[tuple[str, str], tuple[str, bool]] = {}


def _zone_shape(name: str, zone: Any) -> tuple[str, bool]:
    if not isinstance(zone, ZoneInfo):
        raise _Unhandled  # a fixed offset or another library's zone: icalendar decides
    shape = _ZONE_SHAPES.get((name, zone.key))
    if shape is None:
        shape = _ZONE_SHAPES[(name, zone.key)] = _learn_zone(name, zone)
    return shape


def _learn_zone(name: str, zone: ZoneInfo) -> tuple[str, bool]:
    sample = VEvent()
    moment = datetime(2024, 1, 1, 12, 0, tzinfo=zone)
    sample.add(name, [moment] if name == "EXDATE" else moment)
    line = sample.to_ical().decode().split("\r\n")[1]  # unfolded: a zone name is short
    head, _, text = line.partition(":")
    if not head.startswith(name) or text.removesuffix("Z") != "20240101T120000":
        raise _Unhandled
    return head.removeprefix(name), text.endswith("Z")


def _duration(value: timedelta) -> str:
    """vDuration's text: days, then hours, minutes, seconds; never weeks."""
    sign = ""
    if value.days < 0:
        sign, value = "-", -value
    time = ""
    if value.seconds:
        hours, rest = divmod(value.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        time = "T"
        if hours:
            time += f"{hours}H"
        if minutes or (hours and seconds):
            time += f"{minutes}M"
        if seconds:
            time += f"{seconds}S"
    if value.days == 0 and time:
        return f"{sign}P{time}"
    return f"{sign}P{value.days}D{time}"


FOLD = 75  # octets a line may reach, the line break aside (RFC 5545 3.1)


def _fold(line: str) -> bytes:
    """One content line, folded as icalendar folds it, with its CRLF.

    icalendar breaks before the character that would bring a line to 75 octets (so a
    line holds at most 74, a continuation the space and 74), and moves a backslash or
    caret that would end a line to the next one, so an escape is never split."""
    data = line.encode()
    if len(data) < FOLD:
        return data + b"\r\n"
    parts = []
    start, size = 0, len(data)
    while size - start >= FOLD:
        end = start + FOLD - 1
        while data[end] & 0xC0 == 0x80:  # inside a UTF-8 character: break before it
            end -= 1
        if data[end - 1] in b"\\^":
            end -= 1
        parts.append(data[start:end])
        start = end
    parts.append(data[start:])
    return b"\r\n ".join(parts) + b"\r\n"
