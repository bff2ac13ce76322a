"""The backup archive is checked and read a megabyte at a time (it holds every document: loading it
whole made `make restore` need its size in memory), and a damaged or older one is refused."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tracemalloc

import pytest

from tools.stack.backup import FORMAT, POSTGRES_PARTS, _add_stream, read_archive
from tools.stack.runner import StackError

BIG = 48 * 1024 * 1024


class Zeros(io.RawIOBase):
    """`size` bytes produced as they are read (the test holds no big buffer itself)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def _archive(path, *, damage: str | None = None, format_: str = FORMAT):
    parts, objects = [], []
    with tarfile.open(path, "w") as tar:
        for name in POSTGRES_PARTS:
            data = name.encode() * 100
            parts.append({"name": name, **_add_stream(tar, name, len(data), io.BytesIO(data))})
        added = _add_stream(tar, "s3/grande.pdf", BIG, io.BufferedReader(Zeros(BIG)))
        objects.append({"key": "grande.pdf", "part": "s3/grande.pdf", **added, "content_type": "application/pdf",
                        "metadata": {}})
        if damage:
            for entry in parts + objects:
                if entry.get("name", entry.get("part")) == damage:
                    entry["sha256"] = hashlib.sha256(b"otro").hexdigest()
        manifest = json.dumps({"format": format_, "postgres_version": "150010", "parts": parts,
                               "objects": objects}).encode()
        _add_stream(tar, "manifest.json", len(manifest), io.BytesIO(manifest))
    return path


def test_an_archive_is_checked_without_holding_its_parts_in_memory(tmp_path):
    archive = _archive(tmp_path / "respaldo.tar")
    tracemalloc.start()
    try:
        manifest = read_archive(archive)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert manifest["objects"][0]["bytes"] == BIG
    assert manifest["objects"][0]["sha256"] == hashlib.sha256(bytes(BIG)).hexdigest()
    assert peak < 8 * 1024 * 1024, f"pico de {peak / 2**20:.1f} MiB leyendo un objeto de {BIG / 2**20:.0f} MiB"


def test_a_damaged_part_or_an_older_format_is_refused(tmp_path):
    with pytest.raises(StackError, match="postgres/base.tar no coincide con su SHA-256"):
        read_archive(_archive(tmp_path / "a.tar", damage="postgres/base.tar"))
    with pytest.raises(StackError, match="formato de respaldo desconocido"):
        read_archive(_archive(tmp_path / "b.tar", format_="acceso-unico-backup/1"))
