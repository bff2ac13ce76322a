"""Where things live in the bucket. Keys are built here only, never from uploaded names."""
from __future__ import annotations

import secrets


def responsiva_key(account_id: str, folio: str) -> str:
    return f"solicitudes/{account_id}/responsiva/{folio}.pdf"


def document_key(account_id: str, kind: str) -> str:
    return f"solicitudes/{account_id}/documentos/{kind}/{secrets.token_hex(16)}"


def application_prefix(account_id: str) -> str:
    return f"solicitudes/{account_id}/"


def edit_lock_key(account_id: str) -> str:
    """Short lock serialising changes to the application's record (inside its prefix: purged with it)."""
    return f"solicitudes/{account_id}/bloqueo-edicion.json"


def audit_prefix(account_id: str) -> str:
    return f"auditoria/{account_id}/"


def decisions_day_prefix(day: str) -> str:
    """Every review decision of one UTC day (YYYY-MM-DD): what the supervisor's figures read."""
    return f"auditoria-decisiones/{day}/"


def lease_key(account_id: str) -> str:
    return f"revision/reservas/{account_id}.json"


def decision_key(account_id: str, round_id: str) -> str:
    """The review decision of one submission round (idempotency record of the review console)."""
    return f"revision/decisiones/{account_id}/{round_id}.json"


def failed_email_key(account_id: str) -> str:
    """Present while a decision email could not be sent; the console lists these for a resend."""
    return f"revision/correos-pendientes/{account_id}.json"


FAILED_EMAILS_PREFIX = "revision/correos-pendientes/"
LEASES_PREFIX = "revision/reservas/"
