"""What the bounded child (registro.filecheck.sandbox) runs for this package: small, picklable
answers only, so nothing heavy (models, pixels) crosses back to the web worker.

OCR loads ONNX models and decodes whole photos: it needs more room than a parse, so it runs with
its own limits (READ_LIMITS) and never on the request path (after an upload is accepted).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from registro.documents.reading import heif, quality, reader


def photo_check(data: bytes, id_kind: str = "") -> dict[str, Any]:
    """A photo's quality, converting it first when it is HEIF: {"jpeg": bytes or None,
    "problems": [...], "width", "height", "sharpness", "glare_share"}."""
    jpeg = heif.to_jpeg(data) if heif.is_heif(data[:16]) else None
    assessment = quality.assess(jpeg or data, id_kind)
    return {"jpeg": jpeg, **asdict(assessment), "problems": list(assessment.problems)}


def read_identity(data: bytes) -> dict[str, Any] | None:
    """The document's MRZ (fields as strings), or None when it could not be read."""
    found = reader.read_mrz(heif.to_jpeg(data) if heif.is_heif(data[:16]) else data)
    return None if found is None else asdict(found)
