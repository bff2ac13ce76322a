"""Console sessions: server-side, re-checked against Keycloak, ended by logout; supervisor pages
refuse a reviewer without `supervisor`; search and "Siguiente solicitud" through HTTP."""
from __future__ import annotations

import re
import time


from tests.support import review_data as data
from tests.unit.test_review_web import log_in


def staff(fakes, roles=("revisor",)):
    account_id = fakes.identity.create_account(username="ana.revisora", email="ana@anam.gob.mx", first_name="Ana",
                                               last_name="ANAM", attributes={}, enabled=True)
    for role in roles:
        fakes.identity.assign_realm_role(account_id, role)
    return account_id


def stale(client, fakes, account_id, roles=("revisor",)):
    """Logged in, last checked against Keycloak longer ago than the re-check interval."""
    return log_in(client, fakes, roles=roles, user_id=account_id, verificado=time.time() - 3600)


def test_a_disabled_reviewer_is_out_at_the_next_check(client, fakes):
    account_id = staff(fakes)
    stale(client, fakes, account_id)
    assert client.get("/revision/").status_code == 200  # checked now: still fine
    fakes.identity.update_account(account_id, enabled=False)
    assert client.get("/revision/").status_code == 200  # within the interval: the session stands
    stale(client, fakes, account_id)
    r = client.get("/revision/")
    assert r.status_code == 302 and r.location.endswith("/revision/login")


def test_a_reviewer_whose_role_was_removed_is_out_at_the_next_check(client, fakes):
    account_id = staff(fakes)
    session_id = stale(client, fakes, account_id)
    fakes.identity.roles[account_id].discard("revisor")
    assert client.get("/revision/").status_code == 302
    assert fakes.console_sessions.get(session_id) is None  # ended server-side, not only in this cookie


def test_logout_ends_the_session_for_a_copied_cookie(app, client, fakes):
    account_id = staff(fakes)
    log_in(client, fakes, user_id=account_id)
    copied = app.test_client()
    with client.session_transaction() as original, copied.session_transaction() as copy:
        copy.update(dict(original))
    assert copied.get("/revision/").status_code == 200
    page = client.get("/revision/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/revision/salir", data={"csrf_token": token})
    assert r.status_code == 302 and "/logout" in r.location
    assert copied.get("/revision/").status_code == 302  # the copy taken before logout no longer opens anything


def test_supervisor_pages_refuse_a_reviewer_without_the_role(client, fakes):
    log_in(client, fakes, roles=("revisor",))
    for path in ("/supervision/", "/supervision/decisiones.csv"):
        r = client.get(path)
        assert r.status_code == 403 and "rol de supervisor" in r.get_data(as_text=True)


def test_a_supervisor_without_revisor_cannot_review(client, fakes):
    log_in(client, fakes, roles=("supervisor",))
    assert client.get("/supervision/").status_code == 200
    assert client.get("/revision/").status_code == 403
    assert client.get("/supervision/?desde=2026-13-01").status_code == 400


def test_search_and_siguiente_through_http(client, fakes):
    log_in(client, fakes)
    older = data.create_pending(fakes.identity, fakes.storage, last_name="Núñez Peña",
                                fecha_envio="2026-01-01T00:00:00+00:00")
    data.create_pending(fakes.identity, fakes.storage,
                        fecha_envio="2026-01-02T00:00:00+00:00")
    page = client.get("/revision/?q=NUNEZ").get_data(as_text=True)
    assert older.folio in page and "1 solicitudes coinciden" in page
    assert "Ninguna solicitud coincide" in client.get("/revision/?q=zzz").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/revision/siguiente", data={"csrf_token": token})
    assert r.status_code == 303 and r.location.endswith(f"/revision/{older.id}")
    assert "Reservada por usted" in client.get(r.location).get_data(as_text=True)
    client.post("/revision/siguiente", data={"csrf_token": token})
    r = client.post("/revision/siguiente", data={"csrf_token": token})
    assert r.status_code == 303 and "/revision/?" in r.location or r.location.endswith("/revision/")


def test_search_finds_an_application_in_any_status_and_shows_it(client, fakes):
    log_in(client, fakes)
    approved = data.create_pending(fakes.identity, fakes.storage, last_name="Ibáñez Ruiz",
                                   fecha_envio="2026-01-01T00:00:00+00:00")
    fakes.identity.update_attributes(approved.id, {"estatus": "aprobado"})
    page = re.sub(r"\s+", " ", client.get("/revision/?q=ibanez").get_data(as_text=True))
    row = re.search(rf'<tr data-solicitud="{approved.id}">(.*?)</tr>', page).group(1)
    assert approved.folio in row and "Aprobado" in row and "Libre" in row
    assert "1 solicitudes coinciden" in page


def test_an_id_token_whose_claims_fail_is_a_spanish_400_not_a_500(client, monkeypatch):
    """Authlib validates the ID token with joserfc: a wrong issuer (Keycloak reached by another name),
    audience or expiry raises joserfc's errors, which must end like any refused login."""
    from joserfc.errors import InvalidClaimError

    from registro.review import console_auth

    class Keycloak:
        def authorize_access_token(self):
            raise InvalidClaimError("iss")

    monkeypatch.setattr(console_auth.oidc, "client", lambda app: Keycloak())
    r = client.get("/revision/callback?code=c&state=s")
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and "No fue posible completar el inicio de sesión" in body
    assert "Traceback" not in body
