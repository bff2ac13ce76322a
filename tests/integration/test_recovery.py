"""Password recovery against the real Keycloak, S3 (replay markers) and mail catcher.

The service runs in-process with its real adapters; Keycloak sends its own email."""
from __future__ import annotations


import html
import random
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import requests
from sqlalchemy import select

from registro import create_app
from registro.adapters.captcha import signature_sha256
from registro.config import Settings
from registro.platform.db import Database
from registro.platform.db.schema import captcha_uses
from tests.support.captcha import ask_recovery, challenge_in, csrf_in, solve, wrong
from tests.support.oidc import login, trust_loopback_cookies

SENT_TITLE = "Se ha enviado el restablecimiento de la contraseña"
MODULE_CLIENT, MODULE_SECRET = "modulo-ejemplo", "modulo-local-secret"
NEW_PASSWORD = "Nueva-Clave-2024!x"
_PER_REQUEST_TOKENS = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+|(challenge=")[^"]+')


def app_with(**changes):
    # As in gunicorn, recovery requests are delivered by the outbox's thread, off the answer's time.
    changes.setdefault("outbox_background", True)
    return create_app({"SETTINGS": Settings.from_env().with_changes(**changes), "TESTING": True})


def idle(app) -> None:
    assert app.extensions["registro.adapters"].recovery.wait_idle(60), "la cola de recuperación no terminó"


def test_missing_wrong_expired_and_replayed_solutions_are_refused(registro_app, service_settings):
    client = registro_app.test_client()
    r = ask_recovery(client, "alguien", None)
    assert r.status_code == 400 and "Resuelva el captcha" in r.get_data(as_text=True)

    page = client.get("/recuperar").get_data(as_text=True)
    token, challenge = csrf_in(page), challenge_in(page)
    r = client.post("/recuperar", data={"csrf_token": token, "usuario": "alguien", "altcha": wrong(challenge)})
    assert r.status_code == 400 and "El captcha no es válido" in r.get_data(as_text=True)

    answer = solve(challenge)
    assert client.post("/recuperar", data={"csrf_token": token, "usuario": "alguien", "altcha": answer}).status_code == 200
    # Replayed against another instance (another worker or replica): the use is a row of the database.
    other = app_with().test_client()
    page = other.get("/recuperar").get_data(as_text=True)
    r = other.post("/recuperar", data={"csrf_token": csrf_in(page), "usuario": "alguien", "altcha": answer})
    assert r.status_code == 400 and "Este captcha ya se utilizó" in r.get_data(as_text=True)
    with Database.shared(service_settings.database_url).transaction() as conn:
        assert conn.execute(select(captcha_uses).where(
            captcha_uses.c.signature == signature_sha256(challenge["signature"]))).first() is not None

    r = ask_recovery(app_with(captcha_ttl_s=0).test_client(), "alguien")
    assert r.status_code == 400 and "El captcha expiró" in r.get_data(as_text=True)


def _follow_keycloak(session: requests.Session, url: str, keycloak_url: str) -> requests.Response:
    r = session.get(url, allow_redirects=False, timeout=15)
    while r.status_code in (302, 303) and r.headers["Location"].startswith(keycloak_url):
        trust_loopback_cookies(session)
        r = session.get(r.headers["Location"], allow_redirects=False, timeout=15)
    trust_loopback_cookies(session)
    return r


def test_enabled_user_gets_keycloaks_email_and_its_link_sets_a_new_password(
        registro_app, make_account, mailbox, stack, unique):
    email = f"recupera-{unique}@example.com"
    make_account(username=f"rec{unique}", email=email, enabled=True, attributes={"estatus": "aprobado"})
    r = ask_recovery(registro_app.test_client(), f"REC{unique.upper()}")  # typed in upper case, like an RFC
    assert r.status_code == 200 and SENT_TITLE in r.get_data(as_text=True)
    idle(registro_app)

    message = mailbox.latest(email)
    assert message.subject == "Configure su contraseña de Acceso Único"
    assert "configurar su contraseña" in message.text and "HACIENDA" in message.html and "#691c32" in message.html
    link = html.unescape(re.search(r"(http\S+/login-actions/action-token\S+)", message.text).group(1))

    session = requests.Session()
    page = _follow_keycloak(session, link, stack.keycloak_url)
    proceed = re.search(r'href="([^"]+)"[^>]*>\s*Haga clic aquí para continuar', page.text)
    if proceed:  # Keycloak first lists the actions asked of the user
        page = _follow_keycloak(session, html.unescape(proceed.group(1)), stack.keycloak_url)
    assert "Actualizar contraseña" in page.text and "Nueva contraseña" in page.text
    action = html.unescape(re.search(r'<form[^>]*id="kc-passwd-update-form"[^>]*action="([^"]+)"', page.text).group(1))

    weak = session.post(action, data={"password-new": "corta", "password-confirm": "corta"}, allow_redirects=False)
    # The realm's password policy applies on Keycloak's page (its message, in Spanish, before the form).
    assert weak.status_code == 200
    assert "Contraseña no válida: debe" in html.unescape(weak.text.split('id="kc-passwd-update-form"')[0])
    trust_loopback_cookies(session)
    action = html.unescape(re.search(r'<form[^>]*id="kc-passwd-update-form"[^>]*action="([^"]+)"', weak.text).group(1))
    done = session.post(action, data={"password-new": NEW_PASSWORD, "password-confirm": NEW_PASSWORD},
                        allow_redirects=False)
    assert done.status_code in (200, 302, 303)
    if done.status_code == 200:
        assert "Su cuenta se actualizó" in html.unescape(done.text) or "Volver a la aplicación" in done.text

    tokens = login(stack.keycloak_url, MODULE_CLIENT, MODULE_SECRET, f"{stack.modulo_url}/auth",
                   f"rec{unique}", NEW_PASSWORD)
    assert tokens["access_token"]


