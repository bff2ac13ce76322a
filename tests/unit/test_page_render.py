"""The viewer's page renderer (adapters/page_render.py): the real worker process, pypdfium2 and
Pillow on real files; its bounds (pages, pixels, deadline, memory, decompression bombs)."""
from __future__ import annotations

import io
import struct
import threading
import zlib

import pytest
from PIL import Image, ImageStat

from registro.adapters.page_render import RenderLimits, RenderUnavailable, SubprocessPageRenderer
from registro.adapters.page_render_worker import MAX_PIXELS_PER_PAGE
from registro.domain.storage_keys import legacy_page_view_manifest_key
from registro.review.page_views import PageViews, Source
from tests.fakes import FakeManifestStore, FakeStore
from tests.support import scans
from tests.support.files import truncated_pdf


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def not_blank(image: Image.Image) -> bool:
    return max(ImageStat.Stat(image.convert("L")).stddev) > 10


@pytest.fixture(scope="module")
def renderer():
    return SubprocessPageRenderer()


def test_every_page_of_a_multipage_pdf_is_rendered(renderer):
    result = renderer.render(scans.multipage_pdf(3), "application/pdf")
    assert result.error is None and result.total_pages == 3 and len(result.pages) == 3
    images = [open_image(p) for p in result.pages]
    assert all(i.format == "JPEG" and not_blank(i) for i in images)
    assert len({p for p in result.pages}) == 3  # three different pages, not one three times


def test_an_image_is_reencoded_upright_and_without_its_metadata(renderer):
    landscape = scans.content_page("Foto", 800, 500)
    shot = scans.jpeg(landscape, 85, exif_orientation=6)  # "turn 90° clockwise to view"
    result = renderer.render(shot, "image/jpeg")
    assert result.error is None and result.total_pages == 1
    shown = open_image(result.pages[0])
    assert shown.height > shown.width and not_blank(shown)
    assert not shown.getexif()  # no EXIF (a phone's location) reaches the reviewer


