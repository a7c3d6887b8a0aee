"""Finds notifier classes through the `timeline.notifiers` entry points.

The built-ins are listed in that group by this project's own pyproject.toml, exactly as a
third party lists theirs, so there is one way in. A class is imported only when a
deployment uses its type (an optional dependency like apprise costs nothing otherwise).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

import httpx
from pydantic import ValidationError

from notifiers.base import Notifier
from timeline.errors import ConfigError

__all__ = ["GROUP", "available", "build", "load"]

GROUP = "timeline.notifiers"


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        # The same distribution can be seen twice (an editable install plus a wheel); only a
        # different target for one name is a real conflict.
        previous = found.setdefault(ep.name, ep)
        if previous.value != ep.value:
            raise ConfigError(f"notifier type {ep.name!r} is registered twice: "
                              f"{previous.value} and {ep.value}; uninstall one")
    return found


def available() -> dict[str, str]:
    """Every installed notifier type → "module:Class", without importing any of them."""
    return {name: ep.value for name, ep in sorted(_entry_points().items())}


def _available_text() -> str:
    return ", ".join(available()) or "none installed"


def load(type_name: str) -> type[Notifier]:
    """The notifier class registered for `type_name`."""
    ep = _entry_points().get(type_name)
    if ep is None:
        raise ConfigError(f"unknown notifier type {type_name!r}; available: {_available_text()}")
    try:
        cls = ep.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"notifier type {type_name!r} ({ep.value}) cannot be loaded: {exc}"
                          ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Notifier)):
        raise ConfigError(f"notifier type {type_name!r} ({ep.value}) is not a Notifier subclass")
    if getattr(cls, "type_name", None) != type_name:
        raise ConfigError(f"notifier type {type_name!r} ({ep.value}) declares type_name "
                          f"{getattr(cls, 'type_name', None)!r}; they must match")
    return cls


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(settings)"


def build(name: str, raw_settings: dict[str, Any], client: httpx.AsyncClient) -> Notifier:
    """A ready notifier named `name` from its raw settings (a config file's mapping).

    Validation errors name the notifier and each field, never the value given: settings hold
    tokens and passwords.
    """
    if not isinstance(raw_settings, dict):
        raise ConfigError(f"notifier {name!r}: settings must be a mapping")
    type_name = raw_settings.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise ConfigError(f"notifier {name!r}: missing 'type'; available: {_available_text()}")
    cls = load(type_name)
    try:
        settings = cls.Settings.model_validate(raw_settings)
    except ValidationError as exc:
        problems = "; ".join(f"{_field(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"notifier {name!r} ({type_name}): {problems}") from None
    return cls(name, settings, client)
