"""Registration outcomes with fakes: duplicates, failure ordering, the email, the responsiva, throttling."""
import html
import io
import re

import pytest
from pypdf import PdfReader

from keycloak_ext import IdentityUnavailable
from registro import create_app
from registro.adapters.pdf import PdfUnavailable
from registro.container import Adapters
from registro.domain.storage_keys import responsiva_key
from registro.forms.registration import DUPLICATE_MESSAGES
from registro.web.registration import MAIL_FAILED_NOTICE
from tests.fakes import FakeIdentity, FakeMailer, FakeStore
from tests.support.registration import (
    CURP, RFC, LINK_RE, field_error, foreign_form, mexican_form, post_registration, random_person, rfc_with_check,
)
from tests.unit.conftest import unit_settings


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def make_client(fakes, **settings):
    app = create_app({"SETTINGS": unit_settings(**settings), "ADAPTERS": fakes, "TESTING": True})
    return app.test_client()


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


# --- one account per person ----------------------------------------------------------------------
def test_duplicate_curp_is_refused_without_revealing_the_owner(client, fakes):
    assert post_registration(client, mexican_form()).status_code == 302
    other_curp, other_rfc = random_person()
    page = page_text(post_registration(client, mexican_form(
        curp=CURP, rfc=rfc_with_check(other_rfc[:4] + CURP[4:10] + "AB"), email="otra@example.com",
        nombre="Beatriz", apellidos="Ruiz")))
    assert field_error(page, "curp") == DUPLICATE_MESSAGES["curp"]
    assert len(fakes.identity.accounts) == 1
    assert "ana.pena@example.com" not in page and "Peña" not in page and "Ana María" not in page


def test_duplicate_email_is_refused_and_email_comparison_ignores_case(client, fakes):
    post_registration(client, mexican_form())
    curp, rfc = random_person()
    page = page_text(post_registration(client, mexican_form(curp=curp, rfc=rfc, email="ANA.PENA@example.com",
                                                            nombre="Beatriz", apellidos="Ruiz")))
    assert field_error(page, "email") == DUPLICATE_MESSAGES["email"]
    assert field_error(page, "curp") is None and len(fakes.identity.accounts) == 1
    assert CURP not in page and "Ana María" not in page and "Peña" not in page


def test_rfc_already_used_as_username_is_refused(client, fakes):
    fakes.identity.create_account(username=RFC, email="x@example.com", first_name="X", last_name="Y", attributes={})
    page = page_text(post_registration(client, mexican_form()))
    assert field_error(page, "rfc") == DUPLICATE_MESSAGES["rfc"]
    assert len(fakes.identity.accounts) == 1


def test_same_passport_is_refused_only_in_the_same_country(client, fakes):
    assert post_registration(client, foreign_form()).status_code == 302
    page = page_text(post_registration(client, foreign_form(email="otro@example.com")))
    assert field_error(page, "pasaporte") == DUPLICATE_MESSAGES["pasaporte"]
    assert post_registration(client, foreign_form(email="otro@example.com", pais="CA")).status_code == 302
    assert len(fakes.identity.accounts) == 2


# --- failure ordering -----------------------------------------------------------------------------
def test_keycloak_down_gives_a_spanish_503_and_creates_nothing(client, fakes):
    fakes.identity.down = True
    r = post_registration(client, mexican_form())
    assert r.status_code == 503 and "servicio de identidad no está disponible" in page_text(r)
    fakes.identity.down = False
    assert not fakes.identity.accounts and not fakes.storage.objects and not fakes.mailer.sent


def test_s3_down_leaves_no_account(client, fakes):
    fakes.storage.down = True
    r = post_registration(client, mexican_form())
    assert r.status_code == 503 and "almacenamiento" in page_text(r)
    assert not fakes.identity.accounts and not fakes.mailer.sent


def test_the_role_comes_with_the_create_call_through_the_user_type_group(client, fakes, monkeypatch):
    """One Keycloak call gives account, profile and role: a role-mapping call would now fail."""
    def no_mapping(account_id, role):
        raise AssertionError("registration must not map the role directly")

    monkeypatch.setattr(fakes.identity, "assign_realm_role", no_mapping)
    assert post_registration(client, mexican_form()).status_code == 302
    (account,) = fakes.identity.accounts.values()
    assert fakes.identity.memberships[account.id] == {"/tipo-agente_aduanal"}
    assert fakes.identity.roles[account.id] == set()  # no direct mapping
    assert "agente_aduanal" in fakes.identity.realm_roles_of(account.id)


