"""What every HTTP notifier shares: posting, classifying the answer, hiding secrets.

A notifier builds its request and reads its service's own error codes; everything else
(network errors, HTTP statuses, Retry-After, masking tokens) is decided here once, so the
services agree on what "retryable" means:

    delivered   2xx (and, for chat services, errcode/code == 0)
    retryable   timeouts, connection errors, 5xx, 408, 429 (Retry-After honoured),
                the services' rate-limit and busy errcodes
    permanent   other 4xx (410 = endpoint gone), bad key/token errcodes, invalid URL
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import re
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import Field, SecretStr

from notifiers.base import RETRY_AFTER_MAX, NotifierSettings, SendResult

__all__ = [
    "HttpSettings",
    "check_http_url",
    "classify_errcode",
    "classify_status",
    "fingerprint",
    "json_bytes",
    "mask_url",
    "parse_retry_after",
    "post",
    "redact",
    "url_secrets",
]

# 408 Request Timeout and 425 Too Early say "try again"; every other 4xx is our fault.
_RETRYABLE_4XX = {408, 425, 429}


# One encoder for every body: json.dumps with options builds a new encoder on each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_bytes(body: Any) -> bytes:
    """Compact UTF-8 JSON: Chinese stays 3 bytes a character (not 6 as \\uXXXX), which
    matters against byte limits, and the exact bytes can be signed before sending."""
    return _ENCODER.encode(body).encode()



def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds to wait, within 0..RETRY_AFTER_MAX: delta-seconds (RFC 9110
    says digits; "1.5" is taken too) or an HTTP date; None if absent or garbled ("inf")."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(0.0, seconds), RETRY_AFTER_MAX) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means "GMT" was implied
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, wait), RETRY_AFTER_MAX)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x80-\x9f]+")


def _reason(response: httpx.Response) -> str:
    # A receiver's words go into log lines and `timeline deliveries`: no escape sequence,
    # carriage return or NUL of theirs gets there raw.
    text = _CONTROL.sub(" ", response.text).strip()
    return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")


def classify_status(response: httpx.Response) -> SendResult:
    """An answer judged by its HTTP status alone (Slack, generic webhooks)."""
    status = response.status_code
    if 200 <= status < 300:
        return SendResult.ok(f"HTTP {status}")
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status >= 500 or status in _RETRYABLE_4XX:
        return SendResult.retry(_reason(response), retry_after)
    if status == 410:
        return SendResult.fail(f"{_reason(response)} (endpoint gone: remove or fix it)")
    if 300 <= status < 400:
        # Redirects are not followed on purpose: a signed POST must not wander elsewhere.
        location = mask_url(response.headers.get("location", ""))
        return SendResult.fail(f"HTTP {status} redirect to {location or '?'}: update the URL")
    return SendResult.fail(_reason(response))


def classify_errcode(
    response: httpx.Response,
    *,
    field: str | tuple[str, ...],
    retryable: Mapping[int, float | None],
    retry_if: Callable[[object, str], bool] | None = None,
) -> SendResult:
    """An answer from a chat service that reports errors in a JSON code (WeCom, DingTalk,
    Feishu): usually HTTP 200 with `{field: nonzero}`, which is a failure, not a delivery.

    `field` names the code (several names: the first present counts);
    `retryable` maps the codes worth retrying to a delay hint (seconds, or None);
    `retry_if(code, msg)` may rescue other codes (DingTalk's stale timestamp).
    Every other nonzero code is permanent: bad key, robot removed, rejected payload.
    """
    status = response.status_code
    if status >= 500 or status in _RETRYABLE_4XX:
        return classify_status(response)
    try:
        data = response.json()
    except ValueError:
        data = None
    names = (field,) if isinstance(field, str) else field
    found = next((name for name in names if isinstance(data, dict) and name in data), None)
    if found is None or not isinstance(data, dict):
        if 200 <= status < 300:
            # A 2xx without the service's code is not a confirmation (a proxy page?).
            return SendResult.retry(f"unexpected reply: {_reason(response)}")
        return classify_status(response)
    field, code = found, data[found]
    msg = str(data.get("errmsg", data.get("msg", data.get("StatusMessage", ""))))[:200]
    if code == 0 and 200 <= status < 300:
        return SendResult.ok(f"{field}=0")
    detail = f"{field}={code} {msg}".strip()
    header_hint = parse_retry_after(response.headers.get("retry-after"))
    if code == -1:  # "system busy" on every one of these services
        return SendResult.retry(detail, header_hint)
    if isinstance(code, int) and code in retryable:
        hint = retryable[code]
        return SendResult.retry(detail, header_hint if header_hint is not None else hint)
    if retry_if is not None and retry_if(code, msg):
        return SendResult.retry(detail, header_hint)
    return SendResult.fail(detail)


# A notifier posts to the same few URLs over and over: httpx parses a URL given as text on
# every request (a tenth of a local request's CPU), an httpx.URL not again. Likewise the
# Timeout. Both are immutable, so sharing them is safe. A URL that differs on every request
# (DingTalk's signed one) is passed as an httpx.URL and stays out of the cache.
@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=32)
def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds)


async def post(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    *,
    content: bytes,
    headers: Mapping[str, str] | None = None,
    timeout: float,
) -> httpx.Response | SendResult:
    """POST, turning network trouble into a SendResult instead of an exception.

    A timeout is retryable even though the request may have arrived: receivers are
    given the message key to drop the duplicate (webhook-id), chat groups may see it twice,
    which beats a lost reminder.
    """
    # identity: a compressed reply of a few KB may inflate to gigabytes, and a robot's
    # answer gains nothing from compression (what comes compressed anyway: _read_limited).
    all_headers = {"content-type": "application/json; charset=utf-8",
                   "accept-encoding": "identity", **(headers or {})}
    try:
        target = url if isinstance(url, httpx.URL) else _parsed_url(url)
        # httpx's timeout is per step (connect, each read): a receiver that answers a byte
        # every few seconds would hold the send for ever. The whole exchange has one
        # deadline, and no more of the reply is read than a service's answer can need.
        async with asyncio.timeout(timeout):
            request = client.build_request("POST", target, content=content,
                                           headers=all_headers, timeout=_timeout(timeout))
            response = await client.send(request, stream=True)
            try:
                length = response.headers.get("content-length", "")
                if (length.isdigit() and int(length) <= MAX_REPLY
                        and "content-encoding" not in response.headers):
                    await response.aread()  # a robot's answer, its length said up front
                    return response
                body = await _read_limited(response)
            finally:
                await response.aclose()
        # the body as far as read (decoded); the headers then say nothing of its encoding
        kept = [(k, v) for k, v in response.headers.raw if k.lower() not in _ENCODED]
        return httpx.Response(response.status_code, headers=kept, content=body,
                              request=request)
    except TimeoutError:
        return SendResult.retry(f"no complete answer within {timeout:g}s")
    except httpx.TimeoutException as exc:
        return SendResult.retry(f"timed out after {timeout:g}s ({type(exc).__name__})")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return SendResult.fail(f"bad URL: {type(exc).__name__}")
    except httpx.ConnectError as exc:
        return SendResult.retry(f"connection failed: {exc}")
    except httpx.HTTPError as exc:  # protocol errors, dropped connections, proxy errors
        return SendResult.retry(f"{type(exc).__name__}: {exc}")


# A robot answers a few hundred bytes; a reply of megabytes is read no further than this.
MAX_REPLY = 64 * 1024
_ENCODED = (b"content-encoding", b"content-length", b"transfer-encoding")


async def _read_limited(response: httpx.Response) -> bytes:
    """At most MAX_REPLY bytes of the reply, read as sent and then decoded no further than
    MAX_REPLY: httpx would inflate each compressed chunk whole (64 KB of gzip is 64 MB)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_REPLY:
            break
    raw = b"".join(chunks)[:MAX_REPLY]
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    wbits = _WBITS.get(encoding)
    if wbits is None:  # br, zstd, several codings: not asked for, not read
        return b""
    try:
        return zlib.decompressobj(wbits).decompress(raw, MAX_REPLY)
    except zlib.error:
        return b""


# zlib window bits: gzip with its header and trailer; deflate as HTTP means it, zlib-wrapped
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
          "deflate": 32 + zlib.MAX_WBITS}


