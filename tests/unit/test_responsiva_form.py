"""The responsiva drawn into its form (registration/responsiva.py, adapters/pdf_form.py): every value in
its slot and in the text, every text run on the page, the same page as the full render (the same
content, each value and the footer drawn in the same place), the full render when a value cannot be
drawn here, a new form when the declaration changes, and concurrent renders kept apart.
Real WeasyPrint, pypdf and pdfium; no timing."""
from __future__ import annotations

import io
import logging
import re
import threading

import pypdfium2 as pdfium
import pytest
from jinja2 import ChoiceLoader, DictLoader
from pypdf import PdfReader

from registro.adapters.page_render_worker import render_pdf
from registro.adapters import pdf_form
from registro.adapters.pdf import WeasyPrintRenderer
from registro.domain import responsiva_code
from registro.registration import responsiva
from registro.registration.responsiva import STYLESHEETS, render_responsiva
from registro.registration.responsiva_context import responsiva_context
from registro.registration.responsiva_qr import _identity, mac_key
from tests.unit.conftest import unit_settings

LOGGER = "registro.registration.responsiva"
FAST = "valores dibujados en el formulario precompuesto"
FULL = "composición completa"
PX_TO_PT = 0.75
KEY = mac_key(unit_settings())  # the key of the `app` fixture's settings


def mexican(**changes) -> dict:
    names = {"first_name": "Ana María", "last_name": "Peña Núñez", "email": "ana.pena@example.com"}
    attributes = {
        "folio": "AU-2026-7K3M9QX2", "fecha_registro": "2026-01-15T18:00:00+00:00", "curp": "PENA800101MJCXXX09",
        "rfc": "PENA800101AB1", "tipo_usuario": "agente_aduanal", "es_extranjero": "false", "pais": "MX",
        "estado": "Jalisco", "localidad": "Guadalajara", "colonia": "Centro", "codigo_postal": "44100",
        "numero_exterior": "12-B", "calle": "Av. Juárez"}
    for key, value in changes.items():
        (names if key in names else attributes)[key] = value
    return responsiva_context(**names, attributes=attributes)


def foreign(**changes) -> dict:
    names = {"first_name": "John", "last_name": "O'Brien Müller", "email": "john@example.com"}
    attributes = {
        "folio": "AU-2026-9ZZ4PQ7A", "fecha_registro": "2026-03-02T10:00:00+00:00", "tax_id": "12-3456789",
        "pasaporte": "X1234567", "tipo_usuario": "auxiliar_representante_legal_acreditado", "es_extranjero": "true",
        "pais": "US", "estado": "Texas", "localidad": "Laredo", "codigo_postal": "78040", "numero_exterior": "1500",
        "calle": "Main Street"}
    for key, value in changes.items():
        (names if key in names else attributes)[key] = value
    return responsiva_context(**names, attributes=attributes)


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def full_render(renderer, context: dict) -> bytes:
    """The fallback's render of `context` (what render_responsiva does when the form cannot be used)."""
    return renderer.render(responsiva._full_html(context, KEY), stylesheets=STYLESHEETS)


def form_of(renderer, context: dict, charset: frozenset[str] | None = None):
    """The form render_responsiva draws `context` into (or the one for `charset`)."""
    html, slots = responsiva._form_html(context)
    charset = charset or pdf_form.charset_for(context[n] for n in slots if n != responsiva.CODE_SLOT)
    return renderer.form(html, slot_markup=slots, footer_markers=responsiva.FOOTER_MARKERS, stylesheets=STYLESHEETS,
                         charset=charset)


def render(app, context: dict, renderer, caplog) -> tuple[bytes, str]:
    """The PDF and the path it took (from the log, which names no personal data)."""
    caplog.clear()
    with app.app_context(), caplog.at_level(logging.INFO, logger=LOGGER):
        pdf = render_responsiva(context, renderer, mac_key=KEY)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    path = "form" if any(FAST in m for m in messages) else "full" if any(FULL in m for m in messages) else "?"
    return pdf, path


