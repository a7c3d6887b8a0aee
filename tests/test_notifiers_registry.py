"""The registry finds notifiers through entry points only, built-ins and third parties alike;
plus the two notifiers that need no receiver: console and apprise."""

from __future__ import annotations

import sys
import typing
from importlib.metadata import EntryPoint
from typing import ClassVar, Literal

import httpx
import pytest

from notifiers import registry
from notifiers.base import Message, Notifier, NotifierSettings, SendResult
from tests.receiver import sample_message
from timeline.errors import ConfigError

BUILT_INS = {
    "console": "notifiers.console:ConsoleNotifier",
    "webhook": "notifiers.webhook:WebhookNotifier",
    "wecom": "notifiers.wecom:WeComNotifier",
    "dingtalk": "notifiers.dingtalk:DingTalkNotifier",
    "feishu": "notifiers.feishu:FeishuNotifier",
    "slack": "notifiers.slack:SlackNotifier",
    "email": "notifiers.email:EmailNotifier",
    "apprise": "notifiers.apprise:AppriseNotifier",
}
RATES = {"wecom": 20, "dingtalk": 20, "feishu": 100, "slack": 60, "webhook": None}


class PagerNotifier(Notifier):
    """A third party's notifier, registered below through a (fake) entry point."""

    type_name: ClassVar[str] = "pager"

    class Settings(NotifierSettings):
        type: Literal["pager"] = "pager"
        number: str

    async def send(self, message: Message) -> SendResult:
        return SendResult.ok()


class NotANotifier:
    type_name = "bogus"


def _fake_group(monkeypatch: pytest.MonkeyPatch, *extra: tuple[str, str]) -> None:
    real = registry.entry_points(group=registry.GROUP)
    fakes = [EntryPoint(name, value, registry.GROUP) for name, value in extra]
    monkeypatch.setattr(registry, "entry_points", lambda group: [*real, *fakes])


def test_built_ins_come_from_entry_points() -> None:
    assert registry.available() == dict(sorted(BUILT_INS.items()))


@pytest.mark.parametrize("type_name", sorted(BUILT_INS))
def test_each_built_in_loads_with_its_contract(type_name: str) -> None:
    cls = registry.load(type_name)
    assert issubclass(cls, Notifier) and cls.type_name == type_name
    assert issubclass(cls.Settings, NotifierSettings)
    type_field = cls.Settings.model_fields["type"]
    assert typing.get_args(type_field.annotation) == (type_name,)
    if type_name in RATES:
        assert cls.rate_per_minute == RATES[type_name]


def test_unknown_type_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError) as err:
        registry.load("telegram")
    message = str(err.value)
    assert "'telegram'" in message
    for name in BUILT_INS:
        assert name in message


def test_build_needs_a_type() -> None:
    with pytest.raises(ConfigError, match="'ops': missing 'type'; available: apprise, console"):
        registry.build("ops", {"url": "x"}, httpx.AsyncClient())


def test_build_errors_name_notifier_and_field_but_not_the_secret() -> None:
    raw = {"type": "dingtalk", "access_token": "tok-very-secret", "secret": 12345,
           "at_mobile": ["1"]}
    with pytest.raises(ConfigError) as err:
        registry.build("ops-group", raw, httpx.AsyncClient())
    message = str(err.value)
    assert "'ops-group' (dingtalk)" in message
    assert "secret:" in message and "at_mobile:" in message
    assert "tok-very-secret" not in message and "12345" not in message
    assert err.value.__cause__ is None  # pydantic's error (with the inputs) is not chained


def test_third_party_is_found_like_a_built_in(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_group(monkeypatch, ("pager", f"{__name__}:PagerNotifier"))
    assert registry.available()["pager"] == f"{__name__}:PagerNotifier"
    notifier = registry.build("oncall", {"type": "pager", "number": "110"}, httpx.AsyncClient())
    assert isinstance(notifier, PagerNotifier) and notifier.name == "oncall"


def test_loading_is_lazy_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_group(monkeypatch, ("ghost", "no_such_module_xyz:Ghost"),
                ("bogus", f"{__name__}:NotANotifier"))
    assert "ghost" in registry.available()  # listing imports nothing
    with pytest.raises(ConfigError, match=r"'ghost' .* cannot be loaded"):
        registry.load("ghost")
    with pytest.raises(ConfigError, match="not a Notifier subclass"):
        registry.load("bogus")


def test_conflicting_registrations_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_group(monkeypatch, ("wecom", f"{__name__}:PagerNotifier"))
    with pytest.raises(ConfigError, match="registered twice"):
        registry.load("wecom")


# -- console ----------------------------------------------------------------------------

async def test_console_prints_title_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    notifier = registry.build("console", {"type": "console"}, httpx.AsyncClient())
    message: Message = sample_message(late=True)
    assert (await notifier.send(message)).delivered
    out = capsys.readouterr().out
    assert message.title in out and "受理截止" in out and "(late)" in out


# -- apprise ----------------------------------------------------------------------------

def test_apprise_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # makes `import apprise` fail
    with pytest.raises(ConfigError, match=r"pip install policy-timeline\[apprise\]"):
        registry.build("many", {"type": "apprise", "urls": ["json://localhost"]},
                       httpx.AsyncClient())


def test_apprise_settings_need_urls() -> None:
    with pytest.raises(ConfigError, match="'many' \\(apprise\\): urls"):
        registry.build("many", {"type": "apprise", "urls": []}, httpx.AsyncClient())
