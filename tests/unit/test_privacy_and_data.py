"""Personal data (issue 14 §4): the privacy notice and its acceptance, retention, export and cancellation."""
from __future__ import annotations

import dataclasses
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from registro.ops.datos import main as datos_main
from registro.domain.application import DocumentRecord, documents_attribute
from registro.domain.storage_keys import application_prefix
from registro.applicant import personal_data
from registro.documents import direct_uploads as du
from registro.kernel.audit import AuditTrail
from registro.applicant.privacy import NoticeMissing, PrivacyNotices
from registro.ops.retention import apply_retention
from tests.support.registration import csrf_token, mexican_form

from .conftest import unit_settings


# --- the notice -------------------------------------------------------------------------------------
def _notice_dir(tmp_path, *versions: str):
    for version in versions:
        folder = tmp_path / version
        folder.mkdir()
        (folder / "simplificado.es.html").write_text(f"<p>Aviso simplificado {version}</p>", "utf-8")
        (folder / "integral.es.html").write_text(f"<p>Aviso integral {version}</p>", "utf-8")
    return tmp_path


def test_the_newest_version_is_current_and_each_has_a_hash(tmp_path):
    notices = PrivacyNotices(_notice_dir(tmp_path, "2026-01-10", "2026-11-28", "borrador"))
    assert notices.current.version == "2026-11-28" and set(notices.versions) == {"2026-01-10", "2026-11-28"}
    assert notices.versions["2026-01-10"].sha256 != notices.current.sha256
    assert notices.current.text("integral", "en") == "<p>Aviso integral 2026-11-28</p>"  # Spanish when untranslated


def test_a_folder_without_notices_is_refused_at_start(tmp_path):
    with pytest.raises(NoticeMissing):
        PrivacyNotices(tmp_path)


def test_the_form_shows_the_simplified_notice_and_links_the_integral_one(client):
    page = client.get("/registro").get_data(as_text=True)
    assert "Aviso de privacidad simplificado" in page and 'href="/privacidad"' in page
    assert 'name="acepta_aviso"' in page and 'name="aviso_version" value="2026-11-28"' in page
    integral = client.get("/privacidad").get_data(as_text=True)
    assert "Derechos ARCO" in integral and "Versión 2026-11-28" in integral
    english = client.get("/privacidad?lang=en").get_data(as_text=True)
    assert "ARCO rights" in english and 'lang="en"' in english


def test_registration_requires_accepting_the_notice(client, fakes):
    page = client.get("/registro").get_data(as_text=True)
    r = client.post("/registro", data=mexican_form(acepta_aviso=None, csrf_token=csrf_token(page)))
    assert r.status_code == 200 and "Para registrarse, lea y acepte el Aviso de privacidad." in r.get_data(as_text=True)
    assert not fakes.identity.accounts


def test_the_accepted_version_and_time_are_in_the_audit_trail(client, fakes, app):
    page = client.get("/registro").get_data(as_text=True)
    before = datetime.now(timezone.utc)
    assert client.post("/registro", data=mexican_form(csrf_token=csrf_token(page))).status_code == 302
    (account,) = fakes.identity.accounts.values()
    (event,) = AuditTrail(fakes.audit).history(account.id)
    notice = app.extensions["registro.adapters"].privacy.current
    assert event.action == "aceptar_aviso_privacidad" and event.actor_username == "solicitante"
    assert event.details["aviso_version"] == notice.version and event.details["aviso_sha256"] == notice.sha256
    assert event.details["folio"] == account.attr("folio")
    assert datetime.fromisoformat(event.at) >= before


# --- retention ----------------------------------------------------------------------------------------
def _decided(fakes, estatus: str, days_ago: int) -> str:
    when = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()
    record = DocumentRecord(key="k", sha256="a" * 64, size=3, content_type="application/pdf", original_name="ine.pdf",
                            uploaded_at=when)
    account_id = fakes.identity.create_account(
        username=f"u-{estatus}-{days_ago}", email=f"{estatus}{days_ago}@example.com", first_name="Ana", last_name="Peña",
        attributes={"estatus": estatus, "folio": f"AU-2026-{days_ago:08d}", "revision": json.dumps({"fecha": when}),
                    "documentos": documents_attribute({"identificacion": record})})
    fakes.storage.put(application_prefix(account_id) + "documentos/identificacion/k", b"pdf", content_type="x")
    fakes.storage.put(application_prefix(account_id) + "responsiva/r.pdf", b"pdf", content_type="x")
    return account_id


