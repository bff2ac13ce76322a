"""Reading a multipart upload with bounded memory and a size limit enforced while reading.

Flask's MAX_CONTENT_LENGTH stays None app-wide on purpose (only upload views accept
large bodies); each upload view calls `read_upload_form()` instead of touching
`request.form`, so the body is parsed here, once, with:
- an early 413 when Content-Length already says the body is too large,
- a per-request body limit (werkzeug's LimitedStream answers 413 when a body without a
  usable Content-Length grows past it while being read),
- a per-file counter that answers 413 as soon as one file passes the limit,
- every file spooled to a temporary file (only a small head stays in RAM), hashed with
  SHA-256 on the way in, so the bytes are read from the network exactly once. The spool can
  give independent readers of the same bytes (`reader()`): the S3 put and the content check
  read the file at the same time (workflow/documents.py).
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from typing import IO, BinaryIO

from flask import request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

SPOOL_IN_MEMORY = 64 * 1024  # bytes of a file kept in RAM before it rolls over to disk
FORM_OVERHEAD = 64 * 1024  # multipart boundaries, headers and the small text fields
MAX_TEXT_FIELDS_BYTES = 512 * 1024  # also bounds the parser's buffer, which holds one 64 KiB read plus leftovers
MAX_PARTS = 16


class FileTooLarge(RequestEntityTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit


class CountingSpool:
    """A spooled temporary file that counts and hashes what is written and stops at `limit`.

    Werkzeug's multipart parser writes each file part into the object its stream factory
    returns, then seeks it to 0; this is that object. Up to SPOOL_IN_MEMORY bytes stay in
    memory; past that they move to an anonymous temporary file (removed by the system when
    closed, even if the process dies).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._file: IO[bytes] = io.BytesIO()
        self.rolled = False

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise FileTooLarge(self.limit)
        self._sha256.update(data)
        if not self.rolled and self.size > SPOOL_IN_MEMORY:
            self._roll_over()
        return self._file.write(data)

    def _roll_over(self) -> None:
        in_memory = self._file
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._file.write(in_memory.getbuffer())
        self.rolled = True

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def reader(self) -> BinaryIO:
        """A new read-only reader of the whole file from its start, with a position of its own: it
        can be read while this spool (or another reader) is read elsewhere. Close it after use."""
        if not self.rolled:
            return io.BufferedReader(io.BytesIO(self._file.getvalue()))  # read-only, like the file's
        self._file.flush()
        try:
            # The same (anonymous) file opened again: its own offset, read-only.
            return open(f"/proc/self/fd/{self._file.fileno()}", "rb")
        except OSError:  # no /proc: read through positional reads instead
            return io.BufferedReader(_PositionalReader(self._file.fileno(), self.size))

    def fileno(self) -> int:
        if not self.rolled:
            raise io.UnsupportedOperation("fileno: the spool is still in memory")
        return self._file.fileno()

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def readline(self, limit: int = -1) -> bytes:
        return self._file.readline(limit)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __iter__(self):
        return iter(lambda: self._file.read(64 * 1024), b"")


class _PositionalReader(io.RawIOBase):
    """Reads a descriptor with pread(), so its position is its own (the descriptor's is untouched)."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd, self._size, self._position = fd, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, min(len(buffer), max(0, self._size - self._position)), self._position)
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


@dataclass
class ReceivedFile:
    """One uploaded file, already on the spool: its bytes are read again from there, never the network."""

    spool: CountingSpool
    filename: str  # as the browser sent it; only for display, never for keys or type decisions

    @property
    def size(self) -> int:
        return self.spool.size

    @property
    def sha256(self) -> str:
        return self.spool.sha256

    @property
    def stream(self) -> CountingSpool:
        return self.spool

    def reader(self) -> BinaryIO:
        return self.spool.reader()

    def close(self) -> None:
        self.spool.close()


@dataclass
class UploadForm:
    form: MultiDict
    files: dict[str, ReceivedFile]

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def read_upload_form(max_file_bytes: int) -> UploadForm:
    """Parses the current request's multipart body within the limits described above.

    Raises FileTooLarge (a 413) as soon as the body or one file passes its limit.
    """
    body_limit = max_file_bytes + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > body_limit:
        raise FileTooLarge(max_file_bytes)  # refused before reading a byte of the body
    request.max_content_length = body_limit  # Flask ≥ 3.1: per request; `request.stream` enforces it
    spools: list[CountingSpool] = []

    def stream_factory(total_content_length, content_type, filename, content_length=None):
        spool = CountingSpool(max_file_bytes)
        spools.append(spool)
        return spool

    parser = FormDataParser(stream_factory=stream_factory, max_form_memory_size=MAX_TEXT_FIELDS_BYTES,
                            max_form_parts=MAX_PARTS, silent=True)
    try:
        _, form, files = parser.parse(request.stream, request.mimetype, request.content_length,
                                      request.mimetype_params)
    except RequestEntityTooLarge as exc:
        for spool in spools:
            spool.close()
        if isinstance(exc, FileTooLarge):
            raise
        raise FileTooLarge(max_file_bytes) from exc
    received: dict[str, ReceivedFile] = {}
    for name, storage in files.items(multi=True):
        assert isinstance(storage, FileStorage)
        if name in received or not isinstance(storage.stream, CountingSpool):
            storage.stream.close()  # one file per field; extra parts are dropped
            continue
        received[name] = ReceivedFile(spool=storage.stream, filename=storage.filename or "")
    return UploadForm(form=form, files=received)
