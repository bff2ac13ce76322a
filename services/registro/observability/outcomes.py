"""Which counter an answer of the public views increments, decided at the view layer.

The views answer each outcome with its own status (SPEC's pages: a redirect after success, the
form again with 400/200 on refused input, 413 for a file too large, 429 over a limit…), so the
counter follows from (endpoint, method, status) without touching the views. The endpoints named
here are checked against the app's URL map by a unit test, so a renamed view cannot silently stop
being counted. Decisions are counted where the workflow's outcome is known (review/views.py).
"""
from __future__ import annotations

from flask import g

REGISTRATION = "registration.form"
RESEND = "registration.resend"
UPLOAD = "activation.upload"
SUBMIT = "activation.submit"
RECOVERY = "recovery.form"
COUNTED_ENDPOINTS = (REGISTRATION, RESEND, UPLOAD, SUBMIT, RECOVERY)


def _by_status(status: int, table: dict[int, str], success: str) -> str | None:
    if status in (301, 302, 303):
        return success
    if status >= 500:
        return "error"
    return table.get(status)


def of(endpoint: str, method: str, status: int) -> list[tuple[str, str]]:
    if method != "POST" or endpoint not in COUNTED_ENDPOINTS:
        return []
    found: list[tuple[str, str]] = []
    if endpoint == REGISTRATION:
        outcome = _by_status(status, {200: "rechazada", 400: "rechazada", 429: "limitada"}, "ok")
        if outcome:
            found.append(("registrations", outcome))
    # Confirmation emails leave through the outbox (platform/outbox.py), which counts each attempt.
    elif endpoint == UPLOAD:
        outcome = _by_status(status, {400: "rechazado", 413: "demasiado_grande", 409: "no_permitido"}, "ok")
        if outcome:
            found.append(("uploads", outcome))
    elif endpoint == SUBMIT:
        outcome = _by_status(status, {400: "incompleta", 409: "no_permitido"}, "ok")
        if outcome:
            found.append(("submissions", outcome))
    elif endpoint == RECOVERY:
        if status == 200 and g.get("recovery_accepted"):
            found.append(("recoveries", "aceptada"))
        else:
            outcome = _by_status(status, {400: "rechazada", 429: "limitada"}, "aceptada")
            if outcome and outcome != "aceptada":
                found.append(("recoveries", outcome))
    return found

