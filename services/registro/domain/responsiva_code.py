"""The code printed on the responsiva (a QR code): the folio and a MAC over the applicant's identity.

When the signed, scanned responsiva comes back, the code read from it says whether the paper is
this application's own: the folio names the application, and the MAC (HMAC-SHA-256 with the
service's RESPONSIVA_MAC_KEY) proves the identity printed next to it is the one registered, so a
responsiva copied from another application or edited by hand does not pass.

Payload: `ANAM-AU:1:<folio>:<mac>` — uppercase letters, digits, '-' and ':' only, so the QR
code uses its compact alphanumeric mode and stays small and easy to read from a phone photo.
Pure: the key is passed in.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from typing import Mapping

PREFIX = "ANAM-AU:"
VERSION = "1"
_MAC_BYTES = 15  # 120 bits: 24 base32 characters, no padding

# The identity the responsiva prints (registration/responsiva.py's context), in a fixed order.
IDENTITY_FIELDS = ("folio", "nombre_completo", "curp", "rfc", "tax_id", "pasaporte")


@dataclass(frozen=True)
class Code:
    folio: str
    mac: str


def _canonical(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value or "").upper().split())


def mac(identity: Mapping[str, str], key: str) -> str:
    message = "\x1f".join([f"responsiva/{VERSION}", *(_canonical(str(identity.get(f, ""))) for f in IDENTITY_FIELDS)])
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b32encode(digest).decode()


def payload(identity: Mapping[str, str], key: str) -> str:
    """What the QR code on this applicant's responsiva holds."""
    return f"{PREFIX}{VERSION}:{_canonical(identity.get('folio', ''))}:{mac(identity, key)}"


def parse(text: str) -> Code | None:
    """A code of ours read from a scan, or None for anything else (another QR code, damage)."""
    parts = (text or "").strip().split(":")
    if len(parts) != 4 or f"{parts[0]}:" != PREFIX or parts[1] != VERSION or not parts[2] or len(parts[3]) != 24:
        return None
    return Code(folio=parts[2], mac=parts[3])


def matches(code: Code, identity: Mapping[str, str], key: str) -> bool:
    return code.folio == _canonical(identity.get("folio", "")) and hmac.compare_digest(code.mac, mac(identity, key))
