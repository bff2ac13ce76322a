"""A local OCSP responder built with `cryptography`, for the e.firma tests: it answers POSTed OCSP requests
(RFC 6960) for the certificates of a SatTestCA's issuing CA, signed by its delegated responder certificate.

`revoked` holds the serials it reports revoked; every other serial is "good". Started on 127.0.0.1 on a
free port, in a thread; `url` is what EFIRMA_OCSP_URL points to. `forge=True` makes it sign with a key the
CA never delegated (a response that must not be believed).
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.support.efirma_pki import SatTestCA, _key


class OcspResponder:
    def __init__(self, sat: SatTestCA, *, forge: bool = False) -> None:
        self.sat = sat
        self.revoked: dict[int, datetime] = {}
        self.forge = forge
        self.requests = 0
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                responder.requests += 1
                answer = responder.answer(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="ocsp-pruebas")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ocsp"

    def revoke(self, cert: x509.Certificate, when: datetime | None = None) -> None:
        self.revoked[cert.serial_number] = when or datetime.now(timezone.utc) - timedelta(days=1)

    def answer(self, body: bytes) -> bytes:
        try:
            request = ocsp.load_der_ocsp_request(body)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
                serialization.Encoding.DER)
        now = datetime.now(timezone.utc)
        issuer = self.sat.issuing.cert
        subject = _Stub(request.serial_number)
        revoked_at = self.revoked.get(request.serial_number)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject.certificate(issuer), issuer=issuer, algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD,
            this_update=now - timedelta(minutes=1), next_update=now + timedelta(hours=1),
            revocation_time=revoked_at, revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.sat.responder.cert).certificates([self.sat.responder.cert])
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        key = _key(7) if self.forge else self.sat.responder.key
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def __enter__(self) -> "OcspResponder":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Stub:
    """OCSPResponseBuilder wants the subject certificate only for its serial: a stand-in with that serial
    (the responder knows serials, not certificates, as a CA's responder does)."""

    def __init__(self, serial: int) -> None:
        self.serial = serial

    def certificate(self, issuer: x509.Certificate) -> x509.Certificate:
        key = _key(8)
        return (x509.CertificateBuilder().subject_name(issuer.subject).issuer_name(issuer.subject)
                .public_key(key.public_key()).serial_number(self.serial)
                .not_valid_before(datetime.now(timezone.utc) - timedelta(days=1))
                .not_valid_after(datetime.now(timezone.utc) + timedelta(days=1)).sign(key, hashes.SHA256()))
