"""Registration outcomes with fakes: duplicates, failure ordering, the email, the responsiva, throttling."""
from dataclasses import replace
import html
import io

import pytest
from pypdf import PdfReader

from registro import create_app
from registro.adapters.pdf import PdfUnavailable
from registro.platform.db import DatabaseUnavailable
from registro.domain.storage_keys import responsiva_key
from registro.registration.forms import DUPLICATE_MESSAGES
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
    """The last step (the application completed with its email and the privacy acceptance, one
    transaction) fails: the responsiva and the account are deleted again, the intent cancelled and its
    identifiers freed; no acceptance is written for an account that does not exist."""
    def database_gone(*args, **kwargs):
        raise DatabaseUnavailable("prueba")

    monkeypatch.setattr(fakes.applications, "complete", database_gone)
    assert post_registration(client, mexican_form()).status_code == 503
    assert not fakes.identity.accounts and not fakes.mailer.sent
    assert not fakes.audit.events
    assert fakes.identity.calls["create_account"] == 1  # it did exist: the failure came after the create
    assert not fakes.storage.objects  # no responsiva
    assert {a["state"] for a in fakes.applications.apps.values()} == {"cancelada"}
    assert not [r for r in fakes.applications.ids if r["vigente"]]  # identifiers released
    monkeypatch.undo()
    assert post_registration(client, mexican_form()).status_code == 302  # the person may try again


def test_database_lost_after_the_account_leaves_it_to_the_reconciler(client, fakes, monkeypatch):
    """PostgreSQL stops answering between the create and the completing transaction, and so cannot
    delete the account either: the account stays, its intent stays `creando` for the reconciler to
    finish (registration/reconcile.py), and the applicant gets the Spanish 503."""
    def database_gone(*args, **kwargs):
        raise DatabaseUnavailable("prueba")

    monkeypatch.setattr(fakes.applications, "complete", database_gone)
    monkeypatch.setattr(fakes.identity, "delete_account", database_gone)
    assert post_registration(client, mexican_form()).status_code == 503
    assert len(fakes.identity.accounts) == 1 and not fakes.mailer.sent and not fakes.audit.events
    assert [a["state"] for a in fakes.applications.apps.values()] == ["creando"]


class BrokenRenderer:
    def render(self, html, base_url=None, stylesheets=()):
        raise PdfUnavailable("roto")


def test_pdf_failure_creates_nothing(fakes):
    fakes = replace(fakes, pdf=BrokenRenderer())
    r = post_registration(make_client(fakes), mexican_form())
    assert r.status_code == 503 and "responsiva" in page_text(r)
    assert not fakes.identity.accounts and not fakes.storage.objects
    assert not [r for r in fakes.applications.ids if r["vigente"]]


def test_smtp_down_leaves_the_email_queued_and_it_is_sent_when_smtp_is_back(client, fakes, app):
    fakes.mailer.down = True
    r = post_registration(client, mexican_form())
    assert r.status_code == 302
    account = next(iter(fakes.identity.accounts.values()))
    assert "agente_aduanal" in fakes.identity.realm_roles_of(account.id)
    assert responsiva_key(account.id, account.attr("folio")) in fakes.storage.objects
    outbox = app.extensions["registro.adapters"].outbox
    assert outbox.pending() == 1 and not fakes.mailer.sent
    page = page_text(client.get("/registro/enviado"))
    assert "Se ha enviado un correo" in page  # queued: it will arrive
    fakes.outbox_store.expedite()
    assert outbox.deliver_due() == 0 and outbox.pending() == 1  # still down: kept for later
    fakes.mailer.down = False
    fakes.outbox_store.expedite()
    assert outbox.deliver_due() == 1
    (mail,) = fakes.mailer.to("ana.pena@example.com")
    assert LINK_RE.search(mail.text) and outbox.pending() == 0


def test_database_down_creates_nothing_and_says_so_in_spanish(client, fakes):
    fakes.applications.down = True
    r = post_registration(client, mexican_form())
    assert r.status_code == 503 and "No se realizó ningún cambio" in page_text(r)
    assert not fakes.identity.accounts and not fakes.storage.objects and not fakes.mailer.sent


def test_resend_renders_a_missing_responsiva_again(client, fakes):
    assert post_registration(client, mexican_form()).status_code == 302
    account = next(iter(fakes.identity.accounts.values()))
    key = responsiva_key(account.id, account.attr("folio"))
    del fakes.storage.objects[key]
    assert client.post("/registro/reenviar", data={"csrf_token": _token(client)}).status_code == 302
    assert key in fakes.storage.objects
    assert fakes.mailer.sent[-1].attachments[0].data == fakes.storage.objects[key][0]
    assert account.attr("folio") in pdf_text(fakes.storage.objects[key][0])


