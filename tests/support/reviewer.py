"""Logs a reviewer into the in-process review console through the real Keycloak login form,
second factor included: the Flask test client asks /revision/login, a `requests` session plays
the browser at Keycloak (password, then OTP enrolment or the OTP form, with codes computed by
pyotp from the secret Keycloak shows), and the test client receives the callback."""
from __future__ import annotations

import base64
import html
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pyotp
import requests

from tests.support.oidc import LoginPage, trust_loopback_cookies

PASSWORD = "Revisión-Segura-2026!"


@dataclass
class ReviewerAccount:
    id: str
    username: str
    password: str = PASSWORD
    totp_secret: str | None = None
    last_counter: int = -1  # Keycloak refuses a code twice: each login uses a later time step
    browser: requests.Session = field(default_factory=requests.Session)

    def next_code(self) -> str:
        # The form's hidden `totpSecret` is the raw key Keycloak HMACs with; pyotp wants it in base32.
        totp = pyotp.TOTP(base64.b32encode(self.totp_secret.encode()).decode())
        counter = max(int(time.time()) // totp.interval, self.last_counter + 1)
        assert counter <= int(time.time()) // totp.interval + 1, "más de dos inicios de sesión en 30 s"
        self.last_counter = counter
        return totp.at(counter * totp.interval)


def new_reviewer(make_account, kc_admin, username: str, role: str | None = "revisor") -> ReviewerAccount:
    """An enabled staff account with a verified email and PASSWORD, in the test realm (the
    integration fixtures `make_account` and `kc_admin`); its OTP is enrolled at first login."""
    account_id = make_account(username=username, role=role, enabled=True, first_name="Rita",
                              last_name="Revisora")
    kc_admin.update_user(account_id, {"emailVerified": True})
    kc_admin.set_user_password(account_id, PASSWORD, temporary=False)
    return ReviewerAccount(id=account_id, username=username)


def _hidden(page_html: str, name: str) -> str | None:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page_html) or \
        re.search(rf'value="([^"]*)"[^>]*name="{name}"', page_html)
    return html.unescape(m.group(1)) if m else None


def within_keycloak(session: requests.Session, response: requests.Response) -> requests.Response:
    """Follows Keycloak's redirects to its own pages (required actions) until a page or a redirect
    out of Keycloak (the client's callback)."""
    keycloak = urlparse(response.url).netloc
    while response.status_code in (302, 303) and urlparse(response.headers["Location"]).netloc == keycloak:
        response = session.get(response.headers["Location"], allow_redirects=False, timeout=15)
        trust_loopback_cookies(session)
    return response


def keycloak_steps(page: LoginPage, reviewer: ReviewerAccount | None, username: str, password: str) -> requests.Response:
    """Submits the password and whatever second-factor page follows; returns Keycloak's final
    response (a redirect with the code, or the page it stopped at)."""
    r = page.submit({"username": username, "password": password})
    keycloak = urlparse(page.response.url).netloc
    for _ in range(6):
        if r.status_code in (302, 303) and urlparse(r.headers["Location"]).netloc == keycloak:
            r = page.session.get(r.headers["Location"], allow_redirects=False, timeout=15)  # a step inside Keycloak
            trust_loopback_cookies(page.session)
            continue
        if r.status_code != 200:
            return r
        text = r.text
        if 'name="totpSecret"' in text:  # first login of a reviewer: enrol the authenticator app
            assert reviewer is not None
            reviewer.totp_secret = _hidden(text, "totpSecret")
            r = LoginPage(page.session, r).submit({"totp": reviewer.next_code(), "totpSecret": reviewer.totp_secret,
                                                   "userLabel": "Aplicación de pruebas"})
        elif 'name="otp"' in text:
            assert reviewer is not None and reviewer.totp_secret, "Keycloak pidió un código OTP"
            r = LoginPage(page.session, r).submit({"otp": reviewer.next_code()})
        else:
            return r
    return r


def console_login(client, reviewer: ReviewerAccount | None, *, username: str | None = None,
                  password: str | None = None):
    """Full login of the console's test client; returns the response of /revision/callback."""
    start = client.get("/revision/login")
    assert start.status_code == 302, start.status_code
    browser = reviewer.browser if reviewer else requests.Session()
    r = browser.get(start.location, timeout=15, allow_redirects=False)
    trust_loopback_cookies(browser)
    if r.status_code == 200:
        r = keycloak_steps(LoginPage(browser, r), reviewer, username or reviewer.username,
                           password or reviewer.password)
    assert r.status_code == 302, f"Keycloak no redirigió: {r.status_code} {r.text[:500]}"
    back = urlparse(r.headers["Location"])
    assert back.path == "/revision/callback", back
    return client.get(f"{back.path}?{back.query}")


def form_fields(page_html: str, action_suffix: str) -> dict[str, str]:
    """The hidden inputs of the console's form posting to `.../<action_suffix>`."""
    m = re.search(rf'<form[^>]*action="[^"]*/{action_suffix}"[^>]*>(.*?)</form>', page_html, re.S)
    assert m, f"no hay formulario {action_suffix}"
    return {n: v for n, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', m.group(1))
            if not n.startswith("motivos_")}


def post_form(client, account_id: str, action: str, extra: dict | None = None):
    """Posts the detail page's form `action` with its hidden fields (CSRF token, round, digest)."""
    page = client.get(f"/revision/{account_id}").get_data(as_text=True)
    return client.post(f"/revision/{account_id}/{action}", data={**form_fields(page, action), **(extra or {})})
