"""The review console's HTTP layer with the fakes: access, CSRF, document streaming headers."""
from __future__ import annotations

import re
import time

import pytest

from tests.support import review_data as data


def log_in(client, fakes, roles=("revisor",), user_id="id-ana", **changes):
    """A console session as the OIDC callback leaves it (server-side, the cookie holds its id)."""
    now = time.time()
    data = {"id": user_id, "usuario": "ana.revisora", "nombre": "Ana", "roles": list(roles), "desde": now,
            "verificado": now, **changes}
    session_id = fakes.console_sessions.create(data, 8 * 3600)
    with client.session_transaction() as s:
        s["consola"] = session_id
    return session_id


@pytest.fixture
def reviewer_client(client, fakes):
    log_in(client, fakes)
    return client


def test_anonymous_is_redirected_to_login(client, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    for path in ("/revision/", f"/revision/{app.id}", f"/revision/{app.id}/documentos/curp"):
        r = client.get(path)
        assert r.status_code == 302 and r.location.endswith("/revision/login")
    assert client.post(f"/revision/{app.id}/aprobar").status_code == 400  # no CSRF token
    r = client.get("/revision/login")
    assert "code_challenge_method=S256" in r.location and r.location.startswith("http://keycloak.prueba/")


def test_expired_console_session_logs_in_again(client, fakes):
    log_in(client, fakes, desde=time.time() - 9 * 3600)
    assert client.get("/revision/").status_code == 302


def test_queue_and_detail_render_for_a_reviewer(reviewer_client, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    queue = reviewer_client.get("/revision/")
    assert queue.status_code == 200 and app.folio in queue.get_data(as_text=True)
    assert "frame-ancestors 'self'" in queue.headers["Content-Security-Policy"]
    assert queue.headers["Cache-Control"] == "no-store"
    detail = reviewer_client.get(f"/revision/{app.id}").get_data(as_text=True)
    assert "Reservar para revisar" in detail and "primero reserve la solicitud" in detail
    assert reviewer_client.get("/revision/00000000-0000-0000-0000-000000000000").status_code == 404
    assert reviewer_client.get("/revision/no-es-un-id").status_code == 404


def test_post_without_csrf_token_is_refused(reviewer_client, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    assert reviewer_client.post(f"/revision/{app.id}/reservar").status_code == 400
    assert reviewer_client.post("/revision/salir").status_code == 400


def test_claim_then_decision_forms_appear(reviewer_client, fakes):
    app = data.create_pending(fakes.identity, fakes.storage)
    page = reviewer_client.get(f"/revision/{app.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = reviewer_client.post(f"/revision/{app.id}/reservar", data={"csrf_token": token})
    assert r.status_code == 303
    page = reviewer_client.get(f"/revision/{app.id}").get_data(as_text=True)
    assert "Reservada por usted" in page and 'action="/revision/%s/aprobar"' % app.id in page
    assert "El documento no es legible." in page  # the correction catalog


def test_the_console_date_filter_is_not_replaced_by_another_blueprints(app):
    """Leases store epoch seconds; the status page registers the same filter name app-wide."""
    fecha_local = app.jinja_env.filters["fecha_local"]
    assert fecha_local(1700000000.0) == "14/11/2023 16:13"  # Mexico City time of that instant
    assert fecha_local("") == "—"
