"""Lead times: `90d`, `2h`, `30m`, `1w`, `0m`, or ISO 8601 durations such as `P1DT2H`."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_lead", "parse_lead"]

_SHORT = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_lead(text: str | int) -> timedelta:
    """Parse a lead time; raises ValueError with a message a person can act on."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"lead time must be text like '7d' or '2h', not {text!r}")
    if isinstance(text, int):
        raise ValueError(f"lead time {text!r} needs a unit: '{text}d', '{text}h' or '{text}m'")
    short = _SHORT.match(text)
    if short:
        return timedelta(**{_UNITS[short.group(2)]: int(short.group(1))})
    iso = _ISO.match(text.strip().upper())
    if iso and text.strip().upper() not in ("P", "PT"):
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    raise ValueError(
        f"bad lead time {text!r}: use a number and a unit (90d, 2h, 30m, 1w) "
        "or an ISO 8601 duration (P1DT2H)"
    )


def format_lead(lead: timedelta) -> str:
    """The shortest of our short forms that says the same lead: 90d, 2h, 0m."""
    seconds = int(lead.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
