"""Every HTTP notifier against a real local receiver: one table per notifier of
(scripted reply → expected classification), replayed by one shared harness.

Each table also gets the cases every service shares: 429 with Retry-After, 5xx, a reply
slower than the client timeout, and nobody listening.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from notifiers.registry import build
from tests.receiver import Receiver, Reply, refused_url, sample_message

WECOM_KEY = "5f1c0a9e-7b2d-4c63-wecom-key"
DINGTALK_TOKEN = "8c2e41f0a7b9dingtalktoken"
DINGTALK_SECRET = "SEC0123456789abcdefdingtalksecret"
FEISHU_TOKEN = "2f6b0c1e-9a7d-4e3b-8c5f-1d2e3f4a5b6c"
FEISHU_SECRET = "feishu-secret-abc123"
SLACK_PATH = "/services/T0001/B0002/slackSecret0123456789"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CLIENT_TIMEOUT = 0.25


def settings_for(type_name: str, base: str) -> dict[str, Any]:
    """Raw settings (as from a config file) pointing `type_name` at `base`."""
    common = {"type": type_name, "timeout": CLIENT_TIMEOUT}
    return {
        "webhook": {**common, "url": f"{base}/hook?token=abc", "secret": WEBHOOK_SECRET,
                    "headers": {"Authorization": "Bearer webhook-bearer-secret"}},
        "wecom": {**common, "key": WECOM_KEY, "base_url": f"{base}/cgi-bin/webhook/send"},
        "dingtalk": {**common, "access_token": DINGTALK_TOKEN, "secret": DINGTALK_SECRET,
                     "base_url": f"{base}/robot/send"},
        "feishu": {**common, "webhook": f"{base}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
                   "secret": FEISHU_SECRET},
        "slack": {**common, "url": f"{base}{SLACK_PATH}"},
    }[type_name]


SECRETS = {
    "webhook": [WEBHOOK_SECRET, WEBHOOK_SECRET[6:], "webhook-bearer-secret"],
    "wecom": [WECOM_KEY],
    "dingtalk": [DINGTALK_TOKEN, DINGTALK_SECRET],
    "feishu": [FEISHU_TOKEN, FEISHU_SECRET],
    "slack": ["slackSecret0123456789"],
}


@dataclass(frozen=True)
class Case:
    reply: Reply | None  # None: nothing listens, the connection is refused
    expect: str
    retry_after: float | None = None


def errcode(code: int, msg: str = "", status: int = 200, field: str = "errcode") -> Reply:
    return Reply(status, json={field: code, ("msg" if field == "code" else "errmsg"): msg})


SHARED = {
    "429-retry-after": Case(Reply(429, body="slow down", headers={"Retry-After": "7"}),
                            "retryable", 7),
    "5xx": Case(Reply(503, body="unavailable"), "retryable"),
    "timeout": Case(Reply(json={"errcode": 0, "code": 0}, delay=CLIENT_TIMEOUT * 4),
                    "retryable"),
    "refused": Case(None, "retryable"),
}

TABLES: dict[str, dict[str, Case]] = {
    "webhook": {
        "200": Case(Reply(200, body=""), "delivered"),
        "204": Case(Reply(204), "delivered"),
        "400": Case(Reply(400, body="bad"), "permanent"),
        "410-gone": Case(Reply(410), "permanent"),
        "502-retry-after": Case(Reply(502, headers={"Retry-After": "30"}), "retryable", 30),
        "redirect": Case(Reply(301, headers={"Location": "https://elsewhere/x?k=v"}),
                         "permanent"),
    },
    "wecom": {
        "ok": Case(errcode(0, "ok"), "delivered"),
        "errcode-in-200": Case(errcode(44004, "empty content"), "permanent"),
        "rate-limited": Case(errcode(45009, "api freq out of limit"), "retryable", 60),
        "busy": Case(errcode(-1, "system busy"), "retryable"),
        # The errmsg echoes the key: the detail must not.
        "bad-key": Case(errcode(93000, f"invalid webhook url, key={WECOM_KEY}"), "permanent"),
        "robot-disabled": Case(errcode(93004), "permanent"),
        "html-200": Case(Reply(200, body="<html>portal</html>"), "retryable"),
    },
    "dingtalk": {
        "ok": Case(errcode(0, "ok"), "delivered"),
        "errcode-in-200": Case(errcode(310000, "keywords not in content"), "permanent"),
        "rate-limited": Case(errcode(130101, "send too fast"), "retryable", 600),
        "stale-timestamp": Case(errcode(310000, "invalid timestamp"), "retryable"),
        "bad-sign": Case(errcode(310000, "sign not match"), "permanent"),
        "bad-token": Case(errcode(300005, "token is not exist"), "permanent"),
        "busy": Case(errcode(-1, "busy"), "retryable"),
    },
    "feishu": {
        "ok": Case(errcode(0, "success", field="code"), "delivered"),
        "ok-legacy": Case(Reply(json={"StatusCode": 0, "StatusMessage": "success"}),
                          "delivered"),
        "code-in-200": Case(errcode(19024, "Key Words Not Found", field="code"), "permanent"),
        "bad-sign": Case(errcode(19021, "sign match fail or timestamp is not within one hour",
                                 field="code"), "permanent"),
        "ip": Case(errcode(19022, "Ip Not Allowed", field="code"), "permanent"),
        "too-large-400": Case(errcode(9499, "Bad Request", status=400, field="code"),
                              "permanent"),
        "rate-limited": Case(errcode(11232, "frequency limited", field="code"), "retryable"),
    },
    "slack": {
        "ok": Case(Reply(200, body="ok"), "delivered"),
        "invalid-payload": Case(Reply(400, body="invalid_payload"), "permanent"),
        "prohibited": Case(Reply(403, body="action_prohibited"), "permanent"),
        "no-channel": Case(Reply(404, body="channel_not_found"), "permanent"),
        "archived": Case(Reply(410, body="channel_is_archived"), "permanent"),
        "500": Case(Reply(500, body="rollup_error"), "retryable"),
    },
}

CASES = [
    pytest.param(type_name, case, id=f"{type_name}-{name}")
    for type_name, table in TABLES.items()
    for name, case in {**table, **SHARED}.items()
]


@pytest.mark.parametrize(("type_name", "case"), CASES)
async def test_reply_is_classified(type_name: str, case: Case, receiver: Receiver,
                                   client: httpx.AsyncClient) -> None:
    base = receiver.url if case.reply else refused_url().rstrip("/")
    receiver.reset(*([case.reply] if case.reply else []))
    notifier = build(f"{type_name}-test", settings_for(type_name, base), client)

    result = await notifier.send(sample_message())

    assert result.status == case.expect, result
    if case.retry_after is not None:
        assert result.retry_after == pytest.approx(case.retry_after)
    assert len(receiver.requests) == (1 if case.reply else 0)
    assert result.detail  # an operator always learns why
    for secret in SECRETS[type_name]:
        assert secret not in result.detail
        assert secret not in notifier.describe()
