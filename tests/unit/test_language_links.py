"""The language switch is built from the matched route, never from the raw path (issue 21, item 11):
`GET /%5Cevil.example/x?lang=en` once rendered a link `/\\evil.example/x?lang=es`, which browsers read as
`//evil.example/x` — another host."""
from __future__ import annotations

import html
import re

import pytest

from tests.support.applications import create_application, path_of


def _language_links(page: str) -> list[str]:
    nav = re.search(r'<nav class="idiomas".*?</nav>', page, re.S)
    assert nav, "the page offers the language switch"
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', nav.group(0))]


def _same_page(href: str) -> bool:
    """A link browsers resolve on this host: a path from the root, or a query alone."""
    return (href.startswith("/") and not href.startswith("//") and "\\" not in href) or href.startswith("?")


@pytest.mark.parametrize("path", ["/%5Cevil.example/x", "/%5C%5Cevil.example/x", "//evil.example/x",
                                  "/%2F%2Fevil.example/x", "/\\evil.example/x"])
def test_an_unknown_path_never_becomes_a_link_to_another_host(client, path):
    r = client.get(f"{path}?lang=en")
    assert r.status_code == 404
    links = _language_links(r.get_data(as_text=True))
    assert links and all(_same_page(h) and "evil.example" not in h for h in links), links
    assert links == ["?lang=es"]


def test_a_page_links_its_own_route_with_its_query(client):
    links = _language_links(client.get("/registro?lang=en&origen=correo").get_data(as_text=True))
    assert links == ["/registro?lang=es&origen=correo"]


def test_query_names_that_url_for_reads_as_options_stay_in_the_query(client):
    links = _language_links(client.get("/registro?_external=1&_scheme=javascript&lang=en").get_data(as_text=True))
    assert links == ["/registro?_external=1&_scheme=javascript&lang=es"]


def test_a_page_with_a_token_in_its_route_keeps_it(client, fakes, app):
    _, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"])
    token = path_of(link).rsplit("/", 1)[1]
    links = _language_links(client.get(f"{path_of(link)}?lang=en&token=/evil").get_data(as_text=True))
    assert links == [f"/activacion/{token}?lang=es&token=%2Fevil"]
