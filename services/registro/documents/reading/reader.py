"""An image's MRZ, read: locate the zone, OCR its lines, keep what the check digits confirm.

Runs inside the bounded child (registro.filecheck.sandbox), never in a web worker: OCR is the
most CPU- and memory-hungry thing the service does to an untrusted file.
"""
from __future__ import annotations

import cv2

from registro.documents.reading import locate, mrz_text
from registro.documents.reading.engines import Engine

_engine: Engine | None = None


def default_engine() -> Engine:
    """The engine the figures chose (see README: rapidocr), built once per process."""
    global _engine
    if _engine is None:
        from registro.documents.reading.engines import RapidOcr

        _engine = RapidOcr()
    return _engine


def read_mrz(data: bytes, engine: Engine | None = None) -> mrz_text.MrzRead | None:
    """The zone of the document in `data` (JPEG/PNG bytes), or None ("no se pudo leer")."""
    grey = locate.load_grey(data)
    best = None
    for zone in locate.find_zones(grey):
        engine = engine or default_engine()  # loaded once a zone is found: ≈ 0.8 s CPU spared on the others
        for candidate in (zone, _upside_down(zone)):  # a photo taken upside down
            found = mrz_text.read_zone(engine.lines(candidate))
            if found is not None and found.names_reliable:
                return found
            best = best or found
    return best


def _upside_down(zone: locate.Zone) -> locate.Zone:
    return locate.Zone(lines=tuple(cv2.rotate(line, cv2.ROTATE_180) for line in reversed(zone.lines)),
                       image=cv2.rotate(zone.image, cv2.ROTATE_180))
