"""Documents with fakes: content sniffing, streaming limits, the order of S3/Keycloak writes, names."""
from __future__ import annotations

import io
import json
import os
from datetime import date

import pytest
from PIL import Image

from keycloak_ext import IdentityUnavailable
from registro import filecheck
from registro import create_app
from registro.container import Adapters
from registro.domain import documents as docs
from registro.domain import filetypes
from registro.domain.application import Application
from registro.documents.spool import SPOOL_IN_MEMORY, CountingSpool, FileTooLarge
from registro.documents import service as flow
from tests.fakes import FakeIdentity, FakeMailer, FakeStore, FakeUploadMarkers
from tests.support import files
from tests.support.applications import create_application, csrf_token, path_of, submit, upload, upload_valid_documents
from tests.unit.conftest import unit_settings

MiB = 1024 * 1024


class Unreadable(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body must not be read")

    readline = readinto = read1 = read


def _doc_keys(store: FakeStore) -> list[str]:
    return [k for k in store.objects if "/documentos/" in k]


@pytest.fixture
def opened(app, client, fakes):
    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"])
    assert client.get(path_of(link)).status_code == 200
    return account_id, link


# --- content --------------------------------------------------------------------------------
@pytest.mark.parametrize("head,expected", [
    (b"%PDF-1.7\n", filetypes.PDF), (b"\xff\xd8\xff\xe0", filetypes.JPEG), (b"\x89PNG\r\n\x1a\n", filetypes.PNG),
    (b"\x7fELF\x02", None), (b"<html>", None), (b"GIF89a", None), (b"PK\x03\x04", None), (b"", None),
])
def test_sniff_decides_by_magic_bytes(head, expected):
    assert filetypes.sniff(head) == expected


@pytest.mark.parametrize("data,fragment", [
    (files.elf_bytes(), "debe ser PDF, JPEG o PNG"), (files.html_bytes(), "debe ser PDF, JPEG o PNG"),
    (files.truncated_pdf(), "PDF está dañado"), (files.png_header_on_garbage(), "PNG está dañada"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "JPEG está dañada"), (b"", "vacío"),
])
def test_inspect_refuses_what_does_not_parse(data, fragment):
    with pytest.raises(filetypes.UnreadableFile) as caught:
        filecheck.inspect(io.BytesIO(data))
    assert fragment in caught.value.message


def test_inspect_accepts_real_files_and_rewinds():
    for data, expected in ((files.pdf_bytes(), filetypes.PDF), (files.jpeg_bytes(), filetypes.JPEG),
                           (files.png_bytes(), filetypes.PNG)):
        stream = io.BytesIO(data)
        assert filecheck.inspect(stream) == expected and stream.tell() == 0


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = io.BytesIO()
    Image.new("1", (10_000, 9_000)).save(bomb, format="PNG")  # 90 Mpx in a few KB
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(filetypes.UnreadableFile) as caught:
        filecheck.inspect(io.BytesIO(bomb.getvalue()))
    assert "dimensiones demasiado grandes" in caught.value.message


def test_an_encrypted_pdf_is_refused():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("secreta")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(filetypes.UnreadableFile) as caught:
        filecheck.inspect(io.BytesIO(out.getvalue()))
    assert "protegido con contraseña" in caught.value.message


# --- the spool --------------------------------------------------------------------------------
def test_counting_spool_hashes_rolls_to_disk_and_stops_at_the_limit():
    spool = CountingSpool(limit=300_000)
    spool.write(b"a" * 1000)
    assert not spool.rolled
    spool.write(b"a" * 199_000)
    assert spool.rolled and os.fstat(spool.fileno()).st_size > 0  # past SPOOL_IN_MEMORY: a temporary file
    assert 200_000 > SPOOL_IN_MEMORY
    with pytest.raises(FileTooLarge):
        spool.write(b"b" * 100_001)
    import hashlib

    assert spool.sha256 == hashlib.sha256(b"a" * 200_000).hexdigest()
    spool.close()


@pytest.mark.parametrize("size", [10, SPOOL_IN_MEMORY + 10, 300_000])
def test_spool_readers_have_positions_of_their_own(size):
    """The S3 put reads the spool while the content check reads another reader of it."""
    data = os.urandom(size)
    spool = CountingSpool(limit=size)
    for start in range(0, size, 7000):
        spool.write(data[start:start + 7000])
    spool.seek(0)
    first = spool.read(5)
    with spool.reader() as a, spool.reader() as b:
        assert a.read(3) == data[:3]
        assert b.read() == data
        assert a.read() == data[3:]
        with pytest.raises(OSError):
            a.write(b"x")  # read-only
    assert spool.read() == data[5:] and first == data[:5]  # the spool's own position did not move
    spool.close()


def test_a_spool_reader_without_proc_reads_by_position(monkeypatch):
    import builtins

    data = os.urandom(200_000)
    spool = CountingSpool(limit=len(data))
    spool.write(data)
    real_open = builtins.open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    with spool.reader() as a:
        a.seek(100)
        assert a.read(10) == data[100:110] and a.read() == data[110:]
    spool.seek(0)
    assert spool.read() == data


def test_a_body_without_content_length_is_cut_off_while_reading(app, client, fakes, opened):
    """Chunked bodies have no Content-Length: the limit must hold while reading."""
    account_id, link = opened
    app.extensions["registro.settings"] = app.extensions["registro.settings"].with_changes(upload_max_bytes=100_000)
    page = client.get(path_of(link)).get_data(as_text=True)
    boundary = "limite"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf_token(page)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"archivo\"; filename=\"x.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + files.pdf_bytes(padding=300_000) + \
        f"\r\n--{boundary}--\r\n".encode()
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}", input_stream=io.BytesIO(body),
                    content_type=f"multipart/form-data; boundary={boundary}",
                    environ_base={"wsgi.input_terminated": True})
    assert r.status_code == 413
    assert "excede el tamaño máximo" in r.get_data(as_text=True)
    assert _doc_keys(fakes.storage) == []


