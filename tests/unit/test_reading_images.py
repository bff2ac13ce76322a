"""The MRZ reader and the quality check on a handful of generated images (documents/reading,
issue 23). The whole corpus and the timings are benchmarks/bench_reading.py's; here only that the
pieces work end to end, kept to a few images (OCR is CPU-heavy)."""
import pytest

from registro.documents.reading import engines, quality, reader
from tests.support import id_corpus


@pytest.fixture(scope="module")
def corpus():
    return {s.name: s for s in id_corpus.generate(2, seed=7)}


@pytest.fixture(scope="module")
def engine():
    return engines.RapidOcr()


@pytest.mark.parametrize("name", ["000-ine-phone", "001-pasaporte-scanned"])
def test_a_readable_photo_gives_the_documents_values(corpus, engine, name):
    sample = corpus[name]
    found = reader.read_mrz(sample.image, engine)
    assert found is not None
    assert (found.document_number, found.birth_date, found.expiry_date, found.sex) == \
           (sample.truth.document_number, sample.truth.birth_date, sample.truth.expiry_date, sample.truth.sex)
    assert found.is_ine == (sample.truth.kind == "ine")


def test_an_image_without_a_zone_is_not_read(engine):
    from tests.support.scans import content_page
    import io

    page = io.BytesIO()
    content_page("Comprobante").save(page, "JPEG")
    assert reader.read_mrz(page.getvalue(), engine) is None


def test_clean_photos_pass_the_quality_check_and_bad_ones_do_not(corpus):
    assert quality.assess(corpus["000-ine-clean"].image, "ine").problems == ()
    assert quality.assess(corpus["001-pasaporte-phone"].image, "pasaporte").problems == ()
    assert quality.assess(corpus["000-ine-bad"].image).problems  # blurred or glared


def test_too_few_pixels_for_290_dpi():
    from PIL import Image
    import io

    small = io.BytesIO()
    Image.open(io.BytesIO(id_corpus.generate(1, conditions=("clean",))[0].image)).resize((640, 404)).save(small, "PNG")
    assert quality.TOO_SMALL in quality.assess(small.getvalue(), "ine").problems
