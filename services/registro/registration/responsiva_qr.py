"""The QR code printed on the responsiva (see domain/responsiva_code.py for what it holds)."""
from __future__ import annotations

from typing import Mapping

from keycloak_ext import Account

from registro.adapters.qr import qr_matrix, qr_svg
from registro.config import Settings
from registro.domain import responsiva_code
from registro.registration.responsiva_context import context_of


def mac_key(settings: Settings) -> str:
    return settings.responsiva_mac_key or settings.secret_key


def _identity(context: Mapping[str, object]) -> dict[str, str]:
    return {f: str(context.get(f) or "") for f in responsiva_code.IDENTITY_FIELDS}


def code_svg(context: Mapping[str, object], key: str) -> str:
    """Inline SVG for the responsiva template, from the same context the template prints."""
    return qr_svg(responsiva_code.payload(_identity(context), key))


def code_matrix(context: Mapping[str, object], key: str) -> list[bytes]:
    """The same code as `code_svg`, as modules (for the responsiva drawn into its prepared form)."""
    return qr_matrix(responsiva_code.payload(_identity(context), key))


def expected_identity(account: Account) -> dict[str, str]:
    """The identity the responsiva of this account prints (what its code's MAC covers)."""
    return _identity(context_of(account))
