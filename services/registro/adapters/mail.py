"""Outgoing email over SMTP (smtplib). Messages are composed from templates elsewhere.

A message goes out as the bytes `SmtpMailer.wire` makes, with the email package's legacy MIME
classes (email.mime, policy compat32) rather than EmailMessage: the same tree (multipart/mixed of a
multipart/alternative — text, HTML — and the attachments), the same headers and transfer encodings
chosen as contentmanager chooses them, at a third of the CPU: EmailMessage parses and refolds every
header it sets, and the stock generator writes a base64 attachment line by line (≈ 1,850 writes for
the responsiva) and searches the whole message for each boundary it draws. Here the attachment is
encoded in one call, each body written in one piece, and the boundaries are 128-bit random tokens
after "=_", which neither base64 nor a template's text contains. A message to an address that is
not ASCII (SMTPUTF8) is built by EmailMessage as before. tests/unit/test_mail_wire.py.
"""
from __future__ import annotations

import binascii
import io
import secrets
import smtplib
import ssl
from dataclasses import dataclass, field
from email.generator import NLCRE, BytesGenerator
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, make_msgid
from typing import Protocol, runtime_checkable

from registro.config import SmtpSettings


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


class MailBatch(Protocol):
    """Several messages over one relay connection (the outbox's delivery thread); a context manager
    that closes the connection on exit."""

    def send(self, email: OutgoingEmail) -> None:
        """Like Mailer.send; raises MailUnavailable (the connection is then dropped, the next send opens one)."""
        ...

    def close(self) -> None:
        """Closes the connection (a later send opens a new one)."""
        ...

    def __enter__(self) -> "MailBatch": ...

    def __exit__(self, *exc) -> None: ...


@runtime_checkable
class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> None: ...

    def batch(self) -> MailBatch: ...

    def ping(self) -> None: ...


_BASE64_LINE = 76  # contentmanager's: 57 bytes per line under the default policy's 78-character limit


def _base64_lines(data: bytes) -> str:
    """`data` in base64, lines of 76 characters each ending in a newline, as contentmanager writes it
    (and base64.encodebytes, which also loops in Python over 57-byte chunks)."""
    encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
    return "".join(encoded[i:i + _BASE64_LINE] + "\n" for i in range(0, len(encoded), _BASE64_LINE))


_MAX_LINE = 78  # the default policy's max_line_length: a body with longer lines goes in base64


def _boundary() -> str:
    return "=_" + secrets.token_hex(16)


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A UTF-8 text part encoded as contentmanager.set_text_content encodes it under the default
    policy: 7bit or 8bit when every line fits in 78 characters, else base64 (contentmanager would
    take quoted-printable when shorter, encoded character by character in Python)."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    del part["MIME-Version"]
    lines = text.encode("utf-8").splitlines()
    data = b"\n".join(lines) + b"\n"
    if max((len(line) for line in lines), default=0) <= _MAX_LINE:
        part["Content-Transfer-Encoding"] = "7bit" if data.isascii() else "8bit"
        part.set_payload(data.decode("ascii", "surrogateescape"))  # BytesGenerator writes it back as bytes
    else:
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(_base64_lines(data))
    return part


def _attachment_part(a: Attachment) -> MIMENonMultipart:
    maintype, subtype = a.content_type.split("/", 1)
    part = MIMENonMultipart(maintype, subtype)
    del part["MIME-Version"]
    part["Content-Transfer-Encoding"] = "base64"
    part.add_header("Content-Disposition", "attachment",
                    filename=a.filename if a.filename.isascii() else ("utf-8", "", a.filename))
    part.set_payload(_base64_lines(a.data))
    return part


