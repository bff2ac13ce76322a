"""What the responsiva prints, from the values the account stores: the same context for its render
(registration/responsiva.py), its QR code's identity (responsiva_qr.py) and the reviewer's comparison,
so a lost PDF can be rendered again, identical in content, from the account alone."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from keycloak_ext import Account
from keycloak_ext.catalog import USER_TYPE_LABELS

from registro.domain.geography import country_name


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


def context_of(account: Account) -> dict:
    return responsiva_context(first_name=account.first_name, last_name=account.last_name, email=account.email,
                              attributes=account.attributes)
