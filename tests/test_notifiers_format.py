"""What each chat service receives: message shapes, mentions, byte limits, and the shared
helpers (UTF-8 trimming, Retry-After, URL masking)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from notifiers import feishu, slack
from notifiers._http import mask_url, parse_retry_after
from notifiers._text import plain_body, trim_utf8
from notifiers.registry import build
from tests.receiver import Receiver, Reply, sample_message
from timeline.errors import ConfigError

LONG_ZH = "\n".join(["政策提醒：设备更新补贴申报即将截止，请相关企业及时准备材料。"] * 400)


def _fits(text: str, limit: int) -> bool:
    return len(text.encode("utf-8")) <= limit


# -- helpers ----------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 10, 100, 4096])
def test_trim_utf8_never_splits_a_character(limit: int) -> None:
    text = "设备更新" * 2000
    trimmed = trim_utf8(text, limit, "…")
    assert _fits(trimmed, limit)
    trimmed.encode("utf-8").decode("utf-8")  # whole characters only
    assert trim_utf8("short", limit) == "short" if limit >= 5 else True


def test_trim_utf8_prefers_a_line_break() -> None:
    text = "第一行内容\n" * 50 + "最后一行很长" * 10
    trimmed = trim_utf8(text, 300, "\n…")
    assert trimmed.endswith("第一行内容\n…")


def test_plain_body_drops_repeated_title_and_link_lines() -> None:
    body = plain_body(sample_message())
    assert not body.startswith("【政策提醒】")
    assert "https://example.org/calendar.ics" not in body
    assert "受理截止" in body


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    # Not a wait anyone can keep: refused, or held to a day (timedelta overflowed on "inf").
    assert parse_retry_after("inf") is None and parse_retry_after("nan") is None
    assert parse_retry_after("1e20") == 86_400
    later = datetime.now(UTC) + timedelta(seconds=90)
    assert parse_retry_after(format_datetime(later, usegmt=True)) == pytest.approx(90, abs=2)


def test_mask_url_hides_tokens() -> None:
    assert mask_url("https://user:pw@hooks.slack.com/services/T0001/B0002/abcDEF123456789xyz") \
        == "https://hooks.slack.com/services/T0001/B0002/***"
    assert mask_url("https://oapi.dingtalk.com/robot/send?access_token=abc&x=1") == \
        "https://oapi.dingtalk.com/robot/send?access_token=***&x=***"
    assert mask_url("http://127.0.0.1:8080/hook/short", ["short"]) == "http://127.0.0.1:8080/hook/***"


# -- WeCom ------------------------------------------------------------------------------

async def test_wecom_markdown_with_key_in_query(receiver: Receiver,
                                                client: httpx.AsyncClient) -> None:
    notifier = build("wc", {"type": "wecom", "key": "k-1", "mentioned_list": ["zhangsan"],
                            "base_url": f"{receiver.url}/cgi-bin/webhook/send"}, client)
    message = sample_message()
    assert (await notifier.send(message)).delivered
    assert receiver.last.path == "/cgi-bin/webhook/send"
    assert receiver.last.query == "key=k-1"
    body = receiver.last.json()
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith(message.markdown)  # the title is already its first line
    assert content.endswith("\n<@zhangsan>")


async def test_wecom_long_chinese_markdown_is_trimmed_to_4096_bytes(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    notifier = build("wc", {"type": "wecom", "key": "k", "mentioned_list": ["lisi"],
                            "base_url": receiver.url}, client)
    assert (await notifier.send(sample_message(markdown=LONG_ZH))).delivered
    content = receiver.last.json()["markdown"]["content"]
    assert _fits(content, 4096)
    assert len(content.encode()) > 4000  # trimmed, not emptied
    assert "已截断" in content and content.endswith("<@lisi>")


async def test_wecom_mobile_mentions_use_text_with_lists(receiver: Receiver,
                                                         client: httpx.AsyncClient) -> None:
    notifier = build("wc", {"type": "wecom", "key": "k", "mentioned_list": ["@all"],
                            "mentioned_mobile_list": ["13800001111"],
                            "base_url": receiver.url}, client)
    assert (await notifier.send(sample_message(text=LONG_ZH))).delivered
    body = receiver.last.json()
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_list"] == ["@all"]
    assert body["text"]["mentioned_mobile_list"] == ["13800001111"]
    assert _fits(body["text"]["content"], 2048)
    assert body["text"]["content"].startswith("【政策提醒】")  # title added to the text


def test_wecom_markdown_cannot_mention_all_so_it_is_a_settings_error() -> None:
    with pytest.raises(ConfigError, match="msgtype markdown cannot mention @all"):
        build("wc", {"type": "wecom", "key": "k", "msgtype": "markdown",
                     "mentioned_list": ["@all"]}, httpx.AsyncClient())


# -- DingTalk ---------------------------------------------------------------------------

async def test_dingtalk_markdown_with_mentions(receiver: Receiver,
                                               client: httpx.AsyncClient) -> None:
    notifier = build("dt", {"type": "dingtalk", "access_token": "t",
                            "at_mobiles": ["13800001111"], "base_url": receiver.url}, client)
    message = sample_message()
    assert (await notifier.send(message)).delivered
    body = receiver.last.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == message.title
    assert body["markdown"]["text"].endswith("@13800001111")
    assert body["at"] == {"atMobiles": ["13800001111"], "isAtAll": False}


async def test_dingtalk_long_chinese_is_trimmed_on_byte_limit(
        receiver: Receiver, client: httpx.AsyncClient) -> None:
    notifier = build("dt", {"type": "dingtalk", "access_token": "t", "at_all": True,
                            "base_url": receiver.url}, client)
    huge = LONG_ZH * 3  # ~90 KB
    assert (await notifier.send(sample_message(markdown=huge))).delivered
    body = receiver.last.json()
    text = body["markdown"]["text"]
    assert _fits(text, 20000) and len(text.encode()) > 19000
    assert "已截断" in text and body["at"]["isAtAll"] is True


# -- Feishu -----------------------------------------------------------------------------

def _feishu(msg_type: str) -> feishu.FeishuNotifier:
    notifier = build("fs", {"type": "feishu", "token": "t", "msg_type": msg_type},
                     httpx.AsyncClient())
    assert isinstance(notifier, feishu.FeishuNotifier)
    return notifier


def test_feishu_post_has_title_paragraphs_and_links() -> None:
    message = sample_message()
    body = json.loads(_feishu("post").payload(message))
    post = body["content"]["post"]["zh_cn"]
    assert body["msg_type"] == "post" and post["title"] == message.title
    texts = [p[0]["text"] for p in post["content"]]
    assert message.title not in texts  # shown once, as the title
    assert post["content"][-1] == [{"tag": "a", "text": "订阅日历",
                                    "href": "https://example.org/calendar.ics"}]


def test_feishu_interactive_and_text() -> None:
    message = sample_message(lang="en")
    card = json.loads(_feishu("interactive").payload(message))["card"]
    assert card["header"]["title"]["content"] == message.title
    assert not card["elements"][0]["text"]["content"].startswith("###")
    text = json.loads(_feishu("text").payload(message))
    assert text == {"msg_type": "text", "content": {"text": message.text}}


@pytest.mark.parametrize("msg_type", ["post", "interactive", "text"])
def test_feishu_body_stays_under_20kb(msg_type: str) -> None:
    message = sample_message(text=LONG_ZH * 3, markdown=LONG_ZH * 3)
    body = _feishu(msg_type).payload(message, timestamp=1599360473)
    assert len(body) <= 20_000 and len(body) > 15_000
    assert "已截断" in body.decode()


# -- Slack ------------------------------------------------------------------------------

async def test_slack_blocks(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.reset(Reply(200, body="ok"))
    notifier = build("sl", {"type": "slack", "url": f"{receiver.url}/services/T/B/x"}, client)
    message = sample_message(text="【政策提醒】设备更新补贴申报截止（还剩7天）\nA < B & C")
    assert (await notifier.send(message)).delivered
    body = receiver.last.json()
    assert body["text"] == "【政策提醒】设备更新补贴申报截止（还剩7天）\nA &lt; B &amp; C"
    header, section, links = body["blocks"]
    assert header["text"]["text"] == message.title
    assert section["text"]["text"] == "A &lt; B &amp; C"
    assert links["elements"][0]["text"] == "<https://example.org/calendar.ics|订阅日历>"
    assert slack.payload(message) == body


def test_slack_escapes_everywhere_and_cuts_outside_entities() -> None:
    ping = sample_message(title="<!channel> 截止", text="<!channel> 截止\n" + "&" * 5000)
    body = slack.payload(ping)
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"]
    section = body["blocks"][1]["text"]["text"]
    assert len(section) <= slack.SECTION_LIMIT
    assert section.endswith("&amp;…")  # whole entities only