def credential_from(value: str, param: str) -> str:
    """Accept the whole webhook URL as pasted from a chat app, keeping only the `param`
    query value (WeCom's key, DingTalk's access_token); anything else is the value itself."""
    if value.startswith(("http://", "https://")):
        found = parse_qs(urlsplit(value).query).get(param)
        if not found:
            raise ValueError(f"the webhook URL has no {param}= parameter")
        return found[0]
    return value


def pasted_credential(param: str) -> Callable[[SecretStr], SecretStr]:
    """A pydantic validator body for a robot credential given bare or as the pasted URL."""

    def check(value: SecretStr) -> SecretStr:
        found = credential_from(value.get_secret_value().strip(), param)
        if not found:
            raise ValueError("must not be empty")
        return SecretStr(found)

    return check


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible tag telling two robots apart in listings."""
    return "#" + hashlib.sha256(secret.encode()).hexdigest()[:6]


def url_secrets(url: str) -> list[str]:
    """What a URL carries that is secret: its password, the Basic credentials made of it (a
    receiver may echo them), its query values."""
    try:
        parts = urlsplit(url)
        user, password = parts.username or "", parts.password or ""
    except ValueError:
        return []
    found = [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
    if password:
        import base64

        found += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    return found


def redact(result: SendResult, secrets: Iterable[str | None]) -> SendResult:
    """Last line of defence: no secret leaves a notifier inside a result's detail.

    Strings under 6 characters are left alone: no real credential is that short, and
    masking every "ops" or "x" would garble the detail."""
    detail = result.detail
    for secret in secrets:
        if secret and len(secret) >= 6 and secret in detail:
            detail = detail.replace(secret, "***")
    if detail == result.detail:
        return result
    return SendResult(result.status, detail, result.retry_after)


# Path segments that look like tokens: long, with both letters and digits (Slack's
# /services/T../B../XXXX, Feishu's /hook/<uuid>, Discord's /webhooks/<id>/<token>).
_TOKENISH = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-]{16,}$")


def mask_url(url: str, secrets: Iterable[str | None] = ()) -> str:
    """The URL with userinfo dropped, every query value and token-like path segment masked."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    segments = ["***" if _TOKENISH.match(s) else s for s in parts.path.split("/")]
    path = "/".join(segments)
    for secret in secrets:
        if secret:
            path = path.replace(secret, "***")
    query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)],
                      safe="*")
    return urlunsplit((parts.scheme, host, path, query, ""))


class HttpSettings(NotifierSettings):
    """Settings every HTTP notifier has: how long to wait for the service's answer."""

    # Standard Webhooks suggests 15-30 s; chat services answer in well under a second.
    timeout: float = Field(15.0, gt=0, le=120)


def check_http_url(url: str | None) -> str | None:
    """A pydantic validator body: the URL (when given) must be absolute http(s)."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # a bad port, an unbalanced [IPv6]
        raise ValueError("must be an absolute http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("a URL has no spaces, line breaks or control characters "
                         "(from an environment variable?)")
    return url
