"""Is a photo of an ID good enough to read? Blur, glare and too few pixels, measured when the file
arrives (inside the bounded child) so the applicant hears it at once, beside the field, and may
keep the photo anyway.

Thresholds, from login.gov's published ones (18F/identity-idp, config/application.yml.default
and app/services/doc_auth/error_generator.rb):

- Pixels: login.gov refuses a capture under 290 dpi (`doc_auth_error_dpi_threshold: 290`). An ID-1
  card (the INE: 85.6 x 54 mm) at 290 dpi is 977 x 616 pixels, a passport page (125 x 88 mm)
  1427 x 1005: a smaller image cannot hold the document at 290 dpi however it is framed.
- Blur and glare: login.gov refuses sharpness or glare scores under 40 (server) or 50 (in the
  browser) on its vendor's 0-100 scale, i.e. the worse half. That scale is not published, so ours
  are our own measures, set the same way: at the point that separates the synthetic corpus's
  readable images (clean, scanned, phone-like) from its "bad" ones (benchmarks/bench_reading.py
  prints both rates: >= 90 % of bad flagged, <= 5 % of clean). Sharpness is the variance of the
  Laplacian on the image brought to 1000 px on its long side; glare the largest blown-out
  (saturated) patch inside the frame, as a share of the image.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from registro.documents.reading.problems import BLURRY, GLARE, TOO_SMALL  # noqa: F401 - re-exported: the names callers know


MIN_SIDES = {"ine": (977, 616), "pasaporte": (1427, 1005)}  # 290 dpi over the document
DEFAULT_MIN_SIDES = MIN_SIDES["ine"]  # the smallest ID kind: any ID needs at least this
MIN_SHARPNESS = 50.0  # corpus: heavy blur 5-10, phone-like 150-450, clean 700-1500
MAX_GLARE_SHARE = 0.01  # a saturated patch of 1 % of the frame covers a line of the MRZ
_WORK_SIDE = 1000


@dataclass(frozen=True)
class Assessment:
    width: int
    height: int
    sharpness: float
    glare_share: float
    problems: tuple[str, ...]  # BLURRY, GLARE, TOO_SMALL


def assess(data: bytes, id_kind: str = "") -> Assessment:
    """The photo's measures and what is wrong with it, if anything. `id_kind` (ine, pasaporte…)
    picks the pixels needed; unknown kinds get the card's."""
    with Image.open(io.BytesIO(data)) as probe:
        width, height = probe.size
    grey = cv2.imdecode(np.frombuffer(data, dtype=np.uint8),
                        cv2.IMREAD_REDUCED_GRAYSCALE_2 if max(width, height) >= 4 * _WORK_SIDE else cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not an image OpenCV can decode")
    scale = _WORK_SIDE / max(grey.shape)
    work = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    sharpness = float(cv2.Laplacian(work, cv2.CV_64F).var())
    glare = _glare_share(work)
    long_side, short_side = max(width, height), min(width, height)
    need_long, need_short = MIN_SIDES.get(id_kind, DEFAULT_MIN_SIDES)
    problems = []
    if long_side < need_long or short_side < need_short:
        problems.append(TOO_SMALL)
    if sharpness < MIN_SHARPNESS:
        problems.append(BLURRY)
    if glare > MAX_GLARE_SHARE:
        problems.append(GLARE)
    return Assessment(width=width, height=height, sharpness=round(sharpness, 1), glare_share=round(glare, 4),
                      problems=tuple(problems))


def _glare_share(work: np.ndarray) -> float:
    """The largest saturated patch not touching the frame's edge (a white page or table around
    the document is not glare), as a share of the image."""
    saturated = (cv2.GaussianBlur(work, (5, 5), 0) >= 252).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(saturated)
    rows, cols = work.shape
    largest = 0
    for x, y, w, h, area in stats[1:count]:
        if x > 0 and y > 0 and x + w < cols and y + h < rows:
            largest = max(largest, int(area))
    return largest / work.size
