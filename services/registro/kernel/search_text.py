"""What a reviewer may search an application by, normalised once on write (applications.search_text):
folio, CURP, every RFC, passport, email, names — lower case, accents removed, single spaces. The
query side normalises what the reviewer typed with the same `normalise`, so "Pérez" finds "PEREZ"."""
from __future__ import annotations

import re
import unicodedata
from typing import Mapping

SEARCHED_ATTRIBUTES = ("folio", "curp", "rfc", "tax_id", "pasaporte")


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"\s+", " ", plain).strip()


def search_text_of(*, email: str, first_name: str, last_name: str, attributes: Mapping[str, str]) -> str:
    parts = [attributes.get(name, "") for name in SEARCHED_ATTRIBUTES] + [email, first_name, last_name]
    return normalise(" ".join(p for p in parts if p))
