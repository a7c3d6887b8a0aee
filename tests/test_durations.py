"""Lead times as people write them in `reminders:`: short forms and ISO 8601 durations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from timeline.durations import format_lead, parse_lead


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("1d", timedelta(days=1)),
        ("2h", timedelta(hours=2)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("1w", timedelta(days=7)),
        ("0m", timedelta(0)),
        (" 7d ", timedelta(days=7)),
        ("7 d", timedelta(days=7)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT30M", timedelta(minutes=30)),
        ("PT1H30M", timedelta(minutes=90)),
        ("P2W", timedelta(days=14)),
        ("PT0S", timedelta(0)),
        ("p1dt2h", timedelta(days=1, hours=2)),  # lower case is read as upper case
    ],
)
def test_parse_lead_accepts(text: str, expected: timedelta) -> None:
    assert parse_lead(text) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("7x", "bad lead time '7x'"),
        ("", "bad lead time ''"),
        ("d", "bad lead time 'd'"),
        ("-1d", "bad lead time '-1d'"),
        ("1.5d", "bad lead time '1.5d'"),
        ("P", "bad lead time 'P'"),
        ("PT", "bad lead time 'PT'"),
        ("seven days", "bad lead time"),
        (7, "needs a unit: '7d'"),
        (True, "must be text"),
        (1.5, "must be text"),
        (None, "must be text"),
    ],
)
def test_parse_lead_rejects_with_an_actionable_message(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_lead(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("lead", "text"),
    [
        (timedelta(days=90), "90d"),
        (timedelta(days=7), "7d"),
        (timedelta(hours=2), "2h"),
        (timedelta(hours=48), "2d"),
        (timedelta(minutes=90), "90m"),
        (timedelta(0), "0d"),
        (timedelta(seconds=45), "45s"),
    ],
)
def test_format_lead_is_the_shortest_form_and_parses_back(lead: timedelta, text: str) -> None:
    assert format_lead(lead) == text
    assert parse_lead(format_lead(lead)) == lead
