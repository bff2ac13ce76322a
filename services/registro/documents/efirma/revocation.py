"""Is the certificate revoked? Asked by OCSP of the responder the operator configures (EFIRMA_OCSP_URL),
whatever URL the certificate itself names: SAT's responder is reached the way the operator arranged.

The answer counts only when it is signed by the certificate's issuer, or by a responder that issuer
delegated (id-kp-OCSPSigning), names this certificate, echoes our nonce when it carries one, and is
current. Anything else — no responder configured, unreachable, an error status, a bad signature — is
"not verified": the signature is accepted and the reviewer sees that revocation was not verified.
Written here on `cryptography`'s OCSP builder and parser: pyhanko-certvalidator fetches OCSP only from
the URL inside the certificate and does not tell "not reachable" apart from "checked".
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

log = logging.getLogger(__name__)

GOOD = "vigente"
REVOKED = "revocado"
NOT_VERIFIED = "no_verificada"

CLOCK_SKEW = timedelta(minutes=5)

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One client per process: building one costs ≈ 55 ms (its TLS context), more than the answer."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(follow_redirects=False)
        return _client


@dataclass(frozen=True)
class RevocationResult:
    status: str
    detail: str


def _verify_signed_by(signer: x509.Certificate, response: ocsp.OCSPResponse) -> bool:
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                       response.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm))
        else:
            return False
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _delegated(responder: x509.Certificate, issuer: x509.Certificate, now: datetime) -> bool:
    """RFC 6960 §4.2.2.2: a responder certificate issued by the CA itself, for OCSP signing, current."""
    try:
        usages = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return (ExtendedKeyUsageOID.OCSP_SIGNING in usages and _issued_by(responder, issuer)
            and responder.not_valid_before_utc <= now <= responder.not_valid_after_utc)


def _authentic(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime) -> bool:
    if _verify_signed_by(issuer, response):
        return True
    return any(_delegated(c, issuer, now) and _verify_signed_by(c, response) for c in response.certificates)


def check_revocation(cert: x509.Certificate, issuer: x509.Certificate | None, url: str, *, timeout_s: float,
                     now: datetime) -> RevocationResult:
    if not url:
        return RevocationResult(NOT_VERIFIED, "Revocación no verificada: no hay un servicio OCSP configurado.")
    if issuer is None:
        return RevocationResult(NOT_VERIFIED, "Revocación no verificada: no se conoce el emisor del certificado.")
    nonce = os.urandom(16)
    request = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
               .add_extension(x509.OCSPNonce(nonce), critical=False).build())
    try:
        reply = _http().post(url, content=request.public_bytes(Encoding.DER), timeout=timeout_s,
                           headers={"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"})
    except httpx.HTTPError as exc:
        log.warning("e.firma: el servicio OCSP no respondió (%s)", type(exc).__name__)
        return RevocationResult(NOT_VERIFIED, "Revocación no verificada: el servicio OCSP no respondió.")
    if reply.status_code != 200:
        log.warning("e.firma: el servicio OCSP respondió HTTP %d", reply.status_code)
        return RevocationResult(NOT_VERIFIED, f"Revocación no verificada: el servicio OCSP respondió HTTP "
                                              f"{reply.status_code}.")
    try:
        response = ocsp.load_der_ocsp_response(reply.content)
    except ValueError:
        return RevocationResult(NOT_VERIFIED, "Revocación no verificada: la respuesta OCSP no se pudo leer.")
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return RevocationResult(NOT_VERIFIED, f"Revocación no verificada: el servicio OCSP respondió "
                                              f"«{response.response_status.name}».")
    if not _authentic(response, issuer, now):
        log.warning("e.firma: respuesta OCSP con firma no válida")
        return RevocationResult(NOT_VERIFIED, "Revocación no verificada: la respuesta OCSP no está firmada por el "
                                              "emisor ni por un respondedor autorizado.")
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        echoed = None
    if echoed is not None and echoed != nonce:
        return RevocationResult(NOT_VERIFIED, "Revocación no verificada: la respuesta OCSP no corresponde a la "
                                              "consulta.")
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        if single.this_update_utc > now + CLOCK_SKEW or (single.next_update_utc and single.next_update_utc < now - CLOCK_SKEW):
            return RevocationResult(NOT_VERIFIED, "Revocación no verificada: la respuesta OCSP no está vigente.")
        if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            when = single.revocation_time_utc
            return RevocationResult(REVOKED, f"Certificado revocado el {when:%d/%m/%Y %H:%M} UTC (OCSP)."
                                    if when else "Certificado revocado (OCSP).")
        if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
            return RevocationResult(GOOD, f"No revocado según el servicio OCSP ({now:%d/%m/%Y %H:%M} UTC).")
        return RevocationResult(NOT_VERIFIED, "Revocación no verificada: el servicio OCSP no conoce el certificado.")
    return RevocationResult(NOT_VERIFIED, "Revocación no verificada: la respuesta OCSP no menciona el certificado.")
