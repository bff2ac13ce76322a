"""Applications waiting for review (`en_revision`), built straight through the gateway and S3 the
way registration + activation leave them: a disabled account with the attributes of
domain/application.py, the generated responsiva and the uploaded documents in the bucket, and
the `documentos` JSON pointing at them. Works with the real adapters and with the fakes."""
from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from PIL import Image

from keycloak_ext.catalog import group_path_of

from registro.domain import documents as docs
from registro.domain.application import DocumentRecord, documents_attribute, now_iso
from registro.kernel.audit import AuditTrail
from registro.domain.storage_keys import application_prefix, document_key, responsiva_key

# Ana Pérez López, born 1980-01-01, Ciudad de México: CURP and RFC with valid check digits.
CURP = "PELA800101MDFRPN06"
RFC = "PELA800101AB8"


@dataclass(frozen=True)
class Pending:
    id: str
    username: str
    email: str
    folio: str
    documents: dict[str, DocumentRecord]


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer says `text` (what a digitally filled responsiva looks like).
    Written by hand: pypdf writes pages but has no API to draw text."""
    content = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def png_bytes(width: int = 320, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (105, 28, 50)).save(out, format="PNG")
    return out.getvalue()


def _store_document(store: Any, account_id: str, kind: str, data: bytes, content_type: str, name: str,
                    details: dict[str, str] | None = None) -> DocumentRecord:
    key = document_key(account_id, kind)
    store.put(key, data, content_type=content_type)
    return DocumentRecord(key=key, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                          content_type=content_type, original_name=name, uploaded_at=now_iso(),
                          details=dict(details or {}))


def create_pending(gateway: Any, store: Any, *, foreign: bool = False, tipo_usuario: str = "agente_aduanal",
                   fecha_envio: str | None = None, first_name: str = "Ana", last_name: str = "Pérez López",
                   curp: str = CURP, rfc: str = RFC, vigencia: str | None = None, with_documents: bool = True,
                   email: str | None = None, role: str = "group") -> Pending:
    """An application `en_revision` (the queue, a query over the record, lists it). `role`: how the account holds its user type — "group" (created in its group, as registration
    does), "direct" (a direct mapping, as registration did before the groups) or "none"."""
    tag = secrets.token_hex(5)
    folio = f"AU-2026-{tag.upper()}"
    attributes = {"estatus": "en_revision", "folio": folio, "fecha_registro": now_iso(),
                  "fecha_envio": fecha_envio or now_iso(), "es_extranjero": "true" if foreign else "false",
                  "tipo_usuario": tipo_usuario}
    if foreign:
        attributes.update({"tax_id": f"TX-{tag}", "pasaporte": f"P{tag.upper()}", "pais": "US", "estado": "Texas",
                           "localidad": "Laredo", "colonia": "Centro", "codigo_postal": "78040",
                           "numero_exterior": "100", "calle": "Main St"})
    else:
        attributes.update({"curp": curp, "rfc": rfc, "pais": "MX", "estado": "Ciudad de México",
                           "localidad": "Cuauhtémoc", "colonia": "Centro", "codigo_postal": "06000",
                           "numero_exterior": "10", "calle": "Madero"})
    username = f"solicitud-{tag}"
    email = email or f"{username}@example.com"
    account_id = gateway.create_account(username=username, email=email, first_name=first_name, last_name=last_name,
                                        attributes=attributes, enabled=False, email_verified=True,
                                        groups=(group_path_of(tipo_usuario),) if role == "group" else ())
    if role == "direct":
        gateway.assign_realm_role(account_id, tipo_usuario)
    documents: dict[str, DocumentRecord] = {}
    if with_documents:
        store.put(responsiva_key(account_id, folio), text_pdf(f"Responsiva folio {folio}"),
                  content_type="application/pdf")
        if not foreign:
            documents[docs.CURP] = _store_document(store, account_id, docs.CURP, text_pdf(f"CURP {curp}"),
                                                   "application/pdf", "constancia CURP.pdf")
        documents[docs.RESPONSIVA] = _store_document(store, account_id, docs.RESPONSIVA,
                                                     text_pdf(f"Responsiva firmada folio {folio}"),
                                                     "application/pdf", "responsiva firmada.pdf")
        documents[docs.IDENTIFICACION] = _store_document(
            store, account_id, docs.IDENTIFICACION, png_bytes(), "image/png", "identificación.png",
            {"tipo_identificacion": "documento_migratorio" if foreign else "ine",
             "vigencia": vigencia or (date.today() + timedelta(days=365)).isoformat()})
        gateway.update_attributes(account_id, {"documentos": documents_attribute(documents)})
    return Pending(id=account_id, username=username, email=email, folio=folio, documents=documents)


def resubmit(gateway: Any, account_id: str) -> None:
    """What the applicant side does after a correction: documents replaced, sent again."""
    gateway.update_attributes(account_id, {"estatus": "en_revision", "fecha_envio": now_iso()})


def cleanup(gateway: Any, store: Any, account_id: str) -> None:
    keys = store.list_keys(application_prefix(account_id))  # its audit events stay: the trail is append-only
    for key in keys:
        store.delete(key)
    gateway.delete_account(account_id)


def audit_events(log: Any, account_id: str) -> list[dict]:
    """The application's audit events as written (`log`: an AuditLog, kernel/audit.py), oldest first."""
    return [asdict(e) for e in AuditTrail(log).history(account_id)]
