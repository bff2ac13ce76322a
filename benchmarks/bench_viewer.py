"""Timing of the reviewer's document viewer and of the responsiva's QR code (`make bench`; -s prints).

Page 1 of a typical PDF (the generated responsiva; a scanned page in a PDF) and of a phone photo
(12 Mpx JPEG), each measured four ways in the same run:
  anchor   the raw library call alone: pypdfium2 open + render page 1 at the same scale (PDF), or
           Pillow decode + EXIF turn + resize (photo); pdftoppm too when poppler-utils is installed;
  worker   our worker's render in-process (render + JPEG encode [+ QR search]);
  bounded  the whole bounded path the background job pays: a fresh worker process with its limits;
  cached   what a reviewer's page pays once the images exist: the manifest's row from registro's PostgreSQL +
           page 1 read from the real S3.
Then the responsiva PDF rendered with and without its QR code (WeasyPrint, in-process).
"""
from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from registro import create_app
from registro.adapters.page_render import SubprocessPageRenderer
from registro.adapters.page_render_worker import render_image, render_pdf
from registro.adapters.storage import S3Store
from registro.config import Settings
from registro.platform.db import Database
from registro.review.page_views import ManifestStore, PageViews, PgManifestStore, Source
from registro.registration.responsiva import render_responsiva
from registro.registration.responsiva_context import responsiva_context
from registro.registration.responsiva_qr import mac_key
from tests.support import scans
from tests.integration.conftest import stack  # noqa: F401  (the real S3 of the test stack)

RAW_RUNS = 20
BOUNDED_RUNS = 10


