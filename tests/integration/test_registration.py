"""Registration against the real Keycloak, S3 server and mail catcher of the test stack."""
from __future__ import annotations


import html
import io
import re

import pytest
import requests
from pypdf import PdfReader

from keycloak_ext.catalog import USER_TYPE_SLUGS, group_path_of
from registro import create_app
from registro.config import Settings
from registro.domain import documents as docs
from registro.domain.storage_keys import responsiva_key
from registro.registration.forms import DUPLICATE_MESSAGES
from registro.kernel.links import LinkSuperseded
from registro.kernel.confirmation_links import signer
from tests.support import files, metrics
from tests.support.applications import direct_upload, path_of, upload
from tests.support.registration import (
    LINK_RE, csrf_token, field_error, foreign_form, link_token, mexican_form, post_registration, random_person,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def person(unique, registered_emails):
    curp, rfc = random_person()
    email = f"registro-{unique}@example.com"
    registered_emails.append(email)
    return {"curp": curp, "rfc": rfc, "email": email, "nombre": "Ana María", "apellidos": "Peña Núñez"}


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def pdf_text(data: bytes) -> str:
    return " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def test_registration_creates_one_disabled_account_with_attributes_role_responsiva_and_email(
        registro, gateway, kc_admin, s3, stack, mailbox, person):
    r = post_registration(registro, mexican_form(**person, tipo_usuario="mandatario"))
    assert r.status_code == 302 and r.headers["Location"].endswith("/registro/enviado")

    assert [a.email for a in gateway.find_by_attribute("curp", person["curp"])] == [person["email"]]
    account = gateway.find_by_email(person["email"])
    assert account.enabled is False and account.username == person["rfc"].lower()
    assert (account.first_name, account.last_name) == (person["nombre"], person["apellidos"])
    a = account.attributes
    assert a["estatus"] == "pendiente_correo" and a["tipo_usuario"] == "mandatario" and a["es_extranjero"] == "false"
    assert a["curp"] == person["curp"] and a["rfc"] == person["rfc"] and a["pais"] == "MX"
    assert (a["estado"], a["localidad"], a["colonia"], a["codigo_postal"], a["numero_exterior"], a["calle"]) == \
        ("Jalisco", "Guadalajara", "Centro", "44100", "12-B", "Av. Juárez")
    assert re.fullmatch(r"AU-\d{4}-[0-9A-Z]{8}", a["folio"]) and a["fecha_registro"] and a["enlace_version"]
    # The role comes through the user type's group, in the create call itself: effective, not mapped.
    assert gateway.realm_roles_of(account.id) & USER_TYPE_SLUGS == {"mandatario"}
    assert [g["path"] for g in kc_admin.get_user_groups(account.id)] == [group_path_of("mandatario")]
    assert not {r["name"] for r in kc_admin.get_realm_roles_of_user(account.id)} & USER_TYPE_SLUGS  # no direct one

    stored = s3.get_object(Bucket=stack.s3_bucket, Key=responsiva_key(account.id, a["folio"]))
    assert stored["ContentType"] == "application/pdf"
    stored_pdf = stored["Body"].read()

    mail = mailbox.latest(person["email"])
    assert f"Estimad@ {person['nombre']} {person['apellidos']}" in mail.text
    assert "Le informamos que su cuenta se encuentra en proceso de alta" in mail.text and mail.html
    (link,) = set(LINK_RE.findall(mail.text))
    assert link.startswith(f"{stack.registro_url}/activacion/")
    settings = Settings.from_env()
    assert signer(settings).verify_current(link_token(link), a["enlace_version"]).account_id == account.id
    ((filename, content_type, data),) = mail.attachments()
    assert filename == f"responsiva-{a['folio']}.pdf" and content_type == "application/pdf" and data == stored_pdf
    text = pdf_text(data)
    assert f"{person['nombre']} {person['apellidos']}" in text and person["curp"] in text and a["folio"] in text


def test_resend_makes_the_old_link_stale_and_the_new_one_current(registro, gateway, mailbox, person):
    post_registration(registro, mexican_form(**person))
    first = mailbox.latest(person["email"])
    token = csrf_token(registro.get("/registro/enviado").get_data(as_text=True))
    r = registro.post("/registro/reenviar", data={"csrf_token": token})
    assert r.status_code == 302
    first_mail, second_mail = mailbox.wait_for(person["email"], count=2)
    assert first_mail.id == first.id
    old, new = (link_token(LINK_RE.search(m.text).group(1)) for m in (first_mail, second_mail))
    account = gateway.find_by_email(person["email"])
    s = signer(Settings.from_env())
    assert s.verify_current(new, account.attr("enlace_version")).account_id == account.id
    with pytest.raises(LinkSuperseded):
        s.verify_current(old, account.attr("enlace_version"))
    assert second_mail.attachments(), "the responsiva comes with every email"
    r = registro.post("/registro/reenviar", data={"csrf_token": token})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "Ya se envió un correo" in text_of(r)


