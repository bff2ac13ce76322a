"""SmtpMailer.wire: the email package's legacy MIME classes make the message EmailMessage made
(same tree, headers, contents and transfer encodings as contentmanager picks them), read back by a
standard parser to the same values, with the attachment's base64 in CRLF lines of 76."""
from __future__ import annotations

import email
import io
import os
from email import policy
from email.generator import BytesGenerator

import pytest

from registro.adapters.mail import Attachment, OutgoingEmail, SmtpMailer
from tests.unit.conftest import unit_settings

PDF = b"%PDF-1.7\n" + os.urandom(52_003)  # not a multiple of 57: the last base64 line is short
RESPONSIVA = Attachment("responsiva-AU-2026-X.pdf", "application/pdf", PDF)
LONG_HTML = "<p>" + "Estimad@ Ana María Peña Núñez, " * 12 + "</p>\n<p>Folio AU-2026-X</p>\n"  # a 380-character line


def _email(to: str = "ana.pena@example.com", attachments=(RESPONSIVA,), text: str = "Hola, Ana María.\nSu folio:\r\nAU\n",
           html: str = "<p>Hola, <b>Ana María</b>.</p>\n", subject: str = "Confirme su correo — Acceso Único"):
    return OutgoingEmail(to=to, subject=subject, text=text, html=html, attachments=attachments)


def _parsed(data: bytes):
    return email.message_from_bytes(data, policy=policy.default)


def _stock(mailer: SmtpMailer, e: OutgoingEmail):
    """What smtplib's send_message sent before: EmailMessage flattened by the stock generator."""
    out = io.BytesIO()
    BytesGenerator(out).flatten(mailer._build_utf8(e), linesep="\r\n")
    return _parsed(out.getvalue())


def _tree(msg) -> list[tuple]:
    return [(p.get_content_type(), p.get_content_disposition(), p.get_filename(), p.get_content_charset())
            for p in msg.walk()]


def _contents(msg) -> list:
    return [p.get_content() for p in msg.walk() if not p.is_multipart()]


@pytest.fixture
def mailer() -> SmtpMailer:
    return SmtpMailer(unit_settings().smtp)


@pytest.mark.parametrize("attachments", [(), (RESPONSIVA,),
                                         (Attachment("a.pdf", "application/pdf", b"x" * 57),
                                          Attachment("b.png", "image/png", b""))])
@pytest.mark.parametrize("html", ["<p>Hola, <b>Ana María</b>.</p>\n", LONG_HTML, "<p>plain ascii</p>"])
def test_the_message_reads_back_as_the_one_emailmessage_made(mailer, attachments, html):
    e = _email(attachments=attachments, html=html)
    data, options = mailer.wire(e)
    sent, stock = _parsed(data), _stock(mailer, e)
    assert options == () and not sent.defects
    assert _tree(sent) == _tree(stock) and _contents(sent) == _contents(stock)
    for header in ("From", "To", "Subject"):
        assert sent[header] == stock[header]
    assert sent["From"].addresses[0].display_name == unit_settings().smtp.sender_name
    assert sent["Message-ID"] and sent["Message-ID"] != _parsed(mailer.wire(e)[0])["Message-ID"]


def test_bodies_keep_the_transfer_encodings_contentmanager_picks_and_short_lines(mailer):
    sent = _parsed(mailer.wire(_email(text="Hello\nFrom the start of a line\n", html=LONG_HTML))[0])
    text, html, _ = [p for p in sent.walk() if not p.is_multipart()]
    assert text["Content-Transfer-Encoding"] == "7bit"
    assert text.get_content().replace("\r\n", "\n") == "Hello\nFrom the start of a line\n"  # not ">From"
    assert html["Content-Transfer-Encoding"] == "base64" and html.get_content() == LONG_HTML
    accented = _parsed(mailer.wire(_email())[0])
    assert [p["Content-Transfer-Encoding"] for p in accented.walk() if not p.is_multipart()] == ["8bit", "8bit", "base64"]
    assert max(len(line) for line in mailer.wire(_email(html=LONG_HTML))[0].split(b"\r\n")) <= 78


def test_the_attachment_is_whole_in_crlf_lines_of_76_and_the_boundaries_are_nowhere_else(mailer):
    data, _ = mailer.wire(_email())
    (part,) = list(_parsed(data).iter_attachments())
    assert part.get_filename() == "responsiva-AU-2026-X.pdf" and part.get_content() == PDF
    body = data.split(b"Content-Disposition: attachment", 1)[1].split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
    lines = body.split(b"\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"") and {len(line) for line in lines[:-2]} == {76}
    sent = _parsed(data)
    for boundary in (sent.get_boundary(), sent.get_payload()[0].get_boundary()):
        assert data.count(boundary.encode()) == 4  # its header, before each of its two parts, the end


def test_a_non_ascii_address_goes_as_smtputf8_like_send_message(mailer):
    e = _email(to="josé@example.mx")
    data, options = mailer.wire(e)
    sent, stock = _parsed(data), _stock(mailer, e)
    assert options == ("SMTPUTF8", "BODY=8BITMIME") and "josé@example.mx".encode() in data
    assert _tree(sent) == _tree(stock) and _contents(sent) == _contents(stock) and sent["To"] == "josé@example.mx"
