"""The SAT certificates the operator trusts: a folder (setting EFIRMA_ROOTS_DIR) of `.cer`, `.crt`, `.pem`
or `.der` files, as SAT publishes them. Self-signed ones are the roots; the others (SAT's issuing CAs,
"AC del Servicio de Administración Tributaria") are intermediates, trusted only through a root.

The folder is read again when a file in it changes (its names, sizes and times), so an operator adds a
new SAT root without a restart.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem, x509 as asn1_x509

log = logging.getLogger(__name__)

SUFFIXES = {".cer", ".crt", ".pem", ".der"}


@dataclass(frozen=True)
class Trust:
    roots: tuple[asn1_x509.Certificate, ...]
    intermediates: tuple[asn1_x509.Certificate, ...]

    @property
    def empty(self) -> bool:
        return not self.roots


def _certificates(data: bytes) -> list[asn1_x509.Certificate]:
    if pem.detect(data):
        return [asn1_x509.Certificate.load(der) for kind, _, der in pem.unarmor(data, multiple=True)
                if kind == "CERTIFICATE"]
    return [asn1_x509.Certificate.load(data)]


def read_folder(folder: str | os.PathLike) -> Trust:
    roots: list[asn1_x509.Certificate] = []
    intermediates: list[asn1_x509.Certificate] = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        try:
            certificates = _certificates(path.read_bytes())
            for cert in certificates:
                cert.native  # parses it whole now: a damaged file is skipped here, not in a signature's check
        except (ValueError, TypeError, OSError) as exc:
            log.warning("e.firma: se omite %s de las raíces del SAT (%s)", path.name, type(exc).__name__)
            continue
        for cert in certificates:
            (roots if cert.self_signed in ("maybe", "yes") else intermediates).append(cert)
    return Trust(tuple(roots), tuple(intermediates))


class TrustFolder:
    """`current()` is the folder's Trust, read again only when the folder changed."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._seen: tuple | None = None
        self._trust = Trust((), ())

    def _state(self) -> tuple:
        try:
            return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(self.folder)))
        except OSError:
            return ()

    def current(self) -> Trust:
        state = self._state()
        with self._lock:
            if state != self._seen:
                self._trust = read_folder(self.folder) if state else Trust((), ())
                self._seen = state
            return self._trust


_FOLDERS: dict[str, TrustFolder] = {}
_FOLDERS_LOCK = threading.Lock()


def trust_of(folder: str) -> Trust:
    """The Trust of an operator's folder (one reader per folder per process)."""
    if not folder:
        return Trust((), ())
    with _FOLDERS_LOCK:
        reader = _FOLDERS.setdefault(folder, TrustFolder(folder))
    return reader.current()
