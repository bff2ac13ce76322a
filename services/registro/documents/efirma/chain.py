"""Does the certificate chain to a SAT root the operator trusts, as of the signing moment?

Path building and RFC 5280 validation are pyhanko-certvalidator's (the library pyHanko validates with);
revocation is not looked up here: revocation.py asks the operator's OCSP responder itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (ExpiredError, NotYetValidError, PathBuildingError, PathValidationError,
                                          ValidationError)

from registro.documents.efirma import _sync
from registro.documents.efirma.certificate import SatCertificate
from registro.documents.efirma.trust import Trust


@dataclass(frozen=True)
class ChainResult:
    ok: bool
    detail: str
    issuer: asn1_x509.Certificate | None = None  # the certificate that issued the signer's (for OCSP)
    root_name: str = ""


def _name(cert: asn1_x509.Certificate) -> str:
    try:
        return cert.subject.native.get("common_name") or cert.subject.human_friendly
    except (ValueError, TypeError):
        return "(sin nombre)"


async def _validate(certificate: SatCertificate, trust: Trust, moment: datetime,
                    extra: tuple[asn1_x509.Certificate, ...]) -> ChainResult:
    if trust.empty:
        return ChainResult(False, "No hay raíces del SAT configuradas (EFIRMA_ROOTS_DIR).")
    leaf = asn1_x509.Certificate.load(certificate.der)
    context = ValidationContext(trust_roots=list(trust.roots), other_certs=[*trust.intermediates, *extra],
                                moment=moment, allow_fetching=False, revocation_mode="soft-fail")
    try:
        path = await CertificateValidator(leaf, validation_context=context).async_validate_path()
    except PathBuildingError:
        return ChainResult(False, "El certificado no fue emitido por una autoridad del SAT configurada "
                                  "(no se encontró una cadena hasta sus raíces).")
    except (ExpiredError, NotYetValidError) as exc:
        return ChainResult(False, f"Un certificado de la cadena no estaba vigente al firmar ({exc}).")
    except (PathValidationError, ValidationError) as exc:
        return ChainResult(False, f"La cadena hasta la raíz del SAT no es válida ({exc}).")
    certs = list(path.iter_certs(include_root=True))
    issuer = certs[-2] if len(certs) >= 2 else None
    return ChainResult(True, f"Emitido por «{_name(issuer) if issuer else ''}», raíz «{_name(certs[0])}».",
                       issuer=issuer, root_name=_name(certs[0]))


def validate_chain(certificate: SatCertificate, trust: Trust, moment: datetime,
                   extra: tuple[asn1_x509.Certificate, ...] = ()) -> ChainResult:
    """`extra`: certificates the CMS carried besides the signer's (never trusted by themselves)."""
    return _sync.run(_validate(certificate, trust, moment, extra))
