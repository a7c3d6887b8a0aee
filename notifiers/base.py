"""The one interface every notifier implements, and the message it is given.

The daemon renders a `Message` (title, plain text, markdown, structured items) in the
user's language; a notifier only turns it into its service's request and classifies the
answer. `send` never raises for a delivery problem: it returns a `SendResult` saying
delivered, retryable (with the receiver's delay hint) or permanent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict

__all__ = ["RETRY_AFTER_MAX", "Message", "MessageItem", "Notifier", "NotifierSettings",
           "SendResult"]

MessageKind = Literal["reminder", "digest", "change", "missed", "test"]


@dataclass(frozen=True)
class MessageItem:
    """One reminder (or change) inside a message, as structured data for machine receivers."""

    # The delivery key: event/occurrence/lead/notifier; in a digest, a line falling due in
    # its days is `event/occurrence` (no reminder of its own; see `extra["section"]`).
    key: str
    event: str  # event id
    story: str
    title: str
    occurrence: date | datetime | None  # the day (or moment) the reminder is about
    lead: str  # "7d", "2h", "0m"; "" for a digest's line falling due
    due: datetime  # when the reminder (for a digest's line falling due, the digest) was due
    days_left: int | None = None
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """What one notifier sends in one request (a reminder, a grouped batch or a digest)."""

    key: str  # idempotency key: the delivery key; receivers drop a repeated one
    kind: MessageKind
    title: str  # a short headline
    text: str  # plain text body (no markup)
    markdown: str  # the same content in simple markdown (headings, bold, links, lists)
    lang: Literal["zh", "en"] = "zh"
    items: tuple[MessageItem, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (label, url)
    ics: bytes | None = None  # the event(s) as iCalendar, for notifiers that attach files
    late: bool = False  # sent after its due time (the daemon was down)
    # What a notifier worked out ahead of the send (see Notifier.prepare), by its type_name.
    prepared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# The longest wait a receiver's (or a plugin's) retry hint may impose: a day is beyond any
# rate limit's window, and a timedelta would overflow on "inf". HTTP's Retry-After and the
# dispatcher's back-off both bound by it.
RETRY_AFTER_MAX = 86_400.0


@dataclass(frozen=True)
class SendResult:
    status: Literal["delivered", "retryable", "permanent"]
    detail: str = ""
    retry_after: float | None = None  # seconds the receiver asked us to wait

    @classmethod
    def ok(cls, detail: str = "") -> SendResult:
        return cls("delivered", detail)

    @classmethod
    def retry(cls, detail: str, retry_after: float | None = None) -> SendResult:
        return cls("retryable", detail, retry_after)

    @classmethod
    def fail(cls, detail: str) -> SendResult:
        return cls("permanent", detail)

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"


class NotifierSettings(BaseModel):
    """Base of every notifier's settings; `type` picks the plugin, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    type: str
    lang: Literal["zh", "en"] | None = None  # overrides the deployment's language


class Notifier(ABC):
    """A way to reach people. Subclasses set `type_name`, `Settings` and `rate_per_minute`."""

    type_name: ClassVar[str]
    Settings: ClassVar[type[NotifierSettings]] = NotifierSettings
    # The service's own budget: the dispatcher never sends faster than this per notifier.
    rate_per_minute: ClassVar[float | None] = None
    # Only notifiers that attach the event as a file get `Message.ics` (rendering costs).
    attaches_ics: ClassVar[bool] = False

    def __init__(self, name: str, settings: NotifierSettings, client: httpx.AsyncClient) -> None:
        self.name = name
        self.settings = settings
        self.client = client

    @abstractmethod
    async def send(self, message: Message) -> SendResult:
        """Deliver one message; classify the outcome instead of raising."""

    def prepare(self, message: Message) -> None:
        """Do ahead of the send what does not depend on the moment of sending (encode the
        body, say), keeping it in `message.prepared[type_name]`. The dispatcher calls this
        for messages it renders before their due time; `send` must also work without it.
        The default does nothing."""
        return None

    def describe(self) -> str:
        """A one-line description for `timeline notifiers`, with no secret in it."""
        return self.type_name
