"""The email notifier against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifiers.registry import build
from tests.receiver import refused_url, sample_message
from timeline.errors import ConfigError


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and can refuse recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.rcpt_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), mail))
        return "250 Message accepted"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (b"robot", b"s3cret-pw")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_authenticate,
                            auth_require_tls=False)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    inbox = smtp_server[0]
    inbox.messages.clear()
    inbox.rcpt_reply = None
    return inbox


def _settings(port: int, **changes: Any) -> dict[str, Any]:
    return {"type": "email", "host": "127.0.0.1", "port": port, "security": "none",
            "from": "timeline@example.org", "to": ["a@example.org", "b@example.org"],
            "timeout": 5, **changes}


async def test_multipart_with_ics(inbox: Inbox, smtp_server: tuple[Inbox, int]) -> None:
    notifier = build("mail", _settings(smtp_server[1]), httpx.AsyncClient())
    message = sample_message()
    result = await notifier.send(message)
    assert result.delivered, result

    [(recipients, mail)] = inbox.messages
    assert recipients == ["a@example.org", "b@example.org"]
    assert mail["Subject"] == message.title
    assert mail["X-Timeline-Key"] == message.key
    assert mail.get_content_type() == "multipart/mixed"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "受理截止" in text.get_content()
    assert text.get_content().count("https://example.org/calendar.ics") == 1  # not repeated
    html_content = html.get_content()
    assert f"<h2>{message.title}</h2>" in html_content
    assert '<a href="https://example.org/calendar.ics">订阅日历</a>' in html_content
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename().endswith(".ics")
    assert attachment.get_payload(decode=True) == message.ics


async def test_same_key_same_message_id(inbox: Inbox, smtp_server: tuple[Inbox, int]) -> None:
    notifier = build("mail", _settings(smtp_server[1], to=["a@example.org"]),
                     httpx.AsyncClient())
    await notifier.send(sample_message(ics=None))
    await notifier.send(sample_message(ics=None))
    first, second = (mail for _, mail in inbox.messages)
    assert first["Message-ID"] == second["Message-ID"]
    assert first.get_content_type() == "multipart/alternative"  # no attachment without ics


async def test_login(inbox: Inbox, smtp_server: tuple[Inbox, int]) -> None:
    good = build("mail", _settings(smtp_server[1], username="robot", password="s3cret-pw"),
                 httpx.AsyncClient())
    assert (await good.send(sample_message())).delivered
    bad = build("mail", _settings(smtp_server[1], username="robot", password="wrong-pw"),
                httpx.AsyncClient())
    result = await bad.send(sample_message())
    assert result.status == "permanent" and "authentication" in result.detail
    assert "wrong-pw" not in result.detail and "wrong-pw" not in bad.describe()


@pytest.mark.parametrize(("reply", "expect"), [("450 mailbox busy", "retryable"),
                                               ("550 no such user", "permanent")])
async def test_refused_recipients(reply: str, expect: str, inbox: Inbox,
                                  smtp_server: tuple[Inbox, int]) -> None:
    inbox.rcpt_reply = reply
    notifier = build("mail", _settings(smtp_server[1]), httpx.AsyncClient())
    result = await notifier.send(sample_message())
    assert result.status == expect and reply[:3] in result.detail


async def test_starttls_required_but_not_offered_is_permanent(
        inbox: Inbox, smtp_server: tuple[Inbox, int]) -> None:
    # Never fall back to plain text when TLS was asked for.
    notifier = build("mail", _settings(smtp_server[1], security="starttls"), httpx.AsyncClient())
    result = await notifier.send(sample_message())
    assert result.status == "permanent" and inbox.messages == []


async def test_connection_refused_is_retryable() -> None:
    port = int(refused_url().rsplit(":", 1)[1].strip("/"))
    notifier = build("mail", _settings(port), httpx.AsyncClient())
    assert (await notifier.send(sample_message())).status == "retryable"


def test_settings() -> None:
    notifier = build("mail", {"type": "email", "host": "smtp.example.org", "from": "x@example.org",
                              "to": ["y@example.org"], "security": "tls"}, httpx.AsyncClient())
    assert "smtp.example.org:465 (tls)" in notifier.describe()
    with pytest.raises(ConfigError, match="username"):
        build("mail", {"type": "email", "host": "h", "from": "x@e", "to": ["y@e"],
                       "username": "u"}, httpx.AsyncClient())
    with pytest.raises(ConfigError, match="'mail' \\(email\\): from"):
        build("mail", {"type": "email", "host": "h", "to": ["y@e"]}, httpx.AsyncClient())


# -- TLS: a throwaway certificate for 127.0.0.1, trusted through `ca_file` ---------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_modes_with_login(security: str, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox, port = Inbox(), _free_port()
    # STARTTLS: the server insists on it and refuses AUTH before it; tls: TLS from the start
    # (aiosmtpd cannot tell that socket is encrypted, hence auth_require_tls=False there).
    options: dict[str, Any] = (
        {"tls_context": server_tls, "require_starttls": True} if security == "starttls"
        else {"ssl_context": server_tls, "auth_require_tls": False})
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_authenticate,
                            **options)
    controller.start()
    try:
        settings = _settings(port, security=security, username="robot", password="s3cret-pw")
        trusted = build("mail", {**settings, "ca_file": str(cert)}, httpx.AsyncClient())
        assert (await trusted.send(sample_message())).delivered
        assert len(inbox.messages) == 1
        # Without the CA the certificate cannot be verified: a settings problem, not a blip.
        untrusted = build("mail", settings, httpx.AsyncClient())
        result = await untrusted.send(sample_message())
        assert result.status == "permanent" and "TLS" in result.detail
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


async def test_display_names_stay_in_the_headers_and_titles_on_one_line(
        inbox: Inbox, smtp_server: tuple[Inbox, int]) -> None:
    # aiosmtpd offers no SMTPUTF8: a display name in the envelope was refused for good.
    notifier = build("mail", _settings(smtp_server[1], **{
        "from": "政策提醒 <timeline@example.org>", "to": ["值班 <a@example.org>"]}),
        httpx.AsyncClient())
    # A title written as a YAML block scalar carries line breaks; a header may not.
    result = await notifier.send(sample_message(title="【政策提醒】设备更新补贴\n申报截止\n"))
    assert result.delivered, result
    [(recipients, mail)] = inbox.messages
    assert recipients == ["a@example.org"]
    assert str(mail["From"]) == "政策提醒 <timeline@example.org>"
    assert mail["Subject"] == "【政策提醒】设备更新补贴 申报截止"


async def test_a_connection_dropped_during_tls_is_retryable() -> None:
    # A server that accepts and hangs up at once (overloaded, restarting): try again later.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def drop() -> None:
            connection, _ = listener.accept()
            connection.close()

        dropper = threading.Thread(target=drop, daemon=True)
        dropper.start()
        notifier = build("mail", _settings(port, security="tls"), httpx.AsyncClient())
        result = await notifier.send(sample_message())
        dropper.join(5)
    assert result.status == "retryable", result
