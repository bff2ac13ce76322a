"""The document viewer of the review console: an applicant's documents shown as page images
the service rendered (review/page_views.py), never as the applicant's own file.

The reviewer's browser receives only images this service encoded. The original is offered for
download as an attachment (`application/octet-stream`, never rendered by the browser). The
documents section of the detail page (templates/revision/_documentos.html) asks
`visor_documentos(app)` for what to show; zoom and rotation are static/js/visor.js.
"""
from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Blueprint, Response, abort, stream_with_context, url_for
from jinja2 import pass_context
from markupsafe import Markup

from keycloak_ext import AccountNotFound

from registro.adapters.page_render import RenderUnavailable
from registro.adapters.page_render_worker import IMAGE_MIME
from registro.adapters.storage import ObjectMissing, StorageUnavailable
from registro.container import adapters, settings
from registro.domain.application import Application, DocumentRecord
from registro.domain.documents import DOCUMENT_LABELS
from registro.domain.storage_keys import responsiva_key, stored_document_key
from registro.registration import responsiva_qr
from registro.review.leases import Reviewer
from registro.review.page_views import Manifest, Source, document_source
from registro.review.console_auth import reviewer_required
from registro.web.errors import error_page

log = logging.getLogger(__name__)

bp = Blueprint("viewer", __name__, url_prefix="/revision")

_ACCOUNT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_FOLIO = re.compile(r"^[A-Z0-9-]{1,40}$")
MAX_PAGE = 999

UNRENDERABLE_MESSAGE = ("No fue posible mostrar este documento en el visor: el archivo está dañado o no se puede "
                        "interpretar. Descargue el original para revisarlo o solicite al solicitante que lo cargue "
                        "de nuevo.")
MISSING_MESSAGE = ("Documento no disponible: el archivo ya no está guardado (por ejemplo, se eliminó al "
                   "cumplirse su plazo de conservación). Los datos del registro y su huella SHA-256 se conservan.")
UNAVAILABLE_MESSAGE = ("El visor de documentos no está disponible en este momento. Recargue la página en unos "
                       "minutos o descargue el original.")


@dataclass
class DocumentView:
    """What the documents section shows for one document."""

    dom_id: str
    label: str
    download_url: str
    download_label: str
    record: DocumentRecord | None = None  # None for the responsiva the service generated
    page_urls: list[str] = field(default_factory=list)
    total_pages: int = 0
    message: str = ""  # set when no page can be shown

    @property
    def truncated(self) -> bool:
        return bool(self.page_urls) and len(self.page_urls) < self.total_pages


@bp.record_once
def _setup(state) -> None:
    state.app.add_template_global(document_views, "visor_documentos")
    state.app.add_template_global(_responsiva_code, "codigo_responsiva")


@pass_context
def _responsiva_code(context) -> Markup:
    """`{{ codigo_responsiva() }}` in templates/pdf/responsiva.html: the QR code of the responsiva
    being rendered, from the values that template prints (so the code and the paper agree)."""
    return Markup(responsiva_qr.code_svg(context, responsiva_qr.mac_key(settings())))


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "private, no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    # Nothing this blueprint serves is a page: it may run nothing, load nothing, be framed by nobody.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox; frame-ancestors 'none'"
    return response


@bp.errorhandler(AccountNotFound)
def _no_account(exc: AccountNotFound):
    return error_page(404, "La solicitud no existe o fue eliminada.")


# --- what the detail page shows --------------------------------------------------------------------
def _view_of(outcome: "Manifest | Exception", view: DocumentView, page_url) -> DocumentView:
    if isinstance(outcome, Exception):
        log.warning("visor no disponible: %s", type(outcome).__name__)
        view.message = UNAVAILABLE_MESSAGE
        return view
    if outcome.missing:
        view.message = MISSING_MESSAGE
        view.download_url = ""  # nothing to download either
        return view
    if not outcome.ok:
        view.message = UNRENDERABLE_MESSAGE
        return view
    view.total_pages = outcome.total_pages
    view.page_urls = [page_url(n) for n in range(1, outcome.shown_pages + 1)]
    return view


