"""The gettext catalogs of `registro`: extract, update, compile and check them.

    python -m registro.i18n.catalog actualizar   # re-extract the Spanish strings, merge into en/messages.po
    python -m registro.i18n.catalog compilar     # write messages.mo next to each messages.po

Spanish is the reference: the msgids are the Spanish texts of the templates and modules listed in
services/babel.cfg. The compiled .mo files are committed (so `make setup` needs no step and a clean
clone serves English at once); tests/unit/test_i18n_catalog.py fails when a Spanish string has no
English entry or when a committed .mo is older than its .po.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # services/registro
SERVICES_DIR = PACKAGE_DIR.parent
BABEL_CFG = SERVICES_DIR / "babel.cfg"
TRANSLATIONS = PACKAGE_DIR / "translations"
LANGUAGES = ("en",)


def extract() -> Catalog:
    """The Spanish reference catalog, extracted from the sources now."""
    from registro.i18n.extract import extract_literals

    with BABEL_CFG.open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    method_map = [(pattern, extract_literals if method == "literals" else method) for pattern, method in method_map]
    catalog = Catalog(locale="es", project="Acceso Único", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(SERVICES_DIR), method_map, options_map, keywords={"_": None, "gettext": None, "lazy_gettext": None,
                                                                   "ngettext": (1, 2)}):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def update() -> None:
    template = extract()
    for lang in LANGUAGES:
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = read(lang) if path.exists() else Catalog(locale=lang, charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False  # the header: a fuzzy header would keep the .mo from loading its metadata
        with path.open("wb") as f:
            write_po(f, catalog, width=100, no_location=True, omit_header=False, ignore_obsolete=True)


def compile_all() -> None:
    for lang in LANGUAGES:
        path = po_path(lang)
        path.with_suffix(".mo").write_bytes(compiled(read(lang)))


def main(argv: list[str]) -> int:
    verb = argv[0] if argv else ""
    if verb == "actualizar":
        update()
    elif verb == "compilar":
        compile_all()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
