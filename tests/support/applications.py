"""Builds applications the way registration leaves them, without going through registration.

A registered application is a DISABLED Keycloak account with the attributes of
domain/application.py, its responsiva PDF in S3 and a personal link. Works with the real
gateway + S3 (integration) and with the fakes (unit). Shared with the review-console tests.
"""
from __future__ import annotations

import re
import secrets
from datetime import date, timedelta
from typing import Any

from keycloak_ext.catalog import group_path_of
from registro.config import Settings
from registro.domain import documents as docs
from registro.domain.application import now_iso
from registro.domain.storage_keys import application_prefix, responsiva_key
from registro.kernel.confirmation_links import issue_link
from tests.support import files

MEXICAN_CURP = "PELA800101MDFRPN06"
MEXICAN_RFC = "PELA800101AB8"


def _put(storage_or_s3: Any, settings: Settings, key: str, data: bytes, content_type: str) -> None:
    if hasattr(storage_or_s3, "put_object"):  # a boto3 client
        storage_or_s3.put_object(Bucket=settings.s3.bucket, Key=key, Body=data, ContentType=content_type)
    else:  # an ObjectStore (S3Store or FakeStore)
        storage_or_s3.put(key, data, content_type=content_type)


def create_application(gateway: Any, storage_or_s3: Any, settings: Settings, *, foreign: bool = False,
                       status: str = "pendiente_correo", fecha_registro: str | None = None,
                       first_name: str = "Ana", last_name: str = "Pérez López",
                       tipo_usuario: str = "agente_aduanal") -> tuple[str, str]:
    """Creates a registered application; returns (account_id, link_url).

    `status` may be pendiente_correo or pendiente_documentos (email already confirmed);
    for en_revision use `upload_valid_documents` + `submit` through the service.
    """
    assert status in ("pendiente_correo", "pendiente_documentos"), status
    tag = secrets.token_hex(5)
    folio = f"AU-2026-{tag.upper()}"
    attributes = {
        "estatus": status,
        "folio": folio,
        "fecha_registro": fecha_registro or now_iso(),
        "es_extranjero": "true" if foreign else "false",
        "tipo_usuario": tipo_usuario,
    }
    if foreign:
        attributes.update({"tax_id": f"TX-{tag}", "pasaporte": f"P{tag.upper()}", "pais": "US",
                           "estado": "Texas", "localidad": "Laredo", "colonia": "Centro", "codigo_postal": "78040",
                           "numero_exterior": "100", "calle": "Main St"})
    else:
        attributes.update({"curp": MEXICAN_CURP, "rfc": MEXICAN_RFC, "pais": "MX", "estado": "Ciudad de México",
                           "localidad": "Cuauhtémoc", "colonia": "Centro", "codigo_postal": "06000",
                           "numero_exterior": "10", "calle": "Madero"})
    account_id = gateway.create_account(
        username=f"solicitud-{tag}", email=f"solicitud-{tag}@example.com", first_name=first_name,
        last_name=last_name, attributes=attributes, enabled=False,
        email_verified=status != "pendiente_correo", groups=(group_path_of(tipo_usuario),))
    _put(storage_or_s3, settings, responsiva_key(account_id, folio), files.pdf_bytes(), "application/pdf")
    _record(settings, account_id, f"solicitud-{tag}", folio, foreign)
    return account_id, issue_link(gateway, settings, account_id)


_STORES: dict[str, Any] = {}


def _record(settings: Settings, account_id: str, username: str, folio: str, foreign: bool) -> None:
    """The application's row in registro's database, as registration leaves it (integration tests: the
    stack's database; unit tests have none). Without its identifiers: the fixtures share one CURP."""
    if not settings.database_url:
        return
    from registro.kernel.applications import Intent, PgApplicationStore
    from registro.platform.db import Database

    store = _STORES.get(settings.database_url)
    if store is None:
        store = _STORES[settings.database_url] = PgApplicationStore(Database.shared(settings.database_url))
    if store.knows_account(account_id):
        return  # created through the service's identity directory (kernel/records.py), which recorded it
    intent = Intent.new(folio=folio, username=username, link_version="fixture", es_extranjero=foreign)
    store.begin(intent, {})
    store.complete(intent.id, account_id, None)


