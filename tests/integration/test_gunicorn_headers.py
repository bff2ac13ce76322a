"""Request headers that gunicorn itself interprets, sent straight to the test stack's real gunicorn
(issue 21, item 14): a `SCRIPT_NAME` header used to become the mount point, so a path outside it got
gunicorn's bare 500 page and a path inside it was served under a prefix the service does not have."""
from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("value", ["/otra", "/registro", "/reg", "x", "/%2e%2e"])
def test_a_script_name_header_is_ignored(stack, value):
    r = requests.get(stack.registro_url + "/registro", headers={"SCRIPT_NAME": value}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    # The service's own page, its links at the root (not under the header's prefix).
    assert '<form id="form-registro" method="post" action="/registro"' in r.text
    assert 'href="/static/css/anam.css"' in r.text


def test_a_prefix_claimed_by_the_header_is_not_served(stack):
    r = requests.get(stack.registro_url + "/otra/registro", headers={"SCRIPT_NAME": "/otra"}, timeout=30)
    assert r.status_code == 404 and "Página no encontrada" in r.text


def test_a_path_info_header_does_not_move_the_request(stack):
    r = requests.get(stack.registro_url + "/health/live", headers={"PATH_INFO": "/registro"}, timeout=30)
    assert r.status_code == 200 and r.json() == {"estado": "ok"}