def _ms(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up: imports, fonts, first allocation
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def report(title: str, rows: list[tuple[str, list[float]]]) -> None:
    anchor = statistics.median(rows[0][1])
    print(f"\n{title}")
    for label, samples in rows:
        median, p95 = _ms(samples)
        print(f"  {label:<58} mediana={median:8.1f} ms  p95={p95:8.1f} ms  ×{statistics.median(samples) / anchor:6.2f}")


def _context() -> dict:
    return responsiva_context(first_name="Ana María", last_name="Peña Núñez", email="ana@example.com", attributes={
        "folio": "AU-2026-7K3M9QX2", "fecha_registro": "2026-01-15T18:00:00+00:00", "curp": "PENA800101MJCXXN09",
        "rfc": "PENA800101AB1", "tipo_usuario": "agente_aduanal", "es_extranjero": "false", "pais": "MX",
        "estado": "Jalisco", "localidad": "Guadalajara", "colonia": "Centro", "codigo_postal": "44100",
        "numero_exterior": "12", "calle": "Av. Juárez"})


def _generated_pdf() -> bytes:
    settings = Settings.from_env()
    app = create_app({"SETTINGS": settings, "TESTING": True})
    with app.test_request_context():
        return render_responsiva(_context(), mac_key=mac_key(settings))


def _raw_pdfium_page1(data: bytes) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[0]
        width, _ = page.get_size()
        page.render(scale=min(150 / 72, 1600 / width)).to_pil()
        page.close()
    finally:
        pdf.close()


def _pdftoppm(data: bytes):
    tool = shutil.which("pdftoppm")
    if not tool:
        return None

    def run() -> None:
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(data)
            f.flush()
            subprocess.run([tool, "-r", "150", "-f", "1", "-l", "1", "-png", f.name, f.name + "-p"], check=True,
                           capture_output=True)

    return run


def _raw_pillow(data: bytes) -> None:
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    scale = 1600 / image.width
    image.resize((1600, int(image.height * scale)), Image.Resampling.LANCZOS)


def _cached_read(store: S3Store, manifests: ManifestStore, data: bytes, content_type: str):
    key = f"solicitudes/bench-{uuid.uuid4().hex[:8]}/documentos/curp/{uuid.uuid4().hex}"
    store.put(key, data, content_type=content_type)
    views = PageViews(store, SubprocessPageRenderer(), manifests)
    source = Source(key, content_type)
    assert views.ensure(source).ok

    def read() -> None:
        manifest = views.cached(source)
        views.page(key, 1)
        assert manifest and manifest.ok

    return read, key


def test_bench_viewer_page_one(stack):  # noqa: F811
    settings = Settings.from_env()
    store = S3Store(settings.s3)
    manifests = PgManifestStore(Database.shared(settings.database_url))
    renderer = SubprocessPageRenderer()
    generated = _generated_pdf()
    page = scans.sign(scans.render_pdf_page(generated, dpi=200))
    scanned_pdf = scans.pdf_of_pages([scans.phone_photo(page, angle=1.0, contrast=0.85)], resolution=200)
    photo = scans.phone_photo(page.resize((3024, int(3024 * page.height / page.width))), angle=-6, skew=0.08,
                              contrast=0.6).resize((3024, 4032))
    photo_jpeg = scans.jpeg(photo, 85)
    made: list[str] = []

    for title, data in (("PDF generado (responsiva, texto y vectores)", generated),
                        ("PDF escaneado (una página, imagen 200 dpi)", scanned_pdf)):
        rows = [("ancla: pypdfium2 abrir + página 1 (misma escala)", timed(lambda: _raw_pdfium_page1(data), RAW_RUNS))]
        poppler = _pdftoppm(data)
        if poppler:
            rows.append(("ancla: pdftoppm -r 150 página 1 (proceso)", timed(poppler, BOUNDED_RUNS)))
        rows += [
            ("trabajador en proceso: render + JPEG", timed(lambda: render_pdf(
                data, max_pages=1, max_width=1600, dpi=150, codes=False), RAW_RUNS)),
            ("trabajador en proceso: render + JPEG + búsqueda de QR", timed(lambda: render_pdf(
                data, max_pages=1, max_width=1600, dpi=150, codes=True), RAW_RUNS)),
            ("acotado: proceso nuevo con límites (lo que paga el trabajo)", timed(
                lambda: renderer.render(data, "application/pdf", codes=True), BOUNDED_RUNS)),
        ]
        read, key = _cached_read(store, manifests, data, "application/pdf")
        made.append(key)
        rows.append(("en caché: manifiesto (PostgreSQL) + página 1 desde S3 (lo que paga el revisor)", timed(read, RAW_RUNS)))
        report(f"Página 1 — {title}, {len(data) / 1024:.0f} KiB", rows)
    if not shutil.which("pdftoppm"):
        print("  (pdftoppm no está instalado: el ancla es la llamada directa a pypdfium2)")

    rows = [("ancla: Pillow decodificar + girar EXIF + reducir a 1600 px", timed(lambda: _raw_pillow(photo_jpeg), RAW_RUNS)),
            ("trabajador en proceso: + JPEG", timed(lambda: render_image(photo_jpeg, max_width=1600, codes=False),
                                                   RAW_RUNS)),
            ("trabajador en proceso: + JPEG + búsqueda de QR", timed(
                lambda: render_image(photo_jpeg, max_width=1600, codes=True), RAW_RUNS)),
            ("acotado: proceso nuevo con límites", timed(lambda: renderer.render(photo_jpeg, "image/jpeg", codes=True),
                                                         BOUNDED_RUNS))]
    read, key = _cached_read(store, manifests, photo_jpeg, "image/jpeg")
    made.append(key)
    rows.append(("en caché: manifiesto (PostgreSQL) + página 1 desde S3", timed(read, RAW_RUNS)))
    report(f"Foto de teléfono {photo.width}×{photo.height} JPEG, {len(photo_jpeg) / 1024:.0f} KiB", rows)

    for key in made:
        prefix = key.split("/documentos/")[0] + "/"
        for k in store.list_keys(prefix):
            store.delete(k)
        manifests.forget(prefix.split("/")[1])