def test_a_declared_oversized_body_is_refused_before_reading(client, fakes, opened):
    account_id, link = opened
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}", input_stream=Unreadable(),
                    content_type="multipart/form-data; boundary=x",
                    environ_overrides={"CONTENT_LENGTH": str(50 * MiB)})
    assert r.status_code == 413
    assert "excede el tamaño máximo permitido de 10 MB" in r.get_data(as_text=True)


def test_upload_without_csrf_token_is_refused(client, fakes, opened):
    account_id, link = opened
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}",
                    data={"archivo": (io.BytesIO(files.pdf_bytes()), "a.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 400
    assert "El formulario expiró o no es válido" in r.get_data(as_text=True)
    assert _doc_keys(fakes.storage) == []


def test_no_file_selected(client, opened):
    account_id, link = opened
    r = upload(client, link, docs.CURP, b"", filename="")
    assert r.status_code == 400 and "Seleccione un archivo." in r.get_data(as_text=True)


# --- the order of writes ------------------------------------------------------------------------
class IdentityFailingOnWrite(FakeIdentity):
    fail_writes = False

    def update_account(self, account_id, **changes):
        if self.fail_writes:
            raise IdentityUnavailable("Keycloak no responde")
        return super().update_account(account_id, **changes)


def test_keycloak_failing_after_the_s3_write_leaves_no_document():
    identity, store = IdentityFailingOnWrite(), FakeStore()
    settings = unit_settings()
    app = create_app({"SETTINGS": settings, "TESTING": True,
                      "ADAPTERS": Adapters(identity, store, FakeMailer(), upload_markers=FakeUploadMarkers())})
    client = app.test_client()
    account_id, link = create_application(identity, store, settings, status="pendiente_documentos")
    identity.fail_writes = True
    r = upload(client, link, docs.CURP, files.pdf_bytes())
    assert r.status_code == 503
    assert "El servicio de identidad no está disponible" in r.get_data(as_text=True)
    assert _doc_keys(store) == []  # the object written first was deleted again
    assert Application(identity.get_account(account_id)).documents == {}


def test_s3_down_changes_nothing(client, fakes, opened):
    account_id, link = opened
    fakes.storage.down = True
    r = upload(client, link, docs.CURP, files.pdf_bytes())
    assert r.status_code == 503
    assert "almacenamiento de documentos no está disponible" in r.get_data(as_text=True)
    assert Application(fakes.identity.get_account(account_id)).documents == {}


def test_a_replaced_object_that_cannot_be_deleted_does_not_fail_the_upload(app, client, fakes, opened):
    account_id, link = opened
    assert upload(client, link, docs.CURP, files.pdf_bytes()).status_code == 303
    first = Application(fakes.identity.get_account(account_id)).documents[docs.CURP].key
    original_delete = fakes.storage.delete

    def failing_delete(key):
        from registro.adapters.storage import StorageUnavailable
        raise StorageUnavailable("S3 no responde")

    fakes.storage.delete = failing_delete
    assert upload(client, link, docs.CURP, files.pdf_bytes(pages=2)).status_code == 303
    fakes.storage.delete = original_delete
    current = Application(fakes.identity.get_account(account_id)).documents[docs.CURP].key
    assert current != first and first in fakes.storage.objects  # orphan, removed by the purge of the prefix


def test_submission_refused_when_the_recorded_id_expired_since_upload(fakes):
    settings = unit_settings()
    account_id, _ = create_application(fakes.identity, fakes.storage, settings, status="pendiente_documentos")
    record = json.dumps({kind: {"key": f"k/{kind}", "sha256": "0" * 64, "size": 1, "content_type": "application/pdf",
                                "original_name": "a.pdf", "uploaded_at": "2026-01-01T00:00:00+00:00",
                                "details": {"tipo_identificacion": "ine", "vigencia": "2026-06-30"}
                                if kind == docs.IDENTIFICACION else {}}
                         for kind in docs.required_documents(False)})
    fakes.identity.update_attributes(account_id, {"documentos": record})
    app = Application(fakes.identity.get_account(account_id))
    assert flow.submission_problems(app, date(2026, 6, 30)) == []
    assert flow.submission_problems(app, date(2026, 7, 1)) == [
        "La identificación está vencida. Cargue una identificación vigente."]


def test_submit_sets_status_and_queue_time_and_uploads_then_stop(client, fakes, opened):
    account_id, link = opened
    upload_valid_documents(client, link)
    assert submit(client, link).status_code == 303
    account = fakes.identity.get_account(account_id)
    assert account.attr("estatus") == "en_revision" and account.attr("fecha_envio")
    page = client.get(path_of(link)).get_data(as_text=True)
    assert "Sus documentos serán validados y el resultado le será enviado por correo electrónico." in page
    assert 'type="file"' not in page and "Enviar a validación</button>" not in page
    assert submit(client, link).status_code == 400  # not twice


# --- names and display ------------------------------------------------------------------------
@pytest.mark.parametrize("raw,expected", [
    ("C:\\fakepath\\Identificación.pdf", "Identificación.pdf"),
    ("../../etc/passwd", "passwd"),
    ("a\x00b\nc.pdf", "a_b_c.pdf"),
    ("  ", "documento.pdf"),
    ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
])
def test_sanitize_filename(raw, expected):
    assert flow.sanitize_filename(raw, ".pdf") == expected


def test_metadata_text_is_ascii():
    assert flow.metadata_text("ine.pdf") == "ine.pdf"
    encoded = flow.metadata_text("identificación ñ.pdf")
    assert encoded.isascii() and encoded.startswith("=?utf-8?")
    from email.header import decode_header, make_header
    assert str(make_header(decode_header(encoded))) == "identificación ñ.pdf"


def test_human_size_es_mx():
    assert flow.human_size(512) == "512 bytes"
    assert flow.human_size(1536) == "1.5 KB"
    assert flow.human_size(10 * MiB) == "10.0 MB"


def test_id_kinds_shown_per_nationality(client, fakes, app):
    settings = app.extensions["registro.settings"]
    _, mexican = create_application(fakes.identity, fakes.storage, settings)
    _, foreign = create_application(fakes.identity, fakes.storage, settings, foreign=True)
    mx_page = client.get(path_of(mexican)).get_data(as_text=True)
    fx_page = client.get(path_of(foreign)).get_data(as_text=True)
    for kind in docs.ID_KINDS:
        assert (kind.label in mx_page) == (not kind.foreigners_only)
        assert kind.label in fx_page
    assert 'id="documento-curp"' in mx_page and 'id="documento-curp"' not in fx_page


# --- the link is read while the body arrives ----------------------------------------------------
def test_a_forged_link_is_refused_before_the_body_is_read(client, fakes, opened):
    account_id, link = opened
    r = client.post(f"{path_of(link)[:-3]}xyz/documentos/{docs.CURP}", input_stream=Unreadable(),
                    content_type="multipart/form-data; boundary=x", environ_overrides={"CONTENT_LENGTH": "1000"})
    assert r.status_code == 400 and "/registro/reenviar" not in r.get_data(as_text=True)


def test_a_superseded_link_wins_over_an_oversized_body(app, client, fakes, opened):
    from registro.kernel.confirmation_links import issue_link

    account_id, link = opened
    page = client.get(path_of(link)).get_data(as_text=True)
    issue_link(fakes.identity, app.extensions["registro.settings"], account_id)  # "Reenviar correo" meanwhile
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}", content_type="multipart/form-data",
                    data={"csrf_token": csrf_token(page), "archivo": (io.BytesIO(files.pdf_bytes(padding=11 * MiB)),
                                                                      "grande.pdf")})
    assert r.status_code == 410 and "/registro/reenviar" in r.get_data(as_text=True)
    assert _doc_keys(fakes.storage) == []


