"""Deployment settings: where the events and the store are, how to remind, whom to notify.

Read from a YAML file (`timeline run --config FILE`) with `${ENV_VAR}` references for
secrets, or the defaults when no file is given: the repo's events.yaml, SQLite
`timeline.db`, and a console notifier. A bad file is reported as `FILE:LINE: key: message`.
Notifier-specific keys are validated by the notifier plugin itself (`notifiers.registry`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from timeline.durations import parse_lead
from timeline.errors import Problem, TimelineError, ValidationFailed
from timeline.model import DEFAULT_TIMEZONE, TimezoneName
from timeline.yamlfile import YamlDoc, locate, pydantic_message, read_text, read_yaml

__all__ = ["DigestSpec", "NotifierEntry", "Route", "Settings", "load_settings"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A notifier's name ends every delivery key (`event/occurrence/lead/notifier`), which is also
# the Standard Webhooks id: no '/', which splits the key, and no '.', which the id may not hold.
_NOTIFIER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Keys every notifier entry may carry; the rest belongs to the plugin's own settings.
_COMMON_NOTIFIER_KEYS = {"digest", "reminders", "group", "group_max"}


def _parse_time(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 9:00 as the sexagesimal number 540 (09:00 stays text).
        if not 0 <= value < 10_000:  # a huge number would overflow time(); 24:00 says why
            raise ValueError("bad time: write HH:MM, e.g. \"09:00\"")
        return time(value // 60, value % 60)
    if isinstance(value, str):
        text = value.strip()
        # One-digit hours too: "0:05" is text to YAML while 1:05 is a number, and both
        # mean the same kind of clock time.
        text = "0" + text if re.match(r"^\d:", text) else text
        try:
            return time.fromisoformat(text)
        except ValueError:
            raise ValueError(f"bad time {value!r}: write HH:MM, e.g. \"09:00\"") from None
    return value


def _parse_store(value: Any) -> Any:
    """A store URL the store can open (its errors never echo the URL: it may hold a
    password)."""
    if isinstance(value, str):
        from timeline.store._base import engine_url

        try:
            engine_url(value)
        except TimelineError as exc:
            raise ValueError(str(exc)) from None
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_lead)]
ClockTime = Annotated[time, BeforeValidator(_parse_time)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    enabled: bool = True
    base_url: str | None = None  # public URL for links in messages, e.g. https://host
    # Without base_url, the Host names a page's links may be built from (more: a proxy's)
    allowed_hosts: list[str] = []

    def hosts(self) -> list[str]:
        """allowed_hosts, or the safe default: the bind address and this machine's names."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        bound = [] if self.host in ("0.0.0.0", "::", "") else [self.host]
        return [*bound, "localhost", "127.0.0.1", "::1"]


class ReminderSettings(_Strict):
    send_at: ClockTime = time(9, 0)
    working_days_only: bool = True
    catch_up: Duration = timedelta(hours=24)
    horizon: Duration = timedelta(days=400)  # how far ahead reminders are put in the store
    max_attempts: int = Field(8, ge=1, le=100)
    retry_base: Duration = timedelta(seconds=5)
    retry_max: Duration = timedelta(hours=1)
    concurrency: int = Field(8, ge=1, le=256)


@dataclass(frozen=True)
class DigestSpec:
    """`weekly mon 09:00` or `daily 09:00`: what falls due in the coming period."""

    frequency: Literal["daily", "weekly"]
    weekday: int | None  # 0 = Monday
    at: time

    @classmethod
    def parse(cls, text: str) -> DigestSpec:
        parts = text.lower().split()
        try:  # the clock as send_at reads it: 9:00 as well as 09:00
            if len(parts) == 3 and parts[0] == "weekly" and parts[1] in _WEEKDAYS:
                return cls("weekly", _WEEKDAYS.index(parts[1]), _parse_time(parts[2]))
            if len(parts) == 2 and parts[0] == "daily":
                return cls("daily", None, _parse_time(parts[1]))
        except ValueError:
            pass
        raise ValueError(f"bad digest {text!r}: write 'weekly mon 09:00' or 'daily 09:00'")


def _parse_digest(value: Any) -> Any:
    return DigestSpec.parse(value) if isinstance(value, str) else value


class NotifierEntry(_Strict):
    """A configured notifier: the common keys here, the plugin's own keys in `options`."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    name: str
    type: str
    reminders: bool = True  # send each reminder (grouped per minute)
    digest: Annotated[DigestSpec | None, BeforeValidator(_parse_digest)] = None
    group: bool = True
    group_max: int = Field(20, ge=1, le=1000)
    # The plugin's keys hold webhook URLs, tokens and passwords: keep them out of repr/logs.
    options: dict[str, Any] = Field(default={}, repr=False)


class RouteMatch(_Strict):
    tags: list[str] = []
    stories: list[str] = []
    kinds: list[Literal["deadline", "window", "happening", "recurring"]] = []
    events: list[str] = []


class Route(_Strict):
    """Events matching `match` (all given criteria; any value within one) go to `notify`.

    Routes are tried in order and the first match wins, unless it says `continue: true`.
    A route without `match` matches everything: put it last as the default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    match: RouteMatch = RouteMatch()
    notify: list[str] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")


