"""Reading through registro.filecheck's bounded child (documents/reading, issue 23): HEIC photos
converted to JPEG there, and an INE whose name differs from the application read and marked ✘.
Two or three forks, one OCR: kept small (CPU)."""
import io
from datetime import date

import pillow_heif
import pytest
from PIL import Image

from registro.documents.reading import heif, photo_answer, quality, service
from registro.documents.reading.compare import COINCIDE, NO_COINCIDE, REASON_MISMATCH, Declared
from registro.documents.photo_intake import PHOTO_CHECK
from registro.filecheck import sandbox
from tests.support import id_corpus


@pytest.fixture(scope="module")
def ine_photo():
    return id_corpus.generate(1, seed=11, conditions=("phone",))[0]


def heic_of(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(Image.open(io.BytesIO(jpeg))).save(out, quality=85)
    return out.getvalue()


def test_a_heic_photo_is_converted_to_jpeg_in_the_child_and_assessed(ine_photo):
    photo = heic_of(ine_photo.image)
    assert heif.is_heif(photo[:16])
    answer = sandbox.run(PHOTO_CHECK, photo, "ine")
    converted = Image.open(io.BytesIO(answer["jpeg"]))
    assert converted.format == "JPEG" and converted.size == Image.open(io.BytesIO(ine_photo.image)).size
    assert answer["problems"] == []


def test_a_jpeg_is_assessed_without_conversion():
    blurred = id_corpus.generate(1, seed=3, conditions=("bad",))[0].image
    answer = sandbox.run(PHOTO_CHECK, blurred, "")
    assert answer["jpeg"] is None and answer["problems"]
    assert photo_answer.advice(answer["problems"])[0].startswith("La foto")


def test_a_broken_heic_is_a_refusal_of_the_child():
    with pytest.raises(sandbox.SandboxFailed) as caught:
        sandbox.run(PHOTO_CHECK, b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200, "")
    assert caught.value.reason == "crashed"


def test_an_ine_with_another_name_is_read_and_marked_as_not_matching(ine_photo):
    truth = ine_photo.truth
    curp_birth = f"XXXX{truth.birth_date}{'H' if truth.sex == 'M' else 'M'}DFXXX"
    declared = Declared(nombre="Pedro", apellidos="Martínez Ruiz", tipo_identificacion="ine",
                        vigencia=f"20{truth.expiry_date[:2]}-06-30", pais="MX",
                        curp=curp_birth + ("0" if truth.birth_date[:2] > "30" else "A") + "0")
    result = service.read_identity_document(ine_photo.image, declared, date(2026, 6, 1))
    verdicts = {f.key: f.outcome for f in result.fields}
    assert verdicts["nombre"] == NO_COINCIDE
    assert verdicts["nacimiento"] == COINCIDE and verdicts["vigencia"] == COINCIDE
    assert result.reasons == (REASON_MISMATCH,)


def test_quality_thresholds_follow_login_gov_290_dpi():
    # 85.6 mm x 54 mm at 290 dpi; 125 mm x 88 mm at 290 dpi.
    assert quality.MIN_SIDES["ine"] == (round(85.6 / 25.4 * 290), round(53.98 / 25.4 * 290))
    assert quality.MIN_SIDES["pasaporte"] == (round(125 / 25.4 * 290), round(88 / 25.4 * 290))


def test_the_tasks_the_worker_hands_the_child_name_its_functions():
    from registro.documents.reading import child
    from registro.documents.reading.service import READ_IDENTITY

    assert sandbox._function(PHOTO_CHECK.module, PHOTO_CHECK.name) is child.photo_check
    assert sandbox._function(READ_IDENTITY.module, READ_IDENTITY.name) is child.read_identity


def test_a_web_worker_names_the_reading_without_loading_opencv():
    """The worker hands the child a Task by name: OpenCV and the OCR models load in the child only."""
    import subprocess
    import sys

    probe = ("import sys, registro.documents.photo_intake, registro.documents.reading.service, registro.filecheck; "
             "sys.exit('cv2' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], timeout=120).returncode == 0


def test_the_child_runs_only_the_services_own_functions():
    with pytest.raises(sandbox.SandboxFailed) as caught:
        sandbox.run(sandbox.Task("os", "getcwd"), b"")
    assert caught.value.reason == "crashed" and caught.value.error == "ImportError"
