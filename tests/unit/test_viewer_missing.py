"""A document whose object is gone — deleted by the retention period, or by the replayed direct-upload
confirmation of issue 21 (item 8) — is shown to the reviewer as "Documento no disponible"; the detail page
never answers 500 for it (`ObjectMissing` from the viewer's manifests and the responsiva check)."""
from __future__ import annotations

import re

import pytest

from registro.domain.storage_keys import application_prefix
from registro.review.viewer import MISSING_MESSAGE
from tests.support import review_data as data
from tests.unit.test_review_web import log_in


@pytest.fixture
def reviewer_client(client, fakes):
    log_in(client, fakes)
    return client


def _article(html: str, dom_id: str) -> str:
    return re.search(rf'<article class="visor" id="{dom_id}".*?</article>', html, re.S).group(0)


def test_every_object_deleted_as_the_retention_period_does(reviewer_client, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    assert reviewer_client.get(f"/revision/{app.id}").status_code == 200  # looked at once: its manifests made
    for key in fakes.storage.list_keys(application_prefix(app.id)):
        fakes.storage.delete(key)
    for _ in range(2):  # the first look and every later one (nothing is cached for a missing document)
        r = reviewer_client.get(f"/revision/{app.id}")
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        for dom_id in ["responsiva-generada"] + [f"documento-{kind}" for kind in app.documents]:
            article = _article(html, dom_id)
            assert "Documento no disponible" in article and "<img" not in article and "download" not in article
    assert "Datos para comparar" in html  # the rest of the page is all there


def test_one_document_deleted_the_others_still_shown(reviewer_client, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    kinds = sorted(app.documents)
    gone, kept = kinds[0], kinds[1:]
    fakes.storage.delete(app.documents[gone].key)
    html = reviewer_client.get(f"/revision/{app.id}").get_data(as_text=True)
    assert MISSING_MESSAGE in _article(html, f"documento-{gone}")
    for kind in kept:
        article = _article(html, f"documento-{kind}")
        assert "<img" in article and "no disponible" not in article
    assert reviewer_client.get(f"/revision/{app.id}/documentos/{gone}").status_code == 404
