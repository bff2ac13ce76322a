"""A spooled copy of one file being received: counted, hashed with SHA-256 on the way in, stopped at a
size limit, readable again by several readers at once. The web layer spools uploads into it
(documents/uploads.py); a direct upload's check spools the object it reads back from S3
(documents/direct_uploads.py)."""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from typing import IO, BinaryIO

from werkzeug.exceptions import RequestEntityTooLarge

SPOOL_IN_MEMORY = 64 * 1024  # bytes of a file kept in RAM before it rolls over to disk


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

    def __init__(self, limit: int, *, hashing: bool = True) -> None:
        self.limit = limit
        self.size = 0
        # hashing=False: whoever fills the spool hashes the bytes elsewhere (a direct upload's check child).
        self._sha256 = hashlib.sha256() if hashing else None
        self._file: IO[bytes] = io.BytesIO()
        self.rolled = False
        self.partial = False  # only the beginning is kept (`count`)

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise FileTooLarge(self.limit)
        if self._sha256 is not None:
            self._sha256.update(data)
        if not self.rolled and self.size > SPOOL_IN_MEMORY:
            self._roll_over()
        return self._file.write(data)

    def count(self, n: int) -> None:
        """Counts `n` more bytes of the file (the limit still applies) without keeping them: the spool then
        holds the file's beginning only (`partial`), for a reader of its first bytes (a direct upload whose
        content the check child read as it arrived). Its `reader()` refuses: it is not the file."""
        self.size += n
        if self.size > self.limit:
            raise FileTooLarge(self.limit)
        self.partial = self.partial or n > 0

    def _roll_over(self) -> None:
        in_memory = self._file
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._file.write(in_memory.getbuffer())
        self.rolled = True

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            raise AttributeError("sha256: this spool does not hash what it receives")
        return self._sha256.hexdigest()

    def reader(self) -> BinaryIO:
        """A new read-only reader of the whole file from its start, with a position of its own: it
        can be read while this spool (or another reader) is read elsewhere. Close it after use."""
        if self.partial:
            raise io.UnsupportedOperation("reader: this spool keeps the file's beginning only")
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


@dataclass(frozen=True)
class Upload:
    """A received file, already spooled and hashed by the web layer."""

    stream: BinaryIO
    size: int
    sha256: str
    original_name: str

    def second_reader(self) -> BinaryIO | None:
        """Another reader of the same bytes with a position of its own (the spool's `reader()`; a
        copy of an in-memory stream), or None when the stream cannot give one."""
        reopen = getattr(self.stream, "reader", None)
        if callable(reopen):
            return reopen()
        if isinstance(self.stream, io.BytesIO):
            return io.BytesIO(self.stream.getvalue())
        return None
