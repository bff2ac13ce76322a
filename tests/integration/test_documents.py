"""Uploads, "Enviar a validación" and the correction round against the real Keycloak and S3 server."""
from __future__ import annotations


import hashlib
import json
from dataclasses import replace

import pytest

from registro import create_app
from registro.domain import documents as docs
from registro.domain.application import Application
from registro.domain.storage_keys import application_prefix
from tests.support import files
from tests.support.applications import (csrf_token, path_of, submit, upload, upload_valid_documents,
                                        valid_until)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def _documents_in_s3(s3, bucket: str, account_id: str) -> list[str]:
    prefix = application_prefix(account_id) + "documentos/"
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def _application(gateway, account_id: str) -> Application:
    return Application(gateway.get_account(account_id))


def _check_stored(s3, bucket: str, app: Application, kind: str, data: bytes, content_type: str, name: str) -> None:
    record = app.documents[kind]
    assert record.key.startswith(f"solicitudes/{app.id}/documentos/{kind}/")
    assert name not in record.key  # the key never comes from the uploaded name
    obj = s3.get_object(Bucket=bucket, Key=record.key)
    body = obj["Body"].read()
    assert body == data
    digest = hashlib.sha256(data).hexdigest()
    assert record.sha256 == digest == obj["Metadata"]["sha256"]
    assert record.size == len(data) and obj["Metadata"]["size"] == str(len(data))
    assert record.content_type == content_type == obj["ContentType"] == obj["Metadata"]["detected-type"]
    assert record.original_name == name
    assert obj["Metadata"]["document-kind"] == kind


def test_mexican_happy_path_stores_objects_metadata_and_sha256(registro, gateway, s3, stack, applications):
    account_id, link = applications()
    assert registro.get(path_of(link)).status_code == 200
    curp, responsiva, ine = files.pdf_bytes(), files.jpeg_bytes(), files.png_bytes()
    for kind, data, name in ((docs.CURP, curp, "constancia.pdf"), (docs.RESPONSIVA, responsiva, "firma.jpg"),
                             (docs.IDENTIFICACION, ine, "credencial.png")):
        r = upload(registro, link, kind, data, name, id_kind="ine", vigencia=valid_until(400))
        assert r.status_code == 303, r.get_data(as_text=True)

    app = _application(gateway, account_id)
    _check_stored(s3, stack.s3_bucket, app, docs.CURP, curp, "application/pdf", "constancia.pdf")
    _check_stored(s3, stack.s3_bucket, app, docs.RESPONSIVA, responsiva, "image/jpeg", "firma.jpg")
    _check_stored(s3, stack.s3_bucket, app, docs.IDENTIFICACION, ine, "image/png", "credencial.png")
    # A 320 x 200 plain PNG: stored, with what the photo check found for the applicant's advice (issue 23).
    assert app.documents[docs.IDENTIFICACION].details == {"tipo_identificacion": "ine", "vigencia": valid_until(400),
                                                          "calidad": "pocos_pixeles,borrosa"}
    assert len(_documents_in_s3(s3, stack.s3_bucket, account_id)) == 3

    page = registro.get(path_of(link)).get_data(as_text=True)
    for name in ("constancia.pdf", "firma.jpg", "credencial.png"):
        assert name in page
    assert f"{len(responsiva) / 1024:.1f} KB" in page

    r = submit(registro, link)
    assert r.status_code == 303
    app = _application(gateway, account_id)
    assert app.status == "en_revision" and app.submitted_at
    page = registro.get(path_of(link)).get_data(as_text=True)
    assert "Sus documentos serán validados y el resultado le será enviado por correo electrónico." in page

    # After submission nothing can be uploaded or removed until a reviewer asks for a correction.
    r = upload(registro, link, docs.CURP, files.pdf_bytes(), "otra.pdf")
    assert r.status_code == 409
    assert "ya fueron enviados a validación" in r.get_data(as_text=True)
    assert len(_documents_in_s3(s3, stack.s3_bucket, account_id)) == 3
    assert _application(gateway, account_id).documents[docs.CURP].sha256 == hashlib.sha256(curp).hexdigest()


def test_foreigner_happy_path_without_curp_and_with_migratory_document(registro, gateway, s3, stack, applications):
    account_id, link = applications(foreign=True)
    page = registro.get(path_of(link)).get_data(as_text=True)
    assert "documento-curp" not in page
    assert "Documento migratorio vigente" in page
    responsiva, migratorio = files.pdf_bytes(pages=2), files.jpeg_bytes()
    assert upload(registro, link, docs.RESPONSIVA, responsiva, "responsiva.pdf").status_code == 303
    r = upload(registro, link, docs.IDENTIFICACION, migratorio, "FM3 prórroga.jpg", id_kind="documento_migratorio")
    assert r.status_code == 303
    assert upload(registro, link, docs.CURP, files.pdf_bytes()).status_code == 404  # not part of a foreigner's file

    app = _application(gateway, account_id)
    _check_stored(s3, stack.s3_bucket, app, docs.RESPONSIVA, responsiva, "application/pdf", "responsiva.pdf")
    _check_stored(s3, stack.s3_bucket, app, docs.IDENTIFICACION, migratorio, "image/jpeg", "FM3 prórroga.jpg")
    head = s3.head_object(Bucket=stack.s3_bucket, Key=app.documents[docs.IDENTIFICACION].key)
    assert head["Metadata"]["original-name"].startswith("=?utf-8?")  # RFC 2047: non-ASCII name, ASCII header
    assert submit(registro, link).status_code == 303
    assert _application(gateway, account_id).status == "en_revision"