def test_a_submitted_application_answers_409_before_413(client, fakes, opened):
    account_id, link = opened
    page = client.get(path_of(link)).get_data(as_text=True)
    fakes.identity.update_attributes(account_id, {"estatus": "en_revision"})
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}", content_type="multipart/form-data",
                    data={"csrf_token": csrf_token(page), "archivo": (io.BytesIO(files.pdf_bytes(padding=11 * MiB)),
                                                                      "grande.pdf")})
    assert r.status_code == 409 and "ya fueron enviados a validación" in r.get_data(as_text=True)


def test_keycloak_down_while_the_body_arrives_stores_nothing_and_closes_the_spool(client, fakes, opened, monkeypatch):
    from registro.documents import uploads

    spools = []
    real = uploads.CountingSpool

    class Tracked(real):
        def __init__(self, limit):
            super().__init__(limit)
            spools.append(self)

    monkeypatch.setattr(uploads, "CountingSpool", Tracked)
    account_id, link = opened
    page = client.get(path_of(link)).get_data(as_text=True)
    fakes.identity.down = True
    r = client.post(f"{path_of(link)}/documentos/{docs.CURP}", content_type="multipart/form-data",
                    data={"csrf_token": csrf_token(page), "archivo": (io.BytesIO(files.pdf_bytes(padding=200_000)),
                                                                      "a.pdf")})
    assert r.status_code == 503 and "No se realizó ningún cambio" in r.get_data(as_text=True)
    assert _doc_keys(fakes.storage) == [] and spools and all(s.closed for s in spools)


