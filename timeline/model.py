"""The timeline's data model: stories and their dated events, as people write them in YAML.

Dates are `date` (all day) or `datetime` (timed). A timed value without an offset is read in
the event's timezone (or the file's); `localize` turns either into an aware datetime.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from timeline.durations import format_lead, parse_lead

__all__ = [
    "DEFAULT_REMINDERS",
    "DEFAULT_TIMED_LENGTH",
    "DEFAULT_TIMEZONE",
    "Deadline",
    "Event",
    "Happening",
    "Precision",
    "Recurring",
    "Story",
    "Timeline",
    "When",
    "Window",
    "is_all_day",
    "localize",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
# fullmatch, never `$`: "x\n" would pass a `$` at the end (and split log lines, and be no
# webhook-id)
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
CN_HOLIDAYS = "cn-holidays"
# The years every later stage can handle (the feed's exclusive ends, lead times before the
# first day, ten years of holidays after the last): policy dates are far inside them.
FIRST_YEAR, LAST_YEAR = 1900, 2200
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline are text; the rest is not


class Precision(StrEnum):
    """How exactly the source pins a date down; the stored date is an anchor, not a claim."""

    DAY = "day"
    MONTH = "month"
    MONTH_END = "month-end"
    QUARTER = "quarter"
    HALF_YEAR = "half-year"
    YEAR = "year"
    YEAR_END = "year-end"
    APPROXIMATE = "approximate"


def _parse_when(value: Any) -> Any:
    """`YYYY-MM-DD` is an all-day date; anything with a time part is a date-time."""
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date like 2024-05-31 or a date-time, got {value!r}")
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            parsed: date = date.fromisoformat(text)
        elif len(text) > 10 and _DATE.match(text) and text[10] in "T ":
            parsed = datetime.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError:
        raise ValueError(
            f"bad date {_shown(value)}: write YYYY-MM-DD for a whole day "
            "or YYYY-MM-DDTHH:MM+08:00 for a moment"
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"year {parsed.year} is out of range: years {FIRST_YEAR} to "
                         f"{LAST_YEAR} are supported")
    return parsed


def _shown(value: Any) -> str:
    """A bad value in an error message: cut short, control characters made visible."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…'"


def _parse_url(value: Any) -> Any:
    """A link: one line, no spaces (a block scalar's line break would reach the feed's URL,
    which may not hold one)."""
    if isinstance(value, str):
        value = value.strip()
        if not value or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("a URL is one word: no spaces, line breaks or control characters")
    return value


