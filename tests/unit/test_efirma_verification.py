"""Each e.firma check on its own, and the hostile corpus of issue 22: every one refused.

The signatures are real: a test CA shaped like SAT's issues persona física certificates
(tests/support/efirma_pki.py), the responsiva is prepared and the CMS embedded by pades.py, and the
"browser" part (signing the signed attributes) is done with `cryptography`. Revocation asks a local OCSP
responder (tests/support/ocsp_responder.py) on 127.0.0.1.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from registro.documents.efirma import pades, verification as v
from registro.documents.efirma.certificate import CSD, EFIRMA, CertificateUnreadable, SatCertificate
from registro.documents.efirma.revocation import GOOD, NOT_VERIFIED, REVOKED
from registro.documents.efirma.trust import read_folder, trust_of
from tests.support import efirma_pki
from tests.support.efirma_fixtures import responder, sat  # noqa: F401 - pytest fixtures
from tests.support.efirma_pki import SatTestCA
from tests.support.files import pdf_bytes
from tests.support.ocsp_responder import OcspResponder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "efirma"
RFC = "PELA800101AB1"
CURP = "PELA800101MDFRPN09"
FOLIO = "AU-2026-PRUEBA01"


@pytest.fixture(scope="module")
def roots(sat, tmp_path_factory) -> Path:
    return sat.write_roots(tmp_path_factory.mktemp("raices-sat"))


@pytest.fixture(scope="module")
def responsiva() -> bytes:
    return pdf_bytes()


@pytest.fixture(scope="module")
def holder(sat):
    return sat.persona_fisica(rfc=RFC, curp=CURP)


def authorities(roots: Path, url: str = "", timeout: float = 2.0) -> v.Authorities:
    return v.Authorities(trust=read_folder(roots), ocsp_url=url, ocsp_timeout_s=timeout)


def expected(responsiva: bytes, *, rfc: str = RFC, curp: str = CURP) -> v.Expected:
    return v.Expected(folio=FOLIO, rfc=rfc, curp=curp, responsiva=responsiva)


def sign(responsiva: bytes, holder: efirma_pki.Holder, *, signs: bytes | None = None) -> bytes:
    """The whole round: prepare, the browser's signature over the signed attributes, embed."""
    certificate = SatCertificate.load(holder.cer)
    prepared = pades.prepare(responsiva, certificate)
    value = holder.sign(prepared.signed_attributes if signs is None else signs)
    return pades.embed(prepared.pdf, prepared.region, prepared.document_digest, prepared.signed_attributes, value,
                       certificate)


def now() -> datetime:
    return datetime.now(timezone.utc)


def outcome(result: v.Verification, name: str) -> str:
    return next(c.outcome for c in result.checks if c.name.startswith(name))


# --- a good one --------------------------------------------------------------------------------
def test_a_signature_by_the_applicants_efirma_over_their_responsiva_passes_every_named_check(
        responsiva, holder, roots, responder):
    result = v.verify_signed_responsiva(sign(responsiva, holder), expected(responsiva),
                                        authorities(roots, responder.url), now())
    assert result.accepted, result.checks
    assert [c.name for c in result.checks] == [f"{v.SIGNATURE} {FOLIO}", v.KIND, v.RFC, v.CURP, v.VALIDITY, v.CHAIN,
                                               v.REVOCATION]
    assert {c.outcome for c in result.checks} == {v.OK}
    assert result.revocation == GOOD
    assert (result.signer.rfc, result.signer.curp, result.signer.name) == (RFC, CURP, "ANA PEREZ LOPEZ")
    assert len(result.signer.number) == 20 and result.signer.number.isdigit()


def test_the_signed_pdf_keeps_the_issued_responsiva_as_its_first_revision(responsiva, holder):
    signed = sign(responsiva, holder)
    assert signed.startswith(responsiva) and len(signed) > len(responsiva)


def test_the_signed_pdf_passes_the_upload_content_check(responsiva, holder):
    from registro import filecheck
    from registro.domain import filetypes

    signed = sign(responsiva, holder)
    assert filetypes.detect(io.BytesIO(signed)) == "application/pdf"
    filecheck.check_upload(io.BytesIO(signed), "application/pdf")  # raises UnreadableFile when refused


# --- the hostile corpus: all refused ---------------------------------------------------------------
def refused(result: v.Verification, check: str) -> None:
    assert not result.accepted
    assert outcome(result, check) == v.ERROR, result.checks
    assert result.refusal


def test_the_responsiva_altered_after_signing_is_refused(responsiva, holder, roots, responder):
    signed = bytearray(sign(responsiva, holder))
    at = signed.index(b"/MediaBox")
    signed[at + 12] = ord("9") if signed[at + 12] != ord("9") else ord("8")  # a page size changed inside the signed range
    result = v.verify_signed_responsiva(bytes(signed), expected(responsiva), authorities(roots, responder.url), now())
    refused(result, v.SIGNATURE)


