"""The bounded check of uploaded files: the hostile-file corpus is refused with a clear Spanish
message, honest files of real sizes pass, and the child's limits really hold.

These run the real parsers in the real sandbox (a forked child with rlimits): there is nothing
to fake in a parse."""
from __future__ import annotations

import io
import os
import threading
import warnings

import pytest

from registro import filecheck
from registro.domain import filetypes
from registro.filecheck import parsers, sandbox
from tests.support import files
from tests.support import hostile_files as hostile
from tests.support.review_data import text_pdf

CORPUS = sorted(hostile.CORPUS_BUILDERS)
PDF_CORPUS = [n for n in CORPUS if hostile.build(n).startswith(b"%PDF-")]


def _refusal(data: bytes) -> str:
    with pytest.raises(filetypes.UnreadableFile) as caught:
        filecheck.inspect(io.BytesIO(data))
    return caught.value.message


@pytest.mark.parametrize("name", CORPUS)
def test_every_hostile_file_is_refused_with_a_clear_spanish_message(name):
    message = _refusal(hostile.build(name))
    assert hostile.expected_message(name) in message
    assert message.endswith(".") and "Traceback" not in message


@pytest.mark.parametrize("name", PDF_CORPUS)
def test_the_review_page_reads_no_text_from_a_file_the_upload_refuses(name):
    # Same parse, same verdict: a hostile PDF stored before this check existed yields None
    # (the folio check then says it could not read it) instead of an exception.
    assert filecheck.pdf_text(hostile.build(name)) is None


@pytest.mark.parametrize("build,expected", [
    (lambda: hostile.phone_photo(12), filetypes.JPEG),
    (lambda: hostile.phone_photo(48), filetypes.JPEG),
    (hostile.big_scan_png, filetypes.PNG),
    (hostile.pdf_with_link_and_destination, filetypes.PDF),
    (lambda: text_pdf("Responsiva folio AU-2026-1"), filetypes.PDF),
    (lambda: files.pdf_bytes(pages=3, padding=300_000), filetypes.PDF),
], ids=["foto-12mpx", "foto-48mpx", "escaneo-png-6300", "pdf-enlace-y-destino", "pdf-con-texto", "pdf-relleno"])
def test_honest_files_of_real_sizes_pass(build, expected):
    stream = io.BytesIO(build())
    assert filecheck.inspect(stream) == expected and stream.tell() == 0


def test_the_review_text_is_the_text_the_upload_check_read():
    assert filecheck.pdf_text(text_pdf("Responsiva folio AU-2026-7")) == "Responsiva folio AU-2026-7"
    assert filecheck.pdf_text(files.pdf_bytes()) is None  # a page without text (a scan)
    assert filecheck.pdf_text(b"%PDF-1.7 garbage") is None


def test_pypdf_reads_the_file_without_a_copy_of_it():
    """pypdf sizes a stream through `getbuffer()` when it has one, which copies a BytesIO sharing its bytes
    (the whole upload, in the check's fresh child): the check hands it a stream without it, read the same."""
    data = files.pdf_of_size(1024 * 1024)
    stream = parsers._PdfBytes(data)
    assert not hasattr(stream, "getbuffer") and hasattr(io.BytesIO(data), "getbuffer")
    from pypdf._utils import get_stream_size

    assert get_stream_size(stream) == len(data) and stream.tell() == 0
    assert parsers.check_pdf(data)[0] == parsers.OK


def test_the_pixel_cap_needs_no_warning_filter_in_the_worker():
    """The old check flipped the process-wide warning filter with catch_warnings(), which
    gunicorn's threads race on. Now the worker's filters are never touched and nothing is
    decoded in the worker: an image between the cap and Pillow's own error threshold is
    refused without a DecompressionBombWarning reaching this process."""
    big = hostile._jpeg_with_dimensions(9_000, 7_000)  # 63 Mpx: over our cap, under 2x Pillow's
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as seen:  # the test thread is alone here
        warnings.simplefilter("always")
        assert hostile.TOO_LARGE in _refusal(big)
    assert not [w for w in seen if "DecompressionBomb" in str(w.category)]
    assert warnings.filters == filters_before


