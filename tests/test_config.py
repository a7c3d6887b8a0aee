"""Deployment settings: defaults, a full file, `${ENV}` references, line-numbered errors,
paths relative to the file, and secrets that stay out of reprs and error messages."""

from __future__ import annotations

import textwrap
from datetime import time, timedelta
from pathlib import Path

import pytest
import yaml

from timeline.config import DigestSpec, Route, Settings, load_settings, parse_settings
from timeline.errors import ValidationFailed
from timeline.loader import LoadedTimeline
from timeline.plan import notifiers_for

FILE = "deploy.yaml"
# Values an attacker would love to find in a log; never expected in any repr or error.
SECRETS = {
    "WECOM_KEY": "wecom-key-0f9e8d7c",
    "DINGTALK_TOKEN": "ding-token-6b5a4c3d",
    "WEBHOOK_SECRET": "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4",
    "DB_PASSWORD": "pg-pass-1a2b3c4d",
}

FULL = """\
events: events.yaml
store: sqlite:///state/timeline.db
timezone: Asia/Shanghai
lang: zh
server:
  host: ${TIMELINE_HOST:-0.0.0.0}
  port: ${TIMELINE_PORT:-8080}
  base_url: https://timeline.example.org
reminders:
  send_at: "09:00"
  working_days_only: true
  catch_up: 24h
notifiers:
  ops:
    type: webhook
    url: https://hooks.example.org/timeline
    secret: ${WEBHOOK_SECRET}
  park:
    type: wecom
    key: ${WECOM_KEY}
    digest: weekly mon 09:00
  bureau:
    type: dingtalk
    access_token: ${DINGTALK_TOKEN}
    reminders: false
    digest: daily 08:30
routes:
  - match: {tags: [diesel-subsidy]}
    notify: [bureau]
    continue: true
  - match: {stories: [nanchuan-zero-carbon]}
    notify: [park]
  - notify: [ops]
"""


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for name in ("TIMELINE_HOST", "TIMELINE_PORT", "MISSING_KEY"):
        monkeypatch.delenv(name, raising=False)
    return SECRETS