def _direct_upload_marked(fakes, account_id: str) -> None:
    """A direct upload refused after the decision's documents: its marker names a file and the ID's details;
    and what the machine read of the ID (documents/readings.py): the name and number it found."""
    receipt = du.Receipt(account_id=account_id, kind="identificacion", key=application_prefix(account_id) + "x",
                         size=3, name="ine.pdf", details={"numero": "123"},
                         issued=datetime.now(timezone.utc).isoformat())
    assert fakes.upload_markers.mark(du.Marker(du.REFUSED, receipt, since=receipt.issued)) == du.MARKED
    fakes.reading_store.keep(account_id, "identificacion", {
        "version": "v1", "documento": application_prefix(account_id) + "documentos/identificacion/k",
        "sha256": "a" * 64, "leido": True, "motivos": [], "campos": [{"campo": "nombre", "leido": "PEÑA"}]})
    # and the viewer's manifest of the responsiva: the code read on its page names the applicant
    fakes.page_view_store.keep(application_prefix(account_id) + "responsiva/r.pdf", {
        "estado": "ok", "paginas": 1, "mostradas": 1, "codigos": ["AU|PELA800101MDFRPN06"], "codigos_buscados": True})


def test_retention_deletes_documents_past_their_period_and_keeps_the_hashes(fakes):
    settings = unit_settings(retention_approved_days=30, retention_rejected_days=10)
    old_approved, new_approved = _decided(fakes, "aprobado", 31), _decided(fakes, "aprobado", 29)
    old_rejected, new_rejected = _decided(fakes, "rechazado", 11), _decided(fakes, "rechazado", 9)
    for account_id in (old_approved, new_approved):
        _direct_upload_marked(fakes, account_id)
    done = apply_retention(fakes.identity, fakes.storage, settings, audit=fakes.audit, traces=fakes.document_traces())
    assert {r.account_id for r in done} == {old_approved, old_rejected}
    assert fakes.upload_markers.of_account(old_approved) == [] and fakes.upload_markers.of_account(new_approved)
    assert fakes.reading_store.get(old_approved, "identificacion") is None
    assert fakes.reading_store.get(new_approved, "identificacion") is not None
    assert fakes.page_view_store.get(application_prefix(old_approved) + "responsiva/r.pdf") is None
    assert fakes.page_view_store.get(application_prefix(new_approved) + "responsiva/r.pdf") is not None
    for gone in (old_approved, old_rejected):
        assert fakes.storage.list_keys(application_prefix(gone)) == []
        (event,) = AuditTrail(fakes.audit).history(gone)
        assert event.action == "retencion_documentos" and event.documents_sha256 == {"identificacion": "a" * 64}
        assert json.loads(fakes.identity.get_account(gone).attr("documentos"))["identificacion"]["sha256"] == "a" * 64
    for kept in (new_approved, new_rejected):
        assert len(fakes.storage.list_keys(application_prefix(kept))) == 2
    assert apply_retention(fakes.identity, fakes.storage, settings, audit=fakes.audit) == []  # nothing left: idempotent


def test_retention_zero_keeps_documents(fakes):
    account_id = _decided(fakes, "aprobado", 4000)
    assert apply_retention(fakes.identity, fakes.storage, unit_settings(retention_approved_days=0),
                           audit=fakes.audit) == []
    assert len(fakes.storage.list_keys(application_prefix(account_id))) == 2


# --- export and cancellation (python -m registro.ops.datos) ------------------------------------------------
def _holder(fakes, estatus: str = "rechazado") -> str:
    account_id = _decided(fakes, estatus, 1)
    AuditTrail(fakes.audit).record("rechazar", account_id, actor_id="r-1", actor_username="revisora",
                                   status_before="en_revision", status_after=estatus,
                                   documents_sha256={"identificacion": "a" * 64})
    return account_id


def test_export_writes_everything_held_and_names_the_operator(fakes, tmp_path, capsys):
    account_id = _holder(fakes)
    folio = fakes.identity.get_account(account_id).attr("folio")
    target = tmp_path / "datos.zip"
    assert datos_main(["exportar", folio, "--operador", "operador.uno", "--salida", str(target)], adapters=fakes) == 0
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        cuenta = json.loads(archive.read("cuenta.json"))
        audit = json.loads(archive.read("auditoria.json"))
    assert {"cuenta.json", "auditoria.json", "LEAME.txt", "objetos/documentos/identificacion/k",
            "objetos/responsiva/r.pdf"} <= names
    assert cuenta["correo"] == "rechazado1@example.com" and cuenta["atributos"]["folio"] == folio
    assert [e["action"] for e in audit] == ["rechazar"]
    last = AuditTrail(fakes.audit).history(account_id)[-1]
    assert last.action == "exportar_datos" and last.actor_username == "operador.uno"


