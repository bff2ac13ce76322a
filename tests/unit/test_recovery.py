"""/recuperar with fakes: form, captcha outcomes, same page for every account, throttling."""
from __future__ import annotations

import pytest

from registro import create_app
from registro.recovery.service import RECOVERY, RecoveryRequests, ResetTarget, normalise_username, send_reset_if_enabled
from tests.support.captcha import ask_recovery, challenge_in, csrf_in, solve, wrong
from tests.unit.conftest import unit_settings

SENT_TITLE = "Se ha enviado el restablecimiento de la contraseña"
SENT_TEXTS = (
    SENT_TITLE,
    "Hemos enviado un correo con las instrucciones para configurar su contraseña, si una cuenta existe con el "
    "usuario que ingresó. Debería recibirlo pronto.",
    "Si no recibes un correo electrónico, asegúrate de que has introducido un usuario válido y comprueba tu "
    "carpeta de correo no deseado.",
)
TARGET = ResetTarget("account", "http://keycloak.prueba/realms/anam/account/")


def make_app(fakes, **changes):
    return create_app({"SETTINGS": unit_settings(**changes), "ADAPTERS": fakes, "TESTING": True})


def dispatcher(app) -> RecoveryRequests:
    return app.extensions["registro.adapters"].recovery


def test_form_has_the_manuals_fields(client):
    r = client.get("/recuperar")
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    for text in ("Recuperar contraseña", "Usuario", "Captcha", "Enviar", "Iniciar sesión",
                 'href="http://portal.prueba/entrar"', "<altcha-widget", 'name="altcha"',
                 'language="es-419"', "necesita JavaScript", 'for="usuario"'):
        assert text in body
    # The widget is served by the service itself: no script from elsewhere.
    assert '/static/vendor/altcha/altcha.min.js' in body
    assert "https://" not in body.split("<body")[0]


def test_accepted_request_answers_the_manuals_page_and_queues_the_work(app, client, fakes):
    account = fakes.identity.create_account(username="PEPJ800101ABC", email="pepe@example.com", first_name="José",
                                            last_name="Pérez", attributes={"estatus": "aprobado"}, enabled=True)
    r = ask_recovery(client, "  pepj800101abc ")
    assert r.status_code == 200
    for text in SENT_TEXTS:
        assert text in r.get_data(as_text=True)
    assert dispatcher(app).wait_idle(5)
    assert fakes.identity.actions_emails == [(account, ["UPDATE_PASSWORD"])]


@pytest.mark.parametrize("enabled,estatus", [(False, "pendiente_documentos"), (False, "rechazado"), (None, None)])
def test_same_page_and_no_email_for_disabled_or_unknown(app, client, fakes, enabled, estatus):
    if enabled is not None:
        fakes.identity.create_account(username="AAAA800101AAA", email="a@example.com", first_name="A", last_name="B",
                                      attributes={"estatus": estatus}, enabled=enabled)
    r = ask_recovery(client, "AAAA800101AAA")
    assert r.status_code == 200 and SENT_TITLE in r.get_data(as_text=True)
    assert dispatcher(app).wait_idle(5)
    assert fakes.identity.actions_emails == []


def test_missing_username_keeps_the_captcha_unspent_and_says_so(client):
    r = ask_recovery(client, "   ")
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Ingrese su usuario." in body and 'aria-invalid="true"' in body


@pytest.mark.parametrize("answer,message", [
    (None, "Resuelva el captcha «No soy un robot» antes de enviar."),
    ("basura", "El captcha no es válido. Resuélvalo de nuevo."),
])
def test_missing_or_garbage_captcha_is_refused(client, fakes, answer, message):
    r = ask_recovery(client, "PEPJ800101ABC", answer)
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and message in body and SENT_TITLE not in body
    assert 'value="PEPJ800101ABC"' in body  # the typed username is kept


def test_wrong_and_replayed_solutions_are_refused(client):
    page = client.get("/recuperar").get_data(as_text=True)
    token, challenge = csrf_in(page), challenge_in(page)
    r = client.post("/recuperar", data={"csrf_token": token, "usuario": "X", "altcha": wrong(challenge)})
    assert r.status_code == 400 and "El captcha no es válido" in r.get_data(as_text=True)
    answer = solve(challenge)
    assert client.post("/recuperar", data={"csrf_token": token, "usuario": "X", "altcha": answer}).status_code == 200
    r = client.post("/recuperar", data={"csrf_token": token, "usuario": "X", "altcha": answer})
    assert r.status_code == 400 and "Este captcha ya se utilizó" in r.get_data(as_text=True)