def delete_application(gateway: Any, storage: Any, account_id: str) -> None:
    """Removes what create_application and the service stored (an ObjectStore, not a boto3 client)."""
    for key in storage.list_keys(application_prefix(account_id)):
        storage.delete(key)
    gateway.delete_account(account_id)


# --- driving the activation page through a Flask test client ----------------------------------
def path_of(link_url: str) -> str:
    return "/activacion/" + link_url.rsplit("/activacion/", 1)[1]


def csrf_token(html: str) -> str:
    """The page's CSRF token ("" when the page has no form, e.g. while en_revision)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return match.group(1) if match else ""


def valid_until(days: int = 365) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def upload(client: Any, link_url: str, kind: str, data: bytes, filename: str = "documento.pdf", *,
           id_kind: str = "ine", vigencia: str | None = None, extra: dict | None = None):
    """Posts one document as the page's form does (fetches the page first for the CSRF token)."""
    import io

    page = client.get(path_of(link_url))
    form: dict[str, Any] = {"csrf_token": csrf_token(page.get_data(as_text=True)),
                            "archivo": (io.BytesIO(data), filename)}
    if kind == docs.IDENTIFICACION:
        form.update({"tipo_identificacion": id_kind, "vigencia": vigencia or valid_until()})
    form.update(extra or {})
    return client.post(f"{path_of(link_url)}/documentos/{kind}", data=form, content_type="multipart/form-data")


def upload_valid_documents(client: Any, link_url: str, *, foreign: bool = False) -> None:
    """Uploads every required document (valid PDF/JPEG/PNG); each upload must succeed."""
    for kind, data, name in ((docs.CURP, files.pdf_bytes(), "constancia CURP.pdf"),
                             (docs.RESPONSIVA, files.jpeg_bytes(), "responsiva firmada.jpg"),
                             (docs.IDENTIFICACION, files.png_bytes(), "identificación.png")):
        if kind not in docs.required_documents(foreign):
            continue
        response = upload(client, link_url, kind, data, name,
                          id_kind="documento_migratorio" if foreign else "ine")
        assert response.status_code == 303, (kind, response.status_code, response.get_data(as_text=True)[:2000])


def submit(client: Any, link_url: str):
    page = client.get(path_of(link_url))
    return client.post(f"{path_of(link_url)}/enviar", data={"csrf_token": csrf_token(page.get_data(as_text=True))})


def create_submitted_application(gateway: Any, storage: Any, settings: Settings, client: Any, *,
                                 foreign: bool = False, **kwargs: Any) -> tuple[str, str]:
    """An application in `en_revision` with valid documents, as the review console finds it."""
    account_id, link = create_application(gateway, storage, settings, foreign=foreign, **kwargs)
    upload_valid_documents(client, link, foreign=foreign)
    response = submit(client, link)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return account_id, link


def direct_upload(client: Any, link_url: str, kind: str, data: bytes, send: Any, filename: str = "documento.pdf", *,
                  id_kind: str = "ine", vigencia: str | None = None, size: int | None = None):
    """What the page's script does for a document sent straight to S3 (static/js/subida.js): asks for the
    presigned PUT, sends the bytes with `send(url, data, headers)` (a fake or a real S3), confirms.
    Returns (issue response, send result, confirm response or None when the send was not 200)."""
    page = client.get(path_of(link_url))
    html = page.get_data(as_text=True)
    token = csrf_token(html)
    form: dict[str, Any] = {"csrf_token": token, "tamano": str(len(data) if size is None else size), "nombre": filename}
    grant = re.search(rf'name="permiso" id="permiso-{kind}" value="([^"]+)"', html)
    if grant:  # the page's grant for this document, sent as the script sends the form's fields
        form["permiso"] = grant.group(1)
    if kind == docs.IDENTIFICACION:
        form.update({"tipo_identificacion": id_kind, "vigencia": vigencia or valid_until()})
    issued = client.post(f"{path_of(link_url)}/documentos/{kind}/directa", data=form)
    if issued.status_code != 200:
        return issued, None, None
    grant = issued.get_json()
    sent = send(grant["url"], data, grant["encabezados"])
    if sent != 200:
        return issued, sent, None
    confirmed = client.post(grant["confirmar"], data={"csrf_token": token, "recibo": grant["recibo"]})
    return issued, sent, confirmed
