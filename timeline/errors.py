"""The project's exception tree.

    TimelineError
     ├── ConfigError            deployment settings are wrong (file, key, env var)
     └── ValidationFailed       an events file has problems; carries every Problem found

Everything the CLI prints as an error derives from TimelineError, so a user never sees a
traceback for bad input. A send that fails is no exception: a notifier returns a
`notifiers.base.SendResult` (delivered, retryable with the receiver's hint, permanent).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "Problem",
    "TimelineError",
    "ValidationFailed",
]


class TimelineError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(TimelineError):
    """Deployment settings are missing or wrong."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    file: str
    line: int
    subject: str  # "event-id.field", "stories[2].id", "timezone", ...
    message: str

    def __str__(self) -> str:
        # One line, always: a key, a file name or a quoted value with a line break or an
        # escape sequence in it must not start a forged line of its own.
        return _visible(f"{self.file}:{self.line}: {self.subject}: {self.message}")


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}


def _visible(text: str) -> str:
    return text.translate(_CONTROL)


class ValidationFailed(TimelineError):
    """An input file failed validation; nothing from it was used."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