def test_a_mexican_cannot_choose_the_migratory_document(registro, gateway, applications):
    account_id, link = applications()
    registro.get(path_of(link))
    r = upload(registro, link, docs.IDENTIFICACION, files.png_bytes(), id_kind="documento_migratorio")
    assert r.status_code == 400
    assert "Seleccione el tipo de identificación." in r.get_data(as_text=True)
    assert _application(gateway, account_id).documents == {}


def test_replacing_a_document_deletes_the_old_object(registro, gateway, s3, stack, applications):
    account_id, link = applications()
    registro.get(path_of(link))
    assert upload(registro, link, docs.CURP, files.pdf_bytes(), "primera.pdf").status_code == 303
    first = _application(gateway, account_id).documents[docs.CURP]
    second_data = files.pdf_bytes(pages=3)
    page = registro.get(path_of(link)).get_data(as_text=True)
    assert "Reemplazar" in page
    assert upload(registro, link, docs.CURP, second_data, "segunda.pdf").status_code == 303
    second = _application(gateway, account_id).documents[docs.CURP]
    assert second.key != first.key and second.sha256 == hashlib.sha256(second_data).hexdigest()
    assert _documents_in_s3(s3, stack.s3_bucket, account_id) == [second.key]

    # …and removing it unlinks the record and deletes the object.
    r = registro.post(f"{path_of(link)}/documentos/{docs.CURP}/eliminar", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 303
    assert docs.CURP not in _application(gateway, account_id).documents
    assert _documents_in_s3(s3, stack.s3_bucket, account_id) == []


@pytest.mark.parametrize("data,name,message", [
    (files.elf_bytes(), "programa.pdf", "El archivo debe ser PDF, JPEG o PNG"),
    (files.truncated_pdf(), "cortado.pdf", "El archivo PDF está dañado o incompleto"),
    (files.png_header_on_garbage(), "imagen.png", "La imagen PNG está dañada o incompleta"),
    (files.html_bytes(), "pagina.pdf", "El archivo debe ser PDF, JPEG o PNG"),
    (b"", "vacio.pdf", "El archivo está vacío."),
], ids=["ejecutable-renombrado", "pdf-truncado", "png-basura", "html", "vacio"])
def test_bad_files_are_refused_with_a_clear_message_and_leave_no_trace(registro, gateway, s3, stack, applications,
                                                                        data, name, message):
    account_id, link = applications()
    registro.get(path_of(link))
    r = upload(registro, link, docs.RESPONSIVA, data, name)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert message in html
    assert 'id="responsiva_firmada-archivo-error"' in html and 'aria-invalid="true"' in html
    assert _application(gateway, account_id).documents == {}
    assert _documents_in_s3(s3, stack.s3_bucket, account_id) == []


def test_a_file_over_the_limit_gets_413_in_spanish(registro, gateway, s3, stack, applications):
    account_id, link = applications()
    registro.get(path_of(link))
    r = upload(registro, link, docs.RESPONSIVA, files.pdf_of_size(11 * MiB), "grande.pdf")
    assert r.status_code == 413
    assert "El archivo excede el tamaño máximo permitido de 10 MB." in r.get_data(as_text=True)
    assert _application(gateway, account_id).documents == {}
    assert _documents_in_s3(s3, stack.s3_bucket, account_id) == []


def test_a_file_of_exactly_the_limit_is_accepted(registro, gateway, applications):
    account_id, link = applications()
    registro.get(path_of(link))
    data = files.pdf_of_size(10 * MiB)
    assert upload(registro, link, docs.RESPONSIVA, data, "justo.pdf").status_code == 303
    assert _application(gateway, account_id).documents[docs.RESPONSIVA].size == 10 * MiB


def test_an_expired_id_is_refused_and_cannot_be_submitted(registro, gateway, applications):
    account_id, link = applications()
    registro.get(path_of(link))
    r = upload(registro, link, docs.IDENTIFICACION, files.png_bytes(), id_kind="pasaporte", vigencia="2020-01-31")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "La identificación está vencida." in html
    assert 'value="2020-01-31"' in html and 'value="pasaporte" selected' in html  # typed values kept
    assert docs.IDENTIFICACION not in _application(gateway, account_id).documents


def test_an_electronic_cedula_is_refused(registro, gateway, applications):
    account_id, link = applications()
    registro.get(path_of(link))
    r = upload(registro, link, docs.IDENTIFICACION, files.png_bytes(), id_kind="cedula_profesional")
    assert r.status_code == 400
    assert "No se aceptan cédulas profesionales electrónicas" in r.get_data(as_text=True)
    r = upload(registro, link, docs.IDENTIFICACION, files.png_bytes(), id_kind="cedula_profesional",
               extra={"cedula_fisica": "y"})
    assert r.status_code == 303
    assert _application(gateway, account_id).documents[docs.IDENTIFICACION].details["tipo_identificacion"] == \
        "cedula_profesional"


def test_submission_with_a_document_missing_is_refused(registro, gateway, applications):
    account_id, link = applications()
    registro.get(path_of(link))
    assert upload(registro, link, docs.CURP, files.pdf_bytes()).status_code == 303
    assert upload(registro, link, docs.IDENTIFICACION, files.png_bytes()).status_code == 303
    r = submit(registro, link)
    assert r.status_code == 400
    assert "Falta cargar: Responsiva firmada." in r.get_data(as_text=True)
    app = _application(gateway, account_id)
    assert app.status == "pendiente_documentos" and not app.submitted_at


def test_correction_round_shows_reasons_accepts_flagged_only_and_returns_to_review(registro, gateway, s3, stack,
                                                                                  applications):
    account_id, link = applications()
    registro.get(path_of(link))
    upload_valid_documents(registro, link)
    assert submit(registro, link).status_code == 303
    first_sent = _application(gateway, account_id).submitted_at
    old_id = _application(gateway, account_id).documents[docs.IDENTIFICACION]

    # What the review console does when it asks for a correction (its own issue).
    from registro.domain.application import now_iso
    gateway.update_attributes(account_id, {"estatus": "requiere_correccion", "motivos_correccion": json.dumps({
        "documentos": {docs.IDENTIFICACION: ["ilegible", "vencido"]}, "comentario": "Escanee ambos lados.",
        "fecha": now_iso()})})

    page = registro.get(path_of(link)).get_data(as_text=True)
    assert docs.CORRECTION_REASONS["ilegible"] in page and docs.CORRECTION_REASONS["vencido"] in page
    assert "Escanee ambos lados." in page

    r = upload(registro, link, docs.CURP, files.pdf_bytes())
    assert r.status_code == 409
    assert "Solo puede reemplazar los documentos que el revisor señaló" in r.get_data(as_text=True)

    r = submit(registro, link)  # the flagged document was not replaced yet
    assert r.status_code == 400
    assert "Reemplace el documento señalado por el revisor" in r.get_data(as_text=True)

    new_id = files.jpeg_bytes(800, 500)
    assert upload(registro, link, docs.IDENTIFICACION, new_id, "ine-ambos-lados.jpg", id_kind="ine").status_code == 303
    assert submit(registro, link).status_code == 303
    app = _application(gateway, account_id)
    assert app.status == "en_revision" and app.submitted_at >= first_sent
    assert app.correction == {}
    assert app.documents[docs.IDENTIFICACION].sha256 == hashlib.sha256(new_id).hexdigest()
    assert old_id.key not in _documents_in_s3(s3, stack.s3_bucket, account_id)


def test_s3_down_gives_a_clear_error_and_changes_nothing(gateway, service_settings, applications):
    account_id, link = applications(status="pendiente_documentos")
    dead_s3 = replace(service_settings.s3, endpoint_url="http://127.0.0.1:9", timeout_s=2)
    app = create_app({"SETTINGS": service_settings.with_changes(s3=dead_s3), "TESTING": True})
    client = app.test_client()
    r = upload(client, link, docs.RESPONSIVA, files.pdf_bytes())
    assert r.status_code == 503
    assert "El almacenamiento de documentos no está disponible" in r.get_data(as_text=True)
    assert _application(gateway, account_id).documents == {}
    r = client.get(f"{path_of(link)}/responsiva")
    assert r.status_code == 503


def test_keycloak_down_gives_a_clear_error(service_settings, applications, gateway):
    account_id, link = applications()
    dead_kc = replace(service_settings.keycloak, server_url="http://127.0.0.1:9/")
    app = create_app({"SETTINGS": service_settings.with_changes(keycloak=dead_kc), "TESTING": True})
    r = app.test_client().get(path_of(link))
    assert r.status_code == 503
    assert "El servicio de identidad no está disponible" in r.get_data(as_text=True)
    assert _application(gateway, account_id).status == "pendiente_correo"


def test_the_responsiva_is_downloaded_again_through_the_service(registro, storage, gateway, applications):
    account_id, link = applications()
    r = registro.get(f"{path_of(link)}/responsiva")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    folio = _application(gateway, account_id).folio
    assert f'filename="responsiva-{folio}.pdf"' in r.headers["Content-Disposition"]
    assert r.get_data().startswith(b"%PDF-")