def test_cancel_leaves_nothing_but_the_audit_hashes(fakes, capsys):
    account_id = _holder(fakes)
    _direct_upload_marked(fakes, account_id)
    username = fakes.identity.get_account(account_id).username
    assert datos_main(["cancelar", username, "--operador", "operador.dos"], adapters=fakes) == 2  # needs --confirmar
    assert datos_main(["cancelar", username, "--operador", "operador.dos", "--confirmar"], adapters=fakes) == 0
    assert account_id not in fakes.identity.accounts
    assert all(not k.startswith(application_prefix(account_id)) for k in fakes.storage.objects)
    assert [k for k in fakes.storage.objects if account_id in k] == []
    assert fakes.upload_markers.of_account(account_id) == []  # they named the file and the ID's details
    assert fakes.reading_store.get(account_id, "identificacion") is None  # what was read of it: personal data
    assert fakes.page_view_store.get(application_prefix(account_id) + "responsiva/r.pdf") is None  # its QR's code
    history = AuditTrail(fakes.audit).history(account_id)
    assert [e.action for e in history] == ["rechazar", "cancelar_datos"]
    cancelled = history[-1]
    assert cancelled.actor_username == "operador.dos" and cancelled.documents_sha256 == {"identificacion": "a" * 64}
    everything = json.dumps([dataclasses.asdict(e) for e in history], ensure_ascii=False)
    assert "rechazado1@example.com" not in everything and "Peña" not in everything


def test_cancel_deletes_the_emails_not_yet_delivered(fakes, capsys):
    """A rejection email given up during an SMTP outage kept its content (the person's name, the reasons)
    after the person's data was cancelled, and `make retry-emails` would have sent it later."""
    from registro.adapters.mail import OutgoingEmail

    account_id = _holder(fakes)
    account = fakes.identity.get_account(account_id)
    fakes.applications.record(account_id, account.username, account.attributes)
    rejection = OutgoingEmail(to=account.email, subject="Solicitud rechazada", text="Ana Peña",
                              html="<p>Ana Peña</p>")
    row = fakes.outbox_store.add("decision", rejection, account_id=account_id)
    assert row in fakes.outbox_store.rows
    assert datos_main(["cancelar", account.username, "--operador", "op", "--confirmar"], adapters=fakes) == 0
    assert row not in fakes.outbox_store.rows


def test_an_approved_account_is_not_cancelled(fakes, capsys):
    account_id = _holder(fakes, "aprobado")
    folio = fakes.identity.get_account(account_id).attr("folio")
    assert datos_main(["cancelar", folio, "--operador", "op", "--confirmar"], adapters=fakes) == 1
    assert account_id in fakes.identity.accounts


def test_an_unknown_holder_is_reported(fakes, capsys):
    assert datos_main(["exportar", "AU-2026-NOEXISTE", "--operador", "op"], adapters=fakes) == 1
    assert "no hay una solicitud" in capsys.readouterr().err
    with pytest.raises(personal_data.HolderNotFound):
        personal_data.find_holder(fakes.identity, fakes.applications, "nadie")


def test_a_recorded_folio_is_found_without_a_keycloak_attribute_search(fakes, monkeypatch):
    """The folio is a unique column of registro's database: the operator's command does not wait on a
    search that grows with the realm; an account made before the database (no row) is still found by
    the search."""
    recorded = _holder(fakes)
    account = fakes.identity.get_account(recorded)
    folio = account.attr("folio")
    fakes.applications.record(recorded, account.username, account.attributes)
    unrecorded = _decided(fakes, "rechazado", 2)
    searches = []
    real_search = fakes.identity.find_by_attribute
    monkeypatch.setattr(fakes.identity, "find_by_attribute",
                        lambda *a, **kw: searches.append(a) or real_search(*a, **kw))

    assert personal_data.find_holder(fakes.identity, fakes.applications, folio.lower()).id == recorded
    assert searches == []
    assert personal_data.find_holder(fakes.identity, fakes.applications, "AU-2026-00000002").id == unrecorded
    assert searches == [("folio", "AU-2026-00000002")]


def test_cancel_frees_the_persons_identifiers_and_takes_the_application_off_the_queue(fakes, capsys):
    from registro.kernel.applications import IdentifiersTaken, Intent, identifiers_of

    from tests.support.registration import CURP

    account_id = _holder(fakes)
    fakes.identity.update_attributes(account_id, {"curp": CURP})
    account = fakes.identity.get_account(account_id)
    identifiers = identifiers_of(account.attributes)
    assert "curp" in identifiers
    fakes.applications.record(account_id, account.username, account.attributes)
    fakes.identity.update_attributes(account_id, {"estatus": "en_revision", "fecha_envio": "2026-11-01T10:00:00+00:00"})
    assert fakes.queue_index.get(account_id) is not None  # waiting in the queue

    def another(n):
        return Intent.new(folio=f"AU-2026-OTRA000{n}", username="otra-persona", link_version="v", es_extranjero=False)

    with pytest.raises(IdentifiersTaken):
        fakes.applications.begin(another(1), identifiers)
    assert datos_main(["cancelar", account.username, "--operador", "op", "--confirmar"], adapters=fakes) == 0
    assert fakes.queue_index.get(account_id) is None
    fakes.applications.begin(another(2), identifiers)  # the person may apply again: nothing holds them