def problems(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_settings(textwrap.dedent(text), FILE)
    return [str(p) for p in caught.value.problems]


# ── defaults ───────────────────────────────────────────────────────────────────────────────

def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.events == Path("events.yaml")
    assert settings.store == "sqlite:///timeline.db"
    assert settings.timezone == "Asia/Shanghai"
    assert list(settings.notifiers) == ["console"]
    assert settings.notifiers["console"].type == "console"
    assert settings.notifiers["console"].reminders
    assert settings.routes == [Route(notify=["console"])]
    assert settings.routes[0].match.tags == [] and not settings.routes[0].continue_
    assert settings.reminders.send_at == time(9)
    assert settings.reminders.working_days_only
    assert settings.reminders.catch_up == timedelta(hours=24)
    assert settings.feed_url == "http://127.0.0.1:8080/calendar.ics"


def test_a_minimal_file_keeps_the_other_defaults() -> None:
    settings = parse_settings("lang: en\n", FILE)
    assert settings.lang == "en"
    assert settings.routes == [Route(notify=["console"])]
    assert settings.source == FILE


# ── a full file ────────────────────────────────────────────────────────────────────────────

def test_full_example_parses(tmp_path: Path, secrets: dict[str, str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(FULL, encoding="utf-8")
    settings = load_settings(path)
    base = tmp_path.resolve()
    assert settings.events == base / "events.yaml"
    assert settings.store == f"sqlite:///{base}/state/timeline.db"
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8080)
    assert settings.feed_url == "https://timeline.example.org/calendar.ics"
    assert settings.reminders.send_at == time(9)
    assert settings.reminders.catch_up == timedelta(hours=24)
    assert settings.source == str(path)

    ops, park, bureau = (settings.notifiers[n] for n in ("ops", "park", "bureau"))
    assert (ops.type, park.type, bureau.type) == ("webhook", "wecom", "dingtalk")
    assert ops.options["url"] == "https://hooks.example.org/timeline"
    assert ops.options["secret"] == secrets["WEBHOOK_SECRET"]
    assert park.options["key"] == secrets["WECOM_KEY"]
    assert bureau.options["access_token"] == secrets["DINGTALK_TOKEN"]
    assert "digest" not in park.options and "reminders" not in bureau.options
    assert park.digest == DigestSpec("weekly", 0, time(9))
    assert bureau.digest == DigestSpec("daily", None, time(8, 30))
    assert ops.reminders and park.reminders and not bureau.reminders

    assert [r.notify for r in settings.routes] == [["bureau"], ["park"], ["ops"]]
    assert [r.continue_ for r in settings.routes] == [True, False, False]


def test_full_example_routes_the_curated_events(secrets: dict[str, str],
                                                loaded: LoadedTimeline) -> None:
    settings = parse_settings(FULL, FILE)
    timeline = loaded.timeline
    assert notifiers_for(timeline.event("diesel-window-2"), settings.routes) == ["bureau", "ops"]
    assert notifiers_for(timeline.event("nanchuan-phase-1-green-power-park"),
                         settings.routes) == ["park"]
    assert notifiers_for(timeline.event("preschool-staff-exchange"), settings.routes) == ["ops"]


def test_notifiers_without_routes_get_everything() -> None:
    settings = parse_settings("notifiers:\n  a: {type: console}\n  b: {type: console}\n", FILE)
    assert settings.routes == [Route(notify=["a", "b"])]
    assert parse_settings("notifiers: {}\n", FILE).routes == []


# ── ${ENV} references ──────────────────────────────────────────────────────────────────────

def test_env_references_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_HOST", "10.0.0.5")
    monkeypatch.setenv("TL_DIR", "/srv/timeline")
    monkeypatch.setenv("TL_EMPTY", "")
    monkeypatch.delenv("TL_PORT", raising=False)
    monkeypatch.delenv("TL_URL", raising=False)
    settings = parse_settings(textwrap.dedent("""\
        events: ${TL_DIR}/events.yaml
        store: sqlite:///${TL_DIR}/${TL_DB:-timeline.db}
        server:
          host: ${TL_HOST:-127.0.0.1}
          port: ${TL_PORT:-9090}
          base_url: ${TL_EMPTY:-https://fallback.example.org}
        lang: en${TL_EMPTY}
        """), FILE)
    assert settings.server.host == "10.0.0.5"  # set: the default is ignored
    assert settings.server.port == 9090  # unset: the default, then read as a number
    assert settings.server.base_url == "https://fallback.example.org"  # empty, as in the shell
    assert settings.lang == "en"  # `${VAR}` set to "" is simply empty
    assert settings.events == Path("/srv/timeline/events.yaml")
    assert settings.store == "sqlite:////srv/timeline/timeline.db"


def test_a_value_without_references_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/x")
    settings = parse_settings("server:\n  base_url: https://h/$HOME/{x}\n", FILE)
    assert settings.server.base_url == "https://h/$HOME/{x}"


# ── bad files: every problem named FILE:LINE: key: message ────────────────────────────────

BAD = [
    pytest.param(
        """\
        notifiers:
          park:
            type: wecom
            key: ${MISSING_KEY}
        """,
        ["deploy.yaml:4: notifiers.park.key: environment variable MISSING_KEY is not set"],
        id="missing-env-var"),
    pytest.param(
        """\
        store: sqlite:///x.db
        colour: blue
        """,
        ["deploy.yaml:2: colour: unknown field"],
        id="unknown-top-level-key"),
    pytest.param(
        """\
        reminders:
          working_days_only: true
          send_at: 9am
        """,
        ["deploy.yaml:3: reminders.send_at: bad time '9am': write HH:MM, e.g. \"09:00\""],
        id="bad-send-at"),
    pytest.param(
        """\
        reminders:
          catch_up: soon
        """,
        ["deploy.yaml:2: reminders.catch_up: bad lead time 'soon': use a number and a unit "
         "(90d, 2h, 30m, 1w) or an ISO 8601 duration (P1DT2H)"],
        id="bad-duration"),
    pytest.param(
        """\
        reminders:
          retry_max: 24
        """,
        ["deploy.yaml:2: reminders.retry_max: lead time 24 needs a unit: '24d', '24h' or '24m'"],
        id="duration-without-unit"),
    pytest.param(
        """\
        notifiers:
          ops: {type: console}
        routes:
          - match: {tags: [a]}
            notify: [ops]
          - notify: [nobody]
        """,
        ["deploy.yaml:6: routes[1].notify: unknown notifier 'nobody' (configured: ops)"],
        id="route-to-unknown-notifier"),
    pytest.param(
        """\
        server:
          host: 0.0.0.0
          port: 70000
        """,
        ["deploy.yaml:3: server.port: Input should be less than or equal to 65535"],
        id="port-out-of-range"),
    pytest.param(
        """\
        notifiers:
          ops:
            type: console
            digest: monthly 09:00
        """,
        ["deploy.yaml:4: notifiers.ops.digest: bad digest 'monthly 09:00': "
         "write 'weekly mon 09:00' or 'daily 09:00'"],
        id="bad-digest"),
    pytest.param(
        """\
        notifiers:
          ops: {type: console}
          park: https://example.org/hook
        routes:
          - notify: [ops, park]
        """,
        ["deploy.yaml:3: notifiers.park: expected a mapping with at least `type`"],
        id="notifier-not-a-mapping"),
    pytest.param(
        """\
        notifiers:
          ops.team: {type: console}
        """,
        ["deploy.yaml:2: notifiers.ops.team: a notifier name may use letters, digits, "
         "'-' and '_' only"],
        id="notifier-name-with-a-dot"),
    pytest.param(
        """\
        notifiers:
          ops: {digest: daily 09:00}
        """,
        ["deploy.yaml:2: notifiers.ops.type: required field is missing"],
        id="notifier-without-type"),
    pytest.param(
        """\
        routes:
          - match: {kinds: [deadlines]}
            notify: [console]
        """,
        ["deploy.yaml:2: routes.0.match.kinds.0: Input should be 'deadline', 'window', "
         "'happening' or 'recurring'"],
        id="bad-route-kind"),
    pytest.param(
        """\
        timezone: Mars/Olympus
        """,
        ["deploy.yaml:1: timezone: unknown timezone 'Mars/Olympus' "
         "(use an IANA name such as Asia/Shanghai)"],
        id="bad-timezone"),
    pytest.param(
        """\
        server:
          host: [127.0.0.1
          port: 8080
        """,
        ["deploy.yaml:3: (yaml): YAML syntax error: did not find expected ',' or ']'"],
        id="yaml-syntax-error"),
    pytest.param(
        """\
        reminders:
          send_at: "09:00"
          send_at: "10:00"
        """,
        ["deploy.yaml:3: reminders.send_at: duplicate key 'send_at'"],
        id="duplicate-key"),
    pytest.param(
        """\
        - events.yaml
        """,
        ["deploy.yaml:1: (file): expected a mapping of settings"],
        id="not-a-mapping"),
    pytest.param(
        """\
        server:
          port: 0x1_0000_0
        reminders:
          catch_up: 1y
        """,
        ["deploy.yaml:2: server.port: Input should be less than or equal to 65535",
         "deploy.yaml:4: reminders.catch_up: bad lead time '1y': use a number and a unit "
         "(90d, 2h, 30m, 1w) or an ISO 8601 duration (P1DT2H)"],
        id="every-problem-at-once"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_config_names_file_line_and_key(text: str, expected: list[str],
                                            secrets: dict[str, str]) -> None:
    assert problems(text) == expected


def test_load_settings_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ValidationFailed) as caught:
        load_settings(path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.subject) == (str(path), 1, "(file)")
    assert problem.message.startswith("cannot read:")


# ── secrets ────────────────────────────────────────────────────────────────────────────────

def _assert_no_secret(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text


def test_repr_of_settings_hides_secrets(secrets: dict[str, str]) -> None:
    text = FULL.replace("store: sqlite:///state/timeline.db",
                        "store: postgresql://timeline:${DB_PASSWORD}@db.internal/timeline")
    settings = parse_settings(text, FILE)
    assert secrets["DB_PASSWORD"] in settings.store  # it is there for the store to use...
    assert settings.notifiers["park"].options["key"] == secrets["WECOM_KEY"]
    for shown in (repr(settings), str(settings), repr(settings.notifiers),
                  repr(settings.notifiers["park"]), f"{settings!r}"):
        _assert_no_secret(shown)  # ...but never printed
    assert "wecom" in repr(settings.notifiers["park"])  # the entry itself is still described


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("port: ${TIMELINE_PORT:-8080}", "port: 99999"), "server.port"),
        (("catch_up: 24h", "catch_up: ${MISSING_KEY}"), "reminders.catch_up"),
        (("notify: [ops]", "notify: [ops, pager]"), "routes[2].notify"),
        (("    digest: daily 08:30", "    digest: hourly"), "notifiers.bureau.digest"),
        (("    reminders: false", "    group_max: 0"), "notifiers.bureau.group_max"),
    ],
)
def test_errors_elsewhere_do_not_echo_secrets(change: tuple[str, str], expected: str,
                                              secrets: dict[str, str]) -> None:
    assert change[0] in FULL
    with pytest.raises(ValidationFailed) as caught:
        parse_settings(FULL.replace(change[0], change[1]), FILE)
    assert [p.subject for p in caught.value.problems] == [expected]
    _assert_no_secret(str(caught.value))
    _assert_no_secret(repr(caught.value.problems))


# ── paths relative to the file ─────────────────────────────────────────────────────────────

def test_relative_paths_resolve_against_the_config_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "etc" / "timeline"
    conf.mkdir(parents=True)
    (conf / "timeline.yaml").write_text(
        "events: data/events.yaml\nstore: sqlite:///state/timeline.db\n", encoding="utf-8")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where the daemon starts must not matter
    settings = load_settings(Path("..") / "etc" / "timeline" / "timeline.yaml")
    assert settings.events == conf.resolve() / "data" / "events.yaml"
    assert settings.store == f"sqlite:///{conf.resolve()}/state/timeline.db"
    assert settings.events.is_absolute()


@pytest.mark.parametrize(
    "store",
    ["sqlite:////var/lib/timeline/timeline.db", "sqlite:///:memory:",
     "postgresql://timeline@localhost/timeline"],
)
def test_absolute_and_non_file_stores_are_kept(tmp_path: Path, store: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"events: /srv/events.yaml\nstore: '{store}'\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.store == store
    assert settings.events == Path("/srv/events.yaml")


def test_parse_settings_without_a_base_keeps_paths_as_written() -> None:
    settings = parse_settings("events: data/events.yaml\nstore: sqlite:///t.db\n", FILE)
    assert settings.events == Path("data/events.yaml")
    assert settings.store == "sqlite:///t.db"


# ── send_at as YAML 1.1 reads it ───────────────────────────────────────────────────────────

@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('"09:00"', time(9)),
        ("09:00", time(9)),  # a leading zero is not sexagesimal: PyYAML keeps the text
        ("9:00", time(9)),  # sexagesimal 540
        ("9:30", time(9, 30)),  # 570
        ("17:45", time(17, 45)),  # 1065
        ("0:05", time(0, 5)),  # text again (a leading zero), with a one-digit hour
        ('"9:30"', time(9, 30)),
        ('"08:15:30"', time(8, 15, 30)),
    ],
)
def test_unquoted_send_at_still_means_the_clock_time(written: str, expected: time) -> None:
    settings = parse_settings(f"reminders:\n  send_at: {written}\n", FILE)
    assert settings.reminders.send_at == expected


