"""Logs a user in through the real Keycloak login form with `requests` (code flow + PKCE)."""
from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

import requests

_FORM = re.compile(r'<form[^>]*id="kc-[a-z-]*form"[^>]*action="([^"]+)"', re.S)


@dataclass
class LoginPage:
    """A Keycloak form page. Keycloak marks its cookies Secure; a browser still sends them to
    http://127.0.0.1 (a trustworthy origin), requests does not, so the flag is dropped here."""

    session: requests.Session
    response: requests.Response

    @property
    def action(self) -> str:
        m = _FORM.search(self.response.text) or re.search(r'<form[^>]*action="([^"]+)"', self.response.text)
        assert m, "la página de Keycloak no tiene formulario"
        return html.unescape(m.group(1))

    def submit(self, data: dict[str, str]) -> requests.Response:
        trust_loopback_cookies(self.session)
        r = self.session.post(self.action, data=data, allow_redirects=False, timeout=15)
        trust_loopback_cookies(self.session)
        return r


def trust_loopback_cookies(session: requests.Session) -> None:
    for cookie in session.cookies:
        cookie.secure = False


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def open_login(keycloak_url: str, client_id: str, redirect_uri: str, challenge: str,
               session: requests.Session | None = None, realm: str = "anam") -> LoginPage:
    session = session or requests.Session()
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": "openid",
              "code_challenge": challenge, "code_challenge_method": "S256", "state": secrets.token_urlsafe(8)}
    r = session.get(f"{keycloak_url}/realms/{realm}/protocol/openid-connect/auth?{urlencode(params)}", timeout=15)
    r.raise_for_status()
    trust_loopback_cookies(session)
    return LoginPage(session, r)


def code_from(response: requests.Response) -> str:
    location = response.headers.get("Location", "")
    query = parse_qs(urlparse(location).query)
    assert "code" in query, f"no se obtuvo código; Location={location!r} estado={response.status_code}"
    return query["code"][0]


def exchange(keycloak_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str,
             verifier: str, realm: str = "anam") -> dict:
    r = requests.post(f"{keycloak_url}/realms/{realm}/protocol/openid-connect/token", timeout=15, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": client_id, "client_secret": client_secret, "code_verifier": verifier})
    r.raise_for_status()
    return r.json()


def login(keycloak_url: str, client_id: str, client_secret: str, redirect_uri: str,
          username: str, password: str) -> dict:
    """Password login of an account with no pending required action; returns the token response."""
    verifier, challenge = pkce_pair()
    page = open_login(keycloak_url, client_id, redirect_uri, challenge)
    r = page.submit({"username": username, "password": password})
    return exchange(keycloak_url, client_id, client_secret, redirect_uri, code_from(r), verifier)


def claims_of(jwt: str) -> dict:
    import json

    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
