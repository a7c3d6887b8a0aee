"""Generic JSON webhook, signed the Standard Webhooks way (github.com/standard-webhooks).

The body carries both the rendered text and the structured items, so a receiver can
display it or act on it. Headers: `webhook-id` is the delivery key (the same on every
retry, so receivers drop duplicates), `webhook-timestamp` Unix seconds, and with a secret
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` over the exact bytes sent.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import time
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from notifiers._http import (
    HttpSettings,
    check_http_url,
    classify_status,
    json_bytes,
    mask_url,
    post,
    redact,
    url_secrets,
)
from notifiers.base import Message, MessageItem, Notifier, SendResult

__all__ = ["WebhookNotifier", "sign"]

SECRET_PREFIX = "whsec_"
# Set by the signature, the body type and the idempotency contract; not the user's to change.
_RESERVED = {"content-type", "webhook-id", "webhook-timestamp", "webhook-signature"}
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@functools.lru_cache(maxsize=64)
def _secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r} (then the base64 key)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the part after {SECRET_PREFIX!r} is not valid base64") from exc
    if len(key) < 16:
        raise ValueError("key too short: use at least 16 random bytes (24 to 64 recommended)")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one request (Standard Webhooks v1)."""
    if "." in msg_id:
        # The signed content is "id.timestamp.body": a '.' in the id makes it ambiguous.
        raise ValueError(f"webhook-id must not contain '.': {msg_id!r}")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.digest(_secret_key(secret), signed, hashlib.sha256)
    return "v1," + base64.b64encode(digest).decode()


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _item(item: MessageItem) -> dict[str, Any]:
    return {
        "key": item.key, "event": item.event, "story": item.story, "title": item.title,
        "occurrence": _iso(item.occurrence), "lead": item.lead, "due": _iso(item.due),
        "days_left": item.days_left, "url": item.url, "extra": item.extra,
    }


def payload(message: Message) -> dict[str, Any]:
    """The JSON body. The top-level event/occurrence/lead/due describe the reminder when the
    message is about exactly one; a digest leaves them null and lists everything in items."""
    items = [_item(item) for item in message.items]
    single = items[0] if len(items) == 1 else None
    return {
        "key": message.key,
        "kind": message.kind,
        "event": single["event"] if single else None,
        "occurrence": single["occurrence"] if single else None,
        "lead": single["lead"] if single else None,
        "due": single["due"] if single else None,
        "title": message.title,
        "text": message.text,
        "markdown": message.markdown,
        "lang": message.lang,
        "late": message.late,
        "links": [{"label": label, "url": url} for label, url in message.links],
        "items": items,
    }


class WebhookNotifier(Notifier):
    type_name: ClassVar[str] = "webhook"
    rate_per_minute: ClassVar[float | None] = None

    class Settings(HttpSettings):
        type: Literal["webhook"] = "webhook"
        url: str
        secret: SecretStr | None = None
        headers: dict[str, str] = Field(default_factory=dict)

        _check_url = field_validator("url")(check_http_url)

        @field_validator("secret")
        @classmethod
        def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
            if value is not None:
                _secret_key(value.get_secret_value())
            return value

        @field_validator("headers")
        @classmethod
        def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
            clash = sorted(k for k in value if k.lower() in _RESERVED)
            if clash:
                raise ValueError(f"cannot override {', '.join(clash)}")
            for name, text in value.items():
                if not _TOKEN.fullmatch(name):
                    raise ValueError("a header name is letters, digits and - only")
                if _CONTROL.search(text):
                    # Named by its header, never shown: the value is often a secret.
                    raise ValueError(f"the value of header {name} has a line break or a "
                                     "control character (from an environment variable?)")
                if not text.isascii():
                    raise ValueError(f"the value of header {name} has characters an HTTP "
                                     "header cannot carry (only ASCII)")
            return value

    settings: Settings

    def _secrets(self) -> list[str | None]:
        s = self.settings
        return [s.secret.get_secret_value() if s.secret else None, *s.headers.values(),
                *url_secrets(s.url)]

    def describe(self) -> str:
        signed = "signed" if self.settings.secret else "unsigned"
        return f"webhook: {mask_url(self.settings.url)} ({signed})"

    def prepare(self, message: Message) -> None:
        # The body does not depend on the moment of sending; the signature does (its
        # timestamp), so only the body is made ahead.
        message.prepared[self.type_name] = json_bytes(payload(message))

    async def send(self, message: Message) -> SendResult:
        if "." in message.key:
            return SendResult.fail(
                f"message key {message.key!r} contains '.', which Standard Webhooks ids "
                "must not (the signature joins id.timestamp.body): this is a bug upstream")
        body = message.prepared.get(self.type_name) or json_bytes(payload(message))
        timestamp = int(time.time())
        headers = {
            **self.settings.headers,
            "webhook-id": message.key,
            "webhook-timestamp": str(timestamp),
        }
        if self.settings.secret is not None:
            headers["webhook-signature"] = sign(
                self.settings.secret.get_secret_value(), message.key, timestamp, body)
        reply = await post(self.client, self.settings.url, content=body, headers=headers,
                           timeout=self.settings.timeout)
        result = reply if isinstance(reply, SendResult) else classify_status(reply)
        return redact(result, self._secrets())
