"""The privacy notice: the integral text on its own page (/privacidad); the simplified one is shown on
the registration form (template global `aviso_privacidad`)."""
from __future__ import annotations

from flask import Blueprint, render_template

from registro import i18n
from registro.container import adapters

bp = Blueprint("privacy", __name__)


@bp.app_template_global("aviso_privacidad")
def current_notice():
    return adapters().privacy.current if adapters().privacy else None


@bp.get("/privacidad", endpoint="integral")
def integral():
    notice = adapters().privacy.current
    lang = i18n.current()
    translated = (("integral", lang) in notice.texts)
    return render_template("privacidad/integral.html", aviso=notice, texto=notice.text("integral", lang),
                           lang_texto=i18n.HTML_LANG[lang] if translated else i18n.HTML_LANG["es"])
