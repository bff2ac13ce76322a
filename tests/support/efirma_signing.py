"""What the page's script (static/js/efirma.js) does, in Python with the same primitives: read the
certificate, ask the service to prepare, sign the signed attributes with the key (RSA PKCS#1 v1.5,
SHA-256) and hand back the signature value and the certificate. Works with a Flask test client (unit and
integration tests); the key never goes into a request, as in the browser."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable

from tests.support.applications import csrf_token, path_of
from tests.support.efirma_pki import Holder


@dataclass
class Round:
    prepared: Any  # the response to /efirma/preparar
    completed: Any | None  # the response to /efirma/completar (None when preparing was refused)
    sent: list[dict]  # every form posted, as sent


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sign_through_service(client: Any, link_url: str, holder: Holder, *,
                         sign: Callable[[bytes], bytes] | None = None, certificate: bytes | None = None) -> Round:
    """`sign` replaces the holder's own signing (another key, other bytes); `certificate` the .cer sent."""
    base = path_of(link_url)
    token = csrf_token(client.get(base).get_data(as_text=True))
    cer = certificate if certificate is not None else holder.cer
    sent: list[dict] = []
    form = {"csrf_token": token, "certificado": b64(cer)}
    sent.append(form)
    prepared = client.post(f"{base}/efirma/preparar", data=form)
    if prepared.status_code != 200:
        return Round(prepared, None, sent)
    attributes = base64.b64decode(prepared.get_json()["atributos"])
    value = (sign or holder.sign)(attributes)
    form = {"csrf_token": token, "estado": prepared.get_json()["estado"], "firma": b64(value), "certificado": b64(cer)}
    sent.append(form)
    return Round(prepared, client.post(f"{base}/efirma/completar", data=form), sent)