def test_yaml_really_reads_unquoted_times_as_numbers() -> None:
    # The premise of the test above, checked against the YAML library itself.
    assert yaml.safe_load("a: 9:30\nb: 17:45\nc: 09:00") == {"a": 570, "b": 1065, "c": "09:00"}


def test_send_at_past_midnight_is_an_error() -> None:
    assert problems("reminders:\n  send_at: 24:00\n") == [
        "deploy.yaml:2: reminders.send_at: hour must be in 0..23"]


def test_schema_and_notifier_problems_are_reported_in_one_go() -> None:
    assert problems("""
        reminders: {send_at: 25:00}
        notifiers:
          hook: {type: webhook, url: "not a url"}
          chat: {type: nope}
    """) == [
        "deploy.yaml:2: reminders.send_at: hour must be in 0..23",
        "deploy.yaml:4: notifiers.hook.url: must be an absolute http:// or https:// URL",
        "deploy.yaml:5: notifiers.chat.type: unknown notifier type 'nope'; available: "
        "apprise, console, dingtalk, email, feishu, slack, webhook, wecom",
    ]


def test_a_digest_time_reads_like_send_at() -> None:
    assert DigestSpec.parse("daily 9:00") == DigestSpec.parse("daily 09:00")
    assert DigestSpec.parse("weekly mon 8:30").at == time(8, 30)