def test_content_appended_after_the_signature_is_refused(responsiva, holder, roots, responder):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(sign(responsiva, holder)))
    writer.root["/Extra"] = generic.TextStringObject("agregado después")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    result = v.verify_signed_responsiva(out.getvalue(), expected(responsiva), authorities(roots, responder.url), now())
    refused(result, v.SIGNATURE)


def test_another_applications_responsiva_is_refused(responsiva, holder, roots, responder):
    other = pdf_bytes(pages=2)
    result = v.verify_signed_responsiva(sign(other, holder), expected(responsiva), authorities(roots, responder.url),
                                        now())
    refused(result, v.SIGNATURE)
    assert "no es la responsiva emitida" in next(c.detail for c in result.checks if c.name.startswith(v.SIGNATURE))


def test_another_persons_efirma_is_refused_by_rfc_and_curp(sat, responsiva, roots, responder):
    someone = sat.persona_fisica(rfc="GOCA741120HY0", curp="GOCA741120HVZMNR00", name="CARLOS GOMEZ")
    result = v.verify_signed_responsiva(sign(responsiva, someone), expected(responsiva),
                                        authorities(roots, responder.url), now())
    refused(result, v.RFC)
    assert outcome(result, v.CURP) == v.ERROR
    assert result.refusal == "La e.firma no corresponde al RFC y la CURP de su solicitud. Use su propia e.firma."


def test_a_csd_is_refused(sat, responsiva, roots, responder):
    csd = sat.persona_fisica(rfc=RFC, curp=CURP, csd_branch="Sucursal Centro")
    result = v.verify_signed_responsiva(sign(responsiva, csd), expected(responsiva), authorities(roots, responder.url),
                                        now())
    refused(result, v.KIND)
    assert "sello digital (CSD)" in result.refusal


def test_an_expired_certificate_is_refused(sat, responsiva, roots, responder):
    old = sat.persona_fisica(rfc=RFC, curp=CURP, not_before=now() - timedelta(days=5 * 365),
                             not_after=now() - timedelta(days=1))
    result = v.verify_signed_responsiva(sign(responsiva, old), expected(responsiva), authorities(roots, responder.url),
                                        now())
    refused(result, v.VALIDITY)
    assert "venció" in result.refusal


def test_a_revoked_certificate_is_refused(sat, responsiva, roots, responder):
    revoked = sat.persona_fisica(rfc=RFC, curp=CURP)
    responder.revoke(revoked.cert)
    result = v.verify_signed_responsiva(sign(responsiva, revoked), expected(responsiva),
                                        authorities(roots, responder.url), now())
    refused(result, v.REVOCATION)
    assert result.revocation == REVOKED
    assert "revocada" in result.refusal


def test_a_self_signed_certificate_is_refused(responsiva, roots, responder):
    forged = efirma_pki.self_signed(rfc=RFC, curp=CURP)
    result = v.verify_signed_responsiva(sign(responsiva, forged), expected(responsiva),
                                        authorities(roots, responder.url), now())
    refused(result, v.CHAIN)


def test_a_chain_to_an_unknown_root_is_refused(responsiva, roots, responder):
    elsewhere = SatTestCA.create("otra autoridad", key_slots=(4, 5, 6))
    result = v.verify_signed_responsiva(sign(responsiva, elsewhere.persona_fisica(rfc=RFC, curp=CURP)),
                                        expected(responsiva), authorities(roots, responder.url), now())
    refused(result, v.CHAIN)
    assert outcome(result, v.REVOCATION) == v.AVISO  # not asked: nothing to ask about


