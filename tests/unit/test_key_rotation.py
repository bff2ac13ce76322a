"""REGISTRO_SECRET_KEY outside a local stack (issue 21, item 3): a weak key stops the start, naming the
variable; during a rotation REGISTRO_SECRET_KEY_PREVIOUS still verifies what the old key signed
(confirmation links, "Reenviar correo", status links, direct-upload grants and receipts, the session and
the forms' CSRF tokens) while everything new is signed with the current key only."""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from keycloak_ext.shipped_secrets import InsecureSettings
from registro import create_app, secret_keys
from registro.config import Settings
from registro.domain import documents as docs
from registro.kernel.links import LinkInvalid
from registro.kernel import confirmation_links
from registro.documents import direct_uploads
from registro.kernel import status_links
from tests.support import files
from tests.support.applications import create_application, csrf_token, path_of, valid_until
from tests.support.registration import mexican_form, post_registration
from tests.unit.conftest import unit_settings

OLD = secrets.token_urlsafe(32)
NEW = secrets.token_urlsafe(32)
PRODUCTION = {"APP_ENV": "production", "REGISTRO_CLIENT_SECRET": secrets.token_urlsafe(32),
              "REVISION_CLIENT_SECRET": secrets.token_urlsafe(32), "S3_ACCESS_KEY": "AU" + secrets.token_hex(10),
              "S3_SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": "postgresql://registro@127.0.0.1/registro"}


# --- strength ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("weak", ["a", "clave", "k" * 40, "ab" * 40, "0123456789abcdef" * 4, secrets.token_hex(16),
                                  secrets.token_urlsafe(16), "contraseña-del-servicio-2026"])
def test_a_weak_key_stops_the_start_naming_the_variable(weak):
    with pytest.raises(InsecureSettings) as refused:
        Settings.from_env({**PRODUCTION, "REGISTRO_SECRET_KEY": weak})
    assert refused.value.variables == ["REGISTRO_SECRET_KEY"]
    assert "REGISTRO_SECRET_KEY es débil" in str(refused.value) and "32 bytes aleatorios" in str(refused.value)


@pytest.mark.parametrize("strong", [secrets.token_urlsafe(32), secrets.token_hex(32), secrets.token_urlsafe(64),
                                    "Y2xhdmUtZGUtcHJ1ZWJhcy1kZS1yb3RhY2lvbi0yMDI2LWFjY2Vzby11bmljbw=="])
def test_a_key_of_32_random_bytes_starts(strong):
    assert Settings.from_env({**PRODUCTION, "REGISTRO_SECRET_KEY": strong}).secret_key == strong


