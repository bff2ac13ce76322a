"""The personal link against the real Keycloak: confirmation, reopening, expired/tampered/superseded links,
and one application's link never reaching another application."""
from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from registro.kernel import links
from registro.domain import documents as docs
from registro.domain.application import Application
from registro.kernel.confirmation_links import issue_link, link_url
from tests.support import files
from tests.support.applications import csrf_token, path_of, upload

pytestmark = pytest.mark.integration


def _status(gateway, account_id: str) -> str:
    return gateway.get_account(account_id).attr("estatus")


def _issued_days_ago(settings, account_id: str, version: str, days: int) -> str:
    """A genuine token (right key, right version) stamped `days` ago, as itsdangerous would have made it then."""
    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - days * 86400

    serializer = URLSafeTimedSerializer(settings.secret_key, salt=links._SALT, signer=PastSigner)
    return link_url(settings, serializer.dumps({"a": account_id, "v": version}))


def test_a_valid_link_confirms_the_email_and_can_be_reopened(registro, gateway, applications):
    account_id, link = applications()
    assert gateway.get_account(account_id).email_verified is False
    r = registro.get(path_of(link))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Activación de su cuenta" in html and "Descargar responsiva" in html
    account = gateway.get_account(account_id)
    assert account.email_verified is True and account.attr("estatus") == "pendiente_documentos"
    assert account.enabled is False  # only approved accounts are enabled
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-store"
    again = registro.get(path_of(link))
    assert again.status_code == 200 and _status(gateway, account_id) == "pendiente_documentos"


def test_an_expired_link_gets_a_clear_page_with_a_way_to_a_new_one(registro, gateway, service_settings, applications):
    account_id, _ = applications()
    version = gateway.get_account(account_id).attr("enlace_version")
    old = _issued_days_ago(service_settings, account_id, version, days=8)
    r = registro.get(path_of(old))
    assert r.status_code == 410
    html = r.get_data(as_text=True)
    assert "El enlace expiró" in html
    token = path_of(old).rsplit("/", 1)[1]
    assert 'action="/registro/reenviar"' in html and f'name="enlace" value="{token}"' in html
    assert csrf_token(html)
    assert _status(gateway, account_id) == "pendiente_correo"  # an expired link confirms nothing
    # Every action under the link is refused the same way.
    r = registro.post(f"{path_of(old)}/enviar", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 410


def test_a_tampered_link_gets_a_clear_page_without_resend(registro, gateway, applications):
    account_id, link = applications()
    token = path_of(link).rsplit("/", 1)[1]
    payload, stamp, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (f"{payload}.{stamp}.{flipped}", token[:-6], "no-es-un-enlace"):
        r = registro.get(f"/activacion/{bad}")
        assert r.status_code == 400
        html = r.get_data(as_text=True)
        assert "El enlace no es válido" in html and "/registro/reenviar" not in html
    # Same payload signed with another key: refused, and the account is untouched.
    forged = URLSafeTimedSerializer("otra-clave", salt=links._SALT).dumps(
        {"a": account_id, "v": gateway.get_account(account_id).attr("enlace_version")})
    assert registro.get(f"/activacion/{forged}").status_code == 400
    assert _status(gateway, account_id) == "pendiente_correo"


def test_a_superseded_link_stops_working_and_the_newest_works(registro, gateway, service_settings, applications):
    account_id, first = applications()
    second = issue_link(gateway, service_settings, account_id)  # e.g. "Reenviar correo"
    r = registro.get(path_of(first))
    assert r.status_code == 410
    html = r.get_data(as_text=True)
    assert "El enlace ya no es válido" in html and 'action="/registro/reenviar"' in html
    assert _status(gateway, account_id) == "pendiente_correo"
    assert registro.get(path_of(second)).status_code == 200
    assert _status(gateway, account_id) == "pendiente_documentos"


def test_another_applications_link_cannot_touch_this_one(registro, gateway, applications):
    a_id, a_link = applications()
    b_id, b_link = applications()
    registro.get(path_of(a_link))
    assert upload(registro, a_link, docs.CURP, files.pdf_bytes(), "de-ana.pdf").status_code == 303
    a_before = Application(gateway.get_account(a_id)).documents

    b_page = registro.get(path_of(b_link)).get_data(as_text=True)
    assert "de-ana.pdf" not in b_page
    # With B's link every action lands on B: there is no parameter that could name A.
    r = registro.post(f"{path_of(b_link)}/documentos/{docs.CURP}/eliminar", data={"csrf_token": csrf_token(b_page)})
    assert r.status_code == 303
    assert upload(registro, b_link, docs.CURP, files.pdf_bytes(), "de-beto.pdf").status_code == 303
    assert Application(gateway.get_account(a_id)).documents == a_before
    assert Application(gateway.get_account(b_id)).documents[docs.CURP].original_name == "de-beto.pdf"
    # A token whose payload names A but is signed for B's is a forgery.
    b_token = path_of(b_link).rsplit("/", 1)[1]
    a_payload = path_of(a_link).rsplit("/", 1)[1].split(".")[0]
    spliced = ".".join([a_payload] + b_token.split(".")[1:])
    assert registro.get(f"/activacion/{spliced}").status_code == 400


def test_a_decided_application_has_nothing_left_to_do(registro, gateway, applications):
    account_id, link = applications()
    gateway.update_attributes(account_id, {"estatus": "rechazado"})
    r = registro.get(path_of(link))
    assert r.status_code == 410
    assert "Su solicitud fue rechazada" in r.get_data(as_text=True)


def test_a_link_whose_application_was_deleted(registro, gateway, applications):
    account_id, link = applications()
    gateway.delete_account(account_id)
    r = registro.get(path_of(link))
    assert r.status_code == 410
    assert re.search("La solicitud ya no existe", r.get_data(as_text=True))
