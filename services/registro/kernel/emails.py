"""Composes emails from `templates/email/<name>/{subject.txt,body.txt,body.html}`.

Every email goes out in the applicant's language (`locale`, their Keycloak `locale` attribute;
Spanish when unknown) and, when it concerns an application, carries the applicant's signed link to
"Consultar mi solicitud" (`consulta`: kernel/status_links.status_url, made by the caller).
"""
from __future__ import annotations

from typing import Any, Iterable

from flask import render_template

from registro import i18n
from registro.adapters.mail import Attachment, OutgoingEmail


def compose(name: str, to: str, context: dict[str, Any], attachments: Iterable[Attachment] = (), *,
            locale: str | None = None, consulta: str | None = None) -> OutgoingEmail:
    context = dict(context)
    if consulta:
        context.setdefault("consulta", consulta)
    chosen = i18n.normalize(locale) or i18n.DEFAULT
    context.setdefault("html_lang_correo", i18n.HTML_LANG[chosen])
    with i18n.rendering_in(chosen):
        subject = render_template(f"email/{name}/subject.txt", **context).strip()
        return OutgoingEmail(
            to=to,
            subject=" ".join(subject.split()),
            text=render_template(f"email/{name}/body.txt", **context),
            html=render_template(f"email/{name}/body.html", **context),
            attachments=tuple(attachments),
        )
