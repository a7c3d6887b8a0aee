"""Text helpers shared by the chat notifiers: byte-limited trimming and the title line.

Chat services count their limits in UTF-8 bytes (a Chinese character is 3), and reject an
over-long message outright. A reminder that arrives trimmed is better than one refused, so
notifiers trim to the limit, cutting on a character (preferably a line) boundary.
"""

from __future__ import annotations

from notifiers.base import Message

__all__ = [
    "markdown_with_title",
    "plain_body",
    "text_with_title",
    "trim_utf8",
    "truncation_marker",
    "utf8_len",
    "without_title",
]


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def truncation_marker(lang: str) -> str:
    return "\n…（内容过长，已截断）" if lang == "zh" else "\n… (truncated)"


def trim_utf8(text: str, limit: int, marker: str = "\n…") -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else a prefix plus `marker` that fits.

    The cut never splits a character, and falls back to the last line break when that
    keeps most of the budget, so markdown lines (links, bold) are not left half-open.
    """
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    budget = limit - utf8_len(marker)
    if budget <= 0:
        return marker.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    # errors="ignore" drops the partial multi-byte sequence at the cut.
    head = data[:budget].decode("utf-8", errors="ignore")
    newline = head.rfind("\n")
    if newline >= len(head) * 3 // 4:
        head = head[:newline]
    return head.rstrip() + marker


def markdown_with_title(message: Message) -> str:
    """The markdown body, led by the title in bold unless the body already opens with it
    (services without a title field show only the content)."""
    body = message.markdown or message.text
    first_line = body.lstrip().split("\n", 1)[0]
    if message.title and message.title not in first_line:
        return f"**{message.title}**\n\n{body}" if body else f"**{message.title}**"
    return body


def without_title(body: str, title: str) -> str:
    """`body` minus a first line that only repeats the title ("### Title" counts too)."""
    head, _, rest = body.strip("\n").partition("\n")
    if title and head.strip().lstrip("#").strip(" *") == title.strip():
        return rest.strip("\n")
    return body.strip("\n")


def plain_body(message: Message) -> str:
    """The plain text for services that show the title and the links by themselves: without
    a first line repeating the title, and without "label: url" lines for `message.links`
    (the caller renders those as real links)."""
    lines = without_title(message.text, message.title).split("\n")
    link_lines = {f"{label}: {url}" for label, url in message.links}
    lines = [line for line in lines if line.strip() not in link_lines]
    return "\n".join(lines).strip("\n")


def text_with_title(message: Message) -> str:
    """The plain text, led by the title unless it already opens with it."""
    first_line = message.text.lstrip().split("\n", 1)[0]
    if message.title and message.title not in first_line:
        return f"{message.title}\n{message.text}" if message.text else message.title
    return message.text
