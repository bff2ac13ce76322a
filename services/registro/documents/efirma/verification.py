"""The checks a signed responsiva must pass, each named for the reviewer ("Firmada con e.firma").

A refusal (any check in error) is answered to the applicant with that check's own message; the
reviewer sees every check of an accepted one, revocation included ("revocación no verificada" when the
OCSP responder could not be asked). The certificate's checks (`certificate_checks`) also run when the
signature is prepared, so a wrong certificate is refused before the applicant signs anything.
"""
from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.sign.validation.status import SignatureCoverageLevel

from registro.documents.efirma import messages
from registro.documents.efirma.certificate import EFIRMA, SatCertificate
from registro.documents.efirma.chain import validate_chain
from registro.documents.efirma.revocation import GOOD, NOT_VERIFIED, REVOKED, check_revocation
from registro.documents.efirma.trust import Trust

log = logging.getLogger(__name__)

OK = "ok"
AVISO = "aviso"  # accepted; the reviewer should look
ERROR = "error"  # refused

# The named checks, in the order the reviewer reads them.
SIGNATURE = "Firma válida sobre la responsiva del folio"
KIND = "Certificado de e.firma (no sello digital)"
RFC = "RFC del firmante"
CURP = "CURP del firmante"
VALIDITY = "Certificado vigente al firmar"
CHAIN = "Emitido por el SAT (cadena de certificación)"
REVOCATION = "No revocado (OCSP)"

PAdES_SUBFILTER = "/ETSI.CAdES.detached"


@dataclass(frozen=True)
class Check:
    name: str
    outcome: str
    detail: str  # for the reviewer
    message: str = ""  # for the applicant, when this check refuses the signature


@dataclass(frozen=True)
class Signer:
    name: str
    rfc: str
    curp: str
    number: str  # SAT's certificate number
    not_before: str  # ISO-8601 UTC
    not_after: str

    @classmethod
    def of(cls, certificate: SatCertificate) -> "Signer":
        return cls(certificate.name, certificate.rfc, certificate.curp, certificate.number,
                   certificate.not_before.isoformat(), certificate.not_after.isoformat())


@dataclass(frozen=True)
class Expected:
    """What the signature must match: the application's responsiva and identifiers."""

    folio: str
    rfc: str
    curp: str
    responsiva: bytes = b""  # the responsiva as issued for the folio (only the signed PDF's checks need it)


@dataclass(frozen=True)
class Authorities:
    """The operator's settings the certificate is judged by."""

    trust: Trust
    ocsp_url: str = ""
    ocsp_timeout_s: float = 3.0


@dataclass(frozen=True)
class Verification:
    checks: tuple[Check, ...]
    signer: Signer | None
    moment: str  # ISO-8601 UTC: when the service received the signature
    revocation: str = NOT_VERIFIED  # revocation.GOOD / REVOKED / NOT_VERIFIED

    @property
    def accepted(self) -> bool:
        return all(c.outcome != ERROR for c in self.checks)

    @property
    def refusal(self) -> str:
        """The applicant's message: the first refusing check's."""
        return next((c.message or c.detail for c in self.checks if c.outcome == ERROR), "")

    def as_record(self) -> dict:
        """What the document record keeps (JSON): checks and signer, not the certificate itself."""
        return {"checks": [{"name": c.name, "outcome": c.outcome, "detail": c.detail} for c in self.checks],
                "signer": asdict(self.signer) if self.signer else None, "moment": self.moment,
                "revocation": self.revocation}


def _date(moment: datetime) -> str:
    return moment.strftime("%d/%m/%Y")


# --- the certificate ----------------------------------------------------------------------------
def _kind(certificate: SatCertificate) -> Check:
    if certificate.sat_type == EFIRMA:
        return Check(KIND, OK, "Certificado de e.firma (sin unidad organizacional en el sujeto).")
    return Check(KIND, ERROR, f"Es un certificado de sello digital (CSD, sucursal «{certificate.branch_name}»), "
                              "no una e.firma.",
                 messages.IS_CSD)


def _identifier(name: str, label: str, found: str, expected: str) -> Check:
    if not expected:
        return Check(name, ERROR, f"La solicitud no tiene {label}.", messages.NO_IDENTIFIERS)
    if found == expected.strip().upper():
        return Check(name, OK, f"{label} del certificado: {found}, igual al de la solicitud.")
    return Check(name, ERROR, f"{label} del certificado: {found or '(ninguno)'}; de la solicitud: {expected}.",
                 messages.NOT_YOURS)


def _validity(certificate: SatCertificate, moment: datetime) -> Check:
    span = f"del {_date(certificate.not_before)} al {_date(certificate.not_after)}"
    if certificate.valid_on(moment):
        return Check(VALIDITY, OK, f"Vigente {span}; firmada el {_date(moment)}.")
    if moment > certificate.not_after:
        return Check(VALIDITY, ERROR, f"Vencido: vigente {span}.",
                     f"Su e.firma venció el {_date(certificate.not_after)}. Renuévela en el SAT o cargue la responsiva "
                     "firmada a mano.")
    return Check(VALIDITY, ERROR, f"Aún no vigente: vigente {span}.",
                 f"Su e.firma es válida a partir del {_date(certificate.not_before)}.")


