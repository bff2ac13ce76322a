"""SmtpMailer.wire: the bytes handed to the relay are exactly those smtplib's `send_message` makes
from the message the email package builds the stock way (attachment encoded by contentmanager,
bodies written line by line), only made with fewer calls."""
from __future__ import annotations

import email
import io
import os
import random
from email import policy
from email.generator import BytesGenerator

import pytest

from registro.adapters import mail
from registro.adapters.mail import Attachment, OutgoingEmail, SmtpMailer
from tests.unit.conftest import unit_settings

PDF = b"%PDF-1.7\n" + os.urandom(52_003)  # not a multiple of 57: the last base64 line is short


SEED = 20


def _wire(mailer: SmtpMailer, e: OutgoingEmail):
    random.seed(SEED)
    return mailer.wire(e)


def _email(to: str = "ana.pena@example.com", attachments=(Attachment("responsiva-AU-2026-X.pdf", "application/pdf",
                                                                        PDF),)) -> OutgoingEmail:
    return OutgoingEmail(to=to, subject="Confirme su correo — Acceso Único", text="Hola, Ana María.\nSu folio:\r\nAU\n",
                         html="<p>Hola, <b>Ana María</b>.</p>\n<p>Folio</p>\n", attachments=attachments)


def _stock(mailer: SmtpMailer, e: OutgoingEmail) -> bytes:
    """What send_message flattened before: add_attachment(data) and the stock generator."""
    msg = mailer.build(OutgoingEmail(e.to, e.subject, e.text, e.html))
    for a in e.attachments:
        maintype, subtype = a.content_type.split("/", 1)
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    international = not (mailer.settings.sender + e.to).isascii()
    out = io.BytesIO()
    random.seed(SEED)  # the MIME boundaries
    BytesGenerator(out, policy=msg.policy.clone(utf8=True) if international else None).flatten(msg, linesep="\r\n")
    return out.getvalue()


@pytest.fixture
def mailer(monkeypatch) -> SmtpMailer:
    monkeypatch.setattr(mail, "make_msgid", lambda domain=None: f"<fijo@{domain}>")
    return SmtpMailer(unit_settings().smtp)


@pytest.mark.parametrize("attachments", [(), (Attachment("responsiva-AU-2026-X.pdf", "application/pdf", PDF),),
                                         (Attachment("a.pdf", "application/pdf", b"x" * 57),
                                          Attachment("b.png", "image/png", b""))])
def test_wire_bytes_are_those_of_the_stock_email_package(mailer, attachments):
    e = _email(attachments=attachments)
    data, options = _wire(mailer, e)
    assert data == _stock(mailer, e) and options == ()


def test_a_non_ascii_address_goes_as_smtputf8_like_send_message(mailer):
    e = _email(to="josé@example.mx")
    data, options = _wire(mailer, e)
    assert options == ("SMTPUTF8", "BODY=8BITMIME") and data == _stock(mailer, e)


def test_the_attachment_reads_back_whole_with_crlf_lines_of_76(mailer):
    data, _ = mailer.wire(_email())
    parsed = email.message_from_bytes(data, policy=policy.default)
    (part,) = list(parsed.iter_attachments())
    assert part.get_filename() == "responsiva-AU-2026-X.pdf" and part.get_content() == PDF
    body = data.split(b"Content-Disposition: attachment", 1)[1].split(b"\r\n\r\n", 1)[1]
    lines = body.split(b"\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"") and max(len(line) for line in lines) == 76
