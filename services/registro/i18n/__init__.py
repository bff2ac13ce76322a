"""Languages of the applicant's pages and emails: Spanish (default and reference) and English.

Flask-Babel with gettext catalogs under `registro/translations/`. The language is chosen, in
order, by an explicit `?lang=` switch (remembered in a cookie), the cookie, and otherwise Spanish —
never guessed from Accept-Language, so a Mexican applicant with an English browser still sees the
official Spanish wording. The review console is always Spanish (`force_spanish` below). Emails
are rendered in the language stored in the applicant's Keycloak `locale` attribute.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlencode, urlsplit

from flask import Flask, g, has_request_context, request, url_for
from markupsafe import Markup
from werkzeug.routing import BuildError
from flask_babel import Babel, force_locale, get_locale, gettext, refresh

DEFAULT = "es"
LOCALES: tuple[str, ...] = ("es", "en")
LABELS = {"es": "Español", "en": "English"}
HTML_LANG = {"es": "es-MX", "en": "en"}
COOKIE = "idioma"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Audiences that stay in Spanish whatever the applicant chose: the staff consoles (review, supervision).
SPANISH_ONLY_PREFIXES = ("/revision", "/supervision")

babel = Babel()


def normalize(value: str | None) -> str | None:
    value = (value or "").strip().lower()[:2]
    return value if value in LOCALES else None


def requested_locale() -> str | None:
    """The language asked for in this request (`?lang=`), if any."""
    return normalize(request.args.get("lang")) if has_request_context() else None


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT
    if request.path.startswith(SPANISH_ONLY_PREFIXES):
        return DEFAULT
    forced = g.get("forced_locale")
    if forced:
        return forced
    return requested_locale() or normalize(request.cookies.get(COOKIE)) or DEFAULT


def current() -> str:
    """The language of the current page ("es" or "en")."""
    locale = get_locale()
    return normalize(str(locale)) or DEFAULT if locale is not None else DEFAULT


def use_locale(locale: str | None) -> None:
    """Makes the rest of this request use `locale` (e.g. the one stored on the application)."""
    chosen = normalize(locale)
    if chosen and not requested_locale() and not request.cookies.get(COOKIE):
        g.forced_locale = chosen
        refresh()


@contextmanager
def rendering_in(locale: str | None) -> Iterator[None]:
    """Renders emails (or anything else) in the applicant's language; Spanish when unknown."""
    with force_locale(normalize(locale) or DEFAULT):
        yield


def switch_url(locale: str) -> str:
    """The current page with `?lang=<locale>`: a plain link, so the switch works without JavaScript.

    Built from the matched route (url_for), never from the raw path: a path such as `/\\evil.example/x`
    (sent as `/%5Cevil.example/x`) printed back would be read by browsers as a link to another host.
    A page no route matched (404, 405) links to itself by its query alone, which stays on this page."""
    args = request.args.to_dict()
    args["lang"] = locale
    query = f"?{urlencode(args)}"  # never through url_for: it reads `_external`, `_scheme`… as its own options
    if request.url_rule is not None and request.endpoint:
        try:
            return url_for(request.endpoint, **(request.view_args or {})) + query
        except BuildError:
            pass
    return query


def _remember(response):
    chosen = requested_locale()
    if chosen and not request.path.startswith(SPANISH_ONLY_PREFIXES):
        secure = urlsplit(request.host_url).scheme == "https"
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True, secure=secure)
    return response


# Messages other modules compose at run time (f-strings, e.g. "Falta cargar: CURP."): the fixed part is
# translated as a whole with the variable part translated on its own (a document label) or kept (a size).
COMPOSED: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), msgid) for pattern, msgid in (
    (r"^Falta cargar: (?P<documento>.+)\.$", "Falta cargar: %(documento)s."),
    (r"^Reemplace el documento señalado por el revisor: (?P<documento>.+)\.$",
     "Reemplace el documento señalado por el revisor: %(documento)s."),
    (r"^Se cargó el documento «(?P<documento>.+)»\.$", "Se cargó el documento «%(documento)s»."),
    (r"^Se eliminó el documento «(?P<documento>.+)»\.$", "Se eliminó el documento «%(documento)s»."),
    (r"^El archivo excede el tamaño máximo permitido de (?P<limite>.+)\.$",
     "El archivo excede el tamaño máximo permitido de %(limite)s."),
    # registration/forms.py and domain/identifiers.py: a required text left empty, too long, or with
    # forbidden characters (the label is written in lower case inside the first sentence).
    (r"^Escriba (?:sus|su|el) (?P<campo_minusculas>.+)\.$", "Escriba este dato: %(campo_minusculas)s."),
    (r"^El campo (?P<campo>.+) admite como máximo (?P<limite>\d+) caracteres\.$",
     "El campo %(campo)s admite como máximo %(limite)s caracteres."),
    (r"^El campo (?P<campo>.+) contiene caracteres no permitidos\.$",
     "El campo %(campo)s contiene caracteres no permitidos."),
))


def _part(name: str, value: str) -> str:
    """A variable part of a composed message in the current language. A label written in lower case
    inside a sentence is looked up capitalized (as the label) and lowered again."""
    if name.endswith("_minusculas"):
        translated = gettext(value[:1].upper() + value[1:])
        return translated[:1].lower() + translated[1:]
    return gettext(value)


def translate(text: str) -> str:
    """`text` in the current language: a catalog entry, or a known composed message; else as is."""
    translated = gettext(text)
    if translated != text or current() == DEFAULT:
        return translated
    for pattern, msgid in COMPOSED:
        match = pattern.match(text)
        if match:
            return gettext(msgid, **{k: _part(k, v) for k, v in match.groupdict().items()})
    return text


COUNTRY_FIELDS = frozenset({"pais"})


def localize_choices(field) -> str:
    """Before a select is rendered in English: option labels from the catalog, country names from
    Babel's CLDR data (sorted in that language). Official Spanish names without an entry stay as they
    are (e.g. the user types, which are legal categories). Returns "" so a template can call it."""
    locale = current()
    choices = getattr(field, "choices", None)
    if locale == DEFAULT or not choices:
        return ""
    from babel import Locale
    from wtforms.fields.choices import SelectChoice

    territories = Locale.parse(locale).territories
    localized = []
    for choice in choices:
        value, label = (choice.value, choice.label) if isinstance(choice, SelectChoice) else (choice[0], choice[1])
        if field.name in COUNTRY_FIELDS and value in territories:
            label = territories[value]
        else:
            label = translate(str(label))
        localized.append(SelectChoice(value, label))
    if field.name in COUNTRY_FIELDS:
        localized.sort(key=lambda c: (c.value != "", str(c.label).casefold()))
    field.choices = localized
    return ""


def _translate_value(text):
    if not text:
        return text
    translated = translate(str(text))
    return Markup(translated) if isinstance(text, Markup) else translated


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    babel.init_app(app, locale_selector=select_locale)
    app.after_request(_remember)
    # `|tr` translates a value computed elsewhere (a label, a message): no %-formatting, unlike `_()`.
    app.jinja_env.filters["tr"] = _translate_value
    app.jinja_env.globals["localize_choices"] = localize_choices

    @app.context_processor
    def _languages():
        locale = current()
        # The review console offers no switch: it stays Spanish; nor does a document rendered off a request.
        offered = {} if not has_request_context() or request.path.startswith(SPANISH_ONLY_PREFIXES) else LABELS
        return {"idioma": locale, "html_lang": HTML_LANG[locale], "idiomas": offered, "idioma_url": switch_url}
