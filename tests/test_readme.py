"""The README is the user's manual: every notifier type, every settings key and every key
of the events file it accepts must be documented there, and CI must run the README's test
command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from notifiers.registry import available, load
from timeline.config import ReminderSettings, ServerSettings, Settings
from timeline.model import Deadline, Happening, Recurring, Story, Window

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
INTERNAL = {"source"}  # Settings.source records where settings came from; not a config key


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _documented(key: str) -> bool:
    return re.search(rf"`[^`]*\b{re.escape(key)}\b[^`]*`", README) is not None


@pytest.mark.parametrize("type_name", sorted(available()))
def test_every_notifier_type_and_its_keys_are_documented(type_name: str) -> None:
    assert f"`{type_name}`" in README, f"notifier type {type_name} is not in the README"
    try:
        settings = load(type_name).Settings
    except Exception as exc:  # an optional extra that is not installed still needs docs
        pytest.skip(f"{type_name} cannot be loaded here: {exc}")
    missing = [k for k in _keys(settings) if not _documented(k)]
    assert missing == [], f"{type_name}: undocumented keys {missing}"


@pytest.mark.parametrize(("prefix", "model"), [
    ("", Settings), ("server.", ServerSettings), ("reminders.", ReminderSettings)])
def test_every_settings_key_is_documented(prefix: str, model: type[BaseModel]) -> None:
    def shown(key: str) -> bool:
        # `server.host` documents `server`; `routes[].match` documents `routes`.
        return any(f"`{key}{tail}" in README for tail in ("`", ".", "[]"))

    missing = [f"{prefix}{k}" for k in _keys(model)
               if k not in INTERNAL and not shown(f"{prefix}{k}")]
    assert missing == [], f"undocumented settings keys {missing}"


@pytest.mark.parametrize("model", [Story, Deadline, Window, Happening, Recurring])
def test_every_events_file_key_is_documented(model: type[BaseModel]) -> None:
    missing = [k for k in _keys(model) if not _documented(k)]
    assert missing == [], f"{model.__name__}: undocumented keys {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    command = ('python3 -m venv .venv && .venv/bin/pip install -e ".[test]" '
               "&& .venv/bin/python -m pytest")
    assert command in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci


def test_every_extract_option_is_documented() -> None:
    from timeline.cli import cli

    command = cli.commands["extract"]
    options = [opt for param in command.params for opt in getattr(param, "opts", [])
               if opt.startswith("--")]
    assert len(options) >= 7
    missing = [opt for opt in options if f"`{opt}" not in README]
    assert missing == [], f"timeline extract options not in the README: {missing}"
