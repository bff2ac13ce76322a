"""What a reviewer may search an application by, normalised once on write (applications.search_text):
folio, CURP, every RFC, passport, email, names — lower case, accents removed — as words, each word
also from after each of its separators (". @ _ + -"), so a search for the beginning of any word or
of any part of an email or identifier finds it: "nunez@correo" finds "jose.nunez@correo.mx", "998877"
finds "tx-998877". The query side normalises what the reviewer typed with the same `normalise`, so
"Pérez" finds "PEREZ", and each typed word must begin one of the application's words (`matches`).

Why word beginnings rather than any substring: a GIN index over the words answers a prefix by reading
the few index entries that start with it; a trigram index answers a substring by intersecting the
posting lists of every trigram, and identifiers share their trigrams ("au-", "202", "@ex") with every
row — 20–90 ms at 1,000,000 applications against 1–5 ms (benchmarks/bench_queue_sql.py)."""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Mapping

SEARCHED_ATTRIBUTES = ("folio", "curp", "rfc", "tax_id", "pasaporte")
_SEPARATOR = re.compile(r"[.@_+\-]")


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"\s+", " ", plain).strip()


def _tails(word: str) -> list[str]:
    return [word] + [word[m.end():] for m in _SEPARATOR.finditer(word) if word[m.end():]]


def search_text_of(*, email: str, first_name: str, last_name: str, attributes: Mapping[str, str]) -> str:
    parts = [attributes.get(name, "") for name in SEARCHED_ATTRIBUTES] + [email, first_name, last_name]
    words = normalise(" ".join(p for p in parts if p)).split(" ")
    return " ".join(dict.fromkeys(t for w in words if w for t in _tails(w)))


def matches(search_text: str, words: Iterable[str]) -> bool:
    """Each of `words` (already normalised) begins one of the application's words."""
    own = search_text.split(" ")
    return all(any(t.startswith(w) for t in own) for w in words)


def prefix_query(words: Iterable[str]) -> str:
    """A tsquery (as text, cast by the caller: no parser touches it) asking for every word as a prefix."""
    return " & ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "':*" for w in words)
