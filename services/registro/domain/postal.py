"""Mexican postal codes (SEPOMEX catalog): CP → entidad, municipios, localidades and colonias.

The bundled default is the SQLite file of the PyPI package `postalcodes-mexico` (MIT; SEPOMEX data
of 2018, table `places(cp, place, place_type, municipality, city, state)`); `python -m
registro.ops.postal importar CPdescarga.txt` builds a file of the same shape from Correos de México's
current download, and POSTAL_CATALOG_PATH points the service at it. The file is opened read-only
once at start-up and copied into an in-memory SQLite database with an index on `cp` (the package
ships none), so a lookup is an indexed read that never touches the disk.

The catalog can be older than a postal code: a miss or a state mismatch is never a block, the
applicant is asked to confirm and the reviewer sees a hint (registration/postal_check.py, domain/checks.py).
"""
from __future__ import annotations

import sqlite3
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from registro.domain.geography import ENTIDAD_NAMES

# The catalog names the State of Mexico "México"; the form (and the CURP's list) says "Estado de México".
_CATALOG_TO_FORM = {"México": "Estado de México"}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


_FORM_BY_FOLDED = {_fold(name): name for name in ENTIDAD_NAMES}


def form_state(catalog_state: str) -> str:
    """The form's name of an entidad as the catalog spells it ("" when unknown)."""
    name = _CATALOG_TO_FORM.get(catalog_state.strip(), catalog_state.strip())
    return _FORM_BY_FOLDED.get(_fold(name), "")


@dataclass(frozen=True)
class Settlement:
    name: str  # d_asenta, e.g. "Roma Norte"
    kind: str  # d_tipo_asenta, e.g. "Colonia"
    municipality: str
    city: str


@dataclass(frozen=True)
class PostalCode:
    code: str
    state: str  # the form's entidad name ("" if the catalog's is unknown)
    settlements: tuple[Settlement, ...]

    @property
    def municipalities(self) -> tuple[str, ...]:
        return tuple(sorted({s.municipality for s in self.settlements if s.municipality}, key=_fold))

    @property
    def localities(self) -> tuple[str, ...]:
        """What the form's "Localidad" may hold: the cities, else the municipalities."""
        cities = sorted({s.city for s in self.settlements if s.city}, key=_fold)
        return tuple(cities) if cities else self.municipalities

    @property
    def colonias(self) -> tuple[str, ...]:
        return tuple(sorted({s.name for s in self.settlements}, key=_fold))

    def as_json(self) -> dict:
        return {"cp": self.code, "estado": self.state, "municipios": list(self.municipalities),
                "localidades": list(self.localities), "colonias": list(self.colonias)}


def bundled_path() -> Path:
    """The SQLite file inside the installed `postalcodes-mexico` package (only its data is used)."""
    import importlib.util
    spec = importlib.util.find_spec("postalcodes_mexico")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("falta el paquete postalcodes-mexico (make setup lo instala)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "postalcodes.sqlite3"


_OPENED: dict[Path, "PostalCatalog"] = {}
_OPEN_LOCK = threading.Lock()


class PostalCatalog:
    """Read-only, in memory, safe to share between threads (one connection behind a lock)."""

    def __init__(self, connection: sqlite3.Connection, source: str) -> None:
        self._db = connection
        self._lock = threading.Lock()
        self.source = source
        self.size = connection.execute("SELECT count(*) FROM places").fetchone()[0]

    @classmethod
    def open(cls, path: str | Path | None = None) -> "PostalCatalog":
        """The catalog at `path` (the bundled one when None), loaded once per process and shared."""
        resolved = Path(path).resolve() if path is not None else bundled_path().resolve()
        with _OPEN_LOCK:
            if resolved not in _OPENED:
                _OPENED[resolved] = cls.load(resolved)
            return _OPENED[resolved]

    @classmethod
    def load(cls, path: Path) -> "PostalCatalog":
        """Reads the file now (the importer's checks and the benchmark use it; the service uses open())."""
        if not path.is_file():
            raise FileNotFoundError(f"no existe el catálogo de códigos postales {path}")
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        memory = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            source.backup(memory)
        finally:
            source.close()
        memory.execute("CREATE INDEX IF NOT EXISTS places_cp ON places(cp)")
        memory.execute("PRAGMA query_only = ON")
        return cls(memory, str(path))

    def lookup(self, code: str) -> PostalCode | None:
        code = (code or "").strip()
        if len(code) != 5 or not code.isdigit():
            return None
        with self._lock:
            rows = self._db.execute(
                "SELECT place, place_type, municipality, city, state FROM places WHERE cp = ?", (code,)).fetchall()
        if not rows:
            return None
        states = {form_state(r[4] or "") for r in rows}
        state = states.pop() if len(states) == 1 else ""
        return PostalCode(code, state, tuple(Settlement(r[0] or "", r[1] or "", r[2] or "", r[3] or "") for r in rows))

    def codes(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT cp FROM places ORDER BY cp")]


# --- the check the form and the reviewer share ------------------------------------------------------
NOT_IN_CATALOG = "no_encontrado"
OTHER_STATE = "otro_estado"


def mismatch(catalog: PostalCatalog, code: str, state: str) -> str | None:
    """None when the catalog places `code` in `state`; else why not (NOT_IN_CATALOG / OTHER_STATE)."""
    found = catalog.lookup(code)
    if found is None:
        return NOT_IN_CATALOG
    if found.state and found.state != state:
        return OTHER_STATE
    return None
