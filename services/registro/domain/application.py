"""An application ("solicitud") as the service reads it: an `Account` whose attributes are the record.

The record lives in registro's PostgreSQL (kernel/records.py: the `applications` row, served through the
identity port as an Account); Keycloak keeps the account and the few attributes tokens need. Structured
values are JSON strings in one attribute each.

Attribute layout (every feature reads and writes through these names):
  estatus                 one of domain.status
  folio                   the responsiva's folio, e.g. "AU-2026-7K3M9QX2"
  fecha_registro          ISO-8601 UTC
  enlace_version          current confirmation-link version (kernel/links.py)
  rfc_digito_no_coincide  "true" when the applicant confirmed an RFC whose check digit does not compute
  documentos              JSON {kind: DocumentRecord-as-dict}
  fecha_envio             ISO-8601 UTC of the last "Enviar a validación" (queue order)
  motivos_correccion      JSON {"documentos": {kind: [reason codes]}, "comentario": str, "fecha": iso}
  revision                JSON of the last decision {"decision", "motivo", "fecha", "revisor", ...}
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from keycloak_ext import Account


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class DocumentRecord:
    key: str  # S3 object key, built by the service
    sha256: str
    size: int
    content_type: str  # detected from the content: application/pdf, image/jpeg, image/png
    original_name: str
    uploaded_at: str
    details: dict[str, str] = field(default_factory=dict)  # e.g. tipo_identificacion, vigencia

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DocumentRecord":
        return cls(key=data["key"], sha256=data["sha256"], size=int(data["size"]), content_type=data["content_type"],
                   original_name=data.get("original_name", ""), uploaded_at=data.get("uploaded_at", ""),
                   details=dict(data.get("details") or {}))


@dataclass(frozen=True)
class Application:
    account: Account

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def status(self) -> str:
        return self.account.attr("estatus")

    @property
    def folio(self) -> str:
        return self.account.attr("folio")

    @property
    def es_extranjero(self) -> bool:
        return self.account.attr("es_extranjero") == "true"

    @property
    def tipo_usuario(self) -> str:
        return self.account.attr("tipo_usuario")

    @property
    def full_name(self) -> str:
        return f"{self.account.first_name} {self.account.last_name}".strip()

    @property
    def submitted_at(self) -> str:
        return self.account.attr("fecha_envio")

    @property
    def documents(self) -> dict[str, DocumentRecord]:
        raw = _json(self.account.attr("documentos"), {})
        return {kind: DocumentRecord.from_dict(d) for kind, d in raw.items()}

    @property
    def correction(self) -> dict[str, Any]:
        return _json(self.account.attr("motivos_correccion"), {})

    @property
    def decision(self) -> dict[str, Any]:
        return _json(self.account.attr("revision"), {})


def documents_attribute(documents: dict[str, DocumentRecord]) -> str:
    return json.dumps({k: asdict(v) for k, v in sorted(documents.items())}, ensure_ascii=False, separators=(",", ":"))


def _json(raw: str, default: Any) -> Any:
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default
