"""Prints messages to standard output: the default notifier, for trying things out and
for deployments whose logs are the notification channel."""

from __future__ import annotations

from typing import ClassVar, Literal

from notifiers.base import Message, Notifier, NotifierSettings, SendResult

__all__ = ["ConsoleNotifier"]


class ConsoleNotifier(Notifier):
    type_name: ClassVar[str] = "console"
    rate_per_minute: ClassVar[float | None] = None

    class Settings(NotifierSettings):
        type: Literal["console"] = "console"
        markdown: bool = False  # print the markdown rendering instead of the plain text

    settings: Settings

    def describe(self) -> str:
        return "console: standard output"

    async def send(self, message: Message) -> SendResult:
        body = message.markdown if self.settings.markdown else message.text
        late = " (late)" if message.late else ""
        try:
            print(f"== {message.title}{late} [{message.key}]\n{body}\n", flush=True)
        except OSError as exc:  # a closed pipe: the reader went away
            return SendResult.retry(f"stdout: {exc}")
        return SendResult.ok("printed")
