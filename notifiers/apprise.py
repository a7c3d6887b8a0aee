"""Anything the `apprise` package speaks (100+ services by URL: tgram://, mailto://, ...).

Optional: apprise is imported only when such a notifier is built, so deployments that do not
use it need not install it. Apprise reports only success or failure, without the reason,
so a failure is classed retryable and left to the dispatcher's retry limit.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from notifiers.base import Message, Notifier, NotifierSettings, SendResult
from timeline.errors import ConfigError

__all__ = ["AppriseNotifier"]

INSTALL_HINT = "pip install policy-timeline[apprise]"


def _import_apprise(name: str) -> Any:
    try:
        return importlib.import_module("apprise")
    except ImportError as exc:
        raise ConfigError(f"notifier {name!r}: the 'apprise' type needs the apprise package: "
                          f"{INSTALL_HINT}") from exc


class AppriseNotifier(Notifier):
    type_name: ClassVar[str] = "apprise"
    rate_per_minute: ClassVar[float | None] = None  # each service behind it has its own

    class Settings(NotifierSettings):
        type: Literal["apprise"] = "apprise"
        urls: list[str] = Field(min_length=1)  # apprise URLs; they embed credentials

        @model_validator(mode="after")
        def _installed(self) -> AppriseNotifier.Settings:
            # Checked with the settings so `timeline check` reports it at the config's line.
            if importlib.util.find_spec("apprise") is None:
                raise ValueError(f"needs the apprise package: {INSTALL_HINT}")
            return self

    settings: Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._apprise = _import_apprise(self.name)
        self._targets = self._apprise.Apprise()
        for url in self.settings.urls:
            if not self._targets.add(url):
                # Name the scheme only: the rest of an apprise URL is credentials.
                raise ConfigError(f"notifier {self.name!r}: apprise does not accept a "
                                  f"{urlsplit(url).scheme or '?'}:// URL (see its wiki)")

    def describe(self) -> str:
        schemes = sorted({urlsplit(url).scheme or "?" for url in self.settings.urls})
        return f"apprise: {len(self.settings.urls)} URL(s) ({', '.join(schemes)})"

    async def send(self, message: Message) -> SendResult:
        ok = await self._targets.async_notify(
            body=message.markdown or message.text,
            title=message.title,
            body_format=self._apprise.NotifyFormat.MARKDOWN,
        )
        if ok:
            return SendResult.ok(f"{len(self.settings.urls)} URL(s)")
        return SendResult.retry("apprise reported a failure (see its log for the service's reason)")
