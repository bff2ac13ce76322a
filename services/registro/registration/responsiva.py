"""The responsiva: the PDF an applicant prints, signs and uploads. Rendered from
`templates/pdf/responsiva.html` (its declaration from `templates/pdf/declaracion.html`)
and kept in S3 at `domain.storage_keys.responsiva_key(account_id, folio)`.

Two ways, the same page. The fast one: the template is filled with an empty slot for every value
(pdf_form.slot_markup), the renderer lays that out once as a form (kept while the template, declaration,
stylesheet and variant — rows shown, English note — stay the same) and each responsiva is its
values and QR code drawn into the slots (adapters/pdf_form.py). The full one: WeasyPrint lays out
the template with each value in its slot (pdf_form.value_markup), so the page is laid out as the
form's and a value lies where a fill would draw it; taken when a value has a character the form's
fonts were not prepared for (names in other scripts), does not fit its slot, or the renderer makes
no forms (test doubles).
"""
from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Mapping

from flask import current_app, render_template
from markupsafe import Markup

from keycloak_ext import Account

from registro.adapters import pdf_form
from registro.adapters.pdf import PROCESS_RENDERER, FormRenderer, PdfRenderer
from registro.adapters.storage import ObjectMissing, ObjectStore
from registro.domain.storage_keys import responsiva_key
from registro.registration import responsiva_qr
from registro.registration.responsiva_context import context_of
from registro.platform.process_pool import ProcessPool

log = logging.getLogger(__name__)

PDF = "application/pdf"
# Its layout (templates/pdf/responsiva.css): a bundled file the renderer parses once and reuses.
STYLESHEETS = ("responsiva.css",)


# The QR code's slot, and where the footer names the folio (responsiva.css: "Folio " string(folio) …).
CODE_SLOT = "codigo"
FOOTER_MARKERS = {"folio": "Folio "}


def _text_names(context: dict) -> list[str]:
    # An empty value keeps its falsy value, so the template shows or hides its row as for the document.
    return sorted(name for name, value in context.items() if isinstance(value, str) and value)


def _slotted_html(context: dict, values: Mapping[str, str], code: str, title_folio: str) -> str:
    return render_template("pdf/responsiva.html", **{**context, **{n: Markup(v) for n, v in values.items()}},
                           folio_titulo=title_folio, codigo_responsiva=lambda: Markup(code))


def _form_html(context: dict) -> tuple[str, dict[str, str]]:
    """The template with an empty slot for every text value and for the QR code."""
    names = _text_names(context)
    slots = pdf_form.slot_markup([*names, CODE_SLOT])
    html = _slotted_html(context, {n: slots[n] for n in names}, slots[CODE_SLOT], slots.get("folio", ""))
    return html, slots


def _full_html(context: dict, mac_key: str) -> str:
    """The template with every text value in its slot (pdf_form.value_markup) and the QR code as SVG."""
    return _slotted_html(context, {n: pdf_form.value_markup(n, context[n]) for n in _text_names(context)},
                         responsiva_qr.code_svg(context, mac_key), context.get("folio", ""))


def _drawn_into_form(context: dict, renderer: FormRenderer, mac_key: str) -> bytes | None:
    html, slots = _form_html(context)
    values = {name: context[name] for name in slots if name != CODE_SLOT}
    # The lightest form that can draw these values (a Spanish name's responsiva: 34 KB, not 48).
    charset = pdf_form.charset_for(values.values())
    if charset is None:
        return None
    form = renderer.form(html, slot_markup=slots, footer_markers=FOOTER_MARKERS, stylesheets=STYLESHEETS,
                         charset=charset)
    if form is None:
        return None
    if form.names - set(slots):  # a slot the template changed on its way (a filter on a value)
        log.info("responsiva: la plantilla altera un campo; se compone completa")
        return None
    return form.fill(values, responsiva_qr.code_matrix(context, mac_key), square_slot=CODE_SLOT)


def render_responsiva(context: dict, renderer: PdfRenderer | None = None, *, mac_key: str) -> bytes:
    """`mac_key`: what signs its QR code (responsiva_qr.mac_key of the service's settings, the key the
    reviewer's viewer checks it with). Raises adapters.pdf.PdfUnavailable when WeasyPrint fails."""
    renderer = renderer or PROCESS_RENDERER
    if isinstance(renderer, FormRenderer):
        try:
            pdf = _drawn_into_form(context, renderer, mac_key)
        except Exception as exc:  # a fault of the fast path must not cost the applicant the document
            log.error("responsiva: falló el formulario precompuesto (%s); se compone completa", type(exc).__name__)
            pdf = None
        if pdf is not None:
            log.info("responsiva: valores dibujados en el formulario precompuesto")
            return pdf
        log.info("responsiva: composición completa (un valor no cabe o usa otros caracteres)")
    return renderer.render(_full_html(context, mac_key), stylesheets=STYLESHEETS)


_POOL = ProcessPool(max_workers=4, name="responsiva")


def start_render(context: dict, renderer: PdfRenderer | None = None, *, mac_key: str) -> "Future[bytes]":
    """Renders in a worker thread, so the caller can wait on I/O meanwhile (the worker works in the
    caller's application, whose templates and settings it needs); `.result()` raises PdfUnavailable
    on failure."""
    renderer = renderer or PROCESS_RENDERER
    app = current_app._get_current_object()

    def render() -> bytes:
        with app.app_context():
            return render_responsiva(context, renderer, mac_key=mac_key)

    return _POOL.get().submit(render)


def responsiva_of(account: Account, storage: ObjectStore, renderer: PdfRenderer | None = None, *,
                  mac_key: str) -> bytes:
    """The stored responsiva; rendered and stored again when its object is missing (a failed
    put, a wiped bucket), so a resend always produces one."""
    key = responsiva_key(account.id, account.attr("folio"))
    try:
        return storage.get(key)
    except ObjectMissing:
        pdf = render_responsiva(context_of(account), renderer, mac_key=mac_key)
        storage.put(key, pdf, content_type=PDF, metadata={"folio": account.attr("folio")})
        return pdf


def attachment_name(folio: str) -> str:
    return f"responsiva-{folio}.pdf"
