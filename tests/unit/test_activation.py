"""The link and the application's states with fakes; the purge's selection rules."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from registro import create_app
from registro.domain import documents as docs
from registro.domain.storage_keys import application_prefix
from registro.kernel.confirmation_links import issue_link
from registro.ops.expiry import purge_expired
from tests.fakes import FakeIdentity, FakeStore
from tests.support import files
from tests.support.applications import create_application, path_of, submit, upload, upload_valid_documents
from tests.unit.conftest import unit_settings


def _settings(app):
    return app.extensions["registro.settings"]


def test_opening_confirms_once_and_reopens(client, fakes, app):
    account_id, link = create_application(fakes.identity, fakes.storage, _settings(app))
    assert client.get(path_of(link)).status_code == 200
    account = fakes.identity.get_account(account_id)
    assert account.email_verified and account.attr("estatus") == "pendiente_documentos" and not account.enabled
    assert client.get(path_of(link)).status_code == 200


def test_expired_link_offers_a_new_one_and_changes_nothing(fakes):
    settings = unit_settings(link_ttl_s=-1)  # every link is already past its age
    app = create_app({"SETTINGS": settings, "ADAPTERS": fakes, "TESTING": True})
    account_id, link = create_application(fakes.identity, fakes.storage, settings)
    r = app.test_client().get(path_of(link))
    assert r.status_code == 410
    html = r.get_data(as_text=True)
    assert "El enlace expiró" in html and 'action="/registro/reenviar"' in html and 'name="enlace"' in html
    assert fakes.identity.get_account(account_id).attr("estatus") == "pendiente_correo"


def test_superseded_and_tampered_links(client, fakes, app):
    account_id, first = create_application(fakes.identity, fakes.storage, _settings(app))
    second = issue_link(fakes.identity, _settings(app), account_id)
    r = client.get(path_of(first))
    assert r.status_code == 410 and "/registro/reenviar" in r.get_data(as_text=True)
    r = client.get(path_of(second)[:-3] + "xyz")
    assert r.status_code == 400 and "/registro/reenviar" not in r.get_data(as_text=True)
    assert client.get(path_of(second)).status_code == 200


def test_keycloak_down_on_opening(client, fakes, app):
    account_id, link = create_application(fakes.identity, fakes.storage, _settings(app))
    fakes.identity.down = True
    r = client.get(path_of(link))
    assert r.status_code == 503 and "No se realizó ningún cambio" in r.get_data(as_text=True)


def test_approved_application_link_is_closed(client, fakes, app):
    account_id, link = create_application(fakes.identity, fakes.storage, _settings(app))
    fakes.identity.update_attributes(account_id, {"estatus": "aprobado"})
    r = client.get(path_of(link))
    assert r.status_code == 410 and "ya fue aprobada" in r.get_data(as_text=True)


def test_correction_round(client, fakes, app):
    account_id, link = create_application(fakes.identity, fakes.storage, _settings(app))
    client.get(path_of(link))
    upload_valid_documents(client, link)
    assert submit(client, link).status_code == 303
    fakes.identity.update_attributes(account_id, {"estatus": "requiere_correccion", "motivos_correccion": json.dumps(
        {"documentos": {docs.RESPONSIVA: ["sin_firma"]}, "comentario": "Firme con tinta azul.",
         "fecha": "2026-11-28T10:00:00+00:00"})})
    page = client.get(path_of(link)).get_data(as_text=True)
    assert docs.CORRECTION_REASONS["sin_firma"] in page and "Firme con tinta azul." in page
    assert page.count('type="file"') == 1  # only the flagged document can be replaced
    assert upload(client, link, docs.CURP, files.pdf_bytes()).status_code == 409
    assert client.post(f"{path_of(link)}/documentos/{docs.CURP}/eliminar").status_code in (400, 409)
    assert submit(client, link).status_code == 400
    assert upload(client, link, docs.RESPONSIVA, files.pdf_bytes(), "firmada.pdf").status_code == 303
    assert submit(client, link).status_code == 303
    account = fakes.identity.get_account(account_id)
    assert account.attr("estatus") == "en_revision" and not account.attr("motivos_correccion")


def test_unknown_document_kind_is_404(client, fakes, app):
    _, link = create_application(fakes.identity, fakes.storage, _settings(app))
    client.get(path_of(link))
    assert upload(client, link, "acta_nacimiento", files.pdf_bytes()).status_code == 404


def test_responsiva_download_streams_the_stored_pdf(client, fakes, app):
    account_id, link = create_application(fakes.identity, fakes.storage, _settings(app))
    r = client.get(f"{path_of(link)}/responsiva")
    assert r.status_code == 200 and r.get_data().startswith(b"%PDF-")
    assert r.headers["Content-Disposition"].startswith('attachment; filename="responsiva-AU-2026-')


# --- purge ------------------------------------------------------------------------------------
def _ago(days: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).replace(microsecond=0).isoformat()


@pytest.fixture
def world():
    identity, store = FakeIdentity(), FakeStore()
    settings = unit_settings()
    made = {}
    for name, status, days in (("unconfirmed_old", "pendiente_correo", 7.1), ("unconfirmed_new", "pendiente_correo", 6.9),
                               ("incomplete_old", "pendiente_documentos", 30.5),
                               ("incomplete_new", "pendiente_documentos", 29)):
        made[name], _ = create_application(identity, store, settings, status=status, fecha_registro=_ago(days))
    made["submitted_old"], _ = create_application(identity, store, settings, status="pendiente_documentos",
                                                  fecha_registro=_ago(90))
    identity.update_attributes(made["submitted_old"], {"estatus": "en_revision"})
    store.put(application_prefix(made["incomplete_old"]) + "documentos/curp/x", b"%PDF", content_type="application/pdf")
    return identity, store, settings, made


def test_purge_dry_run_lists_and_deletes_nothing(world):
    identity, store, settings, made = world
    found = purge_expired(identity, store, settings, dry_run=True)
    assert {f.account_id for f in found} == {made["unconfirmed_old"], made["incomplete_old"]}
    assert len(identity.accounts) == 5
    assert next(f for f in found if f.account_id == made["incomplete_old"]).objects == 2


def test_purge_deletes_expired_applications_and_their_objects_only(world):
    from registro.kernel.document_traces import DocumentTraces
    from tests.fakes import FakeManifestStore, FakeReadingStore

    identity, store, settings, made = world
    readings, manifests = FakeReadingStore(), FakeManifestStore()
    for name in ("incomplete_old", "incomplete_new"):  # what the machine read of a document: personal data
        readings.keep(made[name], "curp", {"version": "v1", "documento": application_prefix(made[name]) + "documentos/curp/x",
                                           "sha256": "a" * 64, "leido": True, "motivos": [], "campos": []})
        manifests.keep(application_prefix(made[name]) + "documentos/curp/x", {"estado": "ok", "codigos": []})
    purge_expired(identity, store, settings, traces=DocumentTraces((readings, manifests)))
    assert set(identity.accounts) == {made["unconfirmed_new"], made["incomplete_new"], made["submitted_old"]}
    assert readings.get(made["incomplete_old"], "curp") is None and readings.get(made["incomplete_new"], "curp")
    assert manifests.get(application_prefix(made["incomplete_old"]) + "documentos/curp/x") is None
    assert manifests.get(application_prefix(made["incomplete_new"]) + "documentos/curp/x") is not None
    for name in ("unconfirmed_old", "incomplete_old"):
        assert store.list_keys(application_prefix(made[name])) == []
    assert store.list_keys(application_prefix(made["unconfirmed_new"]))


def test_a_correction_never_answered_expires_as_an_incomplete_application(world):
    """SPEC §9: 30 days without submitting documents — counted for `requiere_correccion` from the
    reviewer's request, so an application (or a squat of someone's CURP) cannot be held for ever by never
    answering it."""
    import json

    identity, store, settings, made = world
    for name, days in (("correction_old", 30.5), ("correction_new", 29)):
        made[name], _ = create_application(identity, store, settings, status="pendiente_documentos",
                                           fecha_registro=_ago(120))
        identity.update_attributes(made[name], {"estatus": "requiere_correccion", "motivos_correccion": json.dumps(
            {"documentos": {"curp": ["ilegible"]}, "comentario": "", "fecha": _ago(days)})})
    found = {f.account_id: f.status for f in purge_expired(identity, store, settings)}
    assert found[made["correction_old"]] == "requiere_correccion" and made["correction_new"] not in found
    assert made["correction_new"] in identity.accounts and made["submitted_old"] in identity.accounts


def test_purge_deletes_objects_before_the_account(world):
    """If S3 fails, the account stays so a re-run finds it again: never documents without an owner."""
    identity, store, settings, made = world
    store.down = True
    from registro.adapters.storage import StorageUnavailable
    with pytest.raises(StorageUnavailable):
        purge_expired(identity, store, settings)
    assert made["unconfirmed_old"] in identity.accounts and made["incomplete_old"] in identity.accounts
    store.down = False
    assert {f.account_id for f in purge_expired(identity, store, settings)} == {made["unconfirmed_old"],
                                                                                 made["incomplete_old"]}
