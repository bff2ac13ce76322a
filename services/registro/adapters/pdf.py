"""PDF rendering (WeasyPrint) of HTML the templates produce: the responsiva.

Two things the plain `HTML(string=…).write_pdf()` gets wrong for a long-lived server:
- it builds a new font configuration on every render and never frees it (≈ 0.23 MiB each, a
  worker grew by 300 MiB over 1,000 registrations); one FontConfiguration per renderer stays flat
  and skips the font setup on every render. Pango's font map is not thread-safe, so renders of one
  process are serialised (WeasyPrint holds the GIL for most of a render anyway);
- its default URL fetcher reads `file://` and makes HTTP requests when the HTML asks. Ours serves
  `data:` URIs and files inside the bundled asset folder only, and refuses everything else.
A document's stylesheets are bundled files named by the caller, parsed once per renderer and reused:
parsing the responsiva's stylesheet on every render was ≈ 10 % of the render.

A document whose layout is the same every time (the responsiva) is better laid out once as a form
with empty slots and filled per document (`form`, adapters/pdf_form.py): ≈ 1 ms instead of a layout.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Mapping, Protocol, Sequence, runtime_checkable
from urllib.parse import unquote, urlsplit

from registro.adapters import pdf_form

log = logging.getLogger(__name__)

# Files a template may reference (images, fonts, CSS), as `file://` URLs below this folder only.
ASSETS = Path(__file__).resolve().parent.parent / "templates" / "pdf"


class PdfUnavailable(Exception):
    """The document could not be rendered; nothing was produced."""


@runtime_checkable
class PdfRenderer(Protocol):
    def render(self, html: str, base_url: str | None = None, stylesheets: Sequence[str] = ()) -> bytes:
        """`stylesheets`: names of CSS files in the bundled asset folder, applied as author styles."""


@runtime_checkable
class FormRenderer(Protocol):
    def form(self, html: str, *, slot_markup: Mapping[str, str], footer_markers: Mapping[str, str],
             stylesheets: Sequence[str] = (), charset: frozenset[str] = pdf_form.CHARSET) -> "pdf_form.Form | None":
        """The one-page form this HTML lays out (see adapters/pdf_form.build) with its fonts prepared for
        `charset`, made once per distinct HTML, stylesheets and charset and kept; None when the HTML does
        not make a usable form."""


class FetchRefused(ValueError):
    """A resource outside the bundled assets was asked for."""


def bundled_only_fetcher(assets: Path = ASSETS):
    """A WeasyPrint URL fetcher that serves `data:` URIs and bundled files, nothing else."""
    from weasyprint.urls import URLFetcher

    root = assets.resolve()

    class BundledOnly(URLFetcher):
        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                path = Path(unquote(urlsplit(url).path)).resolve()
                if path.is_relative_to(root) and path.is_file():
                    return super().fetch(url, headers)
            log.warning("PDF: recurso externo rechazado (esquema %s)", scheme or "ninguno")
            raise FetchRefused("solo se sirven los recursos incluidos en el servicio")

    return BundledOnly(timeout=1, allow_redirects=False)


_NOT_MADE = object()


class WeasyPrintRenderer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fonts = None
        self._fetcher = None
        self._sheets: dict[str, object] = {}  # bundled CSS file name → parsed weasyprint.CSS
        self._forms: dict[bytes, pdf_form.Form | None] = {}  # digest of the form's HTML and stylesheets → form

    def _sheet(self, name: str):
        # Called with the lock held. The set of names is the templates' own, so the cache is bounded.
        sheet = self._sheets.get(name)
        if sheet is None:
            from weasyprint import CSS

            path = (ASSETS / name).resolve()
            if not (path.is_relative_to(ASSETS.resolve()) and path.is_file()):
                raise FetchRefused("solo se aplican hojas de estilo incluidas en el servicio")
            sheet = self._sheets[name] = CSS(string=path.read_text(encoding="utf-8"), base_url=path.as_uri(),
                                             url_fetcher=self._fetcher, font_config=self._fonts)
        return sheet

    def _setup(self) -> None:
        # Called with the lock held.
        from weasyprint.text.fonts import FontConfiguration

        if self._fonts is None:
            self._fonts = FontConfiguration()
            self._fetcher = bundled_only_fetcher()

    def form(self, html: str, *, slot_markup: Mapping[str, str], footer_markers: Mapping[str, str],
             stylesheets: Sequence[str] = (), charset: frozenset[str] = pdf_form.CHARSET) -> pdf_form.Form | None:
        # The key is the whole HTML and the charset: a changed template or declaration, another variant
        # of the document (rows shown or not), or a wider charset makes another form. Few exist, so the
        # cache is small.
        key = hashlib.sha256("\x00".join((html, *stylesheets, *sorted(slot_markup), *footer_markers,
                                           "".join(sorted(charset)))).encode()).digest()
        form = self._forms.get(key, _NOT_MADE)  # one lookup: another thread may clear the cache meanwhile
        if form is not _NOT_MADE:
            return form
        from weasyprint import HTML

        with self._lock:
            form = self._forms.get(key, _NOT_MADE)
            if form is not _NOT_MADE:
                return form
            self._setup()

            def layout(source: str):
                sheets = [self._sheet(name) for name in stylesheets]
                return HTML(string=source, base_url=ASSETS.as_uri() + "/", url_fetcher=self._fetcher).render(
                    stylesheets=sheets, font_config=self._fonts)

            try:
                form = pdf_form.build(html, render=layout, slot_markup=slot_markup, footer_markers=footer_markers,
                                      charset=charset)
            except Exception as exc:  # unusable as a form: its documents are rendered the full way
                log.warning("PDF: la plantilla no sirve como formulario (%s: %s)", type(exc).__name__, exc)
                form = None
            if len(self._forms) >= 16:
                self._forms.clear()
            self._forms[key] = form
            return form

    def render(self, html: str, base_url: str | None = None, stylesheets: Sequence[str] = ()) -> bytes:
        # Imported lazily: WeasyPrint loads Pango at import time, which only the PDF path needs.
        from weasyprint import HTML

        try:
            with self._lock:
                self._setup()
                document = HTML(string=html, base_url=base_url or ASSETS.as_uri() + "/", url_fetcher=self._fetcher)
                sheets = [self._sheet(name) for name in stylesheets]
                return document.write_pdf(stylesheets=sheets, font_config=self._fonts)
        except Exception as exc:  # WeasyPrint raises assorted types (OSError, ValueError, its own)
            log.error("no se pudo generar el PDF: %s", type(exc).__name__)
            raise PdfUnavailable(type(exc).__name__) from exc


# The process's renderer (container.build's default, and registration/responsiva.py's for callers that name
# none): one font configuration, one parsed stylesheet and one laid-out form per process.
PROCESS_RENDERER = WeasyPrintRenderer()
