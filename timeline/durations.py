"""Lead times: `90d`, `2h`, `30m`, `1w`, `0m`, or ISO 8601 durations such as `P1DT2H`."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_lead", "parse_lead"]

_SHORT = re.compile(r"\s*(\d{1,12})\s*([wdhms])\s*")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
# Ten years: no lead time, length or horizon of a policy timeline is longer, and every date
# arithmetic on one stays far inside what dates can hold.
MAX = timedelta(days=3660)


def parse_lead(text: str | int) -> timedelta:
    """Parse a lead time (at most MAX); raises ValueError with a message a person can act
    on."""
    lead = _parse(text)
    if lead > MAX:
        raise ValueError(f"{_shown(text)} is too long: at most {MAX.days}d (ten years)")
    return lead


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 24 else shown[:21] + "…'"


def _parse(text: str | int) -> timedelta:
    if isinstance(text, str) and len(text) > 40:
        raise ValueError(f"bad lead time {_shown(text)}: write 90d, 2h, 30m, 1w or P1DT2H")
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"lead time must be text like '7d' or '2h', not {text!r}")
    if isinstance(text, int):
        raise ValueError(f"lead time {text!r} needs a unit: '{text}d', '{text}h' or '{text}m'")
    short = _SHORT.fullmatch(text)
    iso = None if short else _ISO.match(text.strip().upper())
    try:
        if short:
            return timedelta(**{_UNITS[short.group(2)]: int(short.group(1))})
        if iso and text.strip().upper() not in ("P", "PT"):
            parts = {k: int(v) for k, v in iso.groupdict().items() if v}
            return timedelta(
                weeks=parts.get("w", 0),
                days=parts.get("d", 0),
                hours=parts.get("h", 0),
                minutes=parts.get("m", 0),
                seconds=parts.get("s", 0),
            )
    except OverflowError:  # 999999999999w: more days than a timedelta holds
        return MAX + MAX
    raise ValueError(
        f"bad lead time {_shown(text)}: use a number and a unit (90d, 2h, 30m, 1w) "
        "or an ISO 8601 duration (P1DT2H)"
    )


def format_lead(lead: timedelta) -> str:
    """The shortest of our short forms that says the same lead: 90d, 2h, 0m."""
    seconds = int(lead.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
