"""A direct-upload confirmation is idempotent per receipt (issue 21, item 8): replaying a receipt — the
same request sent again, by a double click, a retrying proxy or on purpose — never deletes the document
its first confirmation recorded, whatever was uploaded in between and whether Keycloak answers."""
from __future__ import annotations

import pytest

from registro.domain import documents as docs
from registro.documents import direct_uploads
from tests.support import files
from tests.support.applications import csrf_token, direct_upload, path_of
# The fixtures of the direct-upload tests: the app with a public S3 URL, an opened application, the checks.
from tests.unit.test_direct_uploads import _application, _doc_keys, app, jobs, opened  # noqa: F401

pytestmark = pytest.mark.usefixtures("app")


def _confirmed(client, fakes, link, data):
    """A direct upload confirmed; returns what a replay sends again: (confirm URL, form)."""
    issued, sent, confirmed = direct_upload(client, link, docs.CURP, data, fakes.storage.browser_put)
    assert sent == 200 and confirmed.status_code == 202
    page = client.get(path_of(link)).get_data(as_text=True)
    return issued.get_json()["confirmar"], {"csrf_token": csrf_token(page), "recibo": issued.get_json()["recibo"]}


def _results(jobs):
    done = [job.result(timeout=30) for job in jobs]
    jobs.clear()
    return done


def test_a_replayed_receipt_after_a_refused_upload_keeps_the_recorded_document(client, fakes, opened, jobs):
    account_id, link = opened
    replay = _confirmed(client, fakes, link, files.pdf_bytes())
    assert _results(jobs) == [direct_uploads.DONE]
    recorded = _application(fakes, account_id).documents[docs.CURP]
    _confirmed(client, fakes, link, files.elf_bytes())  # B: refused, its object deleted, the marker names it
    assert _results(jobs) == [direct_uploads.REFUSED]
    assert client.post(*replay[:1], data=replay[1]).status_code == 202
    assert _results(jobs) == [direct_uploads.DONE]
    assert _application(fakes, account_id).documents[docs.CURP] == recorded
    assert _doc_keys(fakes.storage) == [recorded.key] and fakes.storage.get(recorded.key) == files.pdf_bytes()


def test_a_replayed_receipt_while_keycloak_fails_keeps_the_recorded_document(client, fakes, opened, jobs):
    account_id, link = opened
    replay = _confirmed(client, fakes, link, files.pdf_bytes())
    assert _results(jobs) == [direct_uploads.DONE]
    recorded = _application(fakes, account_id).documents[docs.CURP]
    _confirmed(client, fakes, link, files.elf_bytes())
    assert _results(jobs) == [direct_uploads.REFUSED]
    fakes.identity.down = True  # the record cannot be read: nothing is deleted on a guess
    assert client.post(*replay[:1], data=replay[1]).status_code == 202
    _results(jobs)
    fakes.identity.down = False
    assert _doc_keys(fakes.storage) == [recorded.key]
    assert _application(fakes, account_id).documents[docs.CURP] == recorded


def test_a_receipt_confirmed_twice_is_checked_once(client, fakes, opened, jobs, monkeypatch):
    account_id, link = opened
    replay = _confirmed(client, fakes, link, files.pdf_bytes())
    assert _results(jobs) == [direct_uploads.DONE]
    reads = []
    real_open = fakes.storage.open
    monkeypatch.setattr(fakes.storage, "open", lambda key: reads.append(key) or real_open(key))
    marker = fakes.upload_markers.get(account_id, docs.CURP)
    for _ in range(3):
        assert client.post(*replay[:1], data=replay[1]).status_code == 202
    assert _results(jobs) == [direct_uploads.DONE] * 3
    assert reads == [] and fakes.upload_markers.get(account_id, docs.CURP) == marker  # nothing redone


def test_a_second_check_of_a_receipt_whose_first_is_running_changes_nothing(fakes, opened, app):
    """Two confirmations of one receipt at the same moment: the one that finds the marker taken by its own
    receipt leaves the check (and the object) to the other, whatever happens to it."""
    account_id, link = opened
    settings = app.extensions["registro.settings"]
    grant = direct_uploads.Grant.of(_application(fakes, account_id), docs.CURP, "v")
    put, token = direct_uploads.issue(fakes.storage, settings, grant, len(files.pdf_bytes()), "curp.pdf", {})
    receipt = direct_uploads.read_receipt(settings, token, account_id, docs.CURP)
    assert fakes.storage.browser_put(put.url, files.pdf_bytes(), put.headers) == 200
    marks = fakes.upload_markers
    checking = direct_uploads.Marker(direct_uploads.CHECKING, receipt, since="2026-03-03T10:00:00+00:00")
    assert marks.mark(checking) == direct_uploads.MARKED
    assert marks.mark(checking) == direct_uploads.ALREADY
    # The second one's marking said ALREADY; then Keycloak fails: it neither deletes nor marks it refused.
    fakes.identity.down = True
    marking = direct_uploads._helper(lambda: direct_uploads.ALREADY)
    with pytest.raises(direct_uploads._CheckedElsewhere):
        direct_uploads._record(fakes.identity, fakes.storage, marks, settings, receipt, marking)
    assert receipt.key in fakes.storage.objects
    assert marks.get(account_id, docs.CURP) == checking
