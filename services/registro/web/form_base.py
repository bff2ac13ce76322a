"""The base of every form of the service: Flask-WTF (CSRF on) with WTForms' own messages translated
from a catalogue loaded once per process and language.

Flask-WTF loads WTForms' message catalogue from disk (open, parse, compile the plural rule) on every
request that builds a form, and keeps it for that request only, even if the request switches language
afterwards (`i18n.use_locale`). The catalogue does not change while the process runs: it is loaded
once per language here, and the language is read at each message, so a switch is honoured.
"""
from __future__ import annotations

from functools import lru_cache

from babel import support
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path

from registro import i18n


@lru_cache(maxsize=len(i18n.LOCALES))
def wtforms_catalogue(locale: str) -> support.Translations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class _CurrentLanguage:
    """WTForms asks its `translations` for gettext/ngettext: answered in the page's current language."""

    def gettext(self, string: str) -> str:
        return wtforms_catalogue(i18n.current()).gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return wtforms_catalogue(i18n.current()).ngettext(singular, plural, n)


_TRANSLATIONS = _CurrentLanguage()


class Form(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return _TRANSLATIONS
