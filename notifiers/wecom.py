"""WeCom (企业微信) group robot: developer.work.weixin.qq.com/document/path/91770.

Markdown by default (4096 bytes). Markdown cannot carry mention lists, only `<@userid>`
in the content, so mobile-number mentions or "@all" switch the message to `text`
(2048 bytes) with `mentioned_list` / `mentioned_mobile_list`. Over-long content is
trimmed on a character boundary, never refused.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator

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
from notifiers._text import markdown_with_title, text_with_title, trim_utf8, truncation_marker
from notifiers.base import Message, Notifier, SendResult

__all__ = ["WeComNotifier"]

BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MARKDOWN_LIMIT = 4096
TEXT_LIMIT = 2048
# errcode -> seconds to wait. 45009: over 20/min, the quota frees up within the minute.
RETRYABLE = {45009: 60.0}


class WeComNotifier(Notifier):
    type_name: ClassVar[str] = "wecom"
    rate_per_minute: ClassVar[float | None] = 20

    class Settings(HttpSettings):
        type: Literal["wecom"] = "wecom"
        key: SecretStr
        mentioned_list: list[str] = Field(default_factory=list)  # user ids, or "@all"
        mentioned_mobile_list: list[str] = Field(default_factory=list)
        # None: markdown, unless mobile or @all mentions need the text type
        msgtype: Literal["markdown", "text"] | None = None
        base_url: str = BASE_URL  # overridable for tests and private gateways

        _check_url = field_validator("base_url")(check_http_url)

        _check_key = field_validator("key")(pasted_credential("key"))

        @model_validator(mode="after")
        def _mentions_fit_the_type(self) -> WeComNotifier.Settings:
            # Markdown can only mention by user id (<@id>); dropping the rest would be silent.
            if self.msgtype == "markdown" and ("@all" in self.mentioned_list
                                               or self.mentioned_mobile_list):
                raise ValueError("msgtype markdown cannot mention @all or by mobile number: "
                                 "leave msgtype out (text is used) or set it to text")
            return self

    settings: Settings

    def _key(self) -> str:
        return self.settings.key.get_secret_value()

    def describe(self) -> str:
        return f"wecom: {mask_url(self.settings.base_url)} key{fingerprint(self._key())}"

    def msgtype(self) -> str:
        s = self.settings
        if s.msgtype:
            return s.msgtype
        return "text" if s.mentioned_mobile_list or "@all" in s.mentioned_list else "markdown"

    def payload(self, message: Message) -> dict[str, Any]:
        s = self.settings
        marker = truncation_marker(message.lang)
        if self.msgtype() == "markdown":
            mentions = "".join(f"<@{uid}>" for uid in s.mentioned_list if uid != "@all")
            suffix = f"\n{mentions}" if mentions else ""
            body = trim_utf8(markdown_with_title(message), MARKDOWN_LIMIT - len(suffix.encode()),
                             marker)
            return {"msgtype": "markdown", "markdown": {"content": body + suffix}}
        content: dict[str, Any] = {"content": trim_utf8(text_with_title(message), TEXT_LIMIT,
                                                        marker)}
        if s.mentioned_list:
            content["mentioned_list"] = s.mentioned_list
        if s.mentioned_mobile_list:
            content["mentioned_mobile_list"] = s.mentioned_mobile_list
        return {"msgtype": "text", "text": content}

    async def send(self, message: Message) -> SendResult:
        sep = "&" if "?" in self.settings.base_url else "?"
        url = f"{self.settings.base_url}{sep}key={quote(self._key(), safe='')}"
        reply = await post(self.client, url, content=json_bytes(self.payload(message)),
                           timeout=self.settings.timeout)
        if not isinstance(reply, SendResult):
            reply = classify_errcode(reply, field="errcode", retryable=RETRYABLE)
        return redact(reply, [self._key()])
