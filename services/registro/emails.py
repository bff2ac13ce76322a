"""Composes emails from `templates/email/<name>/{subject.txt,body.txt,body.html}`."""
from __future__ import annotations

from typing import Any, Iterable

from flask import render_template

from .adapters.mail import Attachment, OutgoingEmail


def compose(name: str, to: str, context: dict[str, Any], attachments: Iterable[Attachment] = ()) -> OutgoingEmail:
    subject = render_template(f"email/{name}/subject.txt", **context).strip()
    return OutgoingEmail(
        to=to,
        subject=" ".join(subject.split()),
        text=render_template(f"email/{name}/body.txt", **context),
        html=render_template(f"email/{name}/body.html", **context),
        attachments=tuple(attachments),
    )