def words_inside_their_slots(pdf: bytes, form, context: dict) -> None:
    """Every word of every slot's value is on the page inside that slot's rectangle (pdfium's glyph
    boxes: a glyph's ink may stick out of its advance by a little, as the hook of a J does; a slot is
    as tall as its lines)."""
    page = pdfium.PdfDocument(pdf)[0]
    height = page.get_height()
    text = page.get_textpage()
    for slot in form.slots:
        if slot.name == responsiva.CODE_SLOT:
            continue
        left, right = slot.x * PX_TO_PT - 1.5, (slot.x + slot.width) * PX_TO_PT + 1.5
        top, bottom = height - slot.top * PX_TO_PT + 1, height - (slot.top + slot.height) * PX_TO_PT - 1
        for word in context[slot.name].split():
            searcher = text.search(word, match_case=True)
            boxes = []
            while (found := searcher.get_next()) is not None:
                start, count = found
                boxes.append([text.get_charbox(i) for i in range(start, start + count)])
            assert any(all(left <= b[0] and b[2] <= right and bottom <= b[1] and b[3] <= top for b in chars)
                       for chars in boxes), (slot.name, word, boxes, (left, bottom, right, top))


def text_runs(pdf: bytes) -> list[tuple[str, tuple[float, float, float, float]]]:
    """pdfium's text runs of the first page: (text, (left, bottom, right, top)) in pt."""
    text = pdfium.PdfDocument(pdf)[0].get_textpage()
    return [(text.get_text_bounded(*text.get_rect(i)), text.get_rect(i)) for i in range(text.count_rects())]


def drawn_at(pdf: bytes, needle: str) -> list[tuple[float, float, float, float]]:
    """Where each occurrence of `needle` (a whole word or phrase) is drawn: its first glyph's left and
    bottom, its last glyph's right and top, in pt."""
    text = pdfium.PdfDocument(pdf)[0].get_textpage()
    searcher = text.search(needle, match_case=True, match_whole_word=True)
    places = []
    while (found := searcher.get_next()) is not None:
        start, count = found
        first, last = text.get_charbox(start), text.get_charbox(start + count - 1)
        places.append((first[0], first[1], last[2], last[3]))
    return places


@pytest.fixture
def renderer():
    return WeasyPrintRenderer()


@pytest.mark.parametrize("make", [mexican, foreign], ids=["mexicano", "extranjero"])
def test_every_value_is_drawn_in_its_slot_and_is_in_the_text(app, renderer, caplog, make):
    context = make()
    pdf, path = render(app, context, renderer, caplog)
    assert path == "form"
    text = text_of(pdf)
    for name, value in context.items():
        if isinstance(value, str) and name != "domicilio":
            assert value in text, name
    assert "C.P." in text and "Juárez" in text or "Main Street" in text
    assert f"Folio {context['folio']} · página 1 de 1" in text
    with app.app_context():
        form = form_of(renderer, context)
    assert {s.name for s in form.slots} >= {"folio", "fecha", "nombre_completo", "tipo_usuario", "correo", "domicilio"}
    words_inside_their_slots(pdf, form, context)
    assert PdfReader(io.BytesIO(pdf)).metadata.title == f"Responsiva {context['folio']}"
    assert b"/Subtype /Image" not in pdf and b"/Subtype/Image" not in pdf  # the code is vector, too


@pytest.mark.parametrize("make", [mexican, foreign], ids=["mexicano", "extranjero"])
def test_the_form_has_the_same_content_as_the_full_render(app, renderer, caplog, make):
    context = make()
    pdf, path = render(app, context, renderer, caplog)
    with app.app_context():
        full = full_render(renderer, context)
    assert path == "form"
    # Reading order included: the values come next to their labels, as laid out by WeasyPrint.
    assert "".join(text_of(pdf).split()) == "".join(text_of(full).split())


@pytest.mark.parametrize("make", [mexican, foreign], ids=["mexicano", "extranjero"])
def test_every_text_run_of_a_filled_page_lies_inside_its_media_box(app, renderer, caplog, make):
    """Text outside the page is found by extraction but seen by nobody (the footer once was drawn at
    y ≈ −230 pt, after the page's last Q, outside its scale)."""
    context = make()
    pdf, path = render(app, context, renderer, caplog)
    assert path == "form"
    left, bottom, right, top = pdfium.PdfDocument(pdf)[0].get_mediabox()
    runs = text_runs(pdf)
    assert any(f"Folio {context['folio']}" in text for text, _ in runs)
    for text, (l, b, r, t) in runs:
        assert left <= l and r <= right and bottom <= b and t <= top, (text, (l, b, r, t))