class _WholeBodyGenerator(BytesGenerator):
    """BytesGenerator writing each body in one piece, line endings translated as the stock one does."""

    def _write_lines(self, lines: str) -> None:  # the stock one writes every line and newline apart
        if lines:
            # str.replace when "\n" is the only line ending (a body we made): a regex is ~10× slower.
            self.write(lines.replace("\n", self._NL) if "\r" not in lines else NLCRE.sub(self._NL, lines))


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def build(self, email: OutgoingEmail) -> Message:
        if not (self.settings.sender + email.to).isascii():
            return self._build_utf8(email)
        body = MIMEMultipart("alternative", boundary=_boundary(),
                             _subparts=[_text_part(email.text, "plain"), _text_part(email.html, "html")])
        msg = body
        if email.attachments:
            del body["MIME-Version"]
            msg = MIMEMultipart("mixed", boundary=_boundary(),
                                _subparts=[body, *(_attachment_part(a) for a in email.attachments)])
        msg["From"] = formataddr((self.settings.sender_name, self.settings.sender), charset="utf-8")
        msg["To"] = email.to
        msg["Subject"] = email.subject if email.subject.isascii() else Header(email.subject, "utf-8")
        msg["Message-ID"] = make_msgid(domain=self.settings.sender.split("@")[-1])
        return msg

    def _build_utf8(self, email: OutgoingEmail) -> EmailMessage:
        """A message to a non-ASCII address: EmailMessage, whose utf8 policy writes the headers raw."""
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

    def wire(self, email: OutgoingEmail) -> tuple[bytes, tuple[str, ...]]:
        """The message as sent, and the MAIL options it needs: SMTPUTF8 when an address is not
        ASCII, as `send_message` decides it."""
        msg = self.build(email)
        international = isinstance(msg, EmailMessage)
        policy = msg.policy.clone(utf8=True) if international else None
        with io.BytesIO() as out:
            # No ">From " munging (compat32's default, not EmailMessage's): bodies go as written.
            _WholeBodyGenerator(out, mangle_from_=False, policy=policy).flatten(msg, linesep="\r\n")
            data = out.getvalue()
        return data, (("SMTPUTF8", "BODY=8BITMIME") if international else ())

    def _hand(self, smtp: smtplib.SMTP, to: str, wire: tuple[bytes, tuple[str, ...]]) -> None:
        data, options = wire
        smtp.sendmail(self.settings.sender, [to], data, options)

    def _connect(self, timeout_s: float) -> smtplib.SMTP:
        s = self.settings
        if s.ssl:
            return smtplib.SMTP_SSL(s.host, s.port, timeout=timeout_s, context=ssl.create_default_context())
        return smtplib.SMTP(s.host, s.port, timeout=timeout_s)

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        smtp = self._connect(s.timeout_s)
        try:
            if s.starttls and not s.ssl:
                smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, email: OutgoingEmail) -> None:
        try:
            wire = self.wire(email)
            with self._open() as smtp:
                self._hand(smtp, email.to, wire)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(type(exc).__name__) from exc

    def batch(self) -> "SmtpBatch":
        return SmtpBatch(self)

    def ping(self) -> None:
        """Raises MailUnavailable unless the relay answers a greeting and a NOOP (readiness)."""
        try:
            with self._connect(min(self.settings.timeout_s, 3.0)) as smtp:
                code, _ = smtp.noop()
                if code != 250:
                    raise MailUnavailable(f"NOOP {code}")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(type(exc).__name__) from exc


class SmtpBatch:
    """One relay connection reused for the messages sent through it: connecting, EHLO, STARTTLS and
    login cost CPU here and at the relay on every message otherwise. A connection the relay closed
    while it sat idle fails at the next message's first command (SMTPServerDisconnected): that message
    is sent once more over a fresh connection (delivery from the outbox is at least once anyway)."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> "SmtpBatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, email: OutgoingEmail) -> None:
        wire = self.mailer.wire(email)
        reused = self._smtp is not None
        try:
            try:
                self.mailer._hand(self._connection(), email.to, wire)
            except smtplib.SMTPServerDisconnected:
                self._drop()
                if not reused:
                    raise
                self.mailer._hand(self._connection(), email.to, wire)  # the idle connection had been closed by the relay
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise MailUnavailable(type(exc).__name__) from exc

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            finally:
                self._drop()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self.mailer._open()
        return self._smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None