class Settings(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    events: Path = Path("events.yaml")
    store: Annotated[str, BeforeValidator(_parse_store)] = Field(
        "sqlite:///timeline.db", repr=False)  # a URL may carry a password
    timezone: TimezoneName = DEFAULT_TIMEZONE
    lang: Literal["zh", "en"] = "zh"
    server: ServerSettings = ServerSettings()
    reminders: ReminderSettings = ReminderSettings()
    notifiers: dict[str, NotifierEntry] = {
        "console": NotifierEntry(name="console", type="console")}
    routes: list[Route] = [Route(notify=["console"])]
    source: str = "(defaults)"

    def lang_of(self, notifier: str) -> Literal["zh", "en"]:
        """The language a notifier's messages speak: its own `lang`, else the deployment's."""
        entry = self.notifiers.get(notifier)
        own = entry.options.get("lang") if entry is not None else None
        return own if own in ("zh", "en") else self.lang

    @property
    def feed_url(self) -> str | None:
        """The feed's address for messages; none when nothing serves it here."""
        if self.server.base_url:
            return self.server.base_url.rstrip("/") + "/calendar.ics"
        if not self.server.enabled:
            return None
        return f"http://{self.server.host}:{self.server.port}/calendar.ics"


def _expand_env(value: Any, path: tuple[Any, ...], doc: YamlDoc,
                problems: list[Problem], secret: dict[tuple[Any, ...], str] | None = None) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; a missing variable is an error.
    `secret` collects, per path, the variables whose values went in: an error there must
    not show the value."""
    if isinstance(value, dict):
        return {k: _expand_env(v, (*path, k), doc, problems, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, i), doc, problems, secret) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    names = [m.group(1) for m in _ENV.finditer(value)]
    if names and secret is not None:
        secret[path] = ", ".join(f"${{{n}}}" for n in names)

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if default is not None and not found:
            found = default  # as in the shell: `:-` also replaces a variable set to ""
        if found is None:
            problems.append(Problem(doc.file, doc.line(path), ".".join(map(str, path)),
                                    f"environment variable {name} is not set"))
            return ""
        return found

    return _ENV.sub(replace, value)


def _notifier_entries(raw: Any, doc: YamlDoc, problems: list[Problem]) -> Any:
    if not isinstance(raw, dict):
        return raw
    entries = {}
    for name, body in raw.items():
        if not _NOTIFIER_NAME.match(name):
            problems.append(Problem(doc.file, doc.line(("notifiers", name)), f"notifiers.{name}",
                                    "a notifier name may use letters, digits, '-' and '_' only"))
            continue
        if not isinstance(body, dict):
            problems.append(Problem(doc.file, doc.line(("notifiers", name)), f"notifiers.{name}",
                                    "expected a mapping with at least `type`"))
            continue
        common = {k: v for k, v in body.items() if k in _COMMON_NOTIFIER_KEYS | {"type"}}
        options = {k: v for k, v in body.items() if k not in _COMMON_NOTIFIER_KEYS}
        entries[name] = {"name": name, **common, "options": options}
    return entries


def parse_settings(text: str, file: str, base_dir: Path | None = None, *,
                   senders: bool = True) -> Settings:
    """Validated settings. `senders=False` for commands that send nothing (the outbox,
    preview): a notifier's unset `${VAR}` (a token kept in the service's environment only)
    is then no error, and that notifier's own keys go unchecked."""
    doc = read_yaml(text, file)
    problems = list(doc.problems)
    if not isinstance(doc.data, dict):
        raise ValidationFailed([Problem(file, 1, "(file)", "expected a mapping of settings")])
    unset: list[Problem] = []
    secret: dict[tuple[Any, ...], str] = {}
    data = _expand_env(doc.data, (), doc, unset, secret)
    unset_notifiers = {p.subject.split(".")[1] for p in unset
                       if p.subject.startswith("notifiers.")}
    if not senders:
        unset = [p for p in unset if not p.subject.startswith("notifiers.")]
    data = {**data, "source": file}
    given = data.get("notifiers")
    raw_notifiers: dict[str, Any] = given if isinstance(given, dict) else {}
    if "notifiers" in data:
        data["notifiers"] = _notifier_entries(data["notifiers"], doc, problems)
        if "routes" not in data and isinstance(data["notifiers"], dict):
            # The built-in default route names `console`, which a file's own notifiers
            # replace; without routes, everything goes to every configured notifier.
            names = list(data["notifiers"])
            data["routes"] = [{"notify": names}] if names else []
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = locate(error, (), doc.data, aliases={"continue_": "continue"},
                          skip=frozenset({"options"}))
            if len(path) > 2 and path[0] == "notifiers" and path[2] == "name":
                continue
            problems.append(Problem(file, doc.line(path), ".".join(map(str, path)),
                                    _hidden(error, path, secret) or pydantic_message(error)))
        # The notifiers' own keys too, so that one run of `timeline check` shows it all.
        problems.extend(_plugin_problems(data.get("notifiers"), doc, secret))
        raise _failed(_without(problems, senders, unset_notifiers), unset) from None
    for index, route in enumerate(settings.routes):
        for name in route.notify:
            # A notifier the file has but that was rejected above is reported there already.
            if name not in settings.notifiers and name not in raw_notifiers:
                known = ", ".join(sorted(settings.notifiers)) or "none"
                problems.append(Problem(file, doc.line(("routes", index, "notify")),
                                        f"routes[{index}].notify",
                                        f"unknown notifier {name!r} (configured: {known})"))
    problems.extend(_plugin_problems(data.get("notifiers"), doc, secret))
    problems = _without(problems, senders, unset_notifiers)
    if problems or unset:
        raise _failed(problems, unset)
    if base_dir is not None:
        settings = _relative_to(settings, base_dir)
    return settings


