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
  read the file at the same time (documents/service.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from flask import request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from registro.documents.spool import CountingSpool, FileTooLarge

FORM_OVERHEAD = 64 * 1024  # multipart boundaries, headers and the small text fields
MAX_TEXT_FIELDS_BYTES = 512 * 1024  # also bounds the parser's buffer, which holds one 64 KiB read plus leftovers
MAX_PARTS = 16


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


def validated_upload(kind: str, es_extranjero: bool, received: UploadForm):
    """The document's form validated against a received upload body: (form, file, errors by field).
    Shared by the activation page and the phone's page, which take the same upload. A bad CSRF token
    raises CSRFError (the app's 400 page), like Flask-WTF's own check."""
    from flask_wtf.csrf import CSRFError

    from registro.documents.forms import FILE_FIELD, upload_form_for
    from registro.documents import service as documents_flow

    form = upload_form_for(kind, es_extranjero=es_extranjero, today=documents_flow.today(), formdata=received.form)
    valid = form.validate()
    csrf_field = getattr(form, "csrf_token", None)
    if csrf_field is not None and csrf_field.errors:
        raise CSRFError()
    errors: dict[str, list[str]] = {} if valid else {k: list(v) for k, v in form.errors.items()}
    file = received.files.get(FILE_FIELD)
    if file is None or (not file.filename and file.size == 0):
        errors[FILE_FIELD] = ["Seleccione un archivo."]
    return form, file, errors
