"""The application's record in registro's PostgreSQL, the account in Keycloak (kernel/records.py, issue 20
items 2 and 3), against the test stack's real Keycloak and database."""
from __future__ import annotations

import hashlib
import io
import threading
import time

import pytest
from keycloak_ext import AccountNotFound
from sqlalchemy import select, update

from registro.kernel.records import KEPT_IN_KEYCLOAK, RecordBusy, RecordedIdentity
from registro.platform.db import Database
from registro.platform import outbox as outbox_module
from registro.platform.db.schema import applications, decisions, identifiers, outbox
from registro.documents.service import Upload, store_document
from registro.domain.application import Application
from tests.support import files
from tests.support.applications import create_application
from tests.support.registration import mexican_form, post_registration, random_person

pytestmark = pytest.mark.integration


class CountingKeycloak:
    """The gateway, counting the calls that reach Keycloak."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, []

    def __getattr__(self, name):
        method = getattr(self.real, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)
        return counted


@pytest.fixture
def db(service_settings) -> Database:
    return Database.shared(service_settings.database_url)


def test_a_registration_leaves_keycloak_the_account_and_the_database_the_record(
        registro, gateway, keycloak_gateway, db, unique, registered_emails):
    curp, rfc = random_person()
    email = f"registro-{unique}@example.com"
    registered_emails.append(email)
    r = post_registration(registro, mexican_form(curp=curp, rfc=rfc, email=email, nombre="Ana María",
                                                 apellidos="Peña Núñez", tipo_usuario="mandatario"))
    assert r.status_code == 302
    account = keycloak_gateway.find_by_email(email)
    # Keycloak: what tokens and Keycloak's own pages need; no status, documents or address.
    assert set(account.attributes) <= KEPT_IN_KEYCLOAK
    assert account.attributes["curp"] == curp and "estatus" not in account.attributes
    # The database: the whole record, the status as a column too.
    with db.transaction() as conn:
        row = conn.execute(select(applications).where(applications.c.account_id == account.id)).one()
    assert row.estatus == "pendiente_correo" and row.record["calle"] == "Av. Juárez" and row.email == email
    assert "pena nunez" in row.search_text and curp.lower() in row.search_text
    assert gateway.get_account(account.id).attr("codigo_postal") == "44100"


def test_reading_and_recording_an_upload_make_no_keycloak_call(service_settings, keycloak_gateway, db, storage):
    counting = CountingKeycloak(keycloak_gateway)
    identity = RecordedIdentity(counting, db)
    account_id, _ = create_application(identity, storage, service_settings, status="pendiente_documentos")
    counting.calls.clear()
    application = Application(identity.get_account(account_id))
    data = files.pdf_bytes()
    store_document(identity, storage, application, "curp", Upload(
        stream=io.BytesIO(data), size=len(data), sha256=hashlib.sha256(data).hexdigest(), original_name="curp.pdf"))
    assert Application(identity.get_account(account_id)).documents["curp"].size == len(data)
    assert counting.calls == []


def test_two_changes_of_one_application_at_once_both_survive(service_settings, gateway, storage):
    account_id, _ = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    errors = []

    def change(n: int) -> None:
        try:
            for i in range(10):
                gateway.update_attributes(account_id, {f"prueba_{n}_{i}": str(i)})
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=change, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    attributes = gateway.get_account(account_id).attributes
    assert all(attributes[f"prueba_{n}_{i}"] == str(i) for n in range(4) for i in range(10))


def test_a_change_held_longer_than_the_bound_is_refused_with_retry(service_settings, gateway, storage):
    """The bound is the connections' lock_timeout (platform/db.LOCK_WAIT_S; 1 s here)."""
    account_id, _ = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    impatient_db = Database(service_settings.database_url, lock_wait_s=1)
    impatient = RecordedIdentity(gateway.keycloak, impatient_db)
    held, release = threading.Event(), threading.Event()

    def holder():
        with gateway.locked(account_id):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(5)
    started = time.monotonic()
    with pytest.raises(RecordBusy):
        impatient.update_attributes(account_id, {"enlace_version": "otra"})
    assert time.monotonic() - started < 5, "refused at its connections' bound, not the default's"
    release.set()
    t.join()
    impatient.update_attributes(account_id, {"enlace_version": "otra"})  # free again
    impatient_db.engine.dispose()


def test_a_change_of_the_record_is_its_locked_read_and_its_write(service_settings, gateway, storage, db):
    """No statement of its own for the lock's bound (a SET LOCAL per change was a round trip each)."""
    from sqlalchemy import event

    account_id, _ = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    recorded = RecordedIdentity(gateway.keycloak, db)
    statements = []
    listener = lambda *args: statements.append(args[2].split()[0].upper())  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        recorded.update_attributes(account_id, {"enlace_version": "otra"})
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements == ["SELECT", "UPDATE"]
    with db.transaction() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "10s"


def test_a_keycloak_refusal_rolls_the_record_back(service_settings, gateway, keycloak_gateway, storage, db):
    account_id, _ = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    keycloak_gateway.delete_account(account_id)  # the account vanished behind registro's back
    with pytest.raises(AccountNotFound):
        gateway.update_account(account_id, enabled=True, attributes={"estatus": "aprobado"})
    assert gateway.get_account(account_id).attr("estatus") == "pendiente_documentos"


def test_a_deleted_account_takes_its_personal_data_and_frees_its_identifiers(service_settings, gateway, storage, db):
    account_id, _ = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    with db.transaction() as conn:
        app_id = conn.execute(select(applications.c.id).where(applications.c.account_id == account_id)).scalar_one()
        conn.execute(identifiers.insert().values(application_id=app_id, kind="pasaporte",
                                                 value=f"ZZ:{account_id[:12].upper()}"))
    with db.transaction() as conn:
        conn.execute(decisions.insert().values(account_id=account_id, ronda="r1", decision="rechazar",
                                               state="aplicada", record={"motivo": "texto libre del revisor"}))
        # Its emails: one held (not yet due), one given up after an SMTP outage, one delivered (content blanked).
        held_email = outbox_module.insert(conn, "confirmacion", b"Ana Pe\xc3\xb1a, su enlace", app_id, hold_s=3600)
        failed_email = outbox_module.insert(conn, "decision", b"Ana Pe\xc3\xb1a, su solicitud", app_id, hold_s=3600)
        sent_email = outbox_module.insert(conn, "confirmacion", b"", app_id, hold_s=3600)
        conn.execute(update(outbox).where(outbox.c.id == failed_email).values(state="fallido", attempts=14))
        conn.execute(update(outbox).where(outbox.c.id == sent_email).values(state="enviado"))
    gateway.delete_account(account_id)
    with pytest.raises(AccountNotFound):
        gateway.get_account(account_id)
    with db.transaction() as conn:
        row = conn.execute(select(applications).where(applications.c.id == app_id)).one()
        held = conn.execute(select(identifiers.c.vigente).where(identifiers.c.application_id == app_id)).scalars().all()
    assert (row.state, row.record, row.email, row.first_name, row.search_text) == ("cancelada", {}, "", "", "")
    assert row.folio and held == [False]
    with db.transaction() as conn:  # nothing left to send about an account that is gone (make retry-emails neither)
        left = conn.execute(select(outbox.c.id).where(outbox.c.application_id == app_id)).scalars().all()
    assert left == [sent_email] and held_email != failed_email
    with db.transaction() as conn:  # nor does review state name it any more
        assert conn.execute(select(decisions).where(decisions.c.account_id == account_id)).first() is None