def _without(problems: list[Problem], senders: bool, names: set[str]) -> list[Problem]:
    """Without the problems of notifiers `names` when nothing will be sent."""
    if senders or not names:
        return problems
    return [p for p in problems
            if not (p.subject.startswith("notifiers.") and p.subject.split(".")[1] in names)]


def _failed(problems: list[Problem], unset: list[Problem]) -> ValidationFailed:
    """An unset variable leaves its value empty; report that once, not also what the
    empty value then breaks (`must not be empty`, `not a valid integer`)."""
    named = {p.subject for p in unset}
    return ValidationFailed(unset + [p for p in problems if p.subject not in named])


def _hidden(error: Any, path: tuple[Any, ...], secret: dict[tuple[Any, ...], str]
            ) -> str | None:
    """For a value that came from the environment: the message without the value (pydantic
    and our validators quote what they refuse), naming the variable instead."""
    source = next((secret[path[:n]] for n in range(len(path), 0, -1) if path[:n] in secret),
                  None)
    if source is None:
        return None
    message = pydantic_message(error).split(" [type=")[0]
    value = error.get("input")
    if (isinstance(value, str) and value and value in message) or "'" in message:
        # the message quotes the value: say what is wrong in other words
        message = _VALUE_FREE.get(path[-1] if path else "", "") or _VALUE_FREE.get(
            error["type"], "not valid here")
    return f"the value of {source}: {message}"


_VALUE_FREE = {"int_parsing": "not a whole number", "bool_parsing": "not true or false",
               "url_parsing": "not a valid URL",
               "timezone": "not a known timezone (an IANA name such as Asia/Shanghai)"}


def _plugin_problems(entries: Any, doc: YamlDoc,
                     secret: dict[tuple[Any, ...], str] | None = None) -> list[Problem]:
    """Each notifier's own keys, checked by its plugin now, so errors name file and line.
    `entries` as `_notifier_entries` made them; one whose type is not text is reported by
    the schema."""
    from notifiers.registry import load  # the plugin registry sits above the core

    problems: list[Problem] = []
    for name, entry in (entries.items() if isinstance(entries, dict) else ()):
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(kind, str):
            continue
        base = ("notifiers", name)
        try:
            plugin = load(kind)
        except TimelineError as exc:
            message = str(exc)
            if secret and (*base, "type") in secret:  # the type came from the environment
                message = (f"the value of {secret[(*base, 'type')]}: not a notifier type "
                           f"(available: {message.split('available: ', 1)[-1]})")
            problems.append(Problem(doc.file, doc.line((*base, "type")), f"notifiers.{name}.type",
                                    message))
            continue
        try:
            plugin.Settings.model_validate(entry.get("options") or {})
        except ValidationError as exc:
            for error in exc.errors():
                path = locate(error, base, doc.data.get("notifiers", {}).get(name, {}))
                # Say what is wrong, never echo the value: it may be a token.
                problems.append(Problem(doc.file, doc.line(path), ".".join(map(str, path)),
                                        _hidden(error, path, secret or {})
                                        or pydantic_message(error).split(" [type=")[0]))
    return problems


def _relative_to(settings: Settings, base_dir: Path) -> Settings:
    """Paths in a config file are relative to that file, not to where the daemon starts."""
    events = settings.events if settings.events.is_absolute() else base_dir / settings.events
    store = settings.store
    prefix = "sqlite:///"
    if store.startswith(prefix) and not store.startswith(prefix + "/") \
            and store != prefix + ":memory:":
        store = prefix + str(base_dir / store[len(prefix):])
    return settings.model_copy(update={"events": events, "store": store})


def load_settings(path: str | Path | None, *, senders: bool = True) -> Settings:
    """Settings from a file, or the defaults when `path` is None (see parse_settings)."""
    if path is None:
        return Settings()
    path = Path(path)
    text = read_text(path, missing="cannot read: no such file")
    return parse_settings(text, str(path), path.resolve().parent, senders=senders)