def test_duplicate_curp_and_duplicate_email_are_refused_without_revealing_the_owner(
        registro, gateway, person, unique, registered_emails):
    assert post_registration(registro, mexican_form(**person)).status_code == 302

    other_email = f"otra-{unique}@example.com"
    registered_emails.append(other_email)
    # The same person again with another email: the CURP is refused (and the RFC, their username).
    page = text_of(post_registration(registro, mexican_form(curp=person["curp"], rfc=person["rfc"], email=other_email,
                                                            nombre="Beatriz", apellidos="Ruiz")))
    assert field_error(page, "curp") == DUPLICATE_MESSAGES["curp"]
    assert field_error(page, "rfc") == DUPLICATE_MESSAGES["rfc"]
    assert person["email"] not in page and person["apellidos"] not in page

    curp, rfc = random_person()
    page = text_of(post_registration(registro, mexican_form(curp=curp, rfc=rfc, email=person["email"].upper(),
                                                            nombre="Carla", apellidos="Soto")))
    assert field_error(page, "email") == DUPLICATE_MESSAGES["email"]
    assert person["curp"] not in page and person["apellidos"] not in page
    assert gateway.find_by_email(other_email) is None and not gateway.find_by_attribute("curp", curp)
    assert len(gateway.find_by_attribute("curp", person["curp"])) == 1


def test_foreigner_gets_a_generated_username(registro, gateway, unique, registered_emails):
    email = f"extranjero-{unique}@example.com"
    registered_emails.append(email)
    passport = f"P{unique.upper()}"
    r = post_registration(registro, foreign_form(email=email, pasaporte=passport))
    assert r.status_code == 302
    account = gateway.find_by_email(email)
    assert re.fullmatch(r"ext[0-9a-z]{8}", account.username) and account.enabled is False
    assert account.attr("pasaporte") == passport and account.attr("pais") == "US" and not account.attr("curp")
    page = text_of(post_registration(registro, foreign_form(email=f"otro-{unique}@example.com", pasaporte=passport)))
    assert field_error(page, "pasaporte") == DUPLICATE_MESSAGES["pasaporte"]


def test_registration_is_throttled_per_client_address_with_retry_after(gateway, unique):
    app = create_app({"SETTINGS": Settings.from_env().with_changes(registration_limits="2 per hour"), "TESTING": True})
    client = app.test_client()
    for _ in range(2):
        assert post_registration(client, {}).status_code == 200
    curp, rfc = random_person()
    r = post_registration(client, mexican_form(curp=curp, rfc=rfc, email=f"limite-{unique}@example.com"))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "demasiados registros" in text_of(r)
    assert gateway.find_by_email(f"limite-{unique}@example.com") is None


def _keycloak_requests(client) -> dict[tuple[str, str, str], float]:
    """What the app's /metrics counts of its requests to Keycloak: (endpoint, method, status) → count."""
    return metrics.keycloak_requests(client.get("/metrics").get_data(as_text=True))


def _asked_since(client, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in _keycloak_requests(client).items() if v != before.get(k, 0)}


def test_a_registration_asks_keycloak_once_and_an_upload_never(registro, unique, registered_emails, applications):
    """Issue 20: Keycloak calls ≤ 2 per registration and none per upload, counted by registro itself
    (registro_keycloak_requests_total, told by the gateway of every answer) against the real Keycloak.
    A fresh app has no service token yet: its first registration fetches one, the next do not."""
    asked = _keycloak_requests(registro)
    for n, tipo in enumerate(("agente_aduanal", "mandatario")):
        curp, rfc = random_person()
        email = f"llamadas-{n}-{unique}@example.com"
        registered_emails.append(email)
        r = post_registration(registro, mexican_form(curp=curp, rfc=rfc, email=email, tipo_usuario=tipo))
        assert r.status_code == 302, text_of(r)[-500:]
        # The first: the token (POST to the token endpoint) and the account's create; the second: the create.
        assert _asked_since(registro, asked) == {("registration.form", "POST", "2xx"): 2.0 - n}
        asked = _keycloak_requests(registro)

    _, link = applications(status="pendiente_documentos")
    assert registro.get(path_of(link)).status_code == 200
    assert upload(registro, link, docs.CURP, files.pdf_bytes(), "curp.pdf").status_code == 303
    issued, sent, confirmed = direct_upload(registro, link, docs.RESPONSIVA, files.pdf_bytes(),
                                            lambda url, data, headers: requests.put(url, data=data, headers=headers,
                                                                                    timeout=60).status_code)
    assert issued.status_code == 200 and sent == 200 and confirmed.status_code == 200, issued.status_code
    assert confirmed.get_json()["resultado"] == "cargado"
    assert registro.get(path_of(link)).status_code == 200
    assert _asked_since(registro, asked) == {}
