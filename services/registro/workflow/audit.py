"""The append-only audit trail of the review console (SPEC §7).

One JSON object per event under `storage_keys.audit_prefix(account_id)`, written with a
conditional create (If-None-Match: *), so an event is never overwritten; with S3 versioning or
object lock on the bucket (production) it cannot be altered either. Keys start with the UTC
time, so listing a prefix returns the history in order. Events carry who, when, what, the
status before and after, reasons and the SHA-256 of the documents seen — never passwords,
tokens or links.
"""
from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..adapters.storage import ObjectStore
from ..domain.storage_keys import audit_prefix, decisions_day_prefix

CLAIM = "reservar"
RELEASE = "liberar"
APPROVE = "aprobar"
CORRECTION = "solicitar_correccion"
REJECT = "rechazar"
RESEND = "reenviar_correo"
DECISIONS = (APPROVE, CORRECTION, REJECT)
PRIVACY_ACCEPTED = "aceptar_aviso_privacidad"  # workflow/privacy.py
DATA_EXPORTED = "exportar_datos"  # registro.datos
DATA_CANCELLED = "cancelar_datos"  # registro.datos
DOCUMENTS_RETIRED = "retencion_documentos"  # workflow/retention.py

ACTION_LABELS = {
    CLAIM: "Reservó la solicitud",
    RELEASE: "Liberó la solicitud",
    APPROVE: "Aprobó",
    CORRECTION: "Solicitó corrección",
    REJECT: "Rechazó",
    RESEND: "Reenvió el correo",
    PRIVACY_ACCEPTED: "Aceptó el aviso de privacidad",
    DATA_EXPORTED: "Exportó los datos del titular",
    DATA_CANCELLED: "Canceló los datos del titular",
    DOCUMENTS_RETIRED: "Eliminó los documentos al vencer su plazo de conservación",
}


@dataclass(frozen=True)
class AuditEvent:
    action: str
    account_id: str
    actor_id: str
    actor_username: str
    at: str  # ISO-8601 UTC with microseconds
    status_before: str = ""
    status_after: str = ""
    reasons: dict[str, Any] = field(default_factory=dict)
    comment: str = ""
    documents_sha256: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. folio, credentials mode, email outcome
    event_id: str = ""

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AuditEvent":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class AuditTrail:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def record(self, action: str, account_id: str, *, actor_id: str, actor_username: str,
               status_before: str = "", status_after: str = "", reasons: dict | None = None, comment: str = "",
               documents_sha256: dict[str, str] | None = None, details: dict | None = None) -> AuditEvent:
        while True:
            at = _now()
            event_id = secrets.token_hex(6)
            event = AuditEvent(action=action, account_id=account_id, actor_id=actor_id, actor_username=actor_username,
                               at=at, status_before=status_before, status_after=status_after,
                               reasons=dict(reasons or {}), comment=comment,
                               documents_sha256=dict(documents_sha256 or {}), details=dict(details or {}),
                               event_id=event_id)
            stamp = at.replace(":", "").replace("-", "").replace("+0000", "Z")
            key = f"{audit_prefix(account_id)}{stamp}-{action}-{event_id}.json"
            body = json.dumps(asdict(event), ensure_ascii=False, sort_keys=True).encode("utf-8")
            if self.store.put_if_absent(key, body, content_type="application/json"):
                if action in DECISIONS:
                    # A copy by day, so the supervisor's figures read one prefix per day instead of
                    # every application's history.
                    self.store.put_if_absent(f"{decisions_day_prefix(at[:10])}{stamp}-{action}-{event_id}.json",
                                             body, content_type="application/json")
                return event
            # A key collision (same microsecond and random id) is practically impossible; retry anyway.

    def decisions_on(self, day: str) -> list[AuditEvent]:
        keys = self.store.list_keys(decisions_day_prefix(day))
        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(keys))) as pool:
            bodies = list(pool.map(self.store.get, keys))
        return sorted((AuditEvent.from_dict(json.loads(b)) for b in bodies), key=lambda e: e.at)

    def history(self, account_id: str) -> list[AuditEvent]:
        events = []
        for key in self.store.list_keys(audit_prefix(account_id)):
            events.append(AuditEvent.from_dict(json.loads(self.store.get(key))))
        return sorted(events, key=lambda e: e.at)
