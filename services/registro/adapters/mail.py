"""Outgoing email over SMTP (smtplib). Messages are composed from templates elsewhere."""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol, runtime_checkable

from ..config import SmtpSettings


class MailUnavailable(Exception):
    """The message could not be handed to the SMTP relay; it was not sent."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


@runtime_checkable
class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> None: ...

    def ping(self) -> None: ...


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def build(self, email: OutgoingEmail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = formataddr((self.settings.sender_name, self.settings.sender))
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Message-ID"] = make_msgid(domain=self.settings.sender.split("@")[-1])
        msg.set_content(email.text)
        msg.add_alternative(email.html, subtype="html")
        for a in email.attachments:
            maintype, subtype = a.content_type.split("/", 1)
            msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
        return msg

    def _connect(self, timeout_s: float) -> smtplib.SMTP:
        s = self.settings
        if s.ssl:
            return smtplib.SMTP_SSL(s.host, s.port, timeout=timeout_s, context=ssl.create_default_context())
        return smtplib.SMTP(s.host, s.port, timeout=timeout_s)

    def send(self, email: OutgoingEmail) -> None:
        s = self.settings
        try:
            with self._connect(s.timeout_s) as smtp:
                if s.starttls and not s.ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if s.user:
                    smtp.login(s.user, s.password or "")
                smtp.send_message(self.build(email))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(type(exc).__name__) from exc

    def ping(self) -> None:
        """Raises MailUnavailable unless the relay answers a greeting and a NOOP (readiness)."""
        try:
            with self._connect(min(self.settings.timeout_s, 3.0)) as smtp:
                code, _ = smtp.noop()
                if code != 250:
                    raise MailUnavailable(f"NOOP {code}")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(type(exc).__name__) from exc