@pytest.mark.parametrize("data, content_type", [
    (truncated_pdf(), "application/pdf"),
    (b"%PDF-1.7\n" + b"\x00" * 2000, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n" + b"\x01" * 2000, "image/png"),
    (b"\xff\xd8\xff\xe0" + b"\x02" * 2000, "image/jpeg"),
])
def test_a_document_that_cannot_be_rendered_is_reported(renderer, data, content_type):
    result = renderer.render(data, content_type)
    assert result.error and result.pages == []


def test_pages_beyond_the_limit_are_counted_not_rendered():
    result = SubprocessPageRenderer(RenderLimits(max_pages=2)).render(scans.multipage_pdf(3), "application/pdf")
    assert result.total_pages == 3 and len(result.pages) == 2


def test_a_huge_page_is_scaled_down_to_the_pixel_cap(renderer):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=14400, height=14400)  # 200 × 200 inches, PDF's maximum
    out = io.BytesIO()
    writer.write(out)
    result = renderer.render(out.getvalue(), "application/pdf")
    image = open_image(result.pages[0])
    assert image.width <= 1600 and image.width * image.height <= MAX_PIXELS_PER_PAGE


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a gigantic size (a decompression bomb's calling card)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding(renderer):
    result = renderer.render(_png_claiming(100_000, 100_000), "image/png")
    assert result.error and result.pages == []


def test_the_deadline_kills_a_slow_render():
    slow = SubprocessPageRenderer(RenderLimits(timeout_s=0.05))
    with pytest.raises(RenderUnavailable):
        slow.render(scans.multipage_pdf(2), "application/pdf")


def test_a_render_that_needs_more_memory_than_allowed_fails_cleanly():
    # The worker's libraries alone take ≈ 50 MiB of address space: at 20 MiB the document's own
    # work cannot get any memory, which is what a hostile file meets at the real limit (1 GiB).
    tight = SubprocessPageRenderer(RenderLimits(memory_mib=20))
    try:
        result = tight.render(scans.multipage_pdf(1), "application/pdf")
    except RenderUnavailable:
        return  # killed by the limit: also acceptable, nothing was produced
    assert result.error and result.pages == []


# --- the S3 cache ---------------------------------------------------------------------------
class CountingRenderer:
    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0
        self.lock = threading.Lock()

    def render(self, data, content_type, *, codes=False):
        with self.lock:
            self.calls += 1
        return self.inner.render(data, content_type, codes=codes)


def test_page_images_are_cached_inside_the_application_prefix(renderer):
    store = FakeStore()
    key = "solicitudes/abc/documentos/curp/" + "0" * 32
    store.put(key, scans.multipage_pdf(2), content_type="application/pdf")
    legacy = legacy_page_view_manifest_key(key)  # a manifest kept in S3 before migration 0011
    store.put(legacy, b'{"estado": "ok", "paginas": 9}', content_type="application/json")
    counting = CountingRenderer(renderer)
    manifests = FakeManifestStore()
    views = PageViews(store, counting, manifests)
    manifest = views.ensure(Source(key, "application/pdf"))
    assert manifest.ok and manifest.total_pages == manifest.shown_pages == 2  # the old object was not believed
    made = sorted(k for k in store.objects if k.startswith("solicitudes/abc/vistas/"))
    assert len(made) == 2 and legacy not in store.objects  # S3 keeps the images only: bytes
    assert manifests.get(key)["paginas"] == 2  # what was made is a row
    assert not_blank(open_image(views.page(key, 1))) and not_blank(open_image(views.page(key, 2)))
    assert views.ensure(Source(key, "application/pdf")) == manifest and counting.calls == 1


def test_a_manifest_whose_objects_are_gone_is_not_believed(renderer):
    """The row outlives objects deleted by hand or lost to an older bucket's restore (a manifest kept in S3
    went with them): the document is then told as not available, the unrenderable one too."""
    store, manifests = FakeStore(), FakeManifestStore()
    views = PageViews(store, renderer, manifests)
    good = "solicitudes/abc/documentos/curp/" + "5" * 32
    bad = "solicitudes/abc/documentos/identificacion/" + "6" * 32
    store.put(good, scans.multipage_pdf(1), content_type="application/pdf")
    store.put(bad, truncated_pdf(), content_type="application/pdf")
    assert views.ensure(Source(good, "application/pdf")).ok and not views.ensure(Source(bad, "application/pdf")).ok
    for key in list(store.objects):  # as an operator's deletion of the prefix, not the application's forgetting
        store.delete(key)
    assert manifests.get(good) is not None and manifests.get(bad) is not None
    assert views.cached(Source(good, "application/pdf")) is None
    assert views.ensure(Source(good, "application/pdf")).missing
    assert views.ensure(Source(bad, "application/pdf")).missing


def test_concurrent_looks_share_one_render(renderer):
    store = FakeStore()
    key = "solicitudes/abc/documentos/identificacion/" + "1" * 32
    store.put(key, scans.content_png(), content_type="image/png")
    counting = CountingRenderer(renderer)
    views = PageViews(store, counting, FakeManifestStore())
    results = []
    threads = [threading.Thread(target=lambda: results.append(views.ensure(Source(key, "image/png"))))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r.ok for r in results) and counting.calls == 1


def test_an_unrenderable_document_is_remembered_a_failed_renderer_is_not(renderer):
    store = FakeStore()
    bad = "solicitudes/abc/documentos/curp/" + "2" * 32
    store.put(bad, truncated_pdf(), content_type="application/pdf")
    counting = CountingRenderer(renderer)
    views = PageViews(store, counting, FakeManifestStore())
    assert views.ensure(Source(bad, "application/pdf")).ok is False
    assert views.ensure(Source(bad, "application/pdf")).ok is False and counting.calls == 1

    good = "solicitudes/abc/documentos/curp/" + "3" * 32
    store.put(good, scans.multipage_pdf(1), content_type="application/pdf")
    manifests = FakeManifestStore()
    flaky = PageViews(store, SubprocessPageRenderer(RenderLimits(timeout_s=0.05)), manifests)
    with pytest.raises(RenderUnavailable):
        flaky.ensure(Source(good, "application/pdf"))
    assert flaky.cached(Source(good, "application/pdf")) is None  # the next look tries again
    assert PageViews(store, renderer, manifests).ensure(Source(good, "application/pdf")).ok


def test_background_preparation_fills_the_cache(renderer):
    store = FakeStore()
    key = "solicitudes/abc/documentos/curp/" + "4" * 32
    store.put(key, scans.multipage_pdf(1), content_type="application/pdf")
    views = PageViews(store, renderer, FakeManifestStore())
    assert views.schedule(Source(key, "application/pdf")).result(timeout=60).ok
    assert views.cached(Source(key, "application/pdf")).ok


def test_a_burst_of_uploads_does_not_queue_without_bound():
    store = FakeStore()
    started, release = threading.Event(), threading.Event()

    class Slow:
        def render(self, data, content_type, *, codes=False):
            started.set()
            release.wait(10)
            raise RenderUnavailable("lento")

    views = PageViews(store, Slow(), FakeManifestStore(), max_queued=2)
    key = "solicitudes/abc/documentos/curp/"
    for n in range(2):
        store.put(f"{key}{n:032d}", b"%PDF", content_type="application/pdf")
    first = views.schedule(Source(f"{key}{0:032d}", "application/pdf"))
    started.wait(10)  # the worker is busy with the first job; the queue holds the rest
    queued = [views.schedule(Source(f"{key}{1:032d}", "application/pdf")) for _ in range(2)]
    assert all(f is not None for f in queued) and views.schedule(Source(f"{key}{1:032d}", "application/pdf")) is None
    release.set()
    assert first.result(10) is None  # a renderer failure is logged, not raised, in the background


def test_the_worker_runs_below_the_services_priority():
    # Background page images must not take the CPU from applicants' requests (uploads, registrations).
    import os
    import subprocess
    import sys

    from registro.adapters import page_render_worker

    probe = ("import os, sys; sys.path.insert(0, sys.argv[1]); import page_render_worker as w; "
             "w.limit_self(1 << 30, 5); print(os.nice(0))")
    done = subprocess.run([sys.executable, "-I", "-c", probe, os.path.dirname(page_render_worker.__file__)],
                          capture_output=True, text=True, check=True)
    assert int(done.stdout) == min(19, os.nice(0) + page_render_worker.NICENESS)
