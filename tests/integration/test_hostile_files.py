"""The hostile-file corpus against the real service, Keycloak and S3: every file is refused with
its Spanish message and leaves nothing stored; the review page of an application holding any
file the upload accepted — or a hostile one stored before the check existed — answers 200."""
from __future__ import annotations

import html

import pytest

from registro.domain import documents as docs
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from tests.integration.test_review import (console, new_reviewer, review_app,  # noqa: F401 - fixtures
                                           settings, store)
from tests.support import hostile_files as hostile
from tests.support.applications import path_of, upload

pytestmark = pytest.mark.integration


def _stored(s3, bucket: str, account_id: str) -> list[str]:
    prefix = application_prefix(account_id) + "documentos/"
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_every_hostile_file_is_refused_over_http_and_nothing_is_stored(registro, gateway, s3, stack, applications):
    account_id, link = applications()
    assert registro.get(path_of(link)).status_code == 200
    for name in sorted(hostile.CORPUS_BUILDERS):
        data = hostile.build(name)
        kind = docs.RESPONSIVA if data.startswith(b"%PDF-") else docs.IDENTIFICACION
        r = upload(registro, link, kind, data, f"{name}.{'pdf' if kind == docs.RESPONSIVA else 'jpg'}")
        assert r.status_code == 400, name
        assert hostile.expected_message(name) in html.unescape(r.get_data(as_text=True)), name
    assert Application(gateway.get_account(account_id)).documents == {}
    assert _stored(s3, stack.s3_bucket, account_id) == []


def test_the_review_page_answers_200_for_accepted_edge_files_and_for_legacy_hostile_ones(console, pending, store):
    # Honest files at the edges of what is accepted, stored as the upload stores them.
    edge = pending()
    page = console.get(f"/revision/{edge.id}")
    assert page.status_code == 200
    for kind, data, content_type in (
            (docs.RESPONSIVA, hostile.pdf_with_link_and_destination(), "application/pdf"),
            (docs.IDENTIFICACION, hostile.phone_photo(48), "image/jpeg")):
        store.put(edge.documents[kind].key, data, content_type=content_type)
        assert console.get(f"/revision/{edge.id}").status_code == 200

    # A hostile responsiva that reached the bucket before the check existed: the folio text
    # extraction reads it through the same bounded check, finds nothing, and the page renders.
    legacy = pending()
    key = legacy.documents[docs.RESPONSIVA].key
    for name in ("deeply_nested_arrays", "flate_bomb", "self_referencing_length", "openaction_javascript",
                 "page_tree_cycle", "many_objects"):
        store.put(key, hostile.build(name), content_type="application/pdf")
        r = console.get(f"/revision/{legacy.id}")
        assert r.status_code == 200, name
        assert "Folio de la responsiva" in r.get_data(as_text=True)