def test_page_images_are_made_at_submission_not_at_each_upload(fakes):
    # A replaced document's images would be work thrown away, and each render (≈ 250 ms of CPU)
    # competes with applicants' requests: the viewer's images are scheduled once, for what is submitted.
    from registro.domain.storage_keys import responsiva_key
    from registro.review.page_views import PageViews

    class Recording(PageViews):
        def __init__(self, storage):
            super().__init__(storage, renderer=None, manifests=fakes.page_view_store)
            self.scheduled: list[str] = []

        def schedule(self, source):
            self.scheduled.append(source.key)
            return None

    views = Recording(fakes.storage)
    app = create_app({"SETTINGS": unit_settings(), "TESTING": True,
                      "ADAPTERS": Adapters(identity=fakes.identity, storage=fakes.storage, mailer=fakes.mailer,
                                           queue_index=fakes.queue_index, console_sessions=fakes.console_sessions,
                                           page_views=views, upload_markers=fakes.upload_markers)})
    client = app.test_client()
    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"])
    assert client.get(path_of(link)).status_code == 200
    upload_valid_documents(client, link)
    first = Application(fakes.identity.get_account(account_id)).documents[docs.RESPONSIVA].key
    upload(client, link, docs.RESPONSIVA, files.pdf_bytes())  # replaced once before submitting
    assert views.scheduled == []
    assert submit(client, link).status_code == 303
    submitted = Application(fakes.identity.get_account(account_id))
    assert sorted(views.scheduled) == sorted([r.key for r in submitted.documents.values()]
                                             + [responsiva_key(account_id, submitted.folio)])
    assert first not in views.scheduled