def test_a_realm_without_the_user_type_group_creates_nothing(client, fakes):
    """Keycloak answers an unknown group path with a 500 and creates nothing (tried on 26.7): the
    applicant gets the identity error and a retry after `provision` completes."""
    del fakes.identity.groups["/tipo-agente_aduanal"]
    assert post_registration(client, mexican_form()).status_code == 503
    assert not fakes.identity.accounts and not fakes.storage.objects and not fakes.mailer.sent


def test_failure_after_the_account_exists_leaves_no_account_and_no_responsiva(client, fakes, monkeypatch):
    """The last step of the create (the privacy acceptance, after the responsiva) fails: the
    responsiva and the account are deleted again."""
    from registro.adapters.storage import StorageUnavailable
    from registro.workflow import claims

    put_if_absent = fakes.storage.put_if_absent

    def fail_audit(key, body, **kwargs):
        if not key.startswith(claims.PREFIX):
            raise StorageUnavailable("S3 no responde")
        return put_if_absent(key, body, **kwargs)

    monkeypatch.setattr(fakes.storage, "put_if_absent", fail_audit)
    assert post_registration(client, mexican_form()).status_code == 503
    assert not fakes.identity.accounts and not fakes.mailer.sent
    assert fakes.identity.calls["create_account"] == 1  # it did exist: the failure came after the create
    assert not [k for k in fakes.storage.objects if not k.startswith(claims.PREFIX)]  # no responsiva
    assert not [k for k in fakes.storage.objects if k.startswith(claims.PREFIX)]  # claims released


class BrokenRenderer:
    def render(self, html, base_url=None, stylesheets=()):
        raise PdfUnavailable("roto")


def test_pdf_failure_creates_nothing():
    fakes = Adapters(identity=FakeIdentity(), storage=FakeStore(), mailer=FakeMailer(), pdf=BrokenRenderer())
    r = post_registration(make_client(fakes), mexican_form())
    assert r.status_code == 503 and "responsiva" in page_text(r)
    assert not fakes.identity.accounts and not fakes.storage.objects


def test_smtp_down_leaves_the_email_queued_and_it_is_sent_when_smtp_is_back(client, fakes, app):
    fakes.mailer.down = True
    r = post_registration(client, mexican_form())
    assert r.status_code == 302
    account = next(iter(fakes.identity.accounts.values()))
    assert "agente_aduanal" in fakes.identity.realm_roles_of(account.id)
    assert responsiva_key(account.id, account.attr("folio")) in fakes.storage.objects
    outbox = app.extensions["registro.adapters"].outbox
    assert len(outbox.pending()) == 1 and not fakes.mailer.sent
    page = page_text(client.get("/registro/enviado"))
    assert MAIL_FAILED_NOTICE not in page and "Se ha enviado un correo" in page  # queued: it will arrive
    assert outbox.drain(min_age_s=0) == 0 and len(outbox.pending()) == 1  # still down: kept for later
    fakes.mailer.down = False
    assert outbox.drain(min_age_s=0) == 1
    (mail,) = fakes.mailer.to("ana.pena@example.com")
    assert LINK_RE.search(mail.text) and outbox.pending() == []


def test_email_that_cannot_be_queued_keeps_the_account_and_tells_to_use_resend(client, fakes, monkeypatch):
    from registro.adapters.storage import StorageUnavailable
    from registro.workflow import outbox as outbox_module

    real_put = fakes.storage.put

    def put(key, body, **kw):
        if key.startswith(outbox_module.PREFIX):
            raise StorageUnavailable("S3 no responde")
        return real_put(key, body, **kw)

    monkeypatch.setattr(fakes.storage, "put", put)
    assert post_registration(client, mexican_form()).status_code == 302
    page = page_text(client.get("/registro/enviado"))
    assert MAIL_FAILED_NOTICE in page and "Reenviar correo" in page and "Se ha enviado un correo" not in page
    monkeypatch.setattr(fakes.storage, "put", real_put)
    assert client.post("/registro/reenviar", data={"csrf_token": _token(client)}).status_code == 302
    assert len(fakes.mailer.to("ana.pena@example.com")) == 1
    page = page_text(client.get("/registro/enviado"))
    assert MAIL_FAILED_NOTICE not in page and "Se ha enviado un correo" in page


