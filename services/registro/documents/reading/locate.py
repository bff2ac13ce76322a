"""Finds the machine-readable zone in a photo or scan and returns its lines, straightened.

Reading the whole document costs an OCR engine a text detection over every pixel and recognition
of every printed line (about 1-3 s of CPU here); the zone is two or three long, parallel lines of
dark, evenly spaced characters near the bottom edge, which classic morphology finds in tens of
milliseconds (the approach of pyimagesearch's MRZ detector and of passporteye: black-hat to keep
dark print on a light card, horizontal gradient, closing to join characters into lines). Lines
are then grouped by being parallel, of similar length and one line-pitch apart; each line's
minimum-area rectangle gives its angle, so the crops come out level whatever the tilt, and the
recogniser reads them without running the detection model at all.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

WORK_WIDTH = 1200  # the search runs on a copy this wide: enough for 2.54-mm characters on a card
_MIN_ASPECT = 8.0  # a TD1 line is about 76 x 2.4 mm (30:1), a TD3 one 112 x 2.4 mm
_MIN_WIDTH_SHARE = 0.25  # of the image width: the zone spans most of the document


@dataclass(frozen=True)
class Zone:
    lines: tuple[np.ndarray, ...]  # grey, level, one printed line each (with a margin), top to bottom
    image: np.ndarray  # the whole block, level


def load_grey(data: bytes, max_side: int = 2400) -> np.ndarray:
    """The image as grey pixels (EXIF orientation applied), at most about `max_side` on its longer
    side: a 48-Mpx photo is decoded at a quarter of its size (JPEG's reduced decode) to begin with."""
    with Image.open(io.BytesIO(data)) as probe:
        longest = max(probe.size)
    flag = cv2.IMREAD_GRAYSCALE
    for factor, reduced in ((4, cv2.IMREAD_REDUCED_GRAYSCALE_4), (2, cv2.IMREAD_REDUCED_GRAYSCALE_2)):
        if longest // factor >= max_side:
            flag = reduced
            break
    grey = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if grey is None:
        raise ValueError("not an image OpenCV can decode")
    scale = max_side / max(grey.shape)
    if scale < 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return grey


def find_zones(grey: np.ndarray, limit: int = 2) -> list[Zone]:
    """Candidate zones, most likely first: groups of two or three long, parallel, evenly spaced
    lines of print, the lowest and widest first."""
    scale = min(1.0, WORK_WIDTH / grey.shape[1])
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    small = cv2.GaussianBlur(small, (3, 3), 0)
    blackhat = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 7)))
    gradient = np.absolute(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    low, high = float(gradient.min()), float(gradient.max())
    gradient = (255 * (gradient - low) / max(1.0, high - low)).astype("uint8")
    joined = cv2.morphologyEx(gradient, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 3)))
    _, mask = cv2.threshold(joined, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    lines = []
    for contour in contours:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if w < h:  # OpenCV's angle is that of the rectangle's first side: make it the long one's
            w, h, angle = h, w, angle + 90
        angle = (angle + 90) % 180 - 90
        if h >= 3 and w / h >= _MIN_ASPECT and w >= _MIN_WIDTH_SHARE * small.shape[1] and abs(angle) < 30:
            lines.append((cy, cx, w, h, angle))
    lines.sort()
    groups = []
    for start in range(len(lines)):
        for count in (3, 2):
            group = lines[start:start + count]
            if len(group) == count and _one_block(group):
                groups.append(group)
    groups.sort(key=lambda g: -(len(g) * 10_000 + sum(line[2] for line in g) * (0.5 + g[-1][0] / small.shape[0])))
    return [_zone(grey, [tuple(v / scale for v in line[:4]) + (line[4],) for line in group])
            for group in groups[:limit]]


def _one_block(group: list[tuple]) -> bool:
    """Parallel lines of similar length, stacked one line-pitch apart (ICAO: 4.2 mm for
    characters 2.4 mm tall)."""
    widths = [line[2] for line in group]
    heights = [line[3] for line in group]
    angles = [line[4] for line in group]
    gaps = [b[0] - a[0] for a, b in zip(group, group[1:])]
    return (min(widths) > 0.75 * max(widths) and max(angles) - min(angles) < 4
            and all(0.9 * max(heights) < gap < 3.5 * max(heights) for gap in gaps))


def _zone(grey: np.ndarray, group: list[tuple]) -> Zone:
    angle = float(np.median([line[4] for line in group]))
    crops = tuple(_level(grey, cx, cy, w * 1.04 + 2 * h, h * 1.8 + 6, angle) for cy, cx, w, h, _ in group)
    first, last = group[0], group[-1]
    block = _level(grey, (first[1] + last[1]) / 2, (first[0] + last[0]) / 2, max(line[2] for line in group) * 1.04
                   + 2 * first[3], last[0] - first[0] + 2.5 * max(line[3] for line in group), angle)
    return Zone(lines=crops, image=block)


def _level(grey: np.ndarray, cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    rotation = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    rotation[0, 2] += w / 2 - cx
    rotation[1, 2] += h / 2 - cy
    return cv2.warpAffine(grey, rotation, (max(1, int(w)), max(1, int(h))), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