def test_messages_link_the_feed_only_where_it_is_served() -> None:
    assert Settings().feed_url == "http://127.0.0.1:8080/calendar.ics"
    off = parse_settings("server: {enabled: false}\n", FILE)
    assert off.feed_url is None
    public = parse_settings(
        "server: {enabled: false, base_url: 'https://cal.example.org/'}\n", FILE)
    assert public.feed_url == "https://cal.example.org/calendar.ics"


def test_commands_that_send_nothing_do_without_the_notifiers_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_KEY", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("""
        store: sqlite:///timeline.db
        notifiers:
          hook: {type: webhook, url: "https://example.org/hook", secret: "${MISSING_KEY}"}
    """), encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_settings(path)  # `timeline run` needs it
    assert [p.message for p in caught.value.problems] == [
        "environment variable MISSING_KEY is not set"]
    settings = load_settings(path, senders=False)  # `timeline deliveries`, `retry`, ...
    assert settings.store == f"sqlite:///{tmp_path / 'timeline.db'}"
    assert list(settings.notifiers) == ["hook"]
    # Anything else wrong is still an error.
    path.write_text(path.read_text(encoding="utf-8") + "reminders: {send_at: 25:00}\n",
                    encoding="utf-8")
    with pytest.raises(ValidationFailed):
        load_settings(path, senders=False)
