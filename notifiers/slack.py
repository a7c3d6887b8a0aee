"""Slack incoming webhook: `{"text", "blocks"}`; HTTP 200 `ok` is success.

400 invalid_payload, 403 action_prohibited, 404 channel_not_found and 410 channel_is_archived
are permanent; 429 carries Retry-After; 5xx is retried. The URL itself is the credential.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from notifiers._http import (
    HttpSettings,
    check_http_url,
    classify_status,
    json_bytes,
    mask_url,
    post,
    redact,
)
from notifiers._text import plain_body, text_with_title
from notifiers.base import Message, Notifier, SendResult
from notifiers.pacing import RateLimiter

__all__ = ["SlackNotifier"]

HEADER_LIMIT = 150  # characters, Slack's limit for a header block
SECTION_LIMIT = 3000  # characters, for a section's text


def _escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_escaped(text: str, limit: int) -> str:
    """`text` escaped, within `limit` characters, never ending inside an entity (&amp;)."""
    escaped = _escape(text)
    if len(escaped) <= limit:
        return escaped
    parts, size = [], 0
    for char in text:
        part = _escape(char)
        if size + len(part) > limit - 1:  # room for the ellipsis
            break
        parts.append(part)
        size += len(part)
    return "".join(parts) + "…"


def payload(message: Message) -> dict[str, Any]:
    body = plain_body(message)
    blocks: list[dict[str, Any]] = []
    if message.title:
        blocks.append({"type": "header",
                       "text": {"type": "plain_text", "text": _cut(message.title, HEADER_LIMIT)}})
    if body:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _cut_escaped(body, SECTION_LIMIT)}})
    links: list[str] = []
    for label, url in message.links:  # whole links only: half a <url|label> is garbage
        link = f"<{url}|{_escape(label)}>"
        if len(" · ".join([*links, link])) > SECTION_LIMIT:
            break
        links.append(link)
    if links:
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    # `text` is what notifications and old clients show when blocks are present; it is
    # mrkdwn too, so a title's "<!channel>" must not ping anyone from there either.
    return {"text": _escape(text_with_title(message)), "blocks": blocks}


class SlackNotifier(Notifier):
    type_name: ClassVar[str] = "slack"
    rate_per_minute: ClassVar[float | None] = 60

    class Settings(HttpSettings):
        type: Literal["slack"] = "slack"
        url: str  # https://hooks.slack.com/services/T…/B…/… (a secret: it is the credential)

        _check_url = field_validator("url")(check_http_url)

    settings: Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pace = RateLimiter(1)  # Slack allows about one message a second

    def describe(self) -> str:
        return f"slack: {mask_url(self.settings.url)}"

    async def send(self, message: Message) -> SendResult:
        await self._pace.acquire()
        reply = await post(self.client, self.settings.url, content=json_bytes(payload(message)),
                           timeout=self.settings.timeout)
        result = reply if isinstance(reply, SendResult) else classify_status(reply)
        return redact(result, [self.settings.url, self.settings.url.rsplit("/", 1)[-1]])
