"""From the lines an OCR engine read to the fields of a machine-readable zone (ICAO 9303), trusted
only when every check digit passes.

The layouts and check digits are `mrz`'s (PyPI; its TD1/TD3 checkers). What no library does, and
is written here, is undo what OCR typically gets wrong in a zone where every position has a known
kind: a letter read in a date ("O" for "0"), a digit read in a name, a filler run one "<" short or
long. Each repair only makes candidates; a candidate is kept only if its check digits pass, so a
repair can turn a misread into "no se pudo leer", never into a wrong value.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td3 import TD3CodeChecker

TD1 = "TD1"  # ID cards: the back of the INE ("IDMEX…"), 3 lines of 30
TD3 = "TD3"  # passports' data page, 2 lines of 44
SHAPES = {TD1: (3, 30), TD3: (2, 44)}

# Kind of every position: D digit, C check digit (or "<"), A letter or "<", N letter, digit or
# "<", S sex. Names are A; document numbers and optional data N.
_LAYOUT = {
    TD1: ("AAAAA" + "N" * 9 + "C" + "N" * 15,
          "DDDDDD" + "C" + "S" + "DDDDDD" + "C" + "AAA" + "N" * 11 + "C",
          "A" * 30),
    TD3: ("A" * 44,
          "N" * 9 + "C" + "AAA" + "DDDDDD" + "C" + "S" + "DDDDDD" + "C" + "N" * 14 + "C" + "C"),
}
# The confusions of OCR-B glyphs seen with both engines (and listed by passporteye and others).
_TO_DIGIT = str.maketrans({"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "T": "1", "J": "1",
                           "Z": "2", "S": "5", "G": "6", "B": "8", "A": "4"})
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"})
# What engines write for the filler "<" (guillemets, brackets, "K" in runs of filler).
_FILLER_LOOKALIKES = str.maketrans({"«": "<<", "‹": "<", "(": "<", "[": "<", "{": "<", "‘": "<", "＜": "<"})
_NOT_MRZ = re.compile(r"[^A-Z0-9<]")
_FILLER_RUN = re.compile(r"<{2,}")
_MAX_LENGTH_REPAIR = 3


@dataclass(frozen=True)
class MrzRead:
    """A zone whose check digits all pass. Dates are YYMMDD as printed; names have "<" as spaces."""
    format: str
    lines: tuple[str, ...]
    document_type: str
    country: str
    document_number: str
    birth_date: str
    sex: str  # M, F or X ("<" in the zone: unspecified)
    expiry_date: str
    nationality: str
    optional_data: str
    surname: str
    given_names: str
    names_truncated: bool  # the name field is full: the names may be cut short (ICAO truncation)
    names_reliable: bool  # the name line came out of OCR in shape, without a repair inside it

    @property
    def is_ine(self) -> bool:
        return self.format == TD1 and self.document_type.startswith("I") and self.country == "MEX"


def clean_line(text: str) -> str:
    """An OCR line as zone characters: upper case, no spaces, filler look-alikes as "<"."""
    return _NOT_MRZ.sub("", (text or "").upper().translate(_FILLER_LOOKALIKES))


def read_zone(lines: list[str]) -> MrzRead | None:
    """The zone found among OCR `lines` (top to bottom, any other text of the document mixed in),
    or None when no window of lines has the zone's shape and passes every check digit."""
    cleaned = [clean_line(line) for line in lines]
    cleaned = [line for line in cleaned if len(line) >= 20]
    best: MrzRead | None = None
    # The zone is printed at the bottom: windows are tried from the last line up.
    for fmt in (TD3, TD1):
        count, width = SHAPES[fmt]
        for end in range(len(cleaned), count - 1, -1):
            window = cleaned[end - count:end]
            if all(abs(len(line) - width) <= _MAX_LENGTH_REPAIR for line in window):
                found = _verified(fmt, window)
                if found is not None and (best is None or (found.names_reliable and not best.names_reliable)):
                    best = found
                    if found.names_reliable:
                        return found
    return best


def parse(code: str) -> MrzRead | None:
    """An exact zone (lines separated by newlines), as printed: None unless every check digit passes."""
    lines = code.strip().splitlines()
    fmt = next((f for f, (count, width) in SHAPES.items()
                if len(lines) == count and all(len(line) == width for line in lines)), None)
    return _verified(fmt, lines) if fmt else None


