"""One person, one account under concurrency: claims are atomic, released on rollback, purge and rejection."""
from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

from registro import create_app
from registro.domain.application import Application
from registro.workflow import claims
from registro.workflow.claims import Claims, Taken
from registro.workflow.documents import Upload, store_document
from registro.workflow.registration import resend
from tests.fakes import FakeIdentity, FakeMailer, FakeStore
from tests.support.files import pdf_bytes
from tests.support.registration import CURP, curps_sharing_rfc, post_registration, mexican_form, random_person, \
    rfc_with_check
from tests.unit.conftest import unit_settings


def test_concurrent_claims_of_one_curp_have_exactly_one_winner():
    identity, storage = FakeIdentity(), FakeStore()
    c = Claims(storage, identity)

    def attempt(i):
        try:
            return c.claim_all({claims.CURP: CURP, claims.PASAPORTE: f"US:P{i}"}, f"user{i}")
        except Taken as exc:
            return exc.fields

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(attempt, range(20)))
    winners = [r for r in results if isinstance(r, claims.Held)]
    assert len(winners) == 1
    assert all(r == ["curp"] for r in results if not isinstance(r, claims.Held))
    # The losers left nothing behind: only the winner's CURP and passport claims exist.
    assert len([k for k in storage.objects if k.startswith(claims.PREFIX)]) == 2


def test_registrations_racing_on_one_curp_make_one_account(fakes):
    app = create_app({"SETTINGS": unit_settings(registration_limits="1000 per hour"), "ADAPTERS": fakes,
                      "TESTING": True})
    barrier = threading.Barrier(8)

    def register(i):
        client = app.test_client()
        other = random_person()[1]
        form = mexican_form(rfc=rfc_with_check(other[:4] + CURP[4:10] + "AB"), email=f"p{i}@example.com")
        barrier.wait()
        return post_registration(client, form).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(register, range(8)))
    assert codes.count(302) == 1 and len(fakes.identity.accounts) == 1


def test_a_stale_claim_of_a_vanished_account_is_taken_over():
    identity, storage = FakeIdentity(), FakeStore()
    now = [1000.0]
    c = Claims(storage, identity, clock=lambda: now[0])
    c.claim_all({claims.CURP: CURP}, "crashed-halfway")  # no account was ever created
    try:
        c.claim_all({claims.CURP: CURP}, "next")
        raise AssertionError("a claim in flight must count")
    except Taken:
        pass
    now[0] += claims.GRACE_S + 1
    assert c.claim_all({claims.CURP: CURP}, "next").keys


def test_a_live_account_keeps_its_claim_however_old():
    identity, storage = FakeIdentity(), FakeStore()
    now = [1000.0]
    c = Claims(storage, identity, clock=lambda: now[0])
    identity.create_account(username="owner", email="o@example.com", first_name="A", last_name="B",
                            attributes={"curp": CURP, "estatus": "pendiente_documentos"})
    c.claim_all({claims.CURP: CURP}, "owner")
    now[0] += 10 * claims.GRACE_S
    try:
        c.claim_all({claims.CURP: CURP}, "other")
        raise AssertionError("the owner still has the CURP")
    except Taken as exc:
        assert exc.fields == ["curp"]


def test_rejection_and_purge_release_the_claims(client, fakes):
    assert post_registration(client, mexican_form()).status_code == 302
    account = next(iter(fakes.identity.accounts.values()))
    assert len([k for k in fakes.storage.objects if k.startswith(claims.PREFIX)]) == 2  # curp, folio
    Claims(fakes.storage, fakes.identity).release_account(account, include_folio=True)
    assert not [k for k in fakes.storage.objects if k.startswith(claims.PREFIX)]


def test_failed_registration_releases_its_claims(client, fakes):
    # Keycloak refuses the create (here: the realm lacks the user type's group, a 500) after the
    # claims were taken.
    group = fakes.identity.groups.pop("/tipo-agente_aduanal")
    assert post_registration(client, mexican_form()).status_code == 503
    assert not [k for k in fakes.storage.objects if k.startswith(claims.PREFIX)]
    fakes.identity.groups["/tipo-agente_aduanal"] = group  # provisioning ran
    assert post_registration(client, mexican_form()).status_code == 302  # the person may try again