def _manifests(sources: list[Source]) -> list["Manifest | Exception"]:
    """Each document's manifest; the ones still missing (an application submitted before its
    images were made) are rendered side by side, within the renderer's own concurrency limit."""
    page_views = adapters().page_views
    with ThreadPoolExecutor(max_workers=max(1, min(len(sources), 4))) as pool:
        futures = [pool.submit(page_views.ensure, s) for s in sources]
    outcomes: list[Manifest | Exception] = []
    for future in futures:
        error = future.exception()
        if error is not None and not isinstance(error, (RenderUnavailable, StorageUnavailable)):
            raise error
        outcomes.append(error if error is not None else future.result())
    return outcomes


def document_views(app: Application) -> list[DocumentView]:
    """The generated responsiva (to compare with the signed one), then every uploaded document."""
    entries: list[tuple[Source, DocumentView, object]] = []
    if app.folio and _FOLIO.match(app.folio):
        view = DocumentView(dom_id="responsiva-generada", label=f"Responsiva generada por el sistema (folio {app.folio})",
                            download_url=url_for("viewer.responsiva", account_id=app.id),
                            download_label="Descargar la responsiva generada (PDF)")
        entries.append((Source(responsiva_key(app.id, app.folio), "application/pdf"), view,
                        lambda n: url_for("viewer.responsiva_page", account_id=app.id, folio=app.folio, number=n)))
    for kind, record in app.documents.items():
        token = record.key.rsplit("/", 1)[-1]
        label = DOCUMENT_LABELS.get(kind, kind)
        view = DocumentView(dom_id=f"documento-{kind}", label=label, record=record,
                            download_url=url_for("viewer.original", account_id=app.id, kind=kind),
                            download_label=f"Descargar el archivo original ({label})")
        entries.append((document_source(kind, record), view,
                        lambda n, kind=kind, token=token: url_for(
                            "viewer.document_page", account_id=app.id, kind=kind, token=token, number=n)))
    outcomes = _manifests([source for source, _, _ in entries])
    return [_view_of(outcome, view, page_url) for (_, view, page_url), outcome in zip(entries, outcomes)]


# --- page images -----------------------------------------------------------------------------
def _page(source_key: str, number: int) -> Response:
    if not 1 <= number <= MAX_PAGE:
        abort(404)
    try:
        image = adapters().page_views.page(source_key, number)
    except ObjectMissing:
        abort(404)
    return Response(image, mimetype=IMAGE_MIME)


@bp.get("/<account_id>/documentos/<kind>/<token>/paginas/<int:number>")
@reviewer_required
def document_page(reviewer: Reviewer, account_id: str, kind: str, token: str, number: int):
    # The key is rebuilt from the URL (no Keycloak read per image); every part is checked first.
    if not _ACCOUNT_ID.match(account_id) or kind not in DOCUMENT_LABELS or not _TOKEN.match(token):
        abort(404)
    return _page(stored_document_key(account_id, kind, token), number)


@bp.get("/<account_id>/responsiva/<folio>/paginas/<int:number>")
@reviewer_required
def responsiva_page(reviewer: Reviewer, account_id: str, folio: str, number: int):
    if not _ACCOUNT_ID.match(account_id) or not _FOLIO.match(folio):
        abort(404)
    return _page(responsiva_key(account_id, folio), number)


# --- originals, as attachments only -------------------------------------------------------------
def _application(account_id: str) -> Application:
    if not _ACCOUNT_ID.match(account_id):
        abort(404)
    return Application(adapters().identity.get_account(account_id))


@bp.get("/<account_id>/documentos/<kind>")
@reviewer_required
def original(reviewer: Reviewer, account_id: str, kind: str):
    record = _application(account_id).documents.get(kind)
    if record is None:
        abort(404)
    return _attachment(record.key, record.original_name or kind)


@bp.get("/<account_id>/responsiva")
@reviewer_required
def responsiva(reviewer: Reviewer, account_id: str):
    app = _application(account_id)
    if not app.folio:
        abort(404)
    return _attachment(responsiva_key(app.id, app.folio), f"responsiva-{app.folio}.pdf")


def _attachment(key: str, filename: str) -> Response:
    try:
        chunks = adapters().storage.open(key)
    except ObjectMissing:
        abort(404)
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100] or "documento"
    # octet-stream + attachment: the browser saves the file and never renders it.
    response = Response(stream_with_context(chunks), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = (f"attachment; filename=\"{safe_name}\"; "
                                               f"filename*=UTF-8''{quote(filename)}")
    return response
