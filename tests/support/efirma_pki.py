"""A test certification authority shaped like SAT's, and e.firma certificates of personas físicas.

The root and its issuing CA mirror SAT's two levels ("AC Raíz" → "AC del Servicio de Administración
Tributaria"); a holder's certificate carries what SAT puts in one: the name in commonName, name and
organizationName, the RFC in x500UniqueIdentifier (2.5.4.45), the CURP in serialNumber (2.5.4.5), the
certificate number as the serial's ASCII digits, and an e.firma's key usages. Keys are 2048-bit RSA and
`.key` files are PKCS#8 encrypted with a password, as SAT issues them. Everything is built with
`cryptography`, in memory; `write_roots` puts the root and the issuing CA into a folder as an operator's
EFIRMA_ROOTS_DIR.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PASSWORD = "12345678a"  # SAT's test files use this one too
_serials = itertools.count(1)


@lru_cache(maxsize=8)
def _key(slot: int) -> rsa.RSAPrivateKey:
    """Keys are the slow part: a few reused across the session (slot = which one)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sat_serial() -> int:
    """SAT's certificate number (20 digits) is the serial's bytes read as ASCII."""
    digits = f"3000100000{next(_serials) + 500000:010d}"
    return int.from_bytes(digits.encode("ascii"), "big")


@dataclass
class Authority:
    name: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


@dataclass
class Holder:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    issuer: Authority | None
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def cer(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_file(self, password: str = PASSWORD) -> bytes:
        """The `.key` as SAT issues it: DER PKCS#8, encrypted with the password."""
        return self.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(password.encode()))

    def sign(self, data: bytes) -> bytes:
        """What the browser does with the signed attributes: RSA PKCS#1 v1.5 over their SHA-256."""
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _name(cn: str, *extra: x509.NameAttribute) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Servicio de Administración Tributaria"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"), *extra])


def _ca(name: str, key: rsa.RSAPrivateKey, issuer: Authority | None, now: datetime, years: int) -> Authority:
    subject = _name(name)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=365)).not_valid_after(now + timedelta(days=365 * years))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Authority(name, key, cert)


@dataclass
class SatTestCA:
    """A root, its issuing CA, and the OCSP responder's delegated certificate."""

    root: Authority
    issuing: Authority
    responder: Authority

    @classmethod
    def create(cls, label: str = "pruebas", *, key_slots: tuple[int, int, int] = (0, 1, 2)) -> "SatTestCA":
        now = datetime.now(timezone.utc)
        root = _ca(f"AC Raíz de {label}", _key(key_slots[0]), None, now, 20)
        issuing = _ca(f"AC del Servicio de Administración Tributaria ({label})", _key(key_slots[1]), root, now, 10)
        responder_key = _key(key_slots[2])
        responder_cert = (x509.CertificateBuilder().subject_name(_name(f"Respondedor OCSP ({label})"))
                          .issuer_name(issuing.cert.subject).public_key(responder_key.public_key())
                          .serial_number(x509.random_serial_number())
                          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=True)
                          .sign(issuing.key, hashes.SHA256()))
        return cls(root, issuing, Authority("respondedor", responder_key, responder_cert))

    def write_roots(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ac-raiz.cer").write_bytes(self.root.der)
        (folder / "ac-sat.crt").write_bytes(self.issuing.cert.public_bytes(serialization.Encoding.PEM))
        return folder

    def persona_fisica(self, *, rfc: str, curp: str, name: str = "ANA PEREZ LOPEZ", csd_branch: str = "",
                       not_before: datetime | None = None, not_after: datetime | None = None,
                       key_slot: int = 3, issuer: Authority | None = None) -> Holder:
        """An e.firma (or, with `csd_branch`, a CSD: SAT names the branch in the OU) of a persona física."""
        now = datetime.now(timezone.utc)
        issuer = issuer or self.issuing
        key = _key(key_slot)
        attributes = [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(x509.ObjectIdentifier("2.5.4.41"), name),  # name
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "titular@example.com"),
            x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, rfc, _type=_ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, curp),
        ]
        if csd_branch:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, csd_branch))
        usage = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                              data_encipherment=not csd_branch, key_agreement=not csd_branch, key_cert_sign=False,
                              crl_sign=False, encipher_only=False, decipher_only=False)
        builder = (x509.CertificateBuilder().subject_name(x509.Name(attributes)).issuer_name(issuer.cert.subject)
                   .public_key(key.public_key()).serial_number(sat_serial())
                   .not_valid_before(not_before or now - timedelta(days=30))
                   .not_valid_after(not_after or now + timedelta(days=4 * 365))
                   .add_extension(usage, critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                                  critical=False))
        if not csd_branch:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                                   ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return Holder(builder.sign(issuer.key, hashes.SHA256()), key, issuer)


def self_signed(*, rfc: str, curp: str, name: str = "ANA PEREZ LOPEZ", key_slot: int = 3) -> Holder:
    """A certificate with an e.firma's subject that nobody issued: it signs itself."""
    key = _key(key_slot)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, rfc, _type=_ASN1Type.PrintableString),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, curp)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(sat_serial()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    return Holder(cert, key, None)