@pytest.mark.parametrize("make", [mexican, foreign], ids=["mexicano", "extranjero"])
def test_the_form_and_its_full_render_draw_each_value_and_the_footer_in_the_same_place(app, renderer, caplog, make):
    """The fallback is the same page: each word of each value, and the footer, where the fill draws
    them (within half a point: the two paths round differently), and as many times."""
    context = make()
    pdf, path = render(app, context, renderer, caplog)
    with app.app_context():
        full = full_render(renderer, context)
    assert path == "form"
    needles = {word for name, value in context.items() if isinstance(value, str) for word in value.split()}
    needles.add(f"Folio {context['folio']} · página 1 de 1")
    for needle in sorted(needles):
        ours, theirs = drawn_at(pdf, needle), drawn_at(full, needle)
        assert ours and len(ours) == len(theirs), (needle, ours, theirs)
        for a, b in zip(sorted(ours, key=lambda p: (-p[1], p[0])), sorted(theirs, key=lambda p: (-p[1], p[0]))):
            assert max(abs(x - y) for x, y in zip(a, b)) <= 0.5, (needle, a, b)


@pytest.mark.parametrize("make", [mexican, foreign], ids=["mexicano", "extranjero"])
def test_the_declaration_reads_as_written_in_the_text_layer(app, renderer, caplog, make):
    """No space between a value and the punctuation after it ("Nombre , declaro" once), either way."""
    context = make()
    pdf, path = render(app, context, renderer, caplog)
    with app.app_context():
        full = full_render(renderer, context)
    assert path == "form"
    for document in (pdf, full):
        text = text_of(document)
        assert f"Yo, {context['nombre_completo']}, declaro" in text
        assert f"perfil de {context['tipo_usuario']}. Reconozco" in text


def test_the_code_reads_back_the_payload_of_the_printed_identity(app, renderer, caplog):
    for context in (mexican(), foreign(first_name="Ἀλέξανδρος")):  # the form, and the full render
        pdf, _path = render(app, context, renderer, caplog)
        codes = render_pdf(pdf, max_pages=1, max_width=1600, dpi=150, codes=True).codes
        assert codes == [responsiva_code.payload(_identity(context), unit_settings().secret_key)]


@pytest.mark.parametrize("changes", [
    {"first_name": "María José Ñañez-Güemes", "last_name": "O'Connor D’Ávila"},
    {"calle": "Avenida de los Insurgentes Sur Poniente del Valle de Anáhuac", "colonia": "Jardines del Pedregal"
              " de San Ángel Ampliación Oriente", "localidad": "Álvaro Obregón, Ciudad de México"},
    {"first_name": "Guadalupe Fernanda Alejandra", "last_name": "Fernández de Castro"},
], ids=["acentos-y-apostrofos", "domicilio-largo", "nombre-largo"])
def test_accents_apostrophes_and_long_values_stay_inside_their_slots(app, renderer, caplog, changes):
    context = mexican(**changes)
    pdf, path = render(app, context, renderer, caplog)
    assert path == "form"
    text = text_of(pdf)
    assert context["nombre_completo"] in text
    assert "".join(context["domicilio"].split()) in "".join(text.split())
    with app.app_context():
        form = form_of(renderer, context)
    words_inside_their_slots(pdf, form, context)


def test_a_long_value_is_shrunk_to_fit_its_slot(app, renderer, caplog):
    short, long_name = mexican(), mexican(first_name="Guadalupe Fernanda Alejandra", last_name="Fernández de Castro")
    heights = []
    for context in (short, long_name):
        pdf, path = render(app, context, renderer, caplog)
        assert path == "form"
        page = pdfium.PdfDocument(pdf)[0].get_textpage()
        searcher = page.search(context["nombre_completo"], match_case=True)
        searcher.get_next()
        start, _count = searcher.get_next()  # the second: in the declaration's slot, narrower than the table's
        heights.append(page.get_charbox(start)[3] - page.get_charbox(start)[1])  # its capital initial's height
    assert heights[1] < heights[0] * 0.95


@pytest.mark.parametrize("changes", [
    {"first_name": "Ἀλέξανδρος", "last_name": "Παπαδόπουλος"},
    {"first_name": "Дмитрий", "last_name": "Иванов"},
    {"calle": "Calle " * 120},  # more than the address's two lines hold even at the smallest size
    {"first_name": "Guadalupe Fernanda Alejandra Concepción Margarita", "last_name": "Fernández de Castro y Echeverría"},
], ids=["griego", "cirílico", "domicilio-enorme", "nombre-enorme"])
def test_a_value_the_form_cannot_draw_takes_the_full_render(app, renderer, caplog, changes):
    context = foreign(**changes) if "first_name" in changes else mexican(**changes)
    pdf, path = render(app, context, renderer, caplog)
    assert path == "full"
    text = text_of(pdf)
    assert context["nombre_completo"] in text and context["folio"] in text
    assert not any(context["nombre_completo"] in r.getMessage() for r in caplog.records)  # no personal data logged


