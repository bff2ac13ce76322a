"""Documents read by the machine (issue 23) on the real stack: an iPhone photo (HEIC) of an INE whose
name is not the applicant's, sent straight to S3 through the served `registro`, is stored as the JPEG
converted from it (the HEIC gone), read off the request path, and shown to the reviewer with ✘ and the
ready-made correction reason pre-selected — and nothing decided. One OCR (CPU)."""
from __future__ import annotations

import io
import re
import time

import pillow_heif
import pytest
from PIL import Image

from registro.domain import documents as docs
from registro.domain.application import Application
from registro.documents import photo_intake
from registro.documents import readings
from registro.platform.db import Database
from tests.integration.test_direct_uploads import Browser
from tests.integration.test_review import console, new_reviewer, review_app, settings  # noqa: F401 - fixtures
from tests.support import id_corpus

pytestmark = pytest.mark.integration


def _heic(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(Image.open(io.BytesIO(jpeg))).save(out, quality=85)
    return out.getvalue()


def test_a_heic_ine_with_another_name_is_converted_read_and_shown_with_a_cross(
        stack, applications, gateway, storage, console, service_settings):  # noqa: F811
    photo = id_corpus.generate(1, seed=11, conditions=("phone",))[0]
    account_id, link = applications(status="pendiente_documentos", first_name="Pedro", last_name="Martínez Ruiz")
    b = Browser(stack.registro_url, link)
    heic = _heic(photo.image)
    issued = b.issue(docs.IDENTIFICACION, len(heic), nombre="IMG_0042.HEIC", tipo_identificacion="ine",
                     vigencia=f"20{photo.truth.expiry_date[:2]}-12-31")
    assert issued.status_code == 200, issued.text[:300]
    grant = issued.json()
    assert b.put(grant, heic).status_code == 200
    confirmed = b.confirm(grant)
    # 200 when the conversion and the check end within DIRECT_UPLOAD_WAIT_SECONDS, else 202 and polled.
    assert confirmed.status_code in (200, 202) and b.outcome(confirmed) == "cargado"

    record = Application(gateway.get_account(account_id)).documents[docs.IDENTIFICACION]
    assert record.content_type == "image/jpeg" and record.original_name == "IMG_0042.jpg"
    assert storage.get(record.key)[:3] == b"\xff\xd8\xff"
    prefix = record.key.rsplit("/", 1)[0] + "/"
    assert storage.list_keys(prefix) == [record.key]  # the HEIC was deleted once the JPEG was recorded
    assert record.key == photo_intake.converted_key(_receipt_key(service_settings, account_id))

    # The reading runs in the served process after the upload: the reviewer's page shows it once kept.
    # Generous: in the whole suite this pytest process's own reading pool (one at a time, as in a
    # worker) still has the readings the console pages of earlier tests started for their documents.
    deadline = time.monotonic() + 420
    while True:
        page = console.get(f"/revision/{account_id}").get_data(as_text=True)
        if 'data-lectura="identificacion" data-estado="leida"' in page:
            break
        assert time.monotonic() < deadline, "la lectura automática no terminó"
        time.sleep(0.5)  # the reading takes about a second of CPU in the served worker
    ine = re.search(r'<article class="lectura" data-lectura="identificacion".*?</article>', page, re.S).group(0)
    assert 'data-campo="nombre" data-resultado="no_coincide"' in ine and "✘" in ine
    assert "Los datos del documento no coinciden con los registrados." in ine
    assert 'data-campo="vigencia" data-resultado="coincide"' in ine
    # Kept as a row of registro's database, naming the document; S3 keeps bytes only (issue 20 §3).
    kept = readings.PgReadingStore(Database.shared(service_settings.database_url)).get(account_id, docs.IDENTIFICACION)
    assert kept["documento"] == record.key and kept["sha256"] == record.sha256 and kept["leido"]
    assert storage.list_keys(f"solicitudes/{account_id}/lecturas/") == []
    assert gateway.get_account(account_id).attr("estatus") == "pendiente_documentos"  # nothing decided


def _receipt_key(service_settings, account_id: str) -> str:
    """The key the receipt named (the HEIC's), as the upload's marker keeps it."""
    from registro.platform.db import Database
    from registro.documents.direct_uploads import PgUploadMarkers

    marks = PgUploadMarkers(Database.shared(service_settings.database_url))
    return marks.get(account_id, docs.IDENTIFICACION).receipt.key
