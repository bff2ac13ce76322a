"""Whether the names read in an MRZ are the names an applicant declared.

An MRZ writes names in A-Z only: accents dropped, "Ñ" as "N" (ICAO 9303 Part 3) or, by some
issuers, "X" or "NXX"; hyphens and spaces as "<", apostrophes dropped; surnames first; and a name
too long for the line cut short. Applicants type names with accents, in the order of the form
(given names, then surnames), sometimes with a compound surname split differently. So both sides
are folded the same way, compared as a bag of words (order-insensitive), and scored with an edit
distance (rapidfuzz) instead of equality: one misread or misspelt letter is a near match the
reviewer can judge, not a refusal.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

# Similarity (0-100, rapidfuzz's normalised Indel) at or above which two names are the same
# person's: one wrong letter in a 20-letter name scores 95, two 90; a different given name
# ("JUAN" for "JOSE") in a three-word name scores about 80.
MATCH_SCORE = 90.0
_ENYE_SPELLINGS = ("N", "X", "NXX")


@dataclass(frozen=True)
class NameMatch:
    score: float  # 0-100
    distance: int  # letters to change (Levenshtein, words sorted)
    read: str
    declared: str

    @property
    def matches(self) -> bool:
        return self.score >= MATCH_SCORE


def fold(text: str, enye: str = "N") -> str:
    """Upper case A-Z and single spaces: accents and dieresis dropped, "Ñ" spelt `enye`, hyphens,
    dots and "<" as spaces, apostrophes removed (O'Brien → OBRIEN, as ICAO writes it)."""
    text = (text or "").upper().replace("Ñ", "\0")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = text.replace("\0", enye).replace("'", "").replace("’", "")
    return " ".join(re.sub(r"[^A-Z]+", " ", text).split())


def compare(declared_given: str, declared_surnames: str, read_surname: str, read_given: str,
            *, truncated: bool = False) -> NameMatch:
    """The best score over the spellings of "Ñ". `truncated`: the MRZ's name field was full, so
    the read names may be a prefix of the declared ones (then compared in the MRZ's own order)."""
    read = fold(f"{read_surname} {read_given}")
    best: NameMatch | None = None
    for enye in _ENYE_SPELLINGS:
        declared = fold(f"{declared_given} {declared_surnames}", enye)
        ordered_read, ordered_declared = _sorted(read), _sorted(declared)
        score = fuzz.ratio(ordered_read, ordered_declared)
        if truncated:
            mrz_order = fold(f"{declared_surnames} {declared_given}", enye)
            score = max(score, fuzz.ratio(read, mrz_order[:len(read)]))
        match = NameMatch(score=round(score, 1), distance=Levenshtein.distance(ordered_read, ordered_declared),
                          read=read, declared=fold(f"{declared_given} {declared_surnames}"))
        if best is None or match.score > best.score:
            best = match
    assert best is not None
    return best


def _sorted(folded: str) -> str:
    return " ".join(sorted(folded.split()))
