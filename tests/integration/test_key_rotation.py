"""A rotation of REGISTRO_SECRET_KEY against the real Keycloak, S3 server and mail catcher (issue 21,
item 3): the service restarted with a new key and the old one as REGISTRO_SECRET_KEY_PREVIOUS still opens
a confirmation link emailed before, and "Reenviar correo" still works from a page loaded before (session
and form signed with the old key) and from an old link's page; what it sends is signed with the new key."""
from __future__ import annotations

import secrets

import pytest

from registro import create_app
from registro.config import Settings
from registro.kernel.links import LinkInvalid
from registro.kernel.confirmation_links import signer
from tests.support.applications import csrf_token, path_of
from tests.support.registration import LINK_RE, link_token, mexican_form, post_registration, random_person

pytestmark = pytest.mark.integration


@pytest.fixture
def rotated(service_settings):
    """The service after the rotation: a new key, the stack's own as the previous one."""
    new_key = secrets.token_urlsafe(32)
    settings = Settings.from_env().with_changes(secret_key=new_key,
                                                previous_secret_keys=(service_settings.secret_key,),
                                                resend_limits="100 per hour")
    return create_app({"SETTINGS": settings, "TESTING": True}), new_key


def _carry_cookies(source, target) -> None:
    for name in ("session", "idioma"):
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)


def test_an_old_confirmation_link_opens_after_the_rotation(rotated, gateway, applications):
    app, _ = rotated
    account_id, link = applications()  # emailed before: signed with the stack's key
    r = app.test_client().get(path_of(link))
    assert r.status_code == 200 and "Activación de su cuenta" in r.get_data(as_text=True)
    assert gateway.get_account(account_id).attr("estatus") == "pendiente_documentos"


def test_reenviar_correo_after_the_rotation(rotated, registro, gateway, mailbox, unique, registered_emails,
                                            service_settings):
    app, new_key = rotated
    curp, rfc = random_person()
    email = f"rotacion-{unique}@example.com"
    registered_emails.append(email)
    assert post_registration(registro, mexican_form(curp=curp, rfc=rfc, email=email)).status_code == 302
    first = LINK_RE.search(mailbox.latest(email).text).group(1)
    page = registro.get("/registro/enviado").get_data(as_text=True)  # loaded before the rotation
    browser = app.test_client()
    _carry_cookies(registro, browser)

    # "Reenviar correo" on the page loaded before the rotation: session and form signed with the old key.
    r = browser.post("/registro/reenviar", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/registro/enviado")
    second = LINK_RE.search(mailbox.wait_for(email, count=2)[-1].text).group(1)
    new_only = signer(service_settings.with_changes(secret_key=new_key))
    old_only = signer(service_settings)
    assert new_only.read(link_token(second)).account_id == gateway.find_by_email(email).id
    with pytest.raises(LinkInvalid):
        old_only.read(link_token(second))

    # The first email's link, replaced since: its page offers "Reenviar correo", which works.
    stale = browser.get(path_of(first))
    assert stale.status_code == 410 and 'action="/registro/reenviar"' in stale.get_data(as_text=True)
    r = browser.post("/registro/reenviar", data={"csrf_token": csrf_token(stale.get_data(as_text=True)),
                                                 "enlace": link_token(first)})
    assert r.status_code == 302
    third = LINK_RE.search(mailbox.wait_for(email, count=3)[-1].text).group(1)
    assert browser.get(path_of(third)).status_code == 200
    assert gateway.find_by_email(email).attr("estatus") == "pendiente_documentos"
