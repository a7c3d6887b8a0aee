"""Signatures, checked independently: Standard Webhooks by the `standardwebhooks` package,
DingTalk and Feishu by recomputing the documented formulas here, plus the worked examples
from chat-services.md as unit tests of the signing functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from standardwebhooks import Webhook

from notifiers import _http, dingtalk, feishu, webhook
from notifiers.registry import build
from tests.receiver import Receiver, Reply, sample_message
from timeline.errors import ConfigError

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# -- Standard Webhooks ------------------------------------------------------------------

def test_webhook_sign_matches_spec_vector() -> None:
    signature = webhook.sign(WHSEC, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                             b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_webhook_request_verifies_with_standardwebhooks(receiver: Receiver,
                                                              client: httpx.AsyncClient) -> None:
    notifier = build("hook", {"type": "webhook", "url": f"{receiver.url}/in", "secret": WHSEC,
                              "headers": {"X-Team": "ops"}}, client)
    message = sample_message()
    result = await notifier.send(message)
    assert result.delivered, result

    request = receiver.last
    payload = Webhook(WHSEC).verify(request.body, request.headers)  # raises if forged
    assert request.headers["webhook-id"] == message.key
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    assert request.headers["x-team"] == "ops"
    assert request.headers["content-type"].startswith("application/json")
    assert payload["key"] == message.key
    assert payload["event"] == "subsidy-2025"
    assert payload["occurrence"] == "2025-06-30"
    assert payload["lead"] == "7d"
    assert payload["due"] == "2025-06-23T09:00:00+08:00"
    assert payload["kind"] == "reminder" and payload["late"] is False
    assert payload["title"] == message.title and payload["text"] == message.text
    assert payload["links"] == [{"label": "订阅日历", "url": "https://example.org/calendar.ics"}]
    assert payload["items"][0]["days_left"] == 7
    assert "设备" in request.body.decode()  # UTF-8, not \u escapes


async def test_a_webhook_body_prepared_ahead_is_the_one_sent_and_signed(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    notifier = build("hook", {"type": "webhook", "url": f"{receiver.url}/in", "secret": WHSEC},
                     client)
    message = sample_message()
    notifier.prepare(message)
    prepared = message.prepared["webhook"]
    assert prepared == _http.json_bytes(webhook.payload(message))
    assert (await notifier.send(message)).delivered
    assert receiver.last.body == prepared
    Webhook(WHSEC).verify(receiver.last.body, receiver.last.headers)  # raises if forged
    # Without preparing, the same bytes: preparing only moves the work earlier.
    assert (await notifier.send(sample_message())).delivered
    assert receiver.last.body == prepared


async def test_webhook_tampered_body_fails_verification(receiver: Receiver,
                                                        client: httpx.AsyncClient) -> None:
    notifier = build("hook", {"type": "webhook", "url": receiver.url, "secret": WHSEC}, client)
    await notifier.send(sample_message())
    request = receiver.last
    with pytest.raises(Exception, match="signature"):
        Webhook(WHSEC).verify(request.body.replace(b"7d", b"8d"), request.headers)


async def test_webhook_unsigned_digest_has_no_single_event(receiver: Receiver,
                                                           client: httpx.AsyncClient) -> None:
    notifier = build("hook", {"type": "webhook", "url": receiver.url}, client)
    item = sample_message().items[0]
    result = await notifier.send(sample_message(kind="digest", items=(item, item)))
    assert result.delivered
    assert "webhook-signature" not in receiver.last.headers
    payload = receiver.last.json()
    assert payload["event"] is None and len(payload["items"]) == 2


async def test_webhook_rejects_a_key_with_a_dot(receiver: Receiver,
                                                client: httpx.AsyncClient) -> None:
    notifier = build("hook", {"type": "webhook", "url": receiver.url, "secret": WHSEC}, client)
    result = await notifier.send(sample_message(key="event/2025-06-30/7d/v1.2"))
    assert result.status == "permanent"
    assert "'.'" in result.detail
    assert receiver.requests == []


@pytest.mark.parametrize(("settings", "field"), [
    ({"secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "secret"),  # no whsec_ prefix
    ({"secret": "whsec_not base64!"}, "secret"),
    ({"headers": {"Webhook-Signature": "v1,forged"}}, "headers"),
    ({"url": "ftp://example.org/"}, "url"),
])
def test_webhook_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    raw = {"type": "webhook", "url": "https://example.org/hook", **settings}
    with pytest.raises(ConfigError, match=f"'hook' \\(webhook\\): {field}"):
        build("hook", raw, httpx.AsyncClient())


# -- DingTalk ---------------------------------------------------------------------------

def test_dingtalk_sign_worked_example() -> None:
    assert dingtalk.sign("SECexample0123456789", 1700000000000) == \
        "figG6qqCA/lRh0hsGCW2zNtNV5znkAFut5BI0zKhqnQ="
    url = dingtalk.signed_url("https://oapi.dingtalk.com/robot/send", "TOKEN",
                              "SECexample0123456789", 1700000000000)
    assert url == ("https://oapi.dingtalk.com/robot/send?access_token=TOKEN"
                   "&timestamp=1700000000000"
                   "&sign=figG6qqCA%2FlRh0hsGCW2zNtNV5znkAFut5BI0zKhqnQ%3D")


async def test_dingtalk_final_url_is_signed_and_encoded_once(receiver: Receiver,
                                                             client: httpx.AsyncClient) -> None:
    secret = "SECexample0123456789"
    notifier = build("ding", {"type": "dingtalk", "access_token": "tok", "secret": secret,
                              "base_url": f"{receiver.url}/robot/send"}, client)
    before = int(time.time() * 1000)
    assert (await notifier.send(sample_message())).delivered

    raw = receiver.last.query  # as sent on the wire
    assert "%25" not in raw  # nothing encoded twice
    params = {k: v for k, v in (pair.split("=", 1) for pair in raw.split("&"))}
    assert params["access_token"] == "tok"
    timestamp = int(params["timestamp"])
    assert before <= timestamp <= int(time.time() * 1000)  # milliseconds, now
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert unquote(params["sign"]) == expected
    assert parse_qs(raw)["sign"] == [expected]
    # '+', '/' and '=' must arrive escaped, or a server would read '+' as a space.
    assert not set(params["sign"]) & set("+/=")


async def test_dingtalk_unsigned_has_only_the_token(receiver: Receiver,
                                                    client: httpx.AsyncClient) -> None:
    notifier = build("ding", {"type": "dingtalk", "access_token": "a+b/c",
                              "base_url": receiver.url}, client)
    assert (await notifier.send(sample_message())).delivered
    assert receiver.last.query == "access_token=a%2Bb%2Fc"


async def test_parsed_urls_are_reused_and_signed_ones_not_kept(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    _http._parsed_url.cache_clear()
    ding = build("ding", {"type": "dingtalk", "access_token": "tok",
                          "secret": "SECexample0123456789", "base_url": receiver.url}, client)
    hook = build("hook", {"type": "webhook", "url": f"{receiver.url}/hook"}, client)
    for _ in range(3):
        assert (await ding.send(sample_message())).delivered
        assert (await hook.send(sample_message())).delivered
    cached = _http._parsed_url.cache_info()
    assert (cached.currsize, cached.misses, cached.hits) == (1, 1, 2)  # the webhook's URL


def test_dingtalk_accepts_the_pasted_webhook_url() -> None:
    notifier = build("ding", {"type": "dingtalk", "access_token":
                              "https://oapi.dingtalk.com/robot/send?access_token=abc123"},
                     httpx.AsyncClient())
    assert notifier.settings.access_token.get_secret_value() == "abc123"
    assert "abc123" not in notifier.describe()


# -- Feishu -----------------------------------------------------------------------------

def test_feishu_sign_worked_example() -> None:
    assert feishu.sign("demo", 1599360473) == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="


async def test_feishu_body_carries_timestamp_and_sign(receiver: Receiver,
                                                      client: httpx.AsyncClient) -> None:
    secret = "feishu-secret"
    notifier = build("fs", {"type": "feishu", "token": "hook-token", "secret": secret,
                            "base_url": f"{receiver.url}/open-apis/bot/v2/hook"}, client)
    receiver.reset(Reply(json={"code": 0, "msg": "success"}))
    assert (await notifier.send(sample_message())).delivered

    assert receiver.last.path == "/open-apis/bot/v2/hook/hook-token"
    body = receiver.last.json()
    assert isinstance(body["timestamp"], str)
    timestamp = int(body["timestamp"])
    assert abs(timestamp - time.time()) < 5  # seconds, not milliseconds
    key = f"{timestamp}\n{secret}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
