"""Issue 14 against the real Keycloak, S3 and mail catcher: the applicant's language stored in Keycloak's
`locale` and used for the emails, the status link in every email, the privacy notice recorded in the
audit trail, export and cancellation of one applicant."""
from __future__ import annotations

import json
import re
import zipfile
from urllib.parse import urlsplit

import pytest

from registro.domain.storage_keys import application_prefix
from registro.platform.db import Database
from registro.kernel.audit import AuditTrail, PgAuditLog
from registro.applicant.personal_data import Operator, cancel, export
from tests.support.registration import csrf_token, foreign_form, mexican_form, random_person

pytestmark = pytest.mark.integration


@pytest.fixture
def audit(service_settings) -> PgAuditLog:
    """The audit trail's table in the stack's registro database."""
    return PgAuditLog(Database.shared(service_settings.database_url))


def _register(client, data, lang: str | None = None):
    page = client.get("/registro" + (f"?lang={lang}" if lang else "")).get_data(as_text=True)
    return client.post("/registro", data={**data, "csrf_token": csrf_token(page)})


def test_a_foreign_applicant_in_english_gets_english_emails_and_keycloak_keeps_the_locale(
        registro, gateway, mailbox, unique, registered_emails, audit):
    email = f"english-{unique}@example.com"
    registered_emails.append(email)
    r = _register(registro, foreign_form(email=email, pasaporte=f"E{unique[:8].upper()}"), lang="en")
    assert r.status_code == 302
    account = gateway.find_by_email(email)
    assert account.attr("locale") == "en"  # Keycloak keeps it (internationalization on, en supported)
    message = mailbox.latest(email)
    assert message.subject.startswith("Acceso Único ANAM: confirm your registration")
    assert "Dear John O'Brien-Smith" in message.text and "/consulta/" in message.text

    # The status link of the email opens the applicant's page, in English.
    status_link = re.search(r"http\S+/consulta/\S+", message.text).group(0)
    page = registro.get(urlsplit(status_link).path)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Application registered" in body and '<html lang="en">' in body

    # The privacy notice accepted is in the audit trail (PostgreSQL).
    (event,) = AuditTrail(audit).history(account.id)
    assert event.action == "aceptar_aviso_privacidad" and event.details["aviso_version"] and event.details["idioma"] == "en"


def test_a_new_status_link_is_sent_to_whoever_knows_folio_and_email(registro, gateway, mailbox, unique,
                                                                     registered_emails):
    """The folio is found through its uniqueness claim (S3) and the account by its username (Keycloak):
    no attribute search on this public page."""
    email = f"consulta-{unique}@example.com"
    registered_emails.append(email)
    curp, rfc = random_person()
    assert _register(registro, mexican_form(curp=curp, rfc=rfc, email=email)).status_code == 302
    folio = gateway.find_by_email(email).attr("folio")
    mailbox.wait_for(email, 1)  # the confirmation email

    page = registro.get("/consulta").get_data(as_text=True)
    r = registro.post("/consulta", data={"csrf_token": csrf_token(page), "folio": folio.lower(), "correo": email})
    assert r.status_code == 200 and 'id="consulta-enviado"' in r.get_data(as_text=True)
    second = mailbox.wait_for(email, 2)[-1]
    status_link = re.search(r"http\S+/consulta/\S+", second.text).group(0)
    assert registro.get(urlsplit(status_link).path).status_code == 200


def test_switching_language_on_the_activation_page_is_remembered_in_keycloak(
        registro, gateway, applications):
    account_id, link = applications(status="pendiente_documentos")
    path = "/activacion/" + link.rsplit("/activacion/", 1)[1]
    assert gateway.get_account(account_id).attr("locale") == ""
    r = registro.get(path + "?lang=en")
    assert r.status_code == 200 and "Activating your account" in r.get_data(as_text=True)
    assert gateway.get_account(account_id).attr("locale") == "en"
    assert gateway.get_account(account_id).attr("estatus") == "pendiente_documentos"  # nothing else changed


def test_export_and_cancel_one_applicant(registro, gateway, storage, audit, unique, registered_emails, tmp_path):
    curp, rfc = random_person()
    email = f"arco-{unique}@example.com"
    registered_emails.append(email)
    assert _register(registro, mexican_form(curp=curp, rfc=rfc, email=email)).status_code == 302
    account = gateway.find_by_email(email)
    folio = account.attr("folio")

    target = export(gateway, storage, folio, tmp_path / "datos.zip", Operator("operador.integracion"), audit=audit)
    with zipfile.ZipFile(target) as archive:
        cuenta = json.loads(archive.read("cuenta.json"))
        assert cuenta["correo"] == email and cuenta["atributos"]["curp"] == curp
        assert any(name.startswith("objetos/responsiva/") for name in archive.namelist())

    done = cancel(gateway, storage, rfc, Operator("operador.integracion"), audit=audit)
    assert done["folio"] == folio
    assert gateway.find_by_email(email) is None
    assert storage.list_keys(application_prefix(account.id)) == []
    history = AuditTrail(audit).history(account.id)
    assert [e.action for e in history] == ["aceptar_aviso_privacidad", "exportar_datos", "cancelar_datos"]
    assert all(e.actor_username == "operador.integracion" for e in history[1:])
    everything = json.dumps([e.__dict__ for e in history], ensure_ascii=False)
    assert email not in everything and curp not in everything


def test_the_postal_code_endpoint_on_the_running_service(stack):
    import requests
    r = requests.get(f"{stack.registro_url}/registro/cp/06700", timeout=10)
    assert r.status_code == 200 and r.json()["colonias"] == ["Roma Norte"]
