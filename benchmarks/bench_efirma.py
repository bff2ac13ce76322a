"""What an e.firma signature costs (issue 22; `make bench`, prints with -s). Needs no stack.

Measured: the service's verification of a signed responsiva (every named check, OCSP to a local responder
on 127.0.0.1 included; target p95 ≤ 200 ms), its preparation and the embedding of the CMS; anchor: pyHanko's
own validation of the same file (integrity and chain, no revocation), the library the checks build on.
The browser's part (open SAT's 2048-bit .key and sign) is timed in Node with the page's own code (Chromium
runs the same JavaScript engine); target ≤ 2 s.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from asn1crypto import x509 as asn1_x509

from benchmarks.results_io import percentile
from registro.documents.efirma import pades, verification as v
from registro.documents.efirma.certificate import SatCertificate
from registro.documents.efirma.trust import read_folder
from tests.support.efirma_pki import SatTestCA
from tests.support.files import pdf_bytes
from tests.support.ocsp_responder import OcspResponder

ROOT = Path(__file__).resolve().parents[1]
RUNS = 60


def _times(func, runs: int = RUNS) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        out.append(time.perf_counter() - started)
    return out


def _row(label: str, samples: list[float]) -> None:
    print(f"{label:<52} mediana {1000 * percentile(samples, .5):7.1f} ms   p95 {1000 * percentile(samples, .95):7.1f} ms"
          f"   máx {1000 * max(samples):7.1f} ms   ({len(samples)} corridas)")


def bench_efirma_verification_and_preparation(tmp_path):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    sat = SatTestCA.create()
    holder = sat.persona_fisica(rfc="PELA800101AB8", curp="PELA800101MDFRPN06")
    certificate = SatCertificate.load(holder.cer)
    responsiva = pdf_bytes()
    prepared = pades.prepare(responsiva, certificate)
    signature = holder.sign(prepared.signed_attributes)
    signed = pades.embed(prepared.pdf, prepared.region, prepared.document_digest, prepared.signed_attributes,
                         signature, certificate)
    trust = read_folder(sat.write_roots(tmp_path / "raices"))
    expected = v.Expected("AU-2026-BENCH", "PELA800101AB8", "PELA800101MDFRPN06", responsiva)
    with OcspResponder(sat) as responder:
        authorities = v.Authorities(trust=trust, ocsp_url=responder.url, ocsp_timeout_s=3)
        check = v.verify_signed_responsiva(signed, expected, authorities, datetime.now(timezone.utc))
        assert check.accepted and check.revocation == "vigente", check.checks
        verify = _times(lambda: v.verify_signed_responsiva(signed, expected, authorities, datetime.now(timezone.utc)))
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(sat.root.der)],
                                other_certs=[asn1_x509.Certificate.load(sat.issuing.der)])
    anchor = _times(lambda: validate_pdf_signature(PdfFileReader(io.BytesIO(signed)).embedded_signatures[0], context))
    prepare = _times(lambda: pades.prepare(responsiva, certificate), 20)
    embed = _times(lambda: pades.embed(prepared.pdf, prepared.region, prepared.document_digest,
                                       prepared.signed_attributes, signature, certificate), 20)
    print()
    _row("verificación completa (7 verificaciones, OCSP local)", verify)
    _row("ancla: validate_pdf_signature de pyHanko (sin OCSP)", anchor)
    _row("preparar la responsiva (campo + atributos)", prepare)
    _row("incrustar el CMS", embed)
    assert percentile(verify, .95) <= 0.200, "p95 de la verificación por encima de 200 ms"


def bench_efirma_signing_in_the_browser_engine():
    if not shutil.which("node") or not (ROOT / "node_modules" / "node-forge").is_dir():
        print("\nsin node o node_modules: ejecute make setup")
        return
    fixtures = ROOT / "tests" / "fixtures" / "efirma"
    opened, signed = [], []
    for _ in range(5):  # a fresh Node each time: the page opens one key, once, cold
        out = json.loads(subprocess.run(
            ["node", str(ROOT / "tests" / "support" / "efirma_keys.mjs"), str(fixtures / "FIEL_AAA010101AAA.key"),
             str(fixtures / "FIEL_AAA010101AAA.cer"), "12345678a", "MYIBAA=="],
            capture_output=True, text=True, check=True, timeout=60).stdout)
        opened.append(out["open_ms"] / 1000)
        signed.append(out["sign_ms"] / 1000)
    print()
    _row("navegador: abrir la .key del SAT (RSA 2048, 3DES)", opened)
    _row("navegador: firmar los atributos (RSA 2048)", signed)
    total = [a + b for a, b in zip(opened, signed)]
    _row("navegador: total", total)
    assert max(total) <= 2.0
