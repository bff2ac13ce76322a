"""The OCR engines that read a zone's lines: rapidocr (PyPI; PP-OCR's ONNX detection and recognition
models inside the wheel, nothing fetched at run time) and Debian's tesseract-ocr (its command line,
LSTM model, the zone's alphabet as whitelist). Both behind one small Protocol so the figures
command can measure them on the same crops; the service uses the one chosen there (README).
"""
from __future__ import annotations

import os
import re
import subprocess
from typing import Protocol

import cv2

from registro.documents.reading.locate import Zone

MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
_FILLER_RUN_WITH_K = re.compile(r"(?:<[<K]*K[<K]*<)|(?:<K+$)|(?:K<+)(?=[<K]*$)", re.MULTILINE)


class Engine(Protocol):
    name: str

    def lines(self, zone: Zone) -> list[str]:
        """The text of the zone's lines, top to bottom."""


class RapidOcr:
    """rapidocr with its bundled models, one inference thread (the child runs on a shared core)."""
    name = "rapidocr"

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        self._engine = RapidOCR(params={
            "Global.log_level": "error",
            "Global.use_cls": False,  # the crop is already level; the zone is never upside down once located
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        })

    def lines(self, zone: Zone) -> list[str]:
        # Recognition only, one line at a time: locate.py already found and levelled the lines, so
        # the detection model (most of the engine's time on a whole page) is not run.
        texts = []
        for line in zone.lines:
            result = self._engine(cv2.cvtColor(line, cv2.COLOR_GRAY2BGR), use_det=False, use_cls=False, use_rec=True)
            texts.append("".join(result.txts or ()))
        return texts


class Tesseract:
    """Debian's tesseract (5.x, LSTM), one block of uniform text (psm 6), the zone's alphabet only."""
    name = "tesseract"

    def __init__(self, binary: str = "tesseract") -> None:
        self._binary = binary

    def lines(self, zone: Zone) -> list[str]:
        ok, png = cv2.imencode(".png", zone.image)
        if not ok:
            return []
        completed = subprocess.run(
            [self._binary, "stdin", "stdout", "--psm", "6", "-l", "eng",
             "-c", f"tessedit_char_whitelist={MRZ_ALPHABET}", "-c", "load_system_dawg=0", "-c", "load_freq_dawg=0"],
            input=png.tobytes(), capture_output=True, timeout=20, check=False,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        text = completed.stdout.decode("ascii", "replace")
        # Tesseract reads OCR-B's chevron as "K" inside runs of filler.
        text = _FILLER_RUN_WITH_K.sub(lambda m: "<" * len(m.group()), text)
        return [line for line in text.splitlines() if line.strip()]


ENGINES = {"rapidocr": RapidOcr, "tesseract": Tesseract}