# --- the email and the responsiva -----------------------------------------------------------------
def test_confirmation_email_has_the_spec_texts_the_link_and_the_responsiva(client, fakes):
    post_registration(client, mexican_form())
    account = next(iter(fakes.identity.accounts.values()))
    (mail,) = fakes.mailer.to("ana.pena@example.com")
    lines = [
        "Estimad@ Ana María Peña Núñez",
        "Le informamos que su cuenta se encuentra en proceso de alta, para concluir con la validación ingrese "
        "aquí y siga las instrucciones.",
        "Nota: descargue, imprima y firme autógrafamente en el documento adjunto",
        "Documentos requeridos: identificación oficial y responsiva firmada.",
    ]
    positions = [mail.text.index(line) for line in lines]
    assert positions == sorted(positions), "the SPEC §5 order"
    html_text = re.sub(r"<[^>]+>", "", html.unescape(mail.html))
    assert all(line in " ".join(html_text.split()) for line in lines)
    (link,) = set(LINK_RE.findall(mail.text))
    assert link.startswith("http://registro.prueba/activacion/") and link in mail.html
    assert account.attr("folio") in mail.subject
    (attachment,) = mail.attachments
    assert attachment.filename == f"responsiva-{account.attr('folio')}.pdf" and attachment.content_type == "application/pdf"
    assert attachment.data == fakes.storage.objects[responsiva_key(account.id, account.attr("folio"))][0]


def test_responsiva_holds_the_applicant_data_declaration_and_signature_line(client, fakes):
    post_registration(client, mexican_form())
    account = next(iter(fakes.identity.accounts.values()))
    text = " ".join(pdf_text(fakes.mailer.sent[0].attachments[0].data).split())
    for expected in (account.attr("folio"), "Ana María Peña Núñez", CURP, RFC, "Agente Aduanal",
                     "ana.pena@example.com", "Av. Juárez 12-B", "Guadalajara", "Jalisco", "C.P. 44100",
                     "Me hago responsable del uso del usuario y la contraseña", "Firma autógrafa"):
        assert expected in text, expected
    assert re.search(r"Fecha: \d{2}/\d{2}/\d{4}", text)


def test_foreigner_responsiva_shows_tax_id_and_passport(client, fakes):
    post_registration(client, foreign_form())
    text = " ".join(pdf_text(fakes.mailer.sent[0].attachments[0].data).split())
    assert "TAX ID 12-3456789" in text and "Pasaporte X1234567" in text and "Estados Unidos" in text
    assert "CURP" not in text


# --- "Reenviar correo" ----------------------------------------------------------------------------
def _token(client) -> str:
    from tests.support.registration import csrf_token

    return csrf_token(client.get("/registro/enviado").get_data(as_text=True))


def _link_tokens(mailer) -> list[str]:
    return [LINK_RE.search(m.text).group(1).rsplit("/", 1)[1] for m in mailer.sent]


