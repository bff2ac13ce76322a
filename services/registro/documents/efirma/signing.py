"""The two requests of an e.firma signature, and what the service keeps between them.

`start`: the browser sends the certificate (public); it is checked (kind, RFC, CURP, validity, chain,
revocation) before anything is signed, the issued responsiva is prepared (pades.py) and kept in S3 inside
the application's prefix (purged with it), and the browser gets the signed attributes to sign plus a
state token (signed, 15 minutes) naming what was prepared. `finish`: the signature value comes back with
the certificate; the CMS is embedded, the whole file verified (verification.py), and only an accepted one
is stored as the "Responsiva firmada" through the documents workflow (`store_document`, the same
recording the upload uses). The prepared file is deleted either way. No key, no password, ever: the
browser signs.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeTimedSerializer

from registro.adapters.identity import IdentityDirectory
from registro.adapters.storage import ObjectMissing, ObjectStore
from registro.config import Settings
from registro.domain.application import Application, DocumentRecord
from registro.domain.documents import RESPONSIVA
from registro.domain.storage_keys import application_prefix, responsiva_key
from registro.documents import service as documents_flow
from registro.documents.efirma import messages, pades
from registro.documents.efirma.certificate import CertificateUnreadable, SatCertificate
from registro.documents.efirma.trust import trust_of
from registro.documents.efirma.verification import ERROR, Authorities, Expected, Verification, certificate_checks, verify_signed_responsiva

log = logging.getLogger(__name__)

STATE_TTL_S = 15 * 60
_SALT = "efirma-responsiva"
SIGNED_DETAIL = "firma"  # in the record's details: "efirma" for a responsiva signed here
REPORT_DETAIL = "efirma"  # … and the verification (JSON) the reviewer reads


class SigningRefused(Exception):
    """`message` is for the applicant, in Spanish; nothing was stored."""

    def __init__(self, message: str, verification: Verification | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.verification = verification


@dataclass(frozen=True)
class Started:
    state: str  # handed back by the browser with the signature
    signed_attributes: bytes  # DER: what the browser signs (RSA PKCS#1 v1.5, SHA-256)


def enabled(settings: Settings) -> bool:
    return bool(settings.efirma_roots_dir)


def authorities(settings: Settings) -> Authorities:
    return Authorities(trust=trust_of(settings.efirma_roots_dir), ocsp_url=settings.efirma_ocsp_url,
                       ocsp_timeout_s=settings.efirma_ocsp_timeout_s)


def expected(application: Application, responsiva: bytes = b"") -> Expected:
    attr = application.account.attr
    return Expected(folio=application.folio, rfc=(attr("rfc") or "").strip().upper(),
                    curp=(attr("curp") or "").strip().upper(), responsiva=responsiva)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_keys, salt=_SALT)  # the previous key too, during a rotation


def _pending_key(account_id: str, nonce: str) -> str:
    return f"{application_prefix(account_id)}efirma/{nonce}.pdf"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _certificate(data: bytes) -> SatCertificate:
    try:
        return SatCertificate.load(data)
    except CertificateUnreadable:
        raise SigningRefused(messages.NOT_A_CERTIFICATE) from None


def _issued_responsiva(storage: ObjectStore, application: Application) -> bytes:
    try:
        return storage.get(responsiva_key(application.id, application.folio))
    except ObjectMissing:
        raise SigningRefused(messages.NO_RESPONSIVA) from None


def start(storage: ObjectStore, settings: Settings, application: Application, certificate_der: bytes,
          moment: datetime) -> Started:
    """Raises SigningRefused, documents.DocumentNotAllowed or StorageUnavailable."""
    documents_flow.check_may_change(application, RESPONSIVA)
    wanted = expected(application)
    if not wanted.rfc or not wanted.curp:
        raise SigningRefused(messages.NO_IDENTIFIERS)
    certificate = _certificate(certificate_der)
    checks, _ = certificate_checks(certificate, wanted, authorities(settings), moment)
    refusal = next((c for c in checks if c.outcome == ERROR), None)
    if refusal is not None:
        log.info("e.firma: certificado rechazado antes de firmar: solicitud=%s verificacion=%s", application.id,
                 refusal.name)
        raise SigningRefused(refusal.message or refusal.detail)
    prepared = pades.prepare(_issued_responsiva(storage, application), certificate)
    nonce = secrets.token_hex(16)
    storage.put(_pending_key(application.id, nonce), prepared.pdf, content_type="application/pdf",
                metadata={"application-id": application.id, "document-kind": "efirma-preparada"})
    state = _serializer(settings).dumps({
        "solicitud": application.id, "folio": application.folio, "pieza": nonce,
        "region": list(prepared.region), "resumen": _b64(prepared.document_digest),
        "atributos": _b64(prepared.signed_attributes), "certificado": certificate.fingerprint,
    })
    return Started(state=state, signed_attributes=prepared.signed_attributes)


def _read_state(settings: Settings, state: str, application: Application) -> dict:
    try:
        data = _serializer(settings).loads(state, max_age=STATE_TTL_S)
    except BadSignature:
        raise SigningRefused(messages.EXPIRED_STATE) from None
    if (not isinstance(data, dict) or data.get("solicitud") != application.id
            or data.get("folio") != application.folio or not re.fullmatch(r"[0-9a-f]{32}", str(data.get("pieza")))):
        raise SigningRefused(messages.EXPIRED_STATE)
    return data


def finish(identity: IdentityDirectory, storage: ObjectStore, settings: Settings, application: Application,
           state: str, signature: bytes, certificate_der: bytes, moment: datetime) -> tuple[DocumentRecord, Verification]:
    """Raises SigningRefused (nothing stored), DocumentNotAllowed, UnreadableFile, StorageUnavailable or
    ApplicationBusy (from the documents workflow)."""
    data = _read_state(settings, state, application)
    documents_flow.check_may_change(application, RESPONSIVA)
    certificate = _certificate(certificate_der)
    if certificate.fingerprint != data["certificado"]:
        raise SigningRefused(messages.OTHER_CERTIFICATE)
    pending = _pending_key(application.id, data["pieza"])
    try:
        try:
            prepared_pdf = storage.get(pending)
        except ObjectMissing:
            raise SigningRefused(messages.EXPIRED_STATE) from None
        try:
            signed = pades.embed(prepared_pdf, tuple(data["region"]), base64.b64decode(data["resumen"]),
                                 base64.b64decode(data["atributos"]), signature, certificate)
        except (ValueError, TypeError):  # a "signature" that does not even fit the space reserved for it
            raise SigningRefused(messages.BAD_SIGNATURE) from None
        verification = verify_signed_responsiva(signed, expected(application, _issued_responsiva(storage, application)),
                                                authorities(settings), moment)
    finally:
        documents_flow.delete_quietly(storage, pending, "responsiva preparada para e.firma")
    if not verification.accepted:
        log.info("e.firma: firma rechazada: solicitud=%s verificaciones=%s", application.id,
                 ",".join(c.name for c in verification.checks if c.outcome == ERROR))
        raise SigningRefused(verification.refusal, verification)
    digest = hashlib.sha256(signed).hexdigest()
    name = f"responsiva-{re.sub(r'[^A-Za-z0-9-]', '', application.folio) or 'solicitud'}-efirma.pdf"
    details = {SIGNED_DETAIL: "efirma", REPORT_DETAIL: json.dumps(verification.as_record(), ensure_ascii=False)}
    record = documents_flow.store_document(
        identity, storage, application, RESPONSIVA,
        documents_flow.Upload(stream=io.BytesIO(signed), size=len(signed), sha256=digest, original_name=name), details)
    log.info("e.firma: responsiva firmada y guardada: solicitud=%s revocacion=%s", application.id,
             verification.revocation)
    return record, verification
