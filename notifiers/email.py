"""E-mail over SMTP: the stdlib smtplib, run in a worker thread so the event loop never blocks.

A multipart message: plain text, an HTML alternative, and the event as a `.ics` attachment
(text/calendar) when the message has one, so a mail client offers "add to calendar".
The Message-ID is derived from the delivery key: a retry after a crash mid-send carries the
same id, which lets mail systems and readers recognise the duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, parseaddr
from html import escape
from typing import ClassVar, Literal

from pydantic import Field, FilePath, SecretStr, model_validator

from notifiers._http import redact
from notifiers._text import plain_body
from notifiers.base import Message, Notifier, NotifierSettings, SendResult

__all__ = ["EmailNotifier", "build_email"]

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def _html(message: Message) -> str:
    paragraphs = "".join(
        f"<p>{escape(block).replace(chr(10), '<br>')}</p>"
        for block in plain_body(message).split("\n\n") if block.strip()
    )
    links = "".join(f'<li><a href="{escape(url)}">{escape(label)}</a></li>'
                    for label, url in message.links)
    lang = "zh-CN" if message.lang == "zh" else "en"
    return (f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><body>'
            f"<h2>{escape(message.title)}</h2>{paragraphs}"
            + (f"<ul>{links}</ul>" if links else "") + "</body></html>")


def build_email(message: Message, sender: str, to: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.title.split())  # a header holds no line break
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(usegmt=True)
    digest = hashlib.sha256(message.key.encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}@policy-timeline>"
    mail["X-Timeline-Key"] = message.key
    text = message.text
    missing = [f"{label}: {url}" for label, url in message.links if url not in text]
    if missing:
        text += "\n\n" + "\n".join(missing)
    mail.set_content(text)
    mail.add_alternative(_html(message), subtype="html")
    if message.ics:
        mail.add_attachment(message.ics, maintype="text", subtype="calendar",
                            filename="event.ics")
    return mail


def _classify(exc: Exception) -> SendResult:
    """SMTP's own rule: 4xx replies are transient, 5xx permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "all recipients refused: " + ", ".join(
            f"{addr} ({code})" for addr, (code, _) in exc.recipients.items())
        if codes and all(400 <= code < 500 for code in codes):
            return SendResult.retry(detail)
        return SendResult.fail(detail)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SendResult.fail(f"authentication failed ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        detail = f"SMTP {exc.smtp_code} {text}"[:300]
        return SendResult.retry(detail) if 400 <= exc.smtp_code < 500 else SendResult.fail(detail)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendResult.fail(f"server does not support it: {exc}")
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return SendResult.retry(f"connection dropped during TLS: {exc}")  # a busy server
    if isinstance(exc, ssl.SSLError):
        # Certificates and protocol mismatches (tls on a plain port) need a settings change.
        return SendResult.fail(f"TLS failed ({exc}): check 'security' and 'port'")
    if isinstance(exc, TimeoutError):
        return SendResult.retry("timed out")
    # Disconnects, refused connections, DNS trouble: the server may be back soon.
    return SendResult.retry(f"{type(exc).__name__}: {exc}")


class EmailNotifier(Notifier):
    type_name: ClassVar[str] = "email"
    rate_per_minute: ClassVar[float | None] = None
    attaches_ics: ClassVar[bool] = True

    class Settings(NotifierSettings):
        type: Literal["email"] = "email"
        host: str
        port: int | None = Field(None, ge=1, le=65535)  # default: 587, 465 or 25 by security
        username: str | None = None
        password: SecretStr | None = None
        sender: str = Field(alias="from")
        to: list[str] = Field(min_length=1)
        security: Literal["starttls", "tls", "none"] = "starttls"
        timeout: float = Field(30.0, gt=0, le=300)
        # PEM CA bundle to trust instead of the system's, for a server with a private CA.
        ca_file: FilePath | None = None

        @model_validator(mode="after")
        def _credentials_paired(self) -> EmailNotifier.Settings:
            if (self.username is None) != (self.password is None):
                raise ValueError("set both 'username' and 'password', or neither")
            return self

    settings: Settings

    def _port(self) -> int:
        return self.settings.port or DEFAULT_PORTS[self.settings.security]

    def describe(self) -> str:
        s = self.settings
        return (f"email: {s.host}:{self._port()} ({s.security}) from {s.sender} "
                f"to {len(s.to)} recipient(s)")

    def _deliver(self, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, self._port(), timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, self._port(), timeout=s.timeout)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.username is not None and s.password is not None:
                smtp.login(s.username, s.password.get_secret_value())
            # The envelope takes bare addresses: a display name (政策提醒 <a@b>) belongs in
            # the headers, RFC 2047-encoded, and in the envelope would demand SMTPUTF8.
            return smtp.send_message(mail, from_addr=parseaddr(s.sender)[1],
                                     to_addrs=[address for _, address in getaddresses(s.to)])

    async def send(self, message: Message) -> SendResult:
        try:
            mail = build_email(message, self.settings.sender, self.settings.to)
        except (ValueError, TypeError) as exc:  # never raises: a message it cannot build
            return SendResult.fail(f"cannot build the email: {exc}")
        try:
            refused = await asyncio.to_thread(self._deliver, mail)
        except Exception as exc:  # every SMTP/socket failure is classified, none escapes
            result = _classify(exc)
        else:
            detail = f"sent to {len(self.settings.to) - len(refused)} recipient(s)"
            if refused:
                detail += "; refused: " + ", ".join(f"{a} ({c})" for a, (c, _) in refused.items())
            result = SendResult.ok(detail)
        password = self.settings.password
        return redact(result, [password.get_secret_value() if password else None])
