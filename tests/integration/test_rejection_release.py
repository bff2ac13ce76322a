"""A rejection frees the person to apply again in the same change as the status (SPEC §9, kernel/records.py),
and migration 0009 frees those an earlier, two-step rejection left holding their identifiers — against the
test stack's Keycloak and PostgreSQL."""
from __future__ import annotations

import uuid

import pytest
from keycloak_ext import AccountNotFound
from sqlalchemy import select, text

from registro.kernel.applications import IdentifiersTaken, Intent, PgApplicationStore
from registro.platform.db import Database, migrate
from registro.platform.db.schema import applications, identifiers
from tests.support import scratch_database
from tests.support.applications import create_application

pytestmark = pytest.mark.integration


@pytest.fixture
def db(service_settings) -> Database:
    return Database.shared(service_settings.database_url)


def _holding(gateway, storage, service_settings, db) -> tuple[str, str, dict[str, str]]:
    """An application holding a CURP and an RFC of its own: (account id, row id, identifiers)."""
    account_id, _ = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    ids = {"curp": f"ZZZZ{uuid.uuid4().hex[:14].upper()}", "rfc": f"ZZZ{uuid.uuid4().hex[:10].upper()}"}
    with db.transaction() as conn:
        app_id = conn.execute(select(applications.c.id).where(applications.c.account_id == account_id)).scalar_one()
        conn.execute(identifiers.insert(), [{"application_id": app_id, "kind": k, "value": v} for k, v in ids.items()])
    return account_id, app_id, ids


def _state(db, app_id: str) -> tuple[str, list[bool]]:
    with db.transaction() as conn:
        state = conn.execute(select(applications.c.state).where(applications.c.id == app_id)).scalar_one()
        held = conn.execute(select(identifiers.c.vigente).where(identifiers.c.application_id == app_id)).scalars()
        return state, sorted(held)


def _register_again(db, ids: dict[str, str]) -> None:
    store = PgApplicationStore(db)
    intent = Intent.new(folio=f"AU-T-{uuid.uuid4().hex[:10].upper()}", username=f"otra-{uuid.uuid4().hex[:8]}",
                        link_version="v", es_extranjero=False)
    store.begin(intent, ids)  # IdentifiersTaken if the rejected application still held them
    store.cancel(intent.id, "prueba")


def test_the_rejection_closes_the_application_and_frees_its_identifiers_in_its_own_change(
        service_settings, gateway, storage, db):
    account_id, app_id, ids = _holding(gateway, storage, service_settings, db)
    gateway.update_account(account_id, enabled=False, attributes={"estatus": "rechazado"})
    assert _state(db, app_id) == ("rechazada", [False, False])
    assert gateway.get_account(account_id).attr("estatus") == "rechazado"  # its status page still shows it
    _register_again(db, ids)
    assert PgApplicationStore(db).rejections_of(ids) == 1
    gateway.delete_account(account_id)


def test_a_rejection_keycloak_refuses_changes_nothing(service_settings, gateway, keycloak_gateway, storage, db):
    account_id, app_id, ids = _holding(gateway, storage, service_settings, db)
    keycloak_gateway.delete_account(account_id)  # the account vanished: Keycloak refuses the change
    with pytest.raises(AccountNotFound):
        gateway.update_account(account_id, enabled=False, attributes={"estatus": "rechazado"})
    assert _state(db, app_id) == ("activa", [True, True])
    assert gateway.get_account(account_id).attr("estatus") == "pendiente_documentos"
    with pytest.raises(IdentifiersTaken):
        _register_again(db, ids)


def test_migration_0009_frees_the_applications_a_two_step_rejection_left_holding(service_settings):
    with scratch_database.empty(service_settings.database_url, "registro_migracion_0009") as url:
        migrate.upgrade(url, "0008")
        database = Database(url)
        try:
            rows = {"varada": ("activa", "rechazado"), "viva": ("activa", "en_revision"),
                    "cerrada": ("rechazada", "rechazado")}
            ids = {}
            with database.transaction() as conn:
                for n, (name, (state, estatus)) in enumerate(rows.items()):
                    ids[name] = str(uuid.uuid4())
                    conn.execute(text("INSERT INTO applications (id, folio, username, link_version, es_extranjero, "
                                      "state, estatus) VALUES (:id, :folio, :u, 'v', false, :s, :e)"),
                                 {"id": ids[name], "folio": f"AU-T-{n}", "u": name, "s": state, "e": estatus})
                    conn.execute(text("INSERT INTO identifiers (application_id, kind, value, vigente) "
                                      "VALUES (:id, 'curp', :v, :vigente)"),
                                 {"id": ids[name], "v": f"CURP{n}", "vigente": state == "activa"})
            migrate.upgrade(url)
            with database.transaction() as conn:
                found = {name: (conn.execute(select(applications.c.state).where(applications.c.id == i)).scalar_one(),
                                conn.execute(select(identifiers.c.vigente)
                                             .where(identifiers.c.application_id == i)).scalar_one())
                         for name, i in ids.items()}
            assert found == {"varada": ("rechazada", False), "viva": ("activa", True), "cerrada": ("rechazada", False)}
            assert PgApplicationStore(database).rejections_of({"curp": "CURP0"}) == 1
        finally:
            database.engine.dispose()
