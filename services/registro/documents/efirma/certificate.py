"""A SAT certificate (`.cer`) as the e.firma checks read it: who holds it, which kind it is, when it is valid.

SAT writes the holder's identifiers into the subject: the RFC in `x500UniqueIdentifier` (2.5.4.45) and the
CURP in `serialNumber` (2.5.4.5). A persona moral's certificate names the company first and its legal
representative after a slash (`"AAA010101AAA / HEGT7610034S2"`, `" / HEGT761003MDFRNN09"`), so the holder is
always the first part: a company's certificate never passes for its representative's.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

EFIRMA = "efirma"
CSD = "csd"


class CertificateUnreadable(ValueError):
    """The bytes are not an X.509 certificate (DER, as SAT issues it, or PEM)."""


def _first_part(value: str) -> str:
    return value.split("/")[0].strip().upper()


@dataclass(frozen=True)
class SatCertificate:
    cert: x509.Certificate

    @classmethod
    def load(cls, data: bytes) -> "SatCertificate":
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                return cls(x509.load_pem_x509_certificate(data))
            return cls(x509.load_der_x509_certificate(data))
        except ValueError as exc:
            raise CertificateUnreadable(str(exc)) from None

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    def _subject(self, oid) -> str:
        values = self.cert.subject.get_attributes_for_oid(oid)
        if not values:
            return ""
        value = values[0].value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    @property
    def name(self) -> str:
        return self._subject(NameOID.COMMON_NAME).strip()

    @property
    def rfc(self) -> str:
        return _first_part(self._subject(NameOID.X500_UNIQUE_IDENTIFIER))

    @property
    def curp(self) -> str:
        return _first_part(self._subject(NameOID.SERIAL_NUMBER))

    @property
    def branch_name(self) -> str:
        """The subject's organizationalUnitName: SAT names a CSD's branch ("sucursal") there."""
        return self._subject(NameOID.ORGANIZATIONAL_UNIT_NAME).strip()

    @property
    def number(self) -> str:
        """SAT's "número de certificado": the serial's bytes are ASCII digits (20 of them); another
        issuer's serial is shown in hexadecimal."""
        serial = self.cert.serial_number
        raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
        return raw.decode("ascii") if raw.isdigit() else format(serial, "X")

    @property
    def not_before(self) -> datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.cert.not_valid_after_utc

    def valid_on(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after

    @property
    def key_bits(self) -> int:
        key = self.cert.public_key()
        return key.key_size if isinstance(key, rsa.RSAPublicKey) else 0

    @property
    def sat_type(self) -> str:
        return sat_type(self)


def sat_type(certificate: SatCertificate) -> str:
    """e.firma (FIEL) or CSD (certificado de sello digital), by the rule the open-source SAT credential
    libraries apply: phpcfdi/credentials `Certificate::satType()` (src/Certificate.php, "as of 2019-08-01
    is known that only CSD have OU (Organization Unit)") and nodecfdi/credentials `Certificate.satType()`
    (src/base/certificate.ts): a certificate whose subject has an organizationalUnitName (the CSD's
    branch, `branchName()`) is a CSD; one without it is an e.firma. SAT's own test files agree: its test
    CSD `CSD01_AAA010101AAA` carries `OU=CSD01_AAA010101AAA`, its test FIEL of the same RFC none."""
    return CSD if certificate.branch_name else EFIRMA
