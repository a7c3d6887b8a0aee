"""DingTalk (钉钉) custom robot: open.dingtalk.com/document/robots/custom-robot-access.

Markdown messages (`title` shows in the notification, `text` in the chat). Mentions go in
`at.atMobiles` and, for DingTalk to render them, as `@mobile` in the text. With a `secret`
(加签) every request carries `timestamp` (ms) and `sign`, percent-encoded exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr, field_validator

from notifiers._http import (
    HttpSettings,
    check_http_url,
    classify_errcode,
    fingerprint,
    json_bytes,
    mask_url,
    pasted_credential,
    post,
    redact,
)
from notifiers._text import markdown_with_title, trim_utf8, truncation_marker
from notifiers.base import Message, Notifier, SendResult

__all__ = ["DingTalkNotifier", "sign", "signed_url"]

BASE_URL = "https://oapi.dingtalk.com/robot/send"
# chat-services.md states no size limit for DingTalk; 20000 bytes is the figure commonly
# reported for robot messages. Trimming there keeps a long digest from being refused.
TEXT_LIMIT = 20000
TITLE_LIMIT = 100  # only the notification preview shows it
# 130101: over 20/min; DingTalk then throttles the robot for 10 minutes.
RETRYABLE = {130101: 600.0}


def _stale_timestamp(code: object, msg: str) -> bool:
    """310000 is permanent (keyword, IP, bad secret) unless it is the timestamp: a new
    attempt signs with a fresh one."""
    return code == 310000 and ("timestamp" in msg.lower() or "时间戳" in msg)


def sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), not yet percent-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()).decode()


def signed_url(base_url: str, access_token: str, secret: str | None,
               timestamp_ms: int | None = None) -> str:
    """The final request URL. Every value is percent-encoded here, once; the string is sent
    as is (httpx keeps existing %XX escapes), so `sign`'s '+', '/', '=' arrive intact."""
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}access_token={quote(access_token, safe='')}"
    if secret:
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        url += f"&timestamp={ts}&sign={quote(sign(secret, ts), safe='')}"
    return url


class DingTalkNotifier(Notifier):
    type_name: ClassVar[str] = "dingtalk"
    rate_per_minute: ClassVar[float | None] = 20

    class Settings(HttpSettings):
        type: Literal["dingtalk"] = "dingtalk"
        access_token: SecretStr
        secret: SecretStr | None = None  # the 加签 secret, "SEC..."
        at_mobiles: list[str] = Field(default_factory=list)
        at_all: bool = False
        base_url: str = BASE_URL

        _check_url = field_validator("base_url")(check_http_url)

        _check_token = field_validator("access_token")(pasted_credential("access_token"))

    settings: Settings

    def _token(self) -> str:
        return self.settings.access_token.get_secret_value()

    def _secret(self) -> str | None:
        return self.settings.secret.get_secret_value() if self.settings.secret else None

    def describe(self) -> str:
        mode = "signed" if self.settings.secret else "unsigned"
        return (f"dingtalk: {mask_url(self.settings.base_url)} "
                f"token{fingerprint(self._token())} ({mode})")

    def payload(self, message: Message) -> dict[str, Any]:
        s = self.settings
        mentions = " ".join(f"@{mobile}" for mobile in s.at_mobiles)
        suffix = f"\n\n{mentions}" if mentions else ""
        text = trim_utf8(markdown_with_title(message), TEXT_LIMIT - len(suffix.encode()),
                         truncation_marker(message.lang))
        title = trim_utf8(message.title or message.text, TITLE_LIMIT, "…")
        return {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": text + suffix},
            "at": {"atMobiles": s.at_mobiles, "isAtAll": s.at_all},
        }

    async def send(self, message: Message) -> SendResult:
        url = signed_url(self.settings.base_url, self._token(), self._secret())
        # Signed, the URL is new on every request: parsed here, not cached by post().
        target = httpx.URL(url) if self._secret() else url
        reply = await post(self.client, target, content=json_bytes(self.payload(message)),
                           timeout=self.settings.timeout)
        if not isinstance(reply, SendResult):
            reply = classify_errcode(reply, field="errcode", retryable=RETRYABLE,
                                     retry_if=_stale_timestamp)
        return redact(reply, [self._token(), self._secret()])
