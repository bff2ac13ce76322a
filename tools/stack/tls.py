"""The prod profile's certificates: the balancer terminates TLS with an operator's own bundle when
one is configured (<prefix>TLS_CERTIFICATE: certificate chain and private key in one PEM file, as
HAProxy reads it), otherwise with one issued by a local certificate authority the stack makes once
(its key never leaves the stack's 0700 folder; clients trust its certificate, `tls/ca.pem`)."""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .profiles import PREFIXES, Profile

# Browsers refuse server certificates valid for more than 398 days; renewed a month before the end.
SERVER_DAYS = 397
RENEW_BEFORE = datetime.timedelta(days=30)
CA_DAYS = 10 * 365
SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Certificates:
    bundle: Path  # what HAProxy loads: certificate, chain, private key (0600)
    ca: Path | None  # the local authority clients must trust; None with an operator's own certificate


def operator_bundle(profile: Profile) -> Path | None:
    given = os.environ.get(PREFIXES[profile.name] + "TLS_CERTIFICATE")
    return Path(given) if given else None


def tls_dir(profile: Profile) -> Path:
    return profile.data / "tls"


def local_ca(profile: Profile) -> Path | None:
    """The local authority's certificate clients must trust (None when the operator brings one)."""
    return None if operator_bundle(profile) else tls_dir(profile) / "ca.pem"


def ensure_certificates(profile: Profile, bundle: Path) -> Certificates:
    """Writes the balancer's bundle to `bundle` (0600): the operator's, or one from the local CA
    (made on first use; the server certificate is reissued when it nears its end)."""
    given = operator_bundle(profile)
    bundle.parent.mkdir(parents=True, exist_ok=True)
    if given:
        if not given.is_file():
            raise RuntimeError(f"{PREFIXES[profile.name]}TLS_CERTIFICATE no es un archivo: {given}")
        _write_private(bundle, given.read_bytes())
        return Certificates(bundle=bundle, ca=None)
    folder = tls_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca_key, ca_cert = _authority(folder, profile.name)
    server = folder / "server.pem"
    if not _still_good(server):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, ca_key, ca_cert)
        _write_private(server, cert.public_bytes(serialization.Encoding.PEM)
                       + ca_cert.public_bytes(serialization.Encoding.PEM) + _key_pem(key))
    shutil.copyfile(server, bundle)
    bundle.chmod(0o600)
    return Certificates(bundle=bundle, ca=folder / "ca.pem")


def _authority(folder: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_file, cert_file = folder / "ca-key.pem", folder / "ca.pem"
    if key_file.exists() and cert_file.exists():
        return (serialization.load_pem_private_key(key_file.read_bytes(), password=None),
                x509.load_pem_x509_certificate(cert_file.read_bytes()))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acceso Único (pila local)"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"Autoridad local de la pila {name}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_file, _key_pem(key))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_file.chmod(0o644)
    return key, cert


def _server_certificate(key, ca_key, ca_cert: x509.Certificate) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in SERVER_NAMES]
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAMES[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _still_good(server: Path) -> bool:
    if not server.exists():
        return False
    cert = x509.load_pem_x509_certificate(server.read_bytes())
    return cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) > RENEW_BEFORE


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)
