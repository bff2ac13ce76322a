"""The PDF renderer: one shared font configuration, and no resource fetched from outside the bundle."""
from __future__ import annotations

import http.server
import threading

import pytest

from registro.adapters.pdf import ASSETS, FetchRefused, PdfUnavailable, WeasyPrintRenderer, bundled_only_fetcher


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 — http.server's naming
        _CountingHandler.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    _CountingHandler.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_and_file_urls_in_the_html_are_never_fetched(http_server, tmp_path):
    secret = tmp_path / "secreto.css"
    secret.write_text("body { color: blue }")
    html = (f'<html><head><link rel="stylesheet" href="{http_server}/x.css">'
            f'<link rel="stylesheet" href="{secret.as_uri()}"></head>'
            f'<body><img src="{http_server}/y.png"><img src="file:///etc/passwd">Hola</body></html>')
    pdf = WeasyPrintRenderer().render(html)
    assert pdf.startswith(b"%PDF")
    assert _CountingHandler.hits == []


def test_fetcher_serves_data_uris_and_bundled_files_only(tmp_path):
    fetcher = bundled_only_fetcher()
    assert fetcher.fetch("data:text/plain,hola").read() == b"hola"
    bundled = next(p for p in ASSETS.iterdir() if p.is_file())
    assert fetcher.fetch(bundled.as_uri()).read() == bundled.read_bytes()
    outside = tmp_path / "fuera.txt"
    outside.write_text("x")
    for url in (outside.as_uri(), (ASSETS / ".." / ".." / "config.py").as_uri(), "file:///etc/passwd",
                "http://127.0.0.1:1/x", "https://example.com/x", "ftp://example.com/x"):
        with pytest.raises(FetchRefused):
            fetcher.fetch(url)


def test_renders_share_one_font_configuration():
    renderer = WeasyPrintRenderer()
    renderer.render("<p>uno</p>")
    fonts = renderer._fonts
    renderer.render("<p>dos</p>")
    assert fonts is not None and renderer._fonts is fonts


def test_bundled_stylesheets_are_parsed_once_and_others_refused():
    renderer = WeasyPrintRenderer()
    renderer.render("<p>uno</p>", stylesheets=("responsiva.css",))
    sheet = renderer._sheets["responsiva.css"]
    renderer.render("<p>dos</p>", stylesheets=("responsiva.css",))
    assert renderer._sheets == {"responsiva.css": sheet}
    for name in ("../../config.py", "/etc/passwd", "no-existe.css"):
        with pytest.raises(PdfUnavailable):
            renderer.render("<p>tres</p>", stylesheets=(name,))


def test_the_responsiva_footer_prints_its_folio_and_page_on_every_page():
    import pypdfium2 as pdfium

    from registro.registration.responsiva import STYLESHEETS

    address = "Calle muy larga " * 400  # long enough for more than one page
    html = ('<html lang="es-MX"><body><p class="folio">Folio: <strong>AU-2026-7K3M9QX2</strong></p>'
            f"<p>{address}</p></body></html>")
    pdf = pdfium.PdfDocument(WeasyPrintRenderer().render(html, stylesheets=STYLESHEETS))
    total = len(pdf)
    assert total > 1
    for number in range(total):
        text = pdf[number].get_textpage().get_text_range()
        assert f"Folio AU-2026-7K3M9QX2 · página {number + 1} de {total}" in text
