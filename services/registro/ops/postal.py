"""Operator command: replace the postal-code catalog with Correos de México's current file.

    python -m registro.ops.postal importar CPdescarga.txt --salida /srv/acceso-unico/codigos-postales.sqlite3
    python -m registro.ops.postal consultar 06700 [--catalogo archivo.sqlite3]

`importar` reads the official download (SEPOMEX "CPdescarga.txt": Latin-1, one notice line, then
the header `d_codigo|d_asenta|d_tipo_asenta|D_mnpio|d_estado|d_ciudad|…` and one line per
settlement, fields separated by "|") and writes an indexed SQLite file of the shape the service
reads (domain/postal.py). It writes to a temporary file and renames it at the end, so a running
service never sees half a catalog. Point POSTAL_CATALOG_PATH at the result and restart.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, TextIO

REQUIRED_COLUMNS = ("d_codigo", "d_asenta", "d_tipo_asenta", "D_mnpio", "d_estado", "d_ciudad")


class ImportError_(Exception):
    """The file is not in the official layout; `str(exc)` is for the operator (Spanish)."""


def read_official(lines: Iterable[str]) -> Iterator[tuple[str, str, str, str, str, str]]:
    """Rows (cp, place, place_type, municipality, city, state) of the official layout."""
    header: dict[str, int] | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("|")
        if header is None:
            if "d_codigo" in fields:
                header = {name.strip(): i for i, name in enumerate(fields)}
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    raise ImportError_(f"faltan las columnas {', '.join(missing)} en el encabezado (línea {number})")
            continue  # the notice line before the header
        try:
            row = tuple(fields[header[c]].strip() for c in REQUIRED_COLUMNS)
        except IndexError:
            raise ImportError_(f"la línea {number} tiene menos columnas que el encabezado") from None
        code = row[0].zfill(5)
        if len(code) != 5 or not code.isdigit():
            raise ImportError_(f"código postal no válido en la línea {number}")
        _, place, kind, municipality, state, city = row
        yield code, place, kind, municipality, city, state  # the table's column order
    if header is None:
        raise ImportError_("no se encontró el encabezado d_codigo|d_asenta|… del archivo oficial")


def write_catalog(rows: Iterable[tuple], target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".codigos-postales-", suffix=".sqlite3", dir=target.parent)
    os.close(fd)
    try:
        db = sqlite3.connect(tmp)
        with db:
            db.execute("DROP TABLE IF EXISTS places")
            db.execute("CREATE TABLE places(cp, place, place_type, municipality, city, state)")
            db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("CREATE INDEX places_cp ON places(cp)")
        count = db.execute("SELECT count(*) FROM places").fetchone()[0]
        db.close()
        if count == 0:
            raise ImportError_("el archivo no contiene ningún asentamiento")
        os.replace(tmp, target)
        return count
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_file(stream: TextIO, target: Path) -> int:
    return write_catalog(read_official(stream), target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.ops.postal",
                                     description="Catálogo de códigos postales (SEPOMEX) del registro.")
    sub = parser.add_subparsers(dest="verbo", required=True)
    imp = sub.add_parser("importar", help="importa CPdescarga.txt (Latin-1, separado por «|»)")
    imp.add_argument("archivo", type=Path)
    imp.add_argument("--salida", type=Path, required=True, help="archivo SQLite a escribir (POSTAL_CATALOG_PATH)")
    imp.add_argument("--codificacion", default="latin-1", help="codificación del archivo (por omisión latin-1)")
    con = sub.add_parser("consultar", help="muestra lo que el catálogo sabe de un código postal")
    con.add_argument("cp")
    con.add_argument("--catalogo", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.verbo == "importar":
        try:
            with args.archivo.open(encoding=args.codificacion, newline="") as stream:
                count = import_file(stream, args.salida)
        except (OSError, UnicodeDecodeError, ImportError_) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"catálogo escrito en {args.salida}: {count} asentamientos. Defina POSTAL_CATALOG_PATH={args.salida} "
              "y reinicie el servicio.")
        return 0
    from registro.domain.postal import PostalCatalog
    found = PostalCatalog.open(args.catalogo).lookup(args.cp)
    if found is None:
        print("no está en el catálogo")
        return 1
    import json
    print(json.dumps(found.as_json(), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