def _verified(fmt: str, raw: list[str]) -> MrzRead | None:
    layout = _LAYOUT[fmt]
    width = SHAPES[fmt][1]
    name_index = 2 if fmt == TD1 else 0
    options: list[list[str]] = []
    for index, line in enumerate(raw):
        kinds = layout[index]
        options.append([_by_kind(candidate, kinds) for candidate in _length_candidates(line, width,
                                                                                       names=index == name_index)])
    if not all(options):
        return None
    for combo in itertools.product(*options):
        code = "\n".join(combo)
        checker = _checker(fmt, code)
        if checker is None:
            code = _numeric_ine_number(fmt, combo)
            checker = _checker(fmt, code) if code else None
        if checker is not None:
            lines = tuple(code.splitlines())
            # A digit in the name line was mapped to a letter: a guess no check digit confirms, except
            # "0" for "O" (OCR-B's two glyphs differ by a few pixels; "0" is never in a name).
            return _read(fmt, lines, checker, reliable=not re.search(r"[1-9]", raw[name_index]))
    return None


def _length_candidates(line: str, width: int, *, names: bool) -> list[str]:
    """`line` at exactly `width`: as is, or with one filler run lengthened or shortened. A name
    line may only change its trailing filler (there is no check digit to catch a wrong repair)."""
    diff = width - len(line)
    if diff == 0:
        return [line]
    if names:
        if diff > 0 and line.endswith("<"):
            return [line + "<" * diff]
        if diff < 0 and line.endswith("<" * (1 - diff)):
            return [line[:width]]
        return []
    candidates = []
    for run in _FILLER_RUN.finditer(line):
        if run.end() - run.start() + diff >= 1:
            candidates.append(line[:run.start()] + "<" * (run.end() - run.start() + diff) + line[run.end():])
    if diff < 0:  # stray characters an engine added at either end
        candidates += [line[:width], line[-width:]]
    elif diff > 0 and line.endswith("<"):
        candidates.append(line + "<" * diff)
    return list(dict.fromkeys(candidates))


def _by_kind(line: str, kinds: str) -> str:
    out = []
    for char, kind in zip(line, kinds):
        if kind in "DC":
            char = char.translate(_TO_DIGIT)
        elif kind == "A":
            char = char.translate(_TO_LETTER)
        out.append(char)
    return "".join(out)


def _numeric_ine_number(fmt: str, combo: tuple[str, ...]) -> str | None:
    """The INE's document number (its CIC) is nine digits: letters there are misread digits."""
    first = combo[0]
    if fmt != TD1 or not first.startswith("IDMEX"):
        return None
    number = first[5:14].translate(_TO_DIGIT)
    if number == first[5:14]:
        return None
    return "\n".join((first[:5] + number + first[14:],) + combo[1:])


def _checker(fmt: str, code: str):
    try:
        checker = (TD1CodeChecker if fmt == TD1 else TD3CodeChecker)(code)
    except Exception:  # noqa: BLE001 - `mrz` raises its own and built-in errors on malformed text
        return None
    return checker if bool(checker) else None


def _read(fmt: str, lines: tuple[str, ...], checker, *, reliable: bool) -> MrzRead:
    f = checker.fields()
    name_line = lines[2] if fmt == TD1 else lines[0][5:]
    surname, _, given = name_line.partition("<<")
    sex = f.sex if f.sex in ("M", "F") else "X"
    return MrzRead(format=fmt, lines=lines, document_type=f.document_type.replace("<", ""), country=f.country,
                   document_number=f.document_number.replace("<", ""), birth_date=f.birth_date, sex=sex,
                   expiry_date=f.expiry_date, nationality=f.nationality.replace("<", ""),
                   optional_data=f.optional_data.replace("<", ""),
                   surname=" ".join(w for w in surname.split("<") if w),
                   given_names=" ".join(w for w in given.split("<") if w),
                   names_truncated=not name_line.endswith("<"),
                   names_reliable=reliable and re.fullmatch(r"[A-Z]+(<[A-Z]+)*(<<[A-Z]+(<[A-Z]+)*)?<*", name_line)
                   is not None)
