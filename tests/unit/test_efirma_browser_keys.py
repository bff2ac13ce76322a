"""The page's key code (documents/efirma/browser/keys.js, node-forge) run by Node on SAT's own test e.firma:
it opens SAT's .key (PKCS#8, PBES2 with DES-EDE3-CBC) and the keys the test CA issues (PBES2, AES-256),
tells a wrong password and a key of another certificate, and its signature verifies in Python with the
certificate. Needs `make setup` (node_modules)."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "efirma"
SCRIPT = ROOT / "tests" / "support" / "efirma_keys.mjs"
DATA = b"1\x82\x01\x00atributos firmados de prueba"

pytestmark = pytest.mark.skipif(not (ROOT / "node_modules" / "node-forge").is_dir() or not shutil.which("node"),
                                reason="node_modules sin node-forge: ejecute make setup")


def run(key: Path, cer: Path, password: str) -> dict:
    result = subprocess.run(["node", str(SCRIPT), str(key), str(cer), password, base64.b64encode(DATA).decode()],
                            capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def verifies(cer: Path, signature_b64: str) -> bool:
    cert = x509.load_der_x509_certificate(cer.read_bytes())
    try:
        cert.public_key().verify(base64.b64decode(signature_b64), DATA, padding.PKCS1v15(), hashes.SHA256())
        return True
    except Exception:  # noqa: BLE001
        return False


def test_sats_test_key_opens_with_its_password_and_signs_what_the_certificate_verifies():
    out = run(FIXTURES / "FIEL_AAA010101AAA.key", FIXTURES / "FIEL_AAA010101AAA.cer", "12345678a")
    assert out["opened"] and out["certificate"] and out["matches"]
    assert verifies(FIXTURES / "FIEL_AAA010101AAA.cer", out["signature"])


def test_a_wrong_password_does_not_open_the_key():
    out = run(FIXTURES / "FIEL_AAA010101AAA.key", FIXTURES / "FIEL_AAA010101AAA.cer", "otra-contraseña")
    assert out["opened"] is False and out["signature"] is None


def test_a_key_of_another_certificate_is_told_apart():
    out = run(FIXTURES / "CSD01_AAA010101AAA.key", FIXTURES / "FIEL_AAA010101AAA.cer", "12345678a")
    assert out["opened"] and out["matches"] is False


def test_a_key_file_given_as_the_certificate_is_not_a_certificate():
    out = run(FIXTURES / "FIEL_AAA010101AAA.key", FIXTURES / "FIEL_AAA010101AAA.key", "12345678a")
    assert out["certificate"] is False


def test_the_test_cas_keys_open_too(tmp_path):
    from tests.support.efirma_pki import PASSWORD, SatTestCA

    holder = SatTestCA.create().persona_fisica(rfc="PELA800101AB8", curp="PELA800101MDFRPN06")
    (tmp_path / "k.key").write_bytes(holder.key_file())
    (tmp_path / "c.cer").write_bytes(holder.cer)
    out = run(tmp_path / "k.key", tmp_path / "c.cer", PASSWORD)
    assert out["opened"] and out["matches"] and verifies(tmp_path / "c.cer", out["signature"])