def test_a_truncated_cms_is_refused(responsiva, holder, roots, responder):
    certificate = SatCertificate.load(holder.cer)
    prepared = pades.prepare(responsiva, certificate)
    signed = bytearray(pades.embed(prepared.pdf, prepared.region, prepared.document_digest,
                                   prepared.signed_attributes, holder.sign(prepared.signed_attributes), certificate))
    start, end = prepared.region
    contents = bytes(signed[start + 1:end - 1])
    der = bytes.fromhex(contents.decode()).rstrip(b"\0")
    cut = der[:len(der) // 2].hex().encode().ljust(len(contents), b"0")
    signed[start + 1:end - 1] = cut
    result = v.verify_signed_responsiva(bytes(signed), expected(responsiva), authorities(roots, responder.url), now())
    refused(result, v.SIGNATURE)
    assert result.signer is None


def test_a_signature_over_other_bytes_is_refused(responsiva, holder, roots, responder):
    signed = sign(responsiva, holder, signs=b"otros bytes, no los atributos firmados")
    result = v.verify_signed_responsiva(signed, expected(responsiva), authorities(roots, responder.url), now())
    refused(result, v.SIGNATURE)
    assert "no corresponde al documento" in next(c.detail for c in result.checks if c.name.startswith(v.SIGNATURE))


def test_an_unsigned_pdf_is_refused(responsiva, roots):
    result = v.verify_signed_responsiva(responsiva, expected(responsiva), authorities(roots), now())
    refused(result, v.SIGNATURE)


def test_an_application_without_rfc_and_curp_cannot_use_an_efirma(responsiva, holder, roots, responder):
    result = v.verify_signed_responsiva(sign(responsiva, holder), expected(responsiva, rfc="", curp=""),
                                        authorities(roots, responder.url), now())
    refused(result, v.RFC)


# --- revocation not verified: accepted, marked for the reviewer --------------------------------------
def test_an_unreachable_responder_accepts_and_marks_revocation_not_verified(responsiva, holder, roots):
    from tests.support.ports import unused_port

    url = f"http://127.0.0.1:{unused_port()}/ocsp"  # nothing listens there
    result = v.verify_signed_responsiva(sign(responsiva, holder), expected(responsiva), authorities(roots, url, 1.0),
                                        now())
    assert result.accepted
    assert result.revocation == NOT_VERIFIED
    revocation = next(c for c in result.checks if c.name == v.REVOCATION)
    assert revocation.outcome == v.AVISO and revocation.detail.startswith("Revocación no verificada")


def test_a_response_not_signed_by_the_ca_or_its_responder_is_not_believed(sat, responsiva, roots):
    revoked = sat.persona_fisica(rfc=RFC, curp=CURP)
    with OcspResponder(sat, forge=True) as forged:
        forged.revoke(revoked.cert)  # even a "revoked" from it is no answer
        result = v.verify_signed_responsiva(sign(responsiva, revoked), expected(responsiva),
                                            authorities(roots, forged.url), now())
    assert forged.requests == 1
    assert result.accepted and result.revocation == NOT_VERIFIED


def test_without_a_configured_responder_revocation_is_not_verified(responsiva, holder, roots):
    result = v.verify_signed_responsiva(sign(responsiva, holder), expected(responsiva), authorities(roots), now())
    assert result.accepted and result.revocation == NOT_VERIFIED


# --- SAT's own test files ---------------------------------------------------------------------------
def sat_file(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_sats_test_fiel_is_an_efirma_and_its_csd_is_not():
    assert SatCertificate.load(sat_file("FIEL_AAA010101AAA.cer")).sat_type == EFIRMA
    assert SatCertificate.load(sat_file("CSD01_AAA010101AAA.cer")).sat_type == CSD


def test_a_persona_morals_certificate_names_the_company_not_its_representative():
    fiel = SatCertificate.load(sat_file("FIEL_AAA010101AAA.cer"))
    assert (fiel.rfc, fiel.curp) == ("AAA010101AAA", "")
    assert fiel.number == "30001000000300023685"


def test_sats_test_fiel_is_refused_here_expired_and_from_a_root_not_configured(roots, responder):
    fiel = SatCertificate.load(sat_file("FIEL_AAA010101AAA.cer"))
    checks, _ = v.certificate_checks(fiel, v.Expected(FOLIO, "HEGT7610034S2", "HEGT761003MDFRNN09"),
                                     authorities(roots, responder.url), now())
    by_name = {c.name: c.outcome for c in checks}
    assert by_name[v.VALIDITY] == v.ERROR and by_name[v.CHAIN] == v.ERROR
    assert by_name[v.RFC] == v.ERROR  # the company's RFC, not the representative's


def test_a_file_that_is_not_a_certificate_is_unreadable():
    with pytest.raises(CertificateUnreadable):
        SatCertificate.load(sat_file("FIEL_AAA010101AAA.key"))


# --- the operator's folder -------------------------------------------------------------------------
def test_the_roots_folder_tells_roots_from_intermediates_and_is_read_again_when_it_changes(sat, tmp_path):
    folder = sat.write_roots(tmp_path / "raices")
    trust = trust_of(str(folder))
    assert (len(trust.roots), len(trust.intermediates)) == (1, 1)
    (folder / "leeme.txt").write_text("no es un certificado")
    (folder / "danado.cer").write_bytes(b"\x30\x03basura")
    again = trust_of(str(folder))  # read again (the folder changed); a damaged file is skipped, the rest stays
    assert [c.dump() for c in again.roots + again.intermediates] == [c.dump() for c in trust.roots + trust.intermediates]
    (folder / "ac-raiz.cer").unlink()
    assert trust_of(str(folder)).roots == ()


def test_without_roots_nothing_chains(responsiva, holder, tmp_path):
    result = v.verify_signed_responsiva(sign(responsiva, holder), expected(responsiva),
                                        v.Authorities(trust=read_folder(tmp_path)), now())
    refused(result, v.CHAIN)


def test_signing_and_verification_work_from_a_thread_that_already_runs_an_event_loop(
        responsiva, holder, roots, responder):
    """A Playwright session (or an async server) in the same process runs a loop in the caller's
    thread: pyHanko's coroutines must still run (found by the whole suite, e2e first)."""
    import asyncio

    async def inside_a_loop():
        return v.verify_signed_responsiva(sign(responsiva, holder), expected(responsiva),
                                          authorities(roots, responder.url), now())

    assert asyncio.run(inside_a_loop()).accepted