def test_resend_issues_a_new_link_that_supersedes_the_old_one(client, fakes, app):
    from registro.links import LinkSuperseded
    from registro.workflow.confirmation_links import signer

    post_registration(client, mexican_form())
    account_id = next(iter(fakes.identity.accounts))
    r = client.post("/registro/reenviar", data={"csrf_token": _token(client)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/registro/enviado")
    old, new = _link_tokens(fakes.mailer)
    current = fakes.identity.accounts[account_id].attr("enlace_version")
    s = signer(app.extensions["registro.settings"])
    assert s.verify_current(new, current).account_id == account_id
    with pytest.raises(LinkSuperseded):
        s.verify_current(old, current)
    assert "Se envió un nuevo correo de confirmación" in page_text(client.get("/registro/enviado"))


def test_second_resend_within_a_minute_is_throttled_with_retry_after(client, fakes):
    post_registration(client, mexican_form())
    token = _token(client)
    assert client.post("/registro/reenviar", data={"csrf_token": token}).status_code == 302
    r = client.post("/registro/reenviar", data={"csrf_token": token})
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
    assert "Ya se envió un correo hace poco" in page_text(r)
    assert len(fakes.mailer.sent) == 2


def test_resend_limit_is_per_application(fakes):
    client = make_client(fakes, resend_limits="1 per day")
    other = client.application.test_client()
    post_registration(client, mexican_form())
    curp, rfc = random_person()
    post_registration(other, mexican_form(curp=curp, rfc=rfc, email="otra@example.com"))
    for c in (client, other):
        assert c.post("/registro/reenviar", data={"csrf_token": _token(c)}).status_code == 302
    assert client.post("/registro/reenviar", data={"csrf_token": _token(client)}).status_code == 429


def test_resend_with_a_previous_link_from_another_browser(client, fakes, monkeypatch):
    post_registration(client, mexican_form())
    (old,) = _link_tokens(fakes.mailer)
    stranger = client.application.test_client()
    r = stranger.post("/registro/reenviar", data={"csrf_token": _token(stranger), "enlace": old})
    assert r.status_code == 302 and len(fakes.mailer.sent) == 2


def test_resend_with_an_expired_link(fakes, monkeypatch):
    from itsdangerous import TimestampSigner

    client = make_client(fakes, link_ttl_s=3600)
    post_registration(client, mexican_form())
    account_id = next(iter(fakes.identity.accounts))
    from registro.workflow.confirmation_links import signer

    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 7200)
    expired = signer(client.application.extensions["registro.settings"]).issue(account_id, "vieja")
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    stranger = client.application.test_client()
    r = stranger.post("/registro/reenviar", data={"csrf_token": _token(stranger), "enlace": expired})
    assert r.status_code == 302 and len(fakes.mailer.sent) == 2


def test_resend_with_a_tampered_link_or_nothing_is_refused(client, fakes):
    post_registration(client, mexican_form())
    (old,) = _link_tokens(fakes.mailer)
    stranger = client.application.test_client()
    for data in ({"enlace": old[:-2] + "xx"}, {}):
        r = stranger.post("/registro/reenviar", data={"csrf_token": _token(stranger), **data})
        assert r.status_code == 400 and "No encontramos una solicitud" in page_text(r)
    assert len(fakes.mailer.sent) == 1


def test_resend_is_refused_once_the_application_is_under_review(client, fakes):
    post_registration(client, mexican_form())
    account_id = next(iter(fakes.identity.accounts))
    fakes.identity.update_attributes(account_id, {"estatus": "en_revision"})
    r = client.post("/registro/reenviar", data={"csrf_token": _token(client)})
    assert r.status_code == 409 and "ya no espera la confirmación" in page_text(r)
    assert len(fakes.mailer.sent) == 1


def test_resend_renders_a_missing_responsiva_again(client, fakes):
    post_registration(client, mexican_form())
    account = next(iter(fakes.identity.accounts.values()))
    key = responsiva_key(account.id, account.attr("folio"))
    del fakes.storage.objects[key]
    assert client.post("/registro/reenviar", data={"csrf_token": _token(client)}).status_code == 302
    assert key in fakes.storage.objects
    assert fakes.mailer.sent[-1].attachments[0].data == fakes.storage.objects[key][0]
    assert account.attr("folio") in pdf_text(fakes.storage.objects[key][0])


def test_send_new_link_is_usable_by_other_features(app, fakes):
    from registro.workflow.registration import send_new_link

    client = app.test_client()
    post_registration(client, mexican_form())
    account_id = next(iter(fakes.identity.accounts))
    fakes.identity.update_attributes(account_id, {"estatus": "requiere_correccion"})
    version = fakes.identity.accounts[account_id].attr("enlace_version")
    with app.test_request_context():
        send_new_link(fakes.identity, fakes.storage, fakes.mailer, app.extensions["registro.settings"], account_id)
    assert fakes.identity.accounts[account_id].attr("enlace_version") != version
    assert len(fakes.mailer.sent) == 2


# --- registration throttling ------------------------------------------------------------------------
def test_registration_is_throttled_per_client_address(fakes):
    client = make_client(fakes, registration_limits="2 per hour")
    for _ in range(2):
        assert post_registration(client, {}).status_code == 200
    r = post_registration(client, mexican_form())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "demasiados registros desde esta conexión" in page_text(r)
    assert not fakes.identity.accounts
    assert client.get("/registro").status_code == 200, "only POSTs count"


def test_expired_link_names_its_account():
    """links.LinkSigner reports the account of an expired link (the resend of an expired link needs it)."""
    from itsdangerous import TimestampSigner

    from registro.links import LinkExpired, LinkSigner

    signer = LinkSigner("clave", ttl_s=60)
    real = TimestampSigner.get_timestamp
    TimestampSigner.get_timestamp = lambda self: real(self) - 120
    try:
        token = signer.issue("cuenta-1", "v1")
    finally:
        TimestampSigner.get_timestamp = real
    with pytest.raises(LinkExpired) as caught:
        signer.read(token)
    assert caught.value.account_id == "cuenta-1"