@pytest.mark.parametrize("changes", [
    {"first_name": "François", "last_name": "Ågren"},  # Latin-1 letters Spanish does not use
    {"first_name": "Łukasz", "last_name": "Wąsik"},  # Latin Extended-A
], ids=["latin-1", "latin-ext-a"])
def test_a_spanish_responsiva_is_drawn_into_the_lighter_form_and_other_latin_names_into_the_wide_one(
        app, renderer, caplog, changes):
    """Every glyph a form can draw travels in each PDF filled from it: the usual responsiva (and its email)
    carries the Spanish letters only; a name with other Latin letters still takes the fast path."""
    spanish, path = render(app, mexican(), renderer, caplog)
    assert path == "form"
    wide_context = foreign(**changes)
    wide, path = render(app, wide_context, renderer, caplog)
    assert path == "form"
    assert wide_context["nombre_completo"] in text_of(wide)
    with app.app_context():
        assert form_of(renderer, mexican()).charset == pdf_form.SPANISH
        assert form_of(renderer, wide_context).charset == pdf_form.CHARSET
    assert len(spanish) < 36_000 < 44_000 < len(wide)
    # The light form drawing a name it was not prepared for is refused (the caller then takes the wide one).
    with app.app_context():
        light = form_of(renderer, mexican(), pdf_form.SPANISH)
    values = {n: wide_context.get(n, "") for n in light.names}
    assert light.fill(values, None, square_slot=responsiva.CODE_SLOT) is None


def test_the_narrowest_charset_holding_the_values_is_chosen():
    assert pdf_form.charset_for(["Peña Núñez", "Av. Juárez 12-B", "¿ana@example.com?"]) == pdf_form.SPANISH
    assert pdf_form.charset_for(["François"]) == pdf_form.CHARSET
    assert pdf_form.charset_for(["Дмитрий"]) is None
    assert pdf_form.SPANISH < pdf_form.CHARSET


def test_a_changed_declaration_makes_a_new_form(app, renderer, caplog):
    context = mexican()
    first, _ = render(app, context, renderer, caplog)
    assert "Me hago responsable del uso del usuario" in text_of(first)
    app.jinja_env.loader = ChoiceLoader([
        DictLoader({"pdf/declaracion.html": "<p>Yo, <strong>{{ nombre_completo }}</strong>, acepto el texto nuevo "
                                            "como <strong>{{ tipo_usuario }}</strong>.</p>"}),
        app.jinja_env.loader])
    second, path = render(app, context, renderer, caplog)
    text = text_of(second)
    assert path == "form" and len(renderer._forms) == 2
    assert re.search(r"acepto el texto nuevo como\s*Agente Aduanal", text)
    assert "Me hago responsable del uso del usuario" not in text and "Ana María Peña Núñez" in text


def test_two_threads_rendering_at_once_get_their_own_documents(app, renderer):
    contexts = [mexican(), foreign(), mexican(first_name="Beatriz", folio="AU-2026-BBBBBBBB"),
                foreign(last_name="Smith", folio="AU-2026-CCCCCCCC")]
    results: dict[int, bytes] = {}
    barrier = threading.Barrier(len(contexts))

    def work(number: int) -> None:
        barrier.wait()
        for _ in range(3):
            with app.app_context():
                results[number] = render_responsiva(contexts[number], renderer, mac_key=KEY)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(contexts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number, context in enumerate(contexts):
        text = text_of(results[number])
        assert context["nombre_completo"] in text and f"Folio {context['folio']}" in text
        assert all(other["folio"] not in text for other in contexts if other is not context)


def test_a_template_that_is_no_one_page_form_is_rendered_fully(app, renderer, caplog):
    """A declaration long enough to take two pages makes no form (its slots' places would be a guess)."""
    app.jinja_env.loader = ChoiceLoader([
        DictLoader({"pdf/declaracion.html": "<p>Yo, <strong>{{ nombre_completo }}</strong>, declaro. "
                                            + "Texto de la declaración que ocupa mucho espacio. " * 400 + "</p>"}),
        app.jinja_env.loader])
    context = mexican()
    with app.app_context():
        assert form_of(renderer, context) is None
    pdf, path = render(app, context, renderer, caplog)
    assert path == "full" and len(PdfReader(io.BytesIO(pdf)).pages) > 1
    assert context["nombre_completo"] in text_of(pdf)


def test_start_render_draws_the_form_in_a_worker_thread(app, renderer):
    context = foreign()
    with app.test_request_context():
        job = responsiva.start_render(context, renderer, mac_key=KEY)
    pdf = job.result(timeout=60)
    assert context["nombre_completo"] in text_of(pdf) and len(renderer._forms) == 1