def test_a_parse_over_its_memory_cap_is_stopped_and_refused():
    data = hostile.big_scan_png()  # decoding needs about 40 MiB of pixels
    with pytest.raises(sandbox.SandboxFailed) as caught:
        sandbox.run(parsers.check_image, data, filetypes.PNG,
                    limits=sandbox.Limits(memory_bytes=sandbox.MEMORY_BYTES // 8))
    assert caught.value.reason == "crashed"


def test_a_parse_over_its_time_is_killed():
    with pytest.raises(sandbox.SandboxFailed) as caught:
        sandbox.run(parsers.check_pdf, hostile.build("many_objects"), limits=sandbox.Limits(timeout_seconds=0.05))
    assert caught.value.reason == "timeout"


def test_when_every_slot_is_busy_the_applicant_is_asked_to_retry(monkeypatch):
    monkeypatch.setattr(sandbox, "QUEUE_SECONDS", 0.05)
    taken = 0
    while sandbox._slots.acquire(blocking=False):  # the worker-wide limit on concurrent decodes
        taken += 1
    try:
        assert taken == sandbox.CONCURRENCY
        with pytest.raises(filecheck.CheckBusy) as caught:
            filecheck.inspect(io.BytesIO(files.png_bytes()))
        assert caught.value.message == filecheck.BUSY
        assert filecheck.pdf_text(text_pdf("x")) is None  # the review page degrades, never fails
    finally:
        for _ in range(taken):
            sandbox._slots.release()


def test_concurrent_checks_share_the_slots_and_all_finish():
    results: list[str] = []

    def check() -> None:
        results.append(filecheck.inspect(io.BytesIO(files.jpeg_bytes())))

    threads = [threading.Thread(target=check) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [filetypes.JPEG] * 6


def test_acceptable_tells_a_viewer_whether_a_stored_file_may_be_shown():
    assert filecheck.acceptable(text_pdf("Responsiva"), filetypes.PDF)
    assert filecheck.acceptable(files.jpeg_bytes(), filetypes.JPEG)
    assert not filecheck.acceptable(hostile.build("openaction_javascript"), filetypes.PDF)
    assert not filecheck.acceptable(hostile.build("jpeg_with_zip"), filetypes.JPEG)


def test_an_unused_leftover_object_that_does_not_parse_is_tolerated_but_a_used_one_is_not():
    catalog, pages = b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] %s >>"
    leftover = hostile.hand_pdf([catalog, pages, page % b"", b"<< /Roto [1 2 >> ) garbage"])
    assert filecheck.inspect(io.BytesIO(leftover)) == filetypes.PDF
    used = hostile.hand_pdf([catalog, pages, page % b"/Extra 4 0 R", b"<< /Roto [1 2 >> ) garbage"])
    assert hostile.DAMAGED in _refusal(used)


@pytest.mark.parametrize("name", ["openaction_javascript", "flate_bomb", "png_bomb", "pdf_with_zip"])
def test_a_file_on_disk_is_read_by_the_child_itself_with_the_same_verdict(name, monkeypatch, tmp_path):
    """An upload's spool is handed to the child as a read-only descriptor: no byte of it passes
    through the worker, the verdict is the one the piped bytes get, and the worker's position stays."""
    data = hostile.build(name)
    expected = _refusal(data)

    def no_piping(source):
        raise AssertionError("a file on disk must not be piped through the worker")

    monkeypatch.setattr(sandbox, "_chunks", no_piping)
    with open(tmp_path / "spool", "w+b") as spool:
        spool.write(data)
        spool.seek(0)
        with pytest.raises(filetypes.UnreadableFile) as caught:
            filecheck.inspect(spool)
        assert caught.value.message == expected and spool.tell() == 0
        spool.write(b"x")  # still the worker's own, writable file


def test_a_file_on_disk_is_read_from_its_current_position(tmp_path):
    with open(tmp_path / "spool", "w+b") as spool:
        spool.write(b"cabecera" + files.pdf_bytes())
        spool.seek(8)
        assert sandbox.run(parsers.echo, spool) == len(files.pdf_bytes())
        assert spool.tell() == 8


def test_children_that_answered_are_collected_off_the_callers_path(monkeypatch):
    """The caller gets its verdict as soon as the child answers; the child's exit is collected and its
    process object closed by the reaper thread, so nothing is left behind."""
    import time

    handed, real_reap = [], sandbox._reap
    used, real_take = [], sandbox._take_child

    def reap(process):
        handed.append(process)
        real_reap(process)

    def take():
        child = real_take()
        used.append(child.process)
        return child

    monkeypatch.setattr(sandbox, "_reap", reap)
    monkeypatch.setattr(sandbox, "_take_child", take)
    for _ in range(4):
        assert sandbox.run(parsers.echo, b"abc") == 3
    deadline = time.monotonic() + 10
    while not all(any(p is h for h in handed) for p in used) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the reaper's progress, with a deadline
    assert len(used) == 4 and all(any(p is h for h in handed) for p in used)
    for process in used:
        while time.monotonic() < deadline:
            try:
                process.pid  # raises once close() ran
            except ValueError:
                break
            time.sleep(0.01)
        with pytest.raises(ValueError):
            process.pid


def _spare_ready(timeout: float = 20.0):
    """This process's spare child once it is forked and waiting (polled, with a deadline)."""
    import time

    sandbox._fork_spare_later()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spare = sandbox._spare
        if spare is not None and spare.process.is_alive():
            return spare
        time.sleep(0.01)  # polling the background fork, with a deadline
    raise AssertionError("no spare child was forked")


def test_a_check_runs_in_the_spare_child_and_the_next_one_is_forked(monkeypatch):
    spare = _spare_ready()
    pid = spare.process.pid  # (the process object is closed once its exit is collected)
    used, real_take = [], sandbox._take_child
    monkeypatch.setattr(sandbox, "_take_child", lambda: used.append(real_take()) or used[-1])
    assert sandbox.run(parsers.echo, b"abc") == 3
    assert used == [spare]
    assert _spare_ready().process.pid != pid


def test_a_spare_child_killed_while_it_waits_is_replaced_and_the_check_still_runs():
    import signal
    import time

    spare = _spare_ready()
    os.kill(spare.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while spare.process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox.run(parsers.check_pdf, files.pdf_bytes())[0] == parsers.OK


def test_a_tighter_memory_cap_holds_in_a_spare_child_despite_its_faulted_in_heap(monkeypatch):
    spare = _spare_ready()
    used, real_take = [], sandbox._take_child
    monkeypatch.setattr(sandbox, "_take_child", lambda: used.append(real_take()) or used[-1])
    with pytest.raises(sandbox.SandboxFailed) as caught:
        sandbox.run(parsers.check_image, hostile.big_scan_png(), filetypes.PNG,
                    limits=sandbox.Limits(memory_bytes=sandbox.MEMORY_BYTES // 8))
    assert used == [spare] and caught.value.reason == "crashed"


def test_markup_split_across_the_pieces_a_child_receives_is_found():
    """The pre-scan sees a tag cut in two by the pipe's pieces, as the exact scan of the whole file does."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    stream = DecodedStreamObject()  # unfiltered: its bytes are in the file as they are
    stream.set_data(b"<!-- relleno -->" * 70_000 + b"<  SCR" + b"IPT>alert(1)</script>")
    writer._root_object[NameObject("/Pieza")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    cut = data.index(b"SCR") + 3
    pieces = [data[:cut], data[cut:]]
    assert sandbox.run(parsers.check_pdf, pieces)[0] == parsers.POLYGLOT
    assert parsers.check_pdf(data)[0] == parsers.POLYGLOT
    scan = parsers.MarkupScan()
    for piece in pieces:
        scan.feed(piece)
    assert scan.close()


def test_the_child_hashes_the_bytes_it_received_from_a_pipe_or_a_file(tmp_path):
    import hashlib

    data = files.pdf_bytes(padding=2 * 1024 * 1024)
    expected = (len(data), hashlib.sha256(data).hexdigest())
    assert sandbox.run(parsers.echo, [data[:1000], data[1000:]], digest=True) == expected
    path = tmp_path / "subida.pdf"
    path.write_bytes(data)
    with open(path, "rb") as file:
        assert sandbox.run(parsers.echo, file, digest=True) == expected


def test_a_child_inherits_the_parsers_warm_up_from_its_fork_server():
    """The fork server pays the parsers' first-use costs once (server_warmup.py): a child forked from it,
    spare or fresh, finds them paid by another process, not by itself."""
    from registro.filecheck import server_warmup

    assert sandbox.run(server_warmup.inherited, b"") is True
    assert sandbox.run(server_warmup.inherited, b"") is True  # the next one: the spare forked meanwhile
