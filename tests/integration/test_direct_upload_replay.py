"""Issue 21, item 8, against the served `registro`, the real S3 server and Keycloak: a replayed
direct-upload confirmation leaves the recorded document in place, and a document whose object is gone
is shown to the reviewer as "Documento no disponible" (the detail page used to answer 500 forever)."""
from __future__ import annotations

import pytest

from registro.domain import documents as docs
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from tests.integration.test_direct_uploads import browser  # noqa: F401 - fixture
from tests.integration.test_review import console, new_reviewer, review_app, settings, store  # noqa: F401
from tests.support import files

pytestmark = pytest.mark.integration


def test_a_replayed_confirmation_after_a_refused_upload_keeps_the_recorded_document(browser, gateway, storage):
    account_id, b = browser
    data = files.pdf_bytes()
    first = b.issue(docs.CURP, len(data)).json()
    assert b.put(first, data).status_code == 200
    assert b.outcome(b.confirm(first)) == "cargado"
    recorded = Application(gateway.get_account(account_id)).documents[docs.CURP]
    refused = files.elf_bytes()
    second = b.issue(docs.CURP, len(refused)).json()
    assert b.put(second, refused).status_code == 200
    assert b.outcome(b.confirm(second)) == "rechazado"
    replayed = b.confirm(first)  # the first confirmation's request, sent again
    # Answered with what the page's polling would read: the document's marker names the later upload.
    assert replayed.status_code == 200 and b.outcome(replayed) == "reemplazado"
    assert Application(gateway.get_account(account_id)).documents[docs.CURP] == recorded
    assert storage.get(recorded.key) == data


def test_the_detail_page_says_documento_no_disponible_for_objects_gone(console, pending, store):
    application = pending()
    assert console.get(f"/revision/{application.id}").status_code == 200  # images rendered and cached
    for key in store.list_keys(application_prefix(application.id)):  # as the retention period deletes them
        store.delete(key)
    for _ in range(2):
        r = console.get(f"/revision/{application.id}")
        assert r.status_code == 200
        assert r.get_data(as_text=True).count("Documento no disponible") == len(application.documents) + 1