def _accounts(make_account, unique):
    enabled_email = f"habil-{unique}@example.com"
    make_account(username=f"habil{unique}", email=enabled_email, enabled=True, attributes={"estatus": "aprobado"})
    quiet = {
        "desconocido": (f"nadie{unique}", None),
        "pendiente": (f"pend{unique}", f"pend-{unique}@example.com"),
        "rechazado": (f"rech{unique}", f"rech-{unique}@example.com"),
    }
    make_account(username=quiet["pendiente"][0], email=quiet["pendiente"][1], enabled=False,
                 attributes={"estatus": "pendiente_documentos"})
    make_account(username=quiet["rechazado"][0], email=quiet["rechazado"][1], enabled=False,
                 attributes={"estatus": "rechazado"})
    return (f"habil{unique}", enabled_email), quiet


def test_unknown_pending_and_rejected_get_the_same_page_and_no_email(registro_app, make_account, mailbox, unique):
    (enabled_user, enabled_email), quiet = _accounts(make_account, unique)
    client = registro_app.test_client()
    bodies = {}
    for case, (username, _) in [("habilitado", (enabled_user, None)), *quiet.items()]:
        r = ask_recovery(client, username)
        assert r.status_code == 200, case
        bodies[case] = _PER_REQUEST_TOKENS.sub(r"\1\2", r.get_data(as_text=True))
    assert len(set(bodies.values())) == 1, "las respuestas difieren según la cuenta"
    assert SENT_TITLE in bodies["habilitado"]
    idle(registro_app)
    mailbox.wait_for(enabled_email, 1)  # the worker did run: the enabled user got hers
    for case, (_, email) in quiet.items():
        if email:
            assert mailbox.messages_to(email) == [], case


def _solve_many(challenges: list[dict]) -> list[str]:
    with ProcessPoolExecutor() as pool:
        return list(pool.map(solve, challenges))


def test_response_time_does_not_reveal_the_case(make_account, mailbox, unique):
    """Required by the issue: medians over 20 interleaved tries per case differ by < 50 ms."""
    app = app_with(recovery_user_limits="1000 per hour", recovery_client_limits="1000 per hour")
    (enabled_user, enabled_email), quiet = _accounts(make_account, unique)
    cases = {"habilitado": enabled_user, **{k: v[0] for k, v in quiet.items()}}
    tries = 20
    client = app.test_client()
    token = csrf_in(client.get("/recuperar").get_data(as_text=True))
    captcha = app.extensions["registro.adapters"].captcha
    answers = iter(_solve_many([captcha.challenge() for _ in range(tries * len(cases))]))

    times: dict[str, list[float]] = {case: [] for case in cases}
    bodies: set[str] = set()
    rng = random.Random(unique)
    ask_recovery(client, "calentamiento")  # first request pays for imports and connection set-up
    for _ in range(tries):
        order = list(cases)
        rng.shuffle(order)  # interleaved, so drift in the machine's load hits every case alike
        for case in order:
            data = {"csrf_token": token, "usuario": cases[case], "altcha": next(answers)}
            start = time.perf_counter()
            r = client.post("/recuperar", data=data)
            times[case].append(time.perf_counter() - start)
            assert r.status_code == 200, case
            bodies.add(r.get_data(as_text=True))
    assert len(bodies) == 1
    medians = {case: statistics.median(t) for case, t in times.items()}
    print("medianas (ms):", {c: round(m * 1000, 1) for c, m in medians.items()})
    assert max(medians.values()) - min(medians.values()) < 0.050, medians
    idle(app)
    mailbox.wait_for(enabled_email, tries, timeout_s=60)
    for case, (_, email) in quiet.items():
        if email:
            assert mailbox.messages_to(email) == [], case