def test_send_new_link_is_usable_by_other_features(app, fakes):
    from registro.registration.service import send_new_link

    client = app.test_client()
    post_registration(client, mexican_form())
    account_id = next(iter(fakes.identity.accounts))
    fakes.identity.update_attributes(account_id, {"estatus": "requiere_correccion"})
    version = fakes.identity.accounts[account_id].attr("enlace_version")
    with app.test_request_context():
        send_new_link(fakes.identity, fakes.storage, app.extensions["registro.settings"], account_id,
                      outbox=fakes_outbox(app))
    assert fakes.identity.accounts[account_id].attr("enlace_version") != version
    assert len(fakes.mailer.sent) == 2


def _token(client) -> str:
    from tests.support.registration import csrf_token

    return csrf_token(client.get("/registro/enviado").get_data(as_text=True))


def fakes_outbox(app):
    return app.extensions["registro.adapters"].outbox


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


def test_a_limited_answer_reads_the_limits_window_only_when_it_refuses(fakes, monkeypatch):
    """Reading the window (a Redis round trip with the shared storage) is for the refusal's Retry-After;
    the answers below the limit neither read it nor carry X-RateLimit headers."""
    from registro.extensions import limiter

    client = make_client(fakes, registration_limits="2 per hour")
    client.get("/registro")  # the limiter's strategy is built on first use
    reads = []
    strategy = limiter.limiter
    original = strategy.get_window_stats
    monkeypatch.setattr(strategy, "get_window_stats", lambda *a, **k: reads.append(a) or original(*a, **k))
    for _ in range(2):
        r = post_registration(client, {})
        assert r.status_code == 200 and not [h for h in r.headers.keys() if h.lower().startswith("x-ratelimit")]
    assert reads == []
    r = post_registration(client, mexican_form())
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 3600
    assert len(reads) == 1


def test_expired_link_names_its_account():
    """links.LinkSigner reports the account of an expired link (the resend of an expired link needs it)."""
    from itsdangerous import TimestampSigner

    from registro.kernel.links import LinkExpired, LinkSigner

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


def test_a_link_to_an_application_lost_in_a_restore_says_so_and_a_purged_one_says_expired(client, fakes, app):
    """After a restore (Keycloak's and registro's databases from one backup), an application made later
    has no row at all: its link says so instead of "expired"; a purged one keeps its row."""
    from registro.kernel.confirmation_links import link_for

    assert post_registration(client, mexican_form()).status_code == 302
    (account_id,) = fakes.identity.accounts
    version = fakes.identity.accounts[account_id].attr("enlace_version")
    settings = app.extensions["registro.settings"]
    with app.test_request_context():
        link = link_for(settings, account_id, version).replace(settings.public_url, "")
    fakes.identity.delete_account(account_id)
    fakes.applications.cancel_account(account_id, "expirada")  # what the purge does
    page = page_text(client.get(link))
    assert "ya no existe" in page and "copia de seguridad" not in page
    fakes.applications.apps.clear()  # the restored database never knew it
    page = page_text(client.get(link))
    assert "copia de seguridad" in page and "regístrese de nuevo" in page


def test_a_registration_costs_one_keycloak_call(fakes):
    """Issue 20: Keycloak calls per registration ≤ 2 — the account create is the only one (uniqueness,
    the intent and the email live in registro's database)."""
    made = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            attr = getattr(self.inner, name)
            if callable(attr):
                def call(*args, **kwargs):
                    made.append(name)
                    return attr(*args, **kwargs)
                return call
            return attr

    client = make_client(replace(fakes, identity=Counting(fakes.identity)))
    page = client.get("/registro")  # the form itself asks Keycloak nothing either
    made.clear()
    assert post_registration(client, mexican_form()).status_code == 302
    assert made == ["create_account"]
    assert page.status_code == 200


def test_one_rfc_rule_for_mexicans_and_foreigners(client, fakes):
    """Issue 21, item 10: a Mexican's RFC (their username) had no claim of its own, so a foreigner
    declaring the same RFC registered too. Every RFC is now one identifier under one unique rule."""
    assert post_registration(client, mexican_form()).status_code == 302
    page = post_registration(client, foreign_form(rfc=RFC, email="otra@example.com"))
    assert page.status_code == 200 and html.unescape(DUPLICATE_MESSAGES["rfc"]) in html.unescape(page_text(page))
    assert len(fakes.identity.accounts) == 1
