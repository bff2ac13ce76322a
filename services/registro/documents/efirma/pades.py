"""The PAdES signature in two halves, with pyHanko's interrupted signing, the key staying in the browser.

`prepare`: the responsiva as issued gets an incremental update with an invisible signature field and a
placeholder for the CMS (so its first revision stays byte for byte the issued responsiva); the digest of
its /ByteRange goes into the CMS signed attributes (PAdES baseline B-B: content type, message digest,
signing certificate v2). Those attributes' DER is what the browser signs with RSA PKCS#1 v1.5 / SHA-256.

`embed`: the same attributes, the signature value and the certificate become the CMS, written into the
placeholder of the prepared file. Nothing here judges the signature: verification.py does.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from asn1crypto import cms, x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko_certvalidator.registry import SimpleCertificateStore

from registro.documents.efirma import _sync
from registro.documents.efirma.certificate import SatCertificate

FIELD_NAME = "FirmaEfirma"
DIGEST = "sha256"


class PreparationFailed(ValueError):
    """The responsiva could not be prepared for signing (not a PDF pyHanko can update)."""


@dataclass(frozen=True)
class Prepared:
    pdf: bytes  # the responsiva with the field and the placeholder (kept by the service until `embed`)
    signed_attributes: bytes  # DER of the CMS signed attributes: what the browser signs
    region: tuple[int, int]  # where the CMS goes in `pdf` (the gap in the /ByteRange)
    document_digest: bytes


def _signer(certificate: SatCertificate, signature: bytes | None) -> signers.ExternalSigner:
    cert = asn1_x509.Certificate.load(certificate.der)
    return signers.ExternalSigner(
        signing_cert=cert, cert_registry=SimpleCertificateStore.from_certs([cert]),
        # The placeholder's length sizes the reserved space: the key's own modulus length.
        signature_value=signature if signature is not None else max(certificate.key_bits // 8, 256),
        embed_roots=False)


async def _prepare(responsiva: bytes, certificate: SatCertificate, reason: str, location: str) -> Prepared:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(responsiva), strict=False)
    except Exception as exc:  # noqa: BLE001 - pyHanko raises several kinds for a file it cannot read
        raise PreparationFailed(type(exc).__name__) from None
    signer = _signer(certificate, None)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, md_algorithm=DIGEST, subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason, location=location, name=certificate.name or None)
    pdf_signer = signers.PdfSigner(meta, signer=signer)
    digest, _, output = await pdf_signer.async_digest_doc_for_signing(writer)
    attributes = await signer.signed_attrs(digest.document_digest, DIGEST, use_pades=True)
    return Prepared(pdf=output.getvalue(), signed_attributes=attributes.dump(),
                    region=(digest.reserved_region_start, digest.reserved_region_end),
                    document_digest=digest.document_digest)


def prepare(responsiva: bytes, certificate: SatCertificate, *, reason: str = "Responsiva firmada con e.firma",
            location: str = "") -> Prepared:
    return _sync.run(_prepare(responsiva, certificate, reason, location))


async def _embed(prepared_pdf: bytes, region: tuple[int, int], document_digest: bytes, signed_attributes: bytes,
                 signature: bytes, certificate: SatCertificate) -> bytes:
    signer = _signer(certificate, signature)
    attributes = cms.CMSAttributes.load(signed_attributes)
    signature_cms = await signer.async_sign_prescribed_attributes(DIGEST, signed_attrs=attributes)
    output = io.BytesIO(prepared_pdf)
    prepared = PreparedByteRangeDigest(document_digest=document_digest, reserved_region_start=region[0],
                                       reserved_region_end=region[1])
    await PdfTBSDocument.async_finish_signing(output, prepared, signature_cms)
    return output.getvalue()


def embed(prepared_pdf: bytes, region: tuple[int, int], document_digest: bytes, signed_attributes: bytes,
          signature: bytes, certificate: SatCertificate) -> bytes:
    """Raises ValueError when the CMS does not fit the reserved space (a signature far longer than the
    key's modulus: not a signature by this certificate)."""
    return _sync.run(_embed(prepared_pdf, region, document_digest, signed_attributes, signature, certificate))
