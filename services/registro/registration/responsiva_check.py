"""The facts the responsiva check (domain/checks.py) needs: is the generated responsiva stored, and
which codes can be read from the signed one. The codes are read by the page renderer while it makes
the viewer's images (review/page_views.py), so looking at an application reads a small manifest,
not the scan."""
from __future__ import annotations

import logging

from registro.adapters.page_render import RenderUnavailable
from registro.adapters.storage import ObjectMissing, ObjectStore, StorageUnavailable
from registro.domain import responsiva_code
from registro.domain.application import Application
from registro.domain.checks import ResponsivaFacts
from registro.domain.documents import RESPONSIVA
from registro.domain.storage_keys import responsiva_key
from registro.review.page_views import PageViews, Source
from registro.registration.responsiva_qr import expected_identity

log = logging.getLogger(__name__)


def signed_responsiva_source(app: Application) -> Source | None:
    signed = app.documents.get(RESPONSIVA)
    return Source(signed.key, signed.content_type, codes=True) if signed else None


def responsiva_facts(store: ObjectStore, page_views: PageViews | None, app: Application, mac_key: str) -> ResponsivaFacts:
    exists = False
    if app.folio:
        try:
            store.head(responsiva_key(app.id, app.folio))
            exists = True
        except ObjectMissing:
            pass
    codes: tuple[str, ...] = ()
    searched = False
    source = signed_responsiva_source(app)
    if source is not None and page_views is not None:
        try:
            manifest = page_views.ensure(source)
            # An unrenderable file was never looked at: its manifest says the codes were not searched.
            codes, searched = tuple(manifest.codes), manifest.codes_searched
        except (RenderUnavailable, StorageUnavailable) as exc:
            log.warning("no se pudo leer el código de la responsiva firmada: %s", type(exc).__name__)
    expected = responsiva_code.payload(expected_identity(app.account), mac_key) if app.folio else ""
    return ResponsivaFacts(generated_exists=exists, codes=codes, expected_code=expected, codes_searched=searched)
