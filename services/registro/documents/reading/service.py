""""Lectura automática" of one uploaded document, for whoever runs it off the request path after the
upload was accepted (the workflow calls these; they never approve or refuse anything).

The image work runs in registro.filecheck's bounded child: a fork per document, its own limits
(OCR loads ONNX models, about 1-2 s of the child's time, and decodes the whole photo).
"""
from __future__ import annotations

import logging
from datetime import date

from registro import filecheck
from registro.filecheck import sandbox
from registro.documents.reading.compare import Comparison, Declared, compare_identity
from registro.documents.reading.curp_document import compare_curp_document
from registro.documents.reading.mrz_text import MrzRead

log = logging.getLogger(__name__)

# Measured here: a reading child peaks near 400 MiB resident with the
# models loaded; 1 GiB of address space leaves room for a 48-Mpx photo decoded at a quarter.
READ_LIMITS = sandbox.Limits(memory_bytes=1024 * 1024 * 1024, cpu_seconds=20, timeout_seconds=90)
READ_IDENTITY = sandbox.Task("registro.documents.reading.child", "read_identity")  # OCR: loaded by the child only


def read_identity_document(data: bytes, declared: Declared, today: date) -> Comparison:
    """The MRZ of an INE or passport photo/scan against the application; every field
    "no se pudo leer" when the child could not read it (or failed: logged by cause only)."""
    return compare_identity(read_zone(data), declared, today)


def read_zone(data: bytes) -> MrzRead | None:
    try:
        raw = sandbox.run(READ_IDENTITY, data, limits=READ_LIMITS)
    except sandbox.SandboxFailed as exc:
        log.warning("lectura automática fallida: %s", exc.reason)  # no content, no name: only the cause
        return None
    return None if raw is None else MrzRead(**{**raw, "lines": tuple(raw["lines"])})


def read_curp_document(data: bytes, declared_curp: str) -> Comparison:
    """The CURP document (a PDF) against the registered CURP, from the same bounded text parse
    the upload check and the review page use."""
    return compare_curp_document(filecheck.pdf_text(data), declared_curp)
