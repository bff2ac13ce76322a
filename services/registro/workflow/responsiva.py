"""The responsiva: the PDF an applicant prints, signs and uploads. Rendered from
`templates/pdf/responsiva.html` (its declaration from `templates/pdf/declaracion.html`)
and kept in S3 at `domain.storage_keys.responsiva_key(account_id, folio)`.
"""
from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import render_template

from keycloak_ext import Account
from keycloak_ext.catalog import USER_TYPE_LABELS

from ..adapters.pdf import PdfRenderer, WeasyPrintRenderer
from ..adapters.storage import ObjectMissing, ObjectStore
from ..domain.geography import country_name
from ..domain.storage_keys import responsiva_key
from .process_pool import ProcessPool

PDF = "application/pdf"
# Its layout (templates/pdf/responsiva.css): a bundled file the renderer parses once and reuses.
STYLESHEETS = ("responsiva.css",)


def _mexico_city() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("America/Mexico_City")
    except ZoneInfoNotFoundError:  # a system without tzdata: the UTC date is off by at most a few hours
        return timezone.utc


def printed_date(iso_utc: str) -> str:
    """dd/mm/aaaa in Mexico City time, as Mexican forms print dates."""
    try:
        moment = datetime.fromisoformat(iso_utc)
    except ValueError:
        moment = datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_mexico_city()).strftime("%d/%m/%Y")


def responsiva_context(*, first_name: str, last_name: str, email: str, attributes: Mapping[str, str]) -> dict:
    """What the template shows, from the same values the account stores (so a lost PDF can be
    rendered again, identical in content, from the account alone)."""
    a = attributes
    es_extranjero = a.get("es_extranjero") == "true"
    address = ", ".join(part for part in (
        f"{a.get('calle', '')} {a.get('numero_exterior', '')}".strip(),
        f"Col. {a['colonia']}" if a.get("colonia") else "",
        a.get("localidad", ""),
        a.get("estado", ""),
        f"C.P. {a['codigo_postal']}" if a.get("codigo_postal") else "",
        country_name(a.get("pais", "")),
    ) if part)
    return {
        "folio": a.get("folio", ""),
        "fecha": printed_date(a.get("fecha_registro", "")),
        "nombre_completo": f"{first_name} {last_name}".strip(),
        "curp": a.get("curp", ""),
        "rfc": a.get("rfc", ""),
        "es_extranjero": es_extranjero,
        "tax_id": a.get("tax_id", ""),
        "pasaporte": a.get("pasaporte", ""),
        "tipo_usuario": USER_TYPE_LABELS.get(a.get("tipo_usuario", ""), a.get("tipo_usuario", "")),
        "correo": email,
        "domicilio": address,
    }


def render_responsiva(context: dict, renderer: PdfRenderer | None = None) -> bytes:
    """Raises adapters.pdf.PdfUnavailable when WeasyPrint fails."""
    html = render_template("pdf/responsiva.html", **context)
    return (renderer or WeasyPrintRenderer()).render(html, stylesheets=STYLESHEETS)


_POOL = ProcessPool(max_workers=4, name="responsiva")


def start_render(context: dict, renderer: PdfRenderer | None = None) -> "Future[bytes]":
    """Renders in a worker thread, so the caller can wait on I/O meanwhile. The template is filled in
    the caller's thread (it needs the app context); `.result()` raises PdfUnavailable on failure."""
    html = render_template("pdf/responsiva.html", **context)
    return _POOL.get().submit((renderer or WeasyPrintRenderer()).render, html, stylesheets=STYLESHEETS)


def context_of(account: Account) -> dict:
    return responsiva_context(first_name=account.first_name, last_name=account.last_name, email=account.email,
                              attributes=account.attributes)


def responsiva_of(account: Account, storage: ObjectStore, renderer: PdfRenderer | None = None) -> bytes:
    """The stored responsiva; rendered and stored again when its object is missing (a failed
    put, a wiped bucket), so a resend always produces one."""
    key = responsiva_key(account.id, account.attr("folio"))
    try:
        return storage.get(key)
    except ObjectMissing:
        pdf = render_responsiva(context_of(account), renderer)
        storage.put(key, pdf, content_type=PDF, metadata={"folio": account.attr("folio")})
        return pdf


def attachment_name(folio: str) -> str:
    return f"responsiva-{folio}.pdf"