def test_gunicorn_stops_at_start_naming_a_weak_key(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRO_", "CAPTCHA_", "RESPONSIVA_"))}
    env.update(PRODUCTION, REGISTRO_SECRET_KEY="a", PYTHONPATH=f"{root}:{root / 'services'}",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"), REGISTRO_BIND="127.0.0.1:0")
    done = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:registro.gunicorn_conf",
                           "registro.wsgi:app"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    record = json.loads(next(line for line in done.stderr.splitlines() if "REGISTRO_SECRET_KEY" in line))
    assert record["level"] == "CRITICAL" and "REGISTRO_SECRET_KEY es débil" in record["message"]


def test_every_signing_key_is_judged_and_a_local_stack_may_use_any():
    env = {**PRODUCTION, "REGISTRO_SECRET_KEY": NEW, "REGISTRO_SECRET_KEY_PREVIOUS": "vieja",
           "CAPTCHA_HMAC_KEY": "x" * 50, "RESPONSIVA_MAC_KEY": "qr"}
    with pytest.raises(InsecureSettings) as refused:
        Settings.from_env(env)
    assert refused.value.variables == ["REGISTRO_SECRET_KEY_PREVIOUS", "CAPTCHA_HMAC_KEY", "RESPONSIVA_MAC_KEY"]
    assert Settings.from_env({**env, "APP_ENV": "local", "REGISTRO_SECRET_KEY": "a"}).secret_key == "a"


def test_every_generated_stack_key_passes():
    # What tools/stack generates for the local and prod profiles, many times over (no unlucky draw).
    assert all(secret_keys.is_strong(secrets.token_urlsafe(32)) for _ in range(2000))
    assert all(secret_keys.is_strong(secrets.token_hex(32)) for _ in range(2000))


def test_the_previous_key_is_read_from_the_environment():
    settings = Settings.from_env({**PRODUCTION, "REGISTRO_SECRET_KEY": NEW, "REGISTRO_SECRET_KEY_PREVIOUS": OLD})
    assert settings.previous_secret_keys == (OLD,) and settings.signing_keys == [OLD, NEW]
    assert Settings.from_env({**PRODUCTION, "REGISTRO_SECRET_KEY": NEW}).signing_keys == [NEW]


# --- rotation ---------------------------------------------------------------------------------------
def _apps(fakes, **changes):
    """The service before the rotation (OLD) and after it (NEW, OLD as the previous key), on the same data."""
    before = unit_settings(secret_key=OLD, **changes)
    after = before.with_changes(secret_key=NEW, previous_secret_keys=(OLD,))
    return (create_app({"SETTINGS": before, "ADAPTERS": fakes, "TESTING": True}),
            create_app({"SETTINGS": after, "ADAPTERS": fakes, "TESTING": True}))


def _same_browser(source, target) -> None:
    """The browser's cookies (session, language) carried from one app's test client to the other's."""
    for cookie in ("session", "idioma"):
        found = source.get_cookie(cookie)
        if found is not None:
            target.set_cookie(cookie, found.value)


def test_a_link_emailed_before_the_rotation_still_opens_and_new_links_use_the_new_key_only(fakes):
    before, after = _apps(fakes)
    account_id, link = create_application(fakes.identity, fakes.storage, before.extensions["registro.settings"])
    page = after.test_client().get(path_of(link))
    assert page.status_code == 200 and "Activación de su cuenta" in page.get_data(as_text=True)
    assert fakes.identity.get_account(account_id).attr("estatus") == "pendiente_documentos"
    # Without the previous key the same link is refused: it is the previous key that opens it.
    alone = create_app({"SETTINGS": unit_settings(secret_key=NEW), "ADAPTERS": fakes, "TESTING": True})
    assert alone.test_client().get(path_of(link)).status_code == 400
    fresh = confirmation_links.issue_link(fakes.identity, after.extensions["registro.settings"], account_id)
    token = fresh.rsplit("/", 1)[1]
    assert confirmation_links.signer(unit_settings(secret_key=NEW)).read(token).account_id == account_id
    with pytest.raises(LinkInvalid):
        confirmation_links.signer(unit_settings(secret_key=OLD)).read(token)


def test_reenviar_correo_from_a_page_loaded_before_the_rotation(fakes):
    before, after = _apps(fakes)
    browser_before, browser_after = before.test_client(), after.test_client()
    assert post_registration(browser_before, mexican_form()).status_code == 302
    page = browser_before.get("/registro/enviado").get_data(as_text=True)
    _same_browser(browser_before, browser_after)  # the session cookie and the form were signed with OLD
    r = browser_after.post("/registro/reenviar", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/registro/enviado")
    assert len(fakes.mailer.sent) == 2
    link = re.search(r"/activacion/(\S+)", fakes.mailer.sent[-1].text).group(1)
    assert confirmation_links.signer(unit_settings(secret_key=NEW)).read(link)  # the new email: NEW only
    with pytest.raises(LinkInvalid):
        confirmation_links.signer(unit_settings(secret_key=OLD)).read(link)


def test_reenviar_correo_with_a_link_signed_before_the_rotation(fakes):
    before, after = _apps(fakes, link_ttl_s=-1)  # the old link has expired too: the page offers a new one
    account_id, link = create_application(fakes.identity, fakes.storage, before.extensions["registro.settings"])
    browser = after.test_client()
    page = browser.get(path_of(link))
    assert page.status_code == 410 and 'action="/registro/reenviar"' in page.get_data(as_text=True)
    r = browser.post("/registro/reenviar", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                 "enlace": link.rsplit("/", 1)[1]})
    assert r.status_code == 302 and len(fakes.mailer.sent) == 1
    assert fakes.mailer.sent[0].to == fakes.identity.get_account(account_id).email


def test_a_status_link_signed_before_the_rotation_still_opens(fakes):
    before, after = _apps(fakes)
    account_id, _ = create_application(fakes.identity, fakes.storage, before.extensions["registro.settings"])
    with before.test_request_context():
        url = status_links.status_url(before.extensions["registro.settings"], account_id)
    assert after.test_client().get(url.split("registro.prueba", 1)[1]).status_code == 200
    assert create_app({"SETTINGS": unit_settings(secret_key=NEW), "ADAPTERS": fakes, "TESTING": True}) \
        .test_client().get(url.split("registro.prueba", 1)[1]).status_code == 404


def test_direct_upload_grants_and_receipts_signed_before_the_rotation(fakes, monkeypatch):
    import dataclasses

    s3 = dataclasses.replace(unit_settings().s3, public_url="http://s3.prueba:9000")
    old_settings = unit_settings(secret_key=OLD, s3=s3)
    before = create_app({"SETTINGS": old_settings, "ADAPTERS": fakes, "TESTING": True})
    after = create_app({"SETTINGS": old_settings.with_changes(secret_key=NEW, previous_secret_keys=(OLD,)),
                        "ADAPTERS": fakes, "TESTING": True})
    _, link = create_application(fakes.identity, fakes.storage, old_settings, status="pendiente_documentos")
    checks = []
    monkeypatch.setattr(direct_uploads, "in_background", lambda func: checks.append(func))
    browser_before, browser_after = before.test_client(), after.test_client()
    html = browser_before.get(path_of(link)).get_data(as_text=True)
    grant = re.search(rf'name="permiso" id="permiso-{docs.CURP}" value="([^"]+)"', html).group(1)
    data = files.pdf_bytes()
    form = {"csrf_token": csrf_token(html), "tamano": str(len(data)), "nombre": "curp.pdf", "permiso": grant}
    _same_browser(browser_before, browser_after)
    # The page's grant (signed before) still issues the URL without Keycloak, which only a valid grant can.
    fakes.identity.down = True
    assert browser_after.post(f"{path_of(link)}/documentos/{docs.CURP}/directa", data=form).status_code == 200
    fakes.identity.down = False
    # A receipt issued before the rotation is confirmed after it, and its state token read.
    answer = browser_before.post(f"{path_of(link)}/documentos/{docs.CURP}/directa", data=form).get_json()
    assert fakes.storage.browser_put(answer["url"], data, answer["encabezados"]) == 200
    confirmed = browser_after.post(answer["confirmar"], data={"csrf_token": csrf_token(html), "recibo": answer["recibo"]})
    assert confirmed.status_code == 202 and [check() for check in checks] == [direct_uploads.DONE]
    assert browser_after.get(confirmed.get_json()["estado"]).get_json() == {"estado": direct_uploads.DONE}


def test_an_efirma_signing_begun_before_the_rotation_ends_after_it():
    from registro.documents.efirma import signing

    before = unit_settings(secret_key=OLD)
    after = before.with_changes(secret_key=NEW, previous_secret_keys=(OLD,))
    token = signing._serializer(before).dumps({"n": "abc"})
    assert signing._serializer(after).loads(token, max_age=600) == {"n": "abc"}