def _no_controls(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError("control characters (such as NUL, BEL or ESC) are not allowed")
    return value


def _parse_slug(value: Any) -> Any:
    if isinstance(value, str) and not SLUG.fullmatch(value):
        raise ValueError(
            f"{_shown(value)} is not a slug: lower-case letters, digits and '-' (no '.', "
            "spaces or line breaks), at most 100"
        )
    return value


def _parse_timezone(value: Any) -> Any:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia", a folder
            raise ValueError(f"unknown timezone {_shown(value)} (use an IANA name such as "
                             f"{DEFAULT_TIMEZONE})") from None
    return value


@lru_cache(maxsize=256)
def _lead_text(text: str) -> timedelta:
    """parse_lead for text: a big file repeats the same few lead times on every event."""
    return parse_lead(text)


MAX_LEADS = 20  # lead times an event may have: each is a reminder of every occurrence


def _parse_leads(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, list):
        value = [value]
    if len(value) > MAX_LEADS:
        raise ValueError(f"{len(value)} lead times: at most {MAX_LEADS}")
    return sorted({_lead_text(item) if type(item) is str else parse_lead(item)
                   for item in value}, reverse=True)


When = Annotated[date | datetime, BeforeValidator(_parse_when)]
Slug = Annotated[str, BeforeValidator(_parse_slug)]
Text = Annotated[str, BeforeValidator(_no_controls)]  # any text people write in the file
Url = Annotated[str, BeforeValidator(_parse_url)]
TimezoneName = Annotated[str, BeforeValidator(_parse_timezone)]
# In JSON (the API, the store) a lead is written as in the file and in reminder keys, "7d":
# pydantic's ISO form calls 365 days "P1Y", which a reader takes for a calendar year.
_LEAD_JSON = PlainSerializer(lru_cache(maxsize=256)(format_lead), when_used="json")
Leads = Annotated[list[Annotated[timedelta, _LEAD_JSON]] | None, BeforeValidator(_parse_leads)]
Lead = Annotated[timedelta, BeforeValidator(parse_lead), _LEAD_JSON]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# How long a timed item lasts when the source gives only when it starts (a happening without
# `end`, a recurring item without `duration`): the listing, the page and the feed agree.
DEFAULT_TIMED_LENGTH = timedelta(hours=1)
DEFAULT_REMINDERS: dict[str, list[timedelta]] = {
    "deadline": [timedelta(days=d) for d in (90, 30, 7, 1)],
    "window": [timedelta(days=d) for d in (30, 7, 1)],
    "happening": [timedelta(days=1)],
    "recurring": [timedelta(days=1)],
}


def is_all_day(value: date | datetime) -> bool:
    return not isinstance(value, datetime)


def localize(value: date | datetime, tz: ZoneInfo) -> datetime:
    """An aware datetime in `tz`: all-day dates start at local midnight."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value.astimezone(tz)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Bilingual(_Strict):
    """Texts written in Chinese, with an optional English version in `<field>_en`."""

    @field_validator("title", "title_en", mode="before", check_fields=False)
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        """A title is one line (a headline, a Subject, a SUMMARY), also when the file
        writes it as a block scalar."""
        return " ".join(value.split()) if isinstance(value, str) else value

    def in_lang(self, field: str, lang: str) -> Any:
        """`field` for readers of `lang`: the English version where one is written, else
        the Chinese original (a reader is better served by it than by nothing)."""
        if lang == "en" and (english := getattr(self, f"{field}_en")):
            return english
        return getattr(self, field)


class StorySource(_Strict):
    newspaper: Text
    file: Text | None = None
    page: Text | None = None


class Story(_Bilingual):
    id: Slug
    title: Text = Field(min_length=1)
    title_en: Text | None = None
    source: StorySource
    published: When
    published_precision: Precision = Precision.DAY
    published_note: Text = ""
    summary: Text = ""
    summary_en: Text = ""


class _EventBase(_Bilingual):
    id: Slug
    story: Slug
    title: Text = Field(min_length=1)
    title_en: Text | None = None
    description: Text = ""
    description_en: Text = ""
    tags: list[Slug] = []
    audience: list[Text] = []
    source: Text = Field(min_length=1, description="the quote the date was read from")
    precision: Precision = Precision.DAY
    note: Text = ""
    reminders: Leads = None
    timezone: TimezoneName | None = None
    url: Url | None = None

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def lead_times(self) -> list[timedelta]:
        """Reminder lead times, longest first; the kind's defaults when none are given."""
        if self.reminders is not None:
            return self.reminders
        # `kind` is a Literal field of each subclass, which this base cannot declare
        # without becoming a model of its own kind.
        return DEFAULT_REMINDERS[self.kind]  # type: ignore[attr-defined]

    def zone(self, default: str) -> ZoneInfo:
        return ZoneInfo(self.timezone or default)


class Deadline(_EventBase):
    """Something must be done by `due` (inclusive)."""

    kind: Literal["deadline"]
    due: When


class Window(_EventBase):
    """An application or acceptance period, `start`..`end` inclusive.

    `start` may be missing when the source only says "from the plan's release";
    `start_label` (and `start_label_en`) then says so in words.
    """

    kind: Literal["window"]
    start: When | None = None
    start_label: Text | None = None
    start_label_en: Text | None = None
    end: When
    start_reminders: Leads = None


class Happening(_EventBase):
    """Something dated that took or takes place; `end` (inclusive) for a span of days."""

    kind: Literal["happening"]
    date: When
    end: When | None = None


class Recurring(_EventBase):
    """A repeating item: an RRULE or a friendly form (`weekdays`, `every`), bounded by
    `start`/`end` or by a window (`within`), minus `except` (dates and/or `cn-holidays`)."""

    kind: Literal["recurring"]
    rrule: Text | None = None
    every: Text | None = None
    weekdays: list[Weekday] | None = Field(None, min_length=1)
    start: When | None = None
    end: When | None = None
    within: Slug | None = None
    except_: list[When | Literal["cn-holidays"]] = Field(default=[], alias="except")
    duration: Lead | None = None

    @property
    def excludes_cn_holidays(self) -> bool:
        return CN_HOLIDAYS in self.except_

    @property
    def excluded_dates(self) -> list[date | datetime]:
        return [d for d in self.except_ if not isinstance(d, str)]  # str: only CN_HOLIDAYS


Event = Annotated[Deadline | Window | Happening | Recurring, Field(discriminator="kind")]
EVENT_KINDS = ("deadline", "window", "happening", "recurring")


class Timeline(_Strict):
    timezone: TimezoneName = DEFAULT_TIMEZONE
    stories: list[Story]
    events: list[Event]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _story_index(self) -> dict[str, Story]:
        return {s.id: s for s in self.stories}

    @cached_property
    def _event_index(self) -> dict[str, Deadline | Window | Happening | Recurring]:
        return {e.id: e for e in self.events}

    def story(self, story_id: str) -> Story:
        """The story with this id; KeyError if there is none."""
        return self._story_index[story_id]

    def event(self, event_id: str) -> Deadline | Window | Happening | Recurring:
        """The event with this id (a dict lookup: the dispatcher asks once per message);
        KeyError if there is none."""
        return self._event_index[event_id]

    @property
    def tags(self) -> list[str]:
        return sorted({t for e in self.events for t in e.tags})
