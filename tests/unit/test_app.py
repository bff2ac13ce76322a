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
