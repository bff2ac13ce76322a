"""The app factory, health endpoints and Spanish error pages."""


def test_liveness(client):
    r = client.get("/salud")
    assert r.status_code == 200 and r.get_json() == {"estado": "ok"}


def test_readiness_reports_a_down_keycloak(client, fakes):
    assert client.get("/salud/lista").status_code == 200
    fakes.identity.down = True
    r = client.get("/salud/lista")
    assert r.status_code == 503 and r.get_json()["servicios"]["keycloak"] == "no disponible"


def test_not_found_page_is_spanish(client):
    r = client.get("/no-existe")
    assert r.status_code == 404
    page = r.get_data(as_text=True)
    assert 'lang="es-MX"' in page and "Página no encontrada" in page


def test_every_page_carries_the_baseline_security_headers(client):
    r = client.get("/")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'self'" in csp


def test_only_the_captcha_page_allows_inline_styles(client):
    csp = client.get("/recuperar").headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp and "script-src 'self';" in csp
