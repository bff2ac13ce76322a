"""The blank registration form, rendered once per process, language and mount point.

Every applicant opens `/registro` before anything else, and without data, errors or messages the
page is the same for everyone but for its CSRF token: Jinja and WTForms rebuilt the same 20 KB of
HTML for each view (≈ 3 ms of CPU, a tenth of a registration's). The first view renders it through
the template as always; the HTML is kept split around that view's token, and later views join the
halves around their own token. Anything that makes a view differ — a query string (`?lang=`), a
flashed message, submitted data — takes the template instead. The settings it depends on (privacy
notice, catalogues) are read at start-up, so a restart, which an edit of them needs anyway, renews it.
"""
from __future__ import annotations

import threading
from typing import Callable

from flask import current_app, request, session
from flask_wtf.csrf import generate_csrf

from registro import i18n

_EXTENSION = "registro.blank_form"
# One page per language and mount point: a deployment has one mount point, so a few entries.
MAX_PAGES = 2 * len(i18n.LOCALES)
_lock = threading.Lock()


def can_serve() -> bool:
    """True when this view would show the blank form: a GET without query string or pending messages."""
    return request.method == "GET" and not request.args and not session.get("_flashes")


def blank_form(render: Callable[[], str]) -> str:
    """The blank form's HTML carrying this view's CSRF token; `render` draws it through the template."""
    token = generate_csrf()  # the same token the template would put in (one per request)
    pages: dict = current_app.extensions.setdefault(_EXTENSION, {})
    key = (i18n.current(), request.script_root)
    halves = pages.get(key)
    if halves is None:
        html = render()
        if html.count(token) != 1 or len(pages) >= MAX_PAGES:
            # Not a page that can be split around its token; or more mount points than a deployment
            # has (gunicorn takes SCRIPT_NAME from a request header): rendered, never kept.
            return html
        with _lock:
            halves = pages.setdefault(key, tuple(html.split(token)))
    return halves[0] + token + halves[1]

