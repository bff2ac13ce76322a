"""PDF rendering (WeasyPrint) of HTML the templates produce: the responsiva."""
from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


class PdfUnavailable(Exception):
    """The document could not be rendered; nothing was produced."""


@runtime_checkable
class PdfRenderer(Protocol):
    def render(self, html: str, base_url: str | None = None) -> bytes: ...


class WeasyPrintRenderer:
    def render(self, html: str, base_url: str | None = None) -> bytes:
        # Imported lazily: WeasyPrint loads Pango at import time, which only the PDF path needs.
        from weasyprint import HTML

        try:
            return HTML(string=html, base_url=base_url).write_pdf()
        except Exception as exc:  # WeasyPrint raises assorted types (OSError, ValueError, its own)
            log.error("no se pudo generar el PDF: %s", type(exc).__name__)
            raise PdfUnavailable(type(exc).__name__) from exc
