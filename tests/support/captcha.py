"""Solves the recovery page's ALTCHA challenge the way the browser widget does (altcha's solver)."""
from __future__ import annotations

import html
import json
import re

import altcha

from registro.adapters.captcha import encode_solution

_CHALLENGE = re.compile(r'<altcha-widget[^>]*\schallenge="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def challenge_in(page_html: str) -> dict:
    m = _CHALLENGE.search(page_html)
    assert m, "la página no trae el reto del captcha"
    return json.loads(html.unescape(m.group(1)))


def csrf_in(page_html: str) -> str:
    m = _CSRF.search(page_html)
    assert m, "la página no trae el token CSRF"
    return m.group(1)


def solve(challenge: dict) -> str:
    """The value the widget posts in the hidden `altcha` field."""
    solution = altcha.solve_challenge(altcha.Challenge.from_dict(challenge), timeout=60)
    assert solution is not None, "no se resolvió el captcha"
    return encode_solution(challenge, solution.counter, solution.derived_key)


def wrong(challenge: dict) -> str:
    """A well-formed answer with a counter that does not solve the challenge."""
    solution = altcha.solve_challenge(altcha.Challenge.from_dict(challenge), timeout=60)
    return encode_solution(challenge, solution.counter + 1, solution.derived_key)


def ask_recovery(client, username: str, answer: str | None = "solve"):
    """Opens /recuperar and sends it: the captcha solved ("solve"), a given answer, or none (None)."""
    page = client.get("/recuperar").get_data(as_text=True)
    data = {"csrf_token": csrf_in(page), "usuario": username}
    if answer == "solve":
        data["altcha"] = solve(challenge_in(page))
    elif answer is not None:
        data["altcha"] = answer
    return client.post("/recuperar", data=data)