def certificate_checks(certificate: SatCertificate, expected: Expected, authorities: Authorities, moment: datetime,
                       extra: tuple[asn1_x509.Certificate, ...] = ()) -> tuple[list[Check], str]:
    """The checks of the certificate alone, and the revocation status found."""
    checks = [_kind(certificate),
              _identifier(RFC, "RFC", certificate.rfc, expected.rfc),
              _identifier(CURP, "CURP", certificate.curp, expected.curp),
              _validity(certificate, moment)]
    chain = validate_chain(certificate, authorities.trust, moment, extra)
    checks.append(Check(CHAIN, OK if chain.ok else ERROR, chain.detail,
                        "" if chain.ok else messages.NOT_SAT))
    if not chain.ok:
        checks.append(Check(REVOCATION, AVISO, "No se consultó: el certificado no pertenece a una cadena del SAT."))
        return checks, NOT_VERIFIED
    issuer = x509.load_der_x509_certificate(chain.issuer.dump()) if chain.issuer is not None else None
    revocation = check_revocation(certificate.cert, issuer, authorities.ocsp_url,
                                  timeout_s=authorities.ocsp_timeout_s, now=moment)
    if revocation.status == GOOD:
        checks.append(Check(REVOCATION, OK, revocation.detail))
    elif revocation.status == REVOKED:
        checks.append(Check(REVOCATION, ERROR, revocation.detail,
                            messages.REVOKED))
    else:
        checks.append(Check(REVOCATION, AVISO, revocation.detail))
    return checks, revocation.status


# --- the signed PDF ----------------------------------------------------------------------------
_NOT_OURS = messages.NOT_OURS


def _signature_check(signed: bytes, expected: Expected):
    """(Check, the embedded signature or None)."""
    name = f"{SIGNATURE} {expected.folio}"
    try:
        reader = PdfFileReader(io.BytesIO(signed), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:  # noqa: BLE001 - a damaged file or CMS raises many kinds; all mean "unreadable"
        log.info("e.firma: firma ilegible (%s)", type(exc).__name__)
        return Check(name, ERROR, "El PDF o su firma (CMS) no se pudieron leer.", _NOT_OURS), None
    if len(signatures) != 1:
        return Check(name, ERROR, f"El PDF contiene {len(signatures)} firmas; se espera una.", _NOT_OURS), None
    sig = signatures[0]
    try:
        intact, valid = validate_sig_integrity(sig.signer_info, sig.signer_cert, "data", sig.compute_digest())
        coverage = sig.evaluate_signature_coverage()
    except (SignatureValidationError, ValueError, KeyError, TypeError) as exc:
        log.info("e.firma: firma no verificable (%s)", type(exc).__name__)
        return Check(name, ERROR, "La firma (CMS) no se pudo verificar.", _NOT_OURS), None
    if not intact:
        return Check(name, ERROR, "El documento cambió después de firmarse (el resumen no coincide).", _NOT_OURS), sig
    if not valid:
        return Check(name, ERROR, "El valor de la firma no corresponde al documento con este certificado.", _NOT_OURS), sig
    if coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return Check(name, ERROR, "Se agregó contenido al PDF después de la firma.", _NOT_OURS), sig
    if sig.sig_object.get("/SubFilter") != PAdES_SUBFILTER:
        return Check(name, ERROR, "La firma no es PAdES (ETSI.CAdES.detached).", _NOT_OURS), sig
    # The signed revision must be the issued responsiva, unchanged, plus the update that holds the signature.
    if not expected.responsiva or signed[:len(expected.responsiva)] != expected.responsiva:
        return Check(name, ERROR, f"Lo firmado no es la responsiva emitida para el folio {expected.folio}.",
                     _NOT_OURS), sig
    if reader.xrefs.total_revisions != 2 or sig.signed_revision != 1:
        return Check(name, ERROR, "El PDF tiene revisiones distintas de la responsiva y su firma.", _NOT_OURS), sig
    return Check(name, OK, f"Firma PAdES íntegra sobre la responsiva emitida para el folio {expected.folio}, sin "
                           "cambios posteriores."), sig


def verify_signed_responsiva(signed: bytes, expected: Expected, authorities: Authorities,
                             moment: datetime) -> Verification:
    """`moment`: when the service received the signature, the time the certificate is judged at (a
    signer-reported time is a claim; the service's clock is not)."""
    first, sig = _signature_check(signed, expected)
    if sig is None:
        return Verification((first,), None, moment.isoformat())
    try:
        certificate = SatCertificate.load(sig.signer_cert.dump())
    except ValueError:
        return Verification((first, Check(KIND, ERROR, "El certificado del firmante no se pudo leer.", _NOT_OURS)),
                            None, moment.isoformat())
    checks, revocation = certificate_checks(certificate, expected, authorities, moment,
                                            tuple(sig.other_embedded_certs))
    return Verification((first, *checks), Signer.of(certificate), moment.isoformat(), revocation)
