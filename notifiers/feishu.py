"""Feishu / Lark custom bot: open.feishu.cn/document/client-docs/bot-v3/add-custom-bot.

Sends a rich-text `post` by default (title + paragraphs + links), or an `interactive` card
(markdown), or plain `text`. With a `secret` the body carries `timestamp` (seconds) and
`sign` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")). The whole body must
stay under 20 KB, so the message text is trimmed until it does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar, Literal

from pydantic import SecretStr, field_validator, model_validator

from notifiers._http import (
    HttpSettings,
    check_http_url,
    classify_errcode,
    fingerprint,
    json_bytes,
    mask_url,
    post,
    redact,
    url_secrets,
)
from notifiers._text import (
    plain_body,
    text_with_title,
    trim_utf8,
    truncation_marker,
    utf8_len,
    without_title,
)
from notifiers.base import Message, Notifier, SendResult
from notifiers.pacing import RateLimiter

__all__ = ["FeishuNotifier", "sign"]

BASE_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/"  # Lark: open.larksuite.com
BODY_LIMIT = 20_000  # "20 KB"; kept under 20,000 bytes to be safe whichever KB is meant
RETRYABLE = {11232: None}  # rate limited: back off as the dispatcher sees fit


def sign(secret: str, timestamp: int) -> str:
    """Feishu's odd scheme: the key is timestamp+"\\n"+secret and the message is empty."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _post_content(message: Message, text: str) -> dict[str, Any]:
    # `text` comes without the title (a field of its own) and the link lines (real links).
    paragraphs: list[list[dict[str, str]]] = [
        [{"tag": "text", "text": line}] for line in text.split("\n")
    ]
    paragraphs += [[{"tag": "a", "text": label, "href": url}] for label, url in message.links]
    locale = "zh_cn" if message.lang == "zh" else "en_us"
    return {"post": {locale: {"title": message.title, "content": paragraphs}}}


def _card(message: Message, markdown: str) -> dict[str, Any]:
    return {
        "header": {"title": {"tag": "plain_text", "content": message.title},
                   "template": "blue"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": markdown}}],
    }


class FeishuNotifier(Notifier):
    type_name: ClassVar[str] = "feishu"
    rate_per_minute: ClassVar[float | None] = 100

    class Settings(HttpSettings):
        type: Literal["feishu"] = "feishu"
        webhook: str | None = None  # the full hook URL as Feishu shows it, or:
        token: SecretStr | None = None  # the last path segment, joined to base_url
        base_url: str = BASE_URL
        secret: SecretStr | None = None  # 签名校验 secret
        msg_type: Literal["post", "interactive", "text"] = "post"

        _check_url = field_validator("webhook", "base_url")(check_http_url)

        @model_validator(mode="after")
        def _one_target(self) -> FeishuNotifier.Settings:
            if (self.webhook is None) == (self.token is None):
                raise ValueError("set exactly one of 'webhook' (full URL) or 'token'")
            return self

    settings: Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pace = RateLimiter(5)  # Feishu also caps a bot at 5 requests a second

    def _url(self) -> str:
        s = self.settings
        if s.webhook is not None:
            return s.webhook
        assert s.token is not None  # the validator allows nothing else
        return s.base_url.rstrip("/") + "/" + s.token.get_secret_value()

    def _secrets(self) -> list[str | None]:
        s = self.settings
        token = s.token.get_secret_value() if s.token else self._url().rsplit("/", 1)[-1]
        return [token, s.secret.get_secret_value() if s.secret else None,
                *url_secrets(self._url())]

    def describe(self) -> str:
        mode = "signed" if self.settings.secret else "unsigned"
        token = self._secrets()[0] or ""
        return f"feishu: {mask_url(self._url(), [token])} hook{fingerprint(token)} ({mode})"

    def _body(self, message: Message, text: str) -> dict[str, Any]:
        kind = self.settings.msg_type
        if kind == "interactive":
            return {"msg_type": "interactive", "card": _card(message, text)}
        if kind == "post":
            return {"msg_type": "post", "content": _post_content(message, text)}
        return {"msg_type": "text", "content": {"text": text}}

    def payload(self, message: Message, timestamp: int | None = None) -> bytes:
        """The exact body bytes, trimmed below BODY_LIMIT, signed when a secret is set."""
        kind = self.settings.msg_type
        if kind == "interactive":  # the card header shows the title
            text = without_title(message.markdown or message.text, message.title)
        elif kind == "post":
            text = plain_body(message)
        else:
            text = text_with_title(message)
        marker = truncation_marker(message.lang)
        extra: dict[str, str] = {}
        if self.settings.secret is not None:
            ts = int(time.time()) if timestamp is None else timestamp
            secret = self.settings.secret.get_secret_value()
            extra = {"timestamp": str(ts), "sign": sign(secret, ts)}
        body = json_bytes({**extra, **self._body(message, text)})
        # JSON escaping and the per-paragraph markup grow with the text, so shrink the text
        # in proportion to the overshoot; a pass or two settles it.
        for _ in range(8):
            if len(body) <= BODY_LIMIT:
                break
            target = utf8_len(text) * BODY_LIMIT // len(body) - 64
            text = trim_utf8(text, max(0, target), marker)
            body = json_bytes({**extra, **self._body(message, text)})
        return body

    async def send(self, message: Message) -> SendResult:
        await self._pace.acquire()
        reply = await post(self.client, self._url(), content=self.payload(message),
                           timeout=self.settings.timeout)
        if not isinstance(reply, SendResult):
            reply = classify_errcode(reply, field=("code", "StatusCode"), retryable=RETRYABLE)
        return redact(reply, self._secrets())