def test_expired_solution_is_refused(fakes):
    app = make_app(fakes, captcha_ttl_s=0)
    r = ask_recovery(app.test_client(), "X")
    assert r.status_code == 400 and "El captcha expiró" in r.get_data(as_text=True)


def test_per_username_limit_applies_to_unknown_usernames_too(fakes):
    app = make_app(fakes, recovery_user_limits="2 per hour", recovery_client_limits="100 per hour")
    client = app.test_client()
    assert ask_recovery(client, "NADIE").status_code == 200
    assert ask_recovery(client, "nadie").status_code == 200  # same username, other case
    r = ask_recovery(client, "NADIE")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert "Demasiados intentos" in r.get_data(as_text=True)
    assert ask_recovery(client, "OTRO").status_code == 200


def test_refused_captchas_do_not_spend_the_username_limit(fakes):
    app = make_app(fakes, recovery_user_limits="1 per hour", recovery_client_limits="100 per hour")
    client = app.test_client()
    assert ask_recovery(client, "NADIE", "basura").status_code == 400
    assert ask_recovery(client, "NADIE").status_code == 200


def test_per_client_limit_counts_every_post(fakes):
    app = make_app(fakes, recovery_user_limits="100 per hour", recovery_client_limits="2 per hour")
    client = app.test_client()
    assert ask_recovery(client, "A", "basura").status_code == 400
    assert ask_recovery(client, "B").status_code == 200
    r = ask_recovery(client, "C")
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_keycloak_down_in_the_worker_changes_nothing_for_the_visitor(app, client, fakes, caplog):
    fakes.identity.down = True
    r = ask_recovery(client, "PEPJ800101ABC")  # retries: tests/unit/test_recovery_retry.py
    assert r.status_code == 200 and SENT_TITLE in r.get_data(as_text=True)
    assert dispatcher(app).wait_idle(5)
    assert "pepj800101abc" not in caplog.text.lower()
    assert "Keycloak no responde" in caplog.text
    (row,) = fakes.outbox_store.of_kind(RECOVERY)
    assert row["state"] == "pendiente" and row["last_error"] == "Keycloak no responde"  # kept for a retry


def test_every_accepted_request_is_one_row_whatever_was_typed(app, client, fakes):
    """The request path's work is the same for every case: one outbox row (its answer time tells
    nothing; measured in tests/integration/test_recovery.py and benchmarks/bench_recovery.py)."""
    fakes.identity.create_account(username="pepj800101abc", email="pepe@example.com", first_name="José",
                                  last_name="Pérez", attributes={"estatus": "aprobado"}, enabled=True)
    fakes.identity.create_account(username="aaaa800101aaa", email="a@example.com", first_name="A", last_name="B",
                                  attributes={"estatus": "rechazado"}, enabled=False)
    for typed in ("PEPJ800101ABC", "AAAA800101AAA", "NADIE800101XX"):
        ask_recovery(client, typed)
    assert [r["state"] for r in fakes.outbox_store.of_kind(RECOVERY)] == ["enviado"] * 3
    assert len(fakes.identity.actions_emails) == 1


def test_database_down_answers_unavailable_whatever_was_typed(app, client, fakes):
    fakes.outbox_store.down = True
    answers = {typed: ask_recovery(client, typed) for typed in ("PEPJ800101ABC", "NADIE800101XX")}
    assert {r.status_code for r in answers.values()} == {503}
    assert len({r.get_data(as_text=True).split("<main", 1)[-1] for r in answers.values()}) == 1


def test_job_sends_only_to_enabled_accounts(fakes):
    on = fakes.identity.create_account(username="on", email="on@example.com", first_name="A", last_name="B",
                                       attributes={}, enabled=True)
    fakes.identity.create_account(username="off", email="off@example.com", first_name="A", last_name="B",
                                  attributes={}, enabled=False)
    assert send_reset_if_enabled(fakes.identity, "on", TARGET) is True
    assert send_reset_if_enabled(fakes.identity, "off", TARGET) is False
    assert send_reset_if_enabled(fakes.identity, "nadie", TARGET) is False
    assert fakes.identity.actions_emails == [(on, ["UPDATE_PASSWORD"])]


def test_usernames_are_matched_case_insensitively():
    assert normalise_username("  PEPJ800101ABC ") == "pepj800101abc"