# --- lost updates: "Reenviar correo" against an upload ------------------------------------------------------
def test_resend_during_an_upload_loses_neither_the_document_nor_the_new_link(app):
    """The upload's read-merge-write is paused after its read; a resend runs meanwhile. Without one
    locked path the upload's write would put back the old link version (or the resend would drop
    the document record)."""
    identity, storage, mailer = FakeIdentity(), FakeStore(), FakeMailer()
    settings = unit_settings()
    account_id = identity.create_account(
        username="pela800101ab8", email="a@example.com", first_name="Ana", last_name="Peña",
        attributes={"estatus": "pendiente_documentos", "es_extranjero": "false", "folio": "AU-2026-X",
                    "enlace_version": "v0"})
    storage.put(f"solicitudes/{account_id}/responsiva/AU-2026-X.pdf", pdf_bytes(), content_type="application/pdf")
    resend_trying = threading.Event()
    resend_done = threading.Event()
    upload_paused = threading.Event()
    real_put_if_absent = storage.put_if_absent

    def put_if_absent(key, body, **kw):
        if threading.current_thread().name == "reenvio" and key.endswith("bloqueo-edicion.json"):
            resend_trying.set()  # the resend is at the lock: either waits there or (unlocked) races on
        return real_put_if_absent(key, body, **kw)

    storage.put_if_absent = put_if_absent

    def pause(acc_id):
        if threading.current_thread().name == "subida" and not upload_paused.is_set():
            upload_paused.set()
            # Continue once the resend either reached the lock or finished its own write.
            while not (resend_trying.is_set() or resend_done.is_set()):
                resend_done.wait(0.01)

    identity.between_read_and_write = pause

    def do_resend():
        with app.app_context():
            try:
                upload_paused.wait(5)
                resend(identity, storage, mailer, settings, account_id)
            finally:
                resend_done.set()

    data = pdf_bytes()
    application = Application(identity.get_account(account_id))
    t = threading.Thread(target=do_resend, name="reenvio")
    u = threading.Thread(name="subida", target=lambda: store_document(
        identity, storage, application, "curp",
        Upload(stream=io.BytesIO(data), size=len(data), sha256="x", original_name="curp.pdf")))
    t.start()
    u.start()
    u.join(10)
    t.join(10)
    account = identity.get_account(account_id)
    assert "curp" in Application(account).documents
    assert account.attr("enlace_version") not in ("", "v0")
    (mail,) = mailer.to("a@example.com")
    assert account.attr("enlace_version") and mail.text


def test_backfill_claims_existing_accounts_so_a_new_registration_is_refused(client, fakes):
    fakes.identity.create_account(username="pela800101ab8", email="ana.vieja@example.com", first_name="Ana",
                                  last_name="Peña", attributes={"curp": CURP, "rfc": "PELA800101AB8",
                                                                "estatus": "aprobado", "folio": "AU-2025-OLD"})
    assert Claims(fakes.storage, fakes.identity).backfill(fakes.identity.accounts.values()) == 2  # curp, folio
    assert Claims(fakes.storage, fakes.identity).backfill(fakes.identity.accounts.values()) == 0  # idempotent
    other_rfc = random_person()[1]
    page = post_registration(client, mexican_form(rfc=rfc_with_check(other_rfc[:4] + CURP[4:10] + "AB"),
                                                  email="nueva@example.com")).get_data(as_text=True)
    assert "Ya existe una cuenta o una solicitud en trámite con esta CURP" in page
    assert len(fakes.identity.accounts) == 1


REALM_FILE = Path(__file__).resolve().parents[2] / "realm-config" / "anam-realm.json"


def test_keycloak_guards_the_username_and_the_email_so_they_are_not_claimed():
    # Keycloak's unique constraints (realm + username; realm + email while duplicates are not allowed)
    # refuse a second account atomically: the claims leave the Mexican's RFC and the email to it.
    realm = json.loads(REALM_FILE.read_text())
    assert realm["duplicateEmailsAllowed"] is False and realm["editUsernameAllowed"] is False
    assert realm.get("registrationEmailAsUsername", False) is False  # Keycloak's default
    mexican = {"curp": CURP, "rfc": "GODE561231GR8", "es_extranjero": "false", "folio": "AU-2026-X"}
    assert claims.identifiers_of(mexican, folio=True) == {claims.CURP: CURP, claims.FOLIO: "AU-2026-X"}
    foreigner = {"rfc": "EXT0101019Z9", "es_extranjero": "true", "pais": "US", "pasaporte": "p123"}
    assert claims.identifiers_of(foreigner) == {claims.RFC: "EXT0101019Z9", claims.PASAPORTE: "US:P123"}


def _race_registrations(fakes, forms):
    app = create_app({"SETTINGS": unit_settings(registration_limits="1000 per hour"), "ADAPTERS": fakes,
                      "TESTING": True})
    barrier = threading.Barrier(len(forms))

    def register(form):
        client = app.test_client()
        barrier.wait()
        return post_registration(client, form).status_code

    with ThreadPoolExecutor(len(forms)) as pool:
        return list(pool.map(register, forms))


def test_registrations_racing_on_one_rfc_make_one_account(fakes):
    rfc = random_person()[1]
    forms = [mexican_form(curp=curp, rfc=rfc, email=f"p{i}@example.com")
             for i, curp in enumerate(curps_sharing_rfc(rfc, 8))]
    codes = _race_registrations(fakes, forms)
    assert codes.count(302) == 1 and set(codes) <= {200, 302}, codes
    assert len(fakes.identity.accounts) == 1
    assert len([k for k in fakes.storage.objects if k.startswith(claims.PREFIX)]) == 2  # the winner's CURP, folio


def test_registrations_racing_on_one_email_make_one_account(fakes):
    forms = [mexican_form(curp=c, rfc=r, email="misma@example.com") for c, r in (random_person() for _ in range(8))]
    codes = _race_registrations(fakes, forms)
    assert codes.count(302) == 1 and set(codes) <= {200, 302}, codes
    assert len(fakes.identity.accounts) == 1
